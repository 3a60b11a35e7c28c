/**
 * Is the account's region a region? Checked once before a command changes anything, so that a
 * typo in --region or AWS_REGION is bad input (exit 2) with a message naming it, not a network
 * error from the first call that happens to fail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { AwsAccount } from './ports.js';
import { AwsError, UsageError } from '../domain/errors.js';
import { isNetworkFailure } from './errors.js';

/** The shape of every AWS region name (us-east-1, ap-southeast-5, us-gov-west-1, eu-isoe-west-1). */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * Refuse a region that is not one (exit 2): by its shape without any call, then by asking EC2 in
 * that region for the account's regions. An error answer from EC2 there means the region cannot be
 * used; credentials and permission errors, and network failures (connection refused, DNS, a
 * timeout: exit 1, naming the endpoint), are passed on as they are.
 */
export async function checkRegion(account: AwsAccount): Promise<void> {
  if (checked.has(account)) return;
  const region = account.region;
  if (!REGION_PATTERN.test(region)) {
    throw new UsageError('UNKNOWN_REGION', `Region ${JSON.stringify(region)} is not an AWS region name (like us-east-1): check --region or AWS_REGION.`, { details: { region } });
  }
  let regions: Array<{ RegionName?: string; OptInStatus?: string }>;
  try {
    regions = (await account.ec2.describeRegions({ AllRegions: true })).Regions ?? [];
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // Not reached, or no answer in time (refused, DNS, timeout): a network or endpoint failure
    // (exit 1), not a verdict on the region.
    if (isNetworkFailure(e)) throw e;
    if (e instanceof AwsError && (e.awsCode.includes('AccessDenied') || e.awsCode === 'UnauthorizedOperation' || e.awsCode === 'AuthFailure')) throw e;
    throw new UsageError(
      'UNKNOWN_REGION',
      `Region ${region} cannot be used: EC2 there answered with an error (${(e as Error).message.split('\n')[0]}). Check --region or AWS_REGION; it must be a region your account has enabled.`,
      { cause: e, details: { region } },
    );
  }
  const found = regions.find((r) => r.RegionName === region);
  if (!found) {
    const known = regions.map((r) => r.RegionName).filter(Boolean).sort().join(', ');
    throw new UsageError('UNKNOWN_REGION', `Region ${region} is not an AWS region of this account${known ? ` (regions: ${known})` : ''}: check --region or AWS_REGION.`, { details: { region } });
  }
  if (found.OptInStatus === 'not-opted-in') {
    throw new UsageError('REGION_NOT_ENABLED', `Region ${region} is not enabled for this account: enable it (Account settings → AWS Regions) or choose another with --region.`, { details: { region } });
  }
  checked.add(account);
}

/** Accounts whose region was found good (one DescribeRegions per account object). */
const checked = new WeakSet<AwsAccount>();


interface Partition {
  id: string;
  regionRegex: string;
  regions: Record<string, unknown>;
}

let partitionsCache: Partition[] | null | undefined;

/**
 * The SDK's partition metadata (partition ids, region-name patterns, known regions), read from the
 * installed @aws-sdk/core (the same table the SDK resolves endpoints with). `null` if the installed
 * SDK does not ship it where expected: then only the name's shape is checked.
 */
export function sdkPartitions(): Partition[] | null {
  if (partitionsCache !== undefined) return partitionsCache;
  try {
    const pkg = createRequire(import.meta.url).resolve('@aws-sdk/core/package.json');
    const src = fs.readFileSync(path.join(path.dirname(pkg), 'dist-es/submodules/client/util-endpoints/lib/aws/partitions.js'), 'utf8');
    const json = src.slice(src.indexOf('{'), src.lastIndexOf('}') + 1);
    const parsed = JSON.parse(json) as { partitions?: Partition[] };
    partitionsCache = Array.isArray(parsed.partitions) && parsed.partitions.length ? parsed.partitions : null;
  } catch {
    partitionsCache = null;
  }
  return partitionsCache;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** The known region names closest to `region` (at most three). */
export function closestRegions(region: string): string[] {
  const names = (sdkPartitions() ?? []).flatMap((p) => Object.keys(p.regions)).filter((r) => !/^aws-/.test(r));
  const scored = names.map((n) => ({ n, d: editDistance(region, n) })).sort((x, y) => x.d - y.d || x.n.localeCompare(y.n));
  const best = scored[0]?.d ?? Infinity;
  return scored.filter((s) => s.d <= Math.max(best, 2) && s.d <= Math.max(3, Math.floor(region.length / 3))).slice(0, 3).map((s) => s.n);
}

/**
 * Is `region` the name of a region the SDK knows? A pure check before any call, for every region
 * the user can give (`--region`, `--source-region`, AWS_REGION, a profile's region). `from` names
 * where it came from, for the message. A name in no partition, or one that fits a partition's
 * pattern but is not among its regions (a typo: us-esat-1), is refused (exit 2, UNKNOWN_REGION)
 * with the closest valid names.
 */
export function checkRegionName(region: string, from: string): void {
  const suggest = () => {
    const near = closestRegions(region);
    return near.length ? ` Did you mean ${near.join(' or ')}?` : '';
  };
  if (!REGION_PATTERN.test(region)) {
    throw new UsageError('UNKNOWN_REGION', `Region ${JSON.stringify(region)} is not an AWS region name (like us-east-1): check ${from}.${suggest()}`, { details: { region, from } });
  }
  const partitions = sdkPartitions();
  if (!partitions) return;
  if (partitions.some((p) => region in p.regions)) return;
  const partition = partitions.find((p) => new RegExp(p.regionRegex).test(region));
  throw new UsageError(
    'UNKNOWN_REGION',
    partition
      ? `Region ${region} cannot be used: it is not a region of the ${partition.id} partition (check ${from}).${suggest()} (A region launched after this release of cleanroom's AWS SDK is not known to it yet: upgrade cleanroom to use it.)`
      : `Region ${region} cannot be used: it is in no AWS partition (check ${from}).${suggest()}`,
    { details: { region, from, ...(partition ? { partition: partition.id } : {}), suggestions: closestRegions(region) } },
  );
}
