/**
 * What to acquire: the user's input checked before any AWS call, then the source volumes read
 * from the source account (read-only). Every refusal here happens before anything is made.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { UsageError } from '../../domain/errors.js';
import { mapPool } from '../../domain/pool.js';
import { describeVolumes } from '../../resources/volumes.js';
import type { EvidenceRun } from '../../evidence/run.js';

export const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const VOLUME_ID = /^vol-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** One source volume to take into the case. */
export interface SourceVolume {
  evidenceId: string;
  volumeId: string;
  sizeGiB: number;
  availabilityZone?: string;
  encrypted: boolean;
  kmsKeyId?: string;
  /** The instance it is attached to (its device name there); for --instance, the instance named. */
  instanceId?: string;
  device?: string;
  /** Snapshotted together with the other volumes of this instance (CreateSnapshots). */
  viaInstance?: string;
}

/** The evidence id of a source volume: stable, so a rerun maps the same volume to the same item. */
export function evidenceIdOf(volumeId: string): string {
  return `ev-${volumeId.replace(/^vol-/, '')}`;
}

/** Check the ids the user gave, before any AWS call. */
export function checkIds(instanceIds: readonly string[], volumeIds: readonly string[]): void {
  if (instanceIds.length === 0 && volumeIds.length === 0) {
    throw new UsageError(
      'NOTHING_TO_ACQUIRE',
      'Name what to acquire: --instance i-… (all its volumes, snapshotted together) or --volume vol-… (one or more).',
    );
  }
  if (instanceIds.length && volumeIds.length) {
    throw new UsageError(
      'INSTANCE_AND_VOLUME',
      'Give either --instance or --volume, not both: --instance takes every volume of the instance at once (crash-consistent); --volume takes only the volumes named.',
    );
  }
  const bad = [...instanceIds.filter((i) => !INSTANCE_ID.test(i)), ...volumeIds.filter((v) => !VOLUME_ID.test(v))];
  if (bad.length) {
    throw new UsageError(
      'INVALID_ID',
      `Not an EC2 ${instanceIds.length ? 'instance' : 'volume'} id: ${bad.map((b) => JSON.stringify(b)).join(', ')} (expected ${instanceIds.length ? 'i-' : 'vol-'} and 8 or 17 hex digits).`,
      { details: { ids: bad } },
    );
  }
}

export interface ResolveContext {
  run: EvidenceRun;
  source: AwsAccount;
  sourceAccount: string;
  /** The forensic instance, when the source is the forensic account and Region (its volumes are not evidence). */
  forensicInstanceId?: string;
  /** Open the source account in another Region, to say where a missing instance or volume really is. */
  sourceInRegion?: (region: string) => Promise<AwsAccount>;
}

/** Read the source volumes of the instances or volumes named. */
export async function resolveSources(
  c: ResolveContext,
  instanceIds: readonly string[],
  volumeIds: readonly string[],
): Promise<SourceVolume[]> {
  return instanceIds.length ? fromInstances(c, [...new Set(instanceIds)]) : fromVolumes(c, [...new Set(volumeIds)]);
}

async function fromInstances(c: ResolveContext, ids: string[]): Promise<SourceVolume[]> {
  const found = await describeInstances(c.source, ids);
  const missing = ids.filter((i) => !found.has(i));
  if (missing.length) throw await notFound(c, 'instance', missing);
  if (c.forensicInstanceId && ids.includes(c.forensicInstanceId)) {
    throw new UsageError(
      'FORENSIC_INSTANCE_AS_SOURCE',
      `${c.forensicInstanceId} is the forensic instance of case ${c.run.caseId}, not a compromised instance: acquire from the instance under investigation.`,
      { details: { instanceId: c.forensicInstanceId } },
    );
  }
  const out: SourceVolume[] = [];
  for (const id of ids) {
    const inst = found.get(id)!;
    const state = inst.State?.Name;
    if (state === 'terminated' || state === 'shutting-down') {
      throw new UsageError(
        'INSTANCE_TERMINATED',
        `Instance ${id} is ${state} in account ${c.sourceAccount} (${c.source.region}); its volumes are gone or going. If volumes of it remain, acquire them with --volume.`,
        { details: { instanceId: id, state } },
      );
    }
    const maps = (inst.BlockDeviceMappings ?? []).filter((m) => m.Ebs?.VolumeId);
    if (maps.length === 0)
      throw new UsageError(
        'NO_EBS_VOLUMES',
        `Instance ${id} has no EBS volumes attached (instance store cannot be snapshotted); nothing to acquire.`,
        { details: { instanceId: id } },
      );
    const vols = await volumesById(
      c.source,
      maps.map((m) => m.Ebs!.VolumeId!),
    );
    for (const m of maps) {
      const v = vols.get(m.Ebs!.VolumeId!);
      out.push(sourceVolume(m.Ebs!.VolumeId!, v, { instanceId: id, device: m.DeviceName, viaInstance: id }));
    }
  }
  return out;
}

async function fromVolumes(c: ResolveContext, ids: string[]): Promise<SourceVolume[]> {
  const vols = await volumesById(c.source, ids);
  const missing = ids.filter((v) => !vols.has(v));
  if (missing.length) throw await notFound(c, 'volume', missing);
  return ids.map((id) => {
    const v = vols.get(id)!;
    const att = (v.Attachments ?? []).find((a) => a.State !== 'detached');
    if (c.forensicInstanceId && att?.InstanceId === c.forensicInstanceId) {
      throw new UsageError(
        'VOLUME_ON_FORENSIC_INSTANCE',
        `Volume ${id} is attached to the forensic instance ${c.forensicInstanceId} of case ${c.run.caseId} (as ${att.Device}): it is the room's own disk or evidence already in the room, not a source. Name a volume of the compromised instance (\`cleanroom evidence list --case ${c.run.caseId}\` shows what is in the room).`,
        { details: { volumeId: id, instanceId: c.forensicInstanceId } },
      );
    }
    return sourceVolume(id, v, { instanceId: att?.InstanceId, device: att?.Device });
  });
}

type Vol = Awaited<ReturnType<typeof describeVolumes>>[number];

function sourceVolume(
  id: string,
  v: Vol | undefined,
  at: { instanceId?: string | undefined; device?: string | undefined; viaInstance?: string },
): SourceVolume {
  return {
    evidenceId: evidenceIdOf(id),
    volumeId: id,
    sizeGiB: v?.Size ?? 0,
    ...(v?.AvailabilityZone ? { availabilityZone: v.AvailabilityZone } : {}),
    encrypted: v?.Encrypted === true,
    ...(v?.KmsKeyId ? { kmsKeyId: v.KmsKeyId } : {}),
    ...(at.instanceId ? { instanceId: at.instanceId } : {}),
    ...(at.device ? { device: at.device } : {}),
    ...(at.viaInstance ? { viaInstance: at.viaInstance } : {}),
  };
}

async function volumesById(account: AwsAccount, ids: string[]): Promise<Map<string, Vol>> {
  const out = new Map<string, Vol>();
  for (let i = 0; i < ids.length; i += 200) {
    for (const v of await describeVolumes(account, [{ Name: 'volume-id', Values: ids.slice(i, i + 200) }]))
      if (v.VolumeId) out.set(v.VolumeId, v);
  }
  return out;
}

type Inst = NonNullable<
  NonNullable<Awaited<ReturnType<AwsAccount['ec2']['describeInstances']>>['Reservations']>[number]['Instances']
>[number];

async function describeInstances(account: AwsAccount, ids: string[]): Promise<Map<string, Inst>> {
  const out = new Map<string, Inst>();
  let NextToken: string | undefined;
  do {
    // A filter rather than InstanceIds: an unknown id then is simply absent, so all of them can be named.
    const r = await account.ec2.describeInstances({
      Filters: [{ Name: 'instance-id', Values: ids }],
      ...(NextToken ? { NextToken } : {}),
    });
    for (const inst of (r.Reservations ?? []).flatMap((x) => x.Instances ?? []))
      if (inst.InstanceId) out.set(inst.InstanceId, inst);
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  return out;
}

/** The error for ids not found: says in which other Region they are, when they are somewhere. */
async function notFound(c: ResolveContext, kind: 'instance' | 'volume', ids: string[]): Promise<UsageError> {
  const where = new Map<string, string>();
  if (c.sourceInRegion) {
    const regions = ((await c.source.ec2.describeRegions({})).Regions ?? [])
      .map((r) => r.RegionName)
      .filter((r): r is string => !!r && r !== c.source.region);
    const probes = await mapPool(regions, 8, async (region) => {
      const acct = await c.sourceInRegion!(region);
      const hits =
        kind === 'instance'
          ? [...(await describeInstances(acct, ids)).keys()]
          : [...(await volumesById(acct, ids)).keys()];
      return { region, hits };
    });
    for (const p of probes) if (p.ok) for (const id of p.value.hits) where.set(id, p.value.region);
  }
  const elsewhere = ids.filter((i) => where.has(i));
  const nowhere = ids.filter((i) => !where.has(i));
  const parts: string[] = [];
  for (const id of elsewhere)
    parts.push(
      `${kind === 'instance' ? 'Instance' : 'Volume'} ${id} is in ${where.get(id)}, not in ${c.source.region} where cleanroom looked: run again with --source-region ${where.get(id)}.`,
    );
  if (nowhere.length) {
    parts.push(
      `No ${kind} ${nowhere.join(', ')} in account ${c.sourceAccount} (${c.source.region}${c.sourceInRegion ? ' or any other Region' : ''}): check the id, the source account (--source-profile / --source-role-arn) and --source-region.`,
    );
  }
  return new UsageError(kind === 'instance' ? 'INSTANCE_NOT_FOUND' : 'VOLUME_NOT_FOUND', parts.join(' '), {
    details: {
      [kind === 'instance' ? 'instanceIds' : 'volumeIds']: ids,
      sourceAccount: c.sourceAccount,
      sourceRegion: c.source.region,
      elsewhere: Object.fromEntries(where),
    },
  });
}
