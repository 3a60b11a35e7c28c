/**
 * What `room up` needs to know before it changes anything, each checked with a message that names
 * the value and the fix: the flags' shapes (no AWS call), then the region, the Availability Zone
 * and the instance type offered there, an explicit AMI, the vault and its key, and the region's
 * S3 prefix list.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { CleanroomError, UsageError } from '../../domain/errors.js';
import { requireCompliantVault } from '../../custody/vault/gate.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';

/** The template's InstanceType pattern. */
export const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
/** The template's AmiId pattern (non-empty). */
export const AMI_PATTERN = /^ami-[0-9a-f]{8,17}$/;
/** Availability Zone names (us-east-1a, and Local Zones like us-west-2-lax-1a). */
export const AZ_PATTERN = /^[a-z]{2}(-[a-z0-9]+)+[a-z]$/;
/** S3 bucket names (the template's VaultBucket pattern). */
export const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const DEFAULT_INSTANCE_TYPE = 'm5.large';

/** Check the flags' shapes, before any AWS call. */
export function checkFlags(o: {
  availabilityZone?: string;
  instanceType?: string;
  amiId?: string;
  bucket?: string;
}): void {
  if (o.availabilityZone !== undefined && !AZ_PATTERN.test(o.availabilityZone)) {
    throw new UsageError(
      'INVALID_AZ',
      `--az ${JSON.stringify(o.availabilityZone)} is not an Availability Zone name (like us-east-1a).`,
      { details: { availabilityZone: o.availabilityZone } },
    );
  }
  if (o.instanceType !== undefined && !INSTANCE_TYPE_PATTERN.test(o.instanceType)) {
    throw new UsageError(
      'INVALID_INSTANCE_TYPE',
      `--instance-type ${JSON.stringify(o.instanceType)} is not an EC2 instance type (like ${DEFAULT_INSTANCE_TYPE}).`,
      { details: { instanceType: o.instanceType } },
    );
  }
  if (o.amiId !== undefined && !AMI_PATTERN.test(o.amiId)) {
    throw new UsageError(
      'INVALID_AMI',
      `--ami ${JSON.stringify(o.amiId)} is not an AMI id (ami- and 8 or 17 hexadecimal digits).`,
      { details: { amiId: o.amiId } },
    );
  }
  if (o.bucket !== undefined && !BUCKET_PATTERN.test(o.bucket)) {
    throw new UsageError('INVALID_BUCKET', `--bucket ${JSON.stringify(o.bucket)} is not an S3 bucket name.`, {
      details: { bucket: o.bucket },
    });
  }
}

/**
 * The Availability Zone of a new room: the one asked for, checked to exist, be available and
 * offer the instance type; or else the first such zone of the region (by name).
 */
export async function chooseAvailabilityZone(
  account: AwsAccount,
  instanceType: string,
  wanted?: string,
): Promise<string> {
  const zones = ((await account.ec2.describeAvailabilityZones({})).AvailabilityZones ?? []).filter(
    (z) => z.ZoneName && (z.ZoneType ?? 'availability-zone') === 'availability-zone',
  );
  const names = zones.map((z) => z.ZoneName!).sort();
  if (wanted !== undefined) {
    const z = zones.find((x) => x.ZoneName === wanted);
    if (!z) {
      throw new UsageError(
        'UNKNOWN_AZ',
        `Availability Zone ${wanted} does not exist in ${account.region}${names.length ? ` (zones: ${names.join(', ')})` : ''}: check --az.`,
        { details: { availabilityZone: wanted, region: account.region } },
      );
    }
    if (z.State && z.State !== 'available') {
      throw new UsageError(
        'AZ_UNAVAILABLE',
        `Availability Zone ${wanted} is ${z.State}: choose another with --az (${names.join(', ')}).`,
        { details: { availabilityZone: wanted } },
      );
    }
  }
  const offered = new Set<string>();
  let NextToken: string | undefined;
  do {
    const r = await account.ec2.describeInstanceTypeOfferings({
      LocationType: 'availability-zone',
      Filters: [{ Name: 'instance-type', Values: [instanceType] }],
      ...(NextToken ? { NextToken } : {}),
    });
    for (const o of r.InstanceTypeOfferings ?? []) if (o.Location) offered.add(o.Location);
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  const usable = names.filter((n) => offered.has(n) && zones.find((z) => z.ZoneName === n)?.State !== 'unavailable');
  if (usable.length === 0) {
    throw new UsageError(
      'UNKNOWN_INSTANCE_TYPE',
      `Instance type ${instanceType} is not offered in any Availability Zone of ${account.region}: check --instance-type.`,
      { details: { instanceType, region: account.region } },
    );
  }
  if (wanted === undefined) return usable[0]!;
  if (!usable.includes(wanted)) {
    throw new UsageError(
      'INSTANCE_TYPE_NOT_IN_AZ',
      `Instance type ${instanceType} is not offered in ${wanted}: choose one of ${usable.join(', ')} with --az, or another --instance-type.`,
      { details: { instanceType, availabilityZone: wanted } },
    );
  }
  return wanted;
}

/** Check that an explicit AMI exists here and can be launched. */
export async function checkAmi(account: AwsAccount, amiId: string): Promise<void> {
  let image: NonNullable<Awaited<ReturnType<AwsAccount['ec2']['describeImages']>>['Images']>[number] | undefined;
  try {
    image = (await account.ec2.describeImages({ ImageIds: [amiId] })).Images?.[0];
  } catch (e) {
    if (!isAwsCode(e, 'InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable')) throw e;
  }
  if (!image)
    throw new UsageError(
      'UNKNOWN_AMI',
      `AMI ${amiId} does not exist in ${account.region} or is not shared with this account: check --ami (AMIs are regional).`,
      { details: { amiId, region: account.region } },
    );
  if (image.State && image.State !== 'available')
    throw new UsageError(
      'AMI_UNAVAILABLE',
      `AMI ${amiId} is ${image.State}, not available: choose another with --ami.`,
      { details: { amiId } },
    );
}

/** The vault bucket and its KMS key (made by `vault init`). */
export interface Vault {
  bucket: string;
  keyArn: string;
  /** The vault's Object Lock default (what a copy into the vault is retained under). */
  lockMode: 'GOVERNANCE' | 'COMPLIANCE';
  retentionDays: number;
}

/** The vault, which must exist (exit 2, naming `vault init`) and pass its audit (exit 3) — the custody gate's rule. */
export async function findVault(account: AwsAccount, bucket?: string): Promise<Vault> {
  const v = await requireCompliantVault(account, await resolveVaultBucket(account, bucket));
  return { bucket: v.bucket, keyArn: v.vaultKeyArn, lockMode: v.lockMode, retentionDays: v.retentionDays };
}

/** The AWS-managed prefix list `com.amazonaws.<region>.s3` (the access group's HTTPS path to S3). */
export async function s3PrefixListId(account: AwsAccount): Promise<string> {
  const name = `com.amazonaws.${account.region}.s3`;
  const r = await account.ec2.describeManagedPrefixLists({ Filters: [{ Name: 'prefix-list-name', Values: [name] }] });
  const id = r.PrefixLists?.find((p) => p.PrefixListName === name)?.PrefixListId;
  if (!id)
    throw new CleanroomError(
      'NO_S3_PREFIX_LIST',
      `The managed prefix list ${name} was not found in ${account.region}; the room needs it for its S3 gateway endpoint.`,
      { details: { region: account.region } },
    );
  return id;
}
