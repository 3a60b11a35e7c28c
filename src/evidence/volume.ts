/**
 * The working volume of an evidence item: made from the forensic snapshot (the evidence of record,
 * under the case key) in the room's Availability Zone, encrypted with the case key, and attached to
 * the forensic instance. The volume is a copy: whatever happens to it, the snapshot is unchanged.
 */
import { createHash } from 'node:crypto';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError, UsageError } from '../domain/errors.js';
import { caseTags } from '../domain/case-id.js';
import { ROLE, TAG_EVIDENCE, TAG_ROLE, TAG_CASE } from '../domain/tags.js';
import type { EvidencePatch } from '../domain/evidence.js';
import type { PollResult } from '../domain/waiter.js';
import { describeVolumes } from '../resources/volumes.js';
import { findOrCreate, retrying } from './create-once.js';
import { nvmeByIdPath, type RoomTarget } from './room.js';
import type { EvidenceRun } from './run.js';
import type { VolumeInfo } from './watch.js';
import { eventsOfFamily, idempotencyKeys, type IdempotencyKey } from '../domain/idempotency-keys.js';

/** Idempotency keys of the volume steps. */
export const volumeKeys = { ...idempotencyKeys.evidence, create: idempotencyKeys.evidence.volume };

/**
 * How many times the record shows this volume attached / detached (attach n is undone by detach
 * n). Every detach of an evidence volume — `evidence detach`, `room down --detach-evidence`,
 * `case close` — records under `volumeKeys.detach`, so a later attach starts a new cycle.
 */
export function cycles(run: EvidenceRun, eid: string, vid: string): { attaches: number; detaches: number } {
  return cyclesIn(run.custody.events(), eid, vid);
}

export function cyclesIn(
  events: ReadonlyArray<{ idempotencyKey?: string }>,
  eid: string,
  vid: string,
): { attaches: number; detaches: number } {
  // Unmarked keys only: a failure recorded under `<key>:failed…` is not a cycle.
  const count = (family: 'evidence.attach' | 'evidence.detach') =>
    eventsOfFamily(events, family).filter(({ fields }) => fields['evidenceId'] === eid && fields['volumeId'] === vid)
      .length;
  return { attaches: count('evidence.attach'), detaches: count('evidence.detach') };
}

/** The key of the detach that ends the volume's current attach cycle (see {@link cycles}). */
export function detachKeyIn(
  events: ReadonlyArray<{ idempotencyKey?: string }>,
  eid: string,
  vid: string,
): { key: IdempotencyKey; recordSaysAttached: boolean } {
  const { attaches, detaches } = cyclesIn(events, eid, vid);
  return { key: volumeKeys.detach(eid, vid, Math.max(1, attaches)), recordSaysAttached: attaches > detaches };
}

/** `defer`: hand the custody append to the caller instead of waiting for it (see acquire's `Deferred`). */
export type Defer = (p: Promise<unknown>) => void;

/** The working volume of an item in the room's AZ: found (by tag) or made from the forensic snapshot. */
export async function ensureWorkingVolume(
  run: EvidenceRun,
  item: EvidencePatch,
  target: RoomTarget,
  caseKeyArn: string,
  defer?: Defer,
): Promise<VolumeInfo> {
  const eid = item.evidenceId;
  const snapshotId = item.forensicSnapshotId;
  if (!snapshotId)
    throw new UsageError(
      'NOT_PRESERVED',
      `Evidence ${eid} has no forensic snapshot yet; run \`cleanroom acquire\` again to finish it.`,
      { details: { evidenceId: eid } },
    );
  const az = target.instance.availabilityZone;
  const accountId = await run.forensic.accountId();
  const region = run.forensic.region;
  const existing = await workingVolumesInAz(run, eid, snapshotId, target);
  const made = await findOrCreateVolume(run, { eid, snapshotId, az, accountId, region, caseKeyArn }, existing);
  const vid = made.value.VolumeId!;
  const vol = await run.watcher.volume(
    run.forensic,
    vid,
    { item: eid, phase: 'working volume', budgetMs: run.budgets.volumeMs },
    (v) => judgeVolume(vid, eid, v, { kind: 'created' }),
  );
  const recorded = run.recordEvidence(
    volumeKeys.create(eid, vid),
    'evidence.volume.create',
    [run.ref('ec2:volume', vid, accountId, region), run.ref('ec2:snapshot', snapshotId, accountId, region)],
    {
      evidenceId: eid,
      volumeId: vid,
      availabilityZone: az,
      kmsKeyArn: caseKeyArn,
      state: isAttachedTo(vol, target.instance.instanceId) ? 'attached' : 'volume-created',
    },
    { foundExisting: !made.created, encrypted: true },
    { snapshotId, availabilityZone: az, volumeType: 'gp3' },
  );
  if (defer) defer(recorded);
  else await recorded;
  return vol;
}

/** The item's live working volumes; AZ_MISMATCH when the only ones are outside the room's Availability Zone. */
async function workingVolumesInAz(
  run: EvidenceRun,
  eid: string,
  snapshotId: string,
  target: RoomTarget,
): Promise<VolumeInfo[]> {
  const az = target.instance.availabilityZone;
  const existing = (
    await describeVolumes(run.forensic, [
      { Name: `tag:${TAG_CASE}`, Values: [run.caseId] },
      { Name: `tag:${TAG_EVIDENCE}`, Values: [eid] },
      { Name: `tag:${TAG_ROLE}`, Values: [ROLE.workingVolume] },
    ])
  ).filter((v) => v.State !== 'deleting' && v.State !== 'deleted' && v.State !== 'error');
  const elsewhere = existing.find((v) => v.AvailabilityZone !== az);
  if (elsewhere && !existing.some((v) => v.AvailabilityZone === az)) {
    throw new UsageError(
      'AZ_MISMATCH',
      `The working volume ${elsewhere.VolumeId} of ${eid} is in ${elsewhere.AvailabilityZone}, but the forensic instance ${target.instance.instanceId} is in ${az}; EBS volumes attach only within their Availability Zone. The volume is only a copy (the evidence snapshot ${snapshotId} is unaffected): delete it, then run \`cleanroom evidence attach --case ${run.caseId} --evidence ${eid}\` to make a new one in ${az}.`,
      {
        details: {
          evidenceId: eid,
          volumeId: elsewhere.VolumeId,
          volumeAz: elsewhere.AvailabilityZone,
          instanceAz: az,
        },
      },
    );
  }

  return existing;
}

/** Find the working volume in the AZ, or create it (with a client token per volume made for the item). */
async function findOrCreateVolume(
  run: EvidenceRun,
  o: { eid: string; snapshotId: string; az: string; accountId: string; region: string; caseKeyArn: string },
  existing: VolumeInfo[],
) {
  const { eid, snapshotId, az, accountId, region, caseKeyArn } = o;
  // A new ClientToken for each volume made for this item (close may have deleted an earlier one).
  const generation = eventsOfFamily(run.custody.events(), 'evidence.volume', { marked: true }).filter(
    ({ fields }) => fields['evidenceId'] === eid,
  ).length;
  const clientToken = `cr-${createHash('sha256').update(`${run.caseId}|${eid}|${snapshotId}|${generation}`).digest('hex').slice(0, 40)}`;
  run.progress(eid, 'creating volume', `from ${snapshotId} in ${az}`);
  return findOrCreate<VolumeInfo>({
    description: `working volume of ${eid} from ${snapshotId}`,
    find: async () => existing.find((v) => v.AvailabilityZone === az) ?? (await findVolume(run, eid, az)),
    create: async () => {
      await run.limits.of(accountId, region).createVolume.take();
      const v = await run.forensic.ec2.createVolume({
        AvailabilityZone: az,
        SnapshotId: snapshotId,
        Encrypted: true,
        KmsKeyId: caseKeyArn,
        VolumeType: 'gp3',
        ClientToken: clientToken,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: caseTags(run.caseId, {
              [TAG_EVIDENCE]: eid,
              [TAG_ROLE]: ROLE.workingVolume,
              Name: `cleanroom ${run.caseId} ${eid} (working copy of ${snapshotId})`,
            }),
          },
        ],
      });
      return v as VolumeInfo;
    },
    budgetMs: run.budgets.apiMs,
    clock: run.clock,
    details: { evidenceId: eid, snapshotId },
  });
}

async function findVolume(run: EvidenceRun, eid: string, az: string): Promise<VolumeInfo | undefined> {
  const vs = await describeVolumes(run.forensic, [
    { Name: `tag:${TAG_CASE}`, Values: [run.caseId] },
    { Name: `tag:${TAG_EVIDENCE}`, Values: [eid] },
    { Name: `tag:${TAG_ROLE}`, Values: [ROLE.workingVolume] },
  ]);
  return vs.find(
    (v) => v.AvailabilityZone === az && v.State !== 'deleting' && v.State !== 'deleted' && v.State !== 'error',
  );
}

export interface Attached {
  volumeId: string;
  instanceId: string;
  device: string;
  guestDevice: string;
  cycle: number;
}

/** Attach the working volume to the forensic instance (or find it attached) and record it. */
export async function attachWorkingVolume(
  run: EvidenceRun,
  eid: string,
  vol: VolumeInfo,
  target: RoomTarget,
  defer?: Defer,
): Promise<Attached> {
  const vid = vol.VolumeId!;
  const inst = target.instance;
  const accountId = await run.forensic.accountId();
  const region = run.forensic.region;
  const other = (vol.Attachments ?? []).find(
    (a) => a.InstanceId && a.InstanceId !== inst.instanceId && a.State !== 'detached',
  );
  if (other) {
    throw new UsageError(
      'VOLUME_ATTACHED_ELSEWHERE',
      `The working volume ${vid} of ${eid} is attached to ${other.InstanceId}, not to the forensic instance ${inst.instanceId}; detach it there first.`,
      {
        details: { evidenceId: eid, volumeId: vid, attachedTo: other.InstanceId },
      },
    );
  }
  let device =
    (vol.Attachments ?? []).find((a) => a.InstanceId === inst.instanceId && a.State !== 'detached')?.Device ??
    inst.attached.get(vid);
  if (!device) {
    device = inst.devices.take(eid, vid);
    run.progress(eid, 'attaching', `${vid} to ${inst.instanceId} as ${device}`);
    try {
      await retrying(
        `attach ${vid} to ${inst.instanceId}`,
        async () => {
          await run.limits.of(accountId, region).copyAttach.take();
          try {
            await run.forensic.ec2.attachVolume({ VolumeId: vid, InstanceId: inst.instanceId, Device: device! });
          } catch (e) {
            // An earlier attempt whose answer was lost may have attached it already.
            if (!isAwsCode(e, 'VolumeInUse', 'IncorrectState', 'InvalidVolume.ZoneMismatch')) throw e;
            const [now] = await describeVolumes(run.forensic, [{ Name: 'volume-id', Values: [vid] }]);
            if (!now || !isAttachedTo(now, inst.instanceId)) throw e;
          }
        },
        run.budgets.apiMs,
        run.clock,
        { evidenceId: eid, volumeId: vid },
      );
    } catch (e) {
      inst.devices.release(device);
      throw e;
    }
    inst.attached.set(vid, device);
  }
  const now = await run.watcher.volume(
    run.forensic,
    vid,
    { item: eid, phase: 'attachment', budgetMs: run.budgets.volumeMs },
    (v) => judgeVolume(vid, eid, v, { kind: 'attached', instanceId: inst.instanceId }),
  );
  device = (now.Attachments ?? []).find((a) => a.InstanceId === inst.instanceId)?.Device ?? device;
  const guestDevice = inst.nvme ? nvmeByIdPath(vid) : device;
  const cycle = cycles(run, eid, vid).detaches + 1;
  const recorded = run.recordEvidence(
    volumeKeys.attach(eid, vid, cycle),
    'evidence.attach',
    [run.ref('ec2:volume', vid, accountId, region), run.ref('ec2:instance', inst.instanceId, accountId, region)],
    {
      evidenceId: eid,
      volumeId: vid,
      instanceId: inst.instanceId,
      device,
      guestDevice,
      availabilityZone: inst.availabilityZone,
      state: 'attached',
    },
    {
      nvme: inst.nvme,
      how: inst.nvme
        ? `on this Nitro instance the volume is an NVMe disk (/dev/nvme*n1), found by its volume id at ${guestDevice}, not by the requested name ${device}; it is read-only from the moment it appears (udev rule)`
        : `the guest sees it as ${device.replace('/dev/sd', '/dev/xvd')} or ${device}`,
    },
  );
  if (defer) defer(recorded);
  else await recorded;
  return { volumeId: vid, instanceId: inst.instanceId, device, guestDevice, cycle };
}

export function isAttachedTo(v: VolumeInfo, instanceId: string): boolean {
  return (v.Attachments ?? []).some((a) => a.InstanceId === instanceId && a.State === 'attached');
}

/** What a volume wait waits for. */
export type VolumeWant = { kind: 'created' } | { kind: 'detached' } | { kind: 'attached'; instanceId: string };

/**
 * Judge a volume for the watcher: made (available, or already attached by an earlier run),
 * detached (available with no attachment), or attached to the given instance.
 */
export function judgeVolume(
  vid: string,
  eid: string,
  v: VolumeInfo | undefined,
  want: VolumeWant,
): PollResult<VolumeInfo> {
  if (!v) return { state: 'pending', detail: 'not visible yet' };
  if (v.State === 'error')
    return {
      state: 'failed',
      error: new CleanroomError(
        'VOLUME_ERROR',
        `Volume ${vid} of ${eid} is in state error; delete it and run the same command again.`,
        { details: { volumeId: vid, evidenceId: eid } },
      ),
    };
  const live = (v.Attachments ?? []).filter((a) => a.State !== 'detached');
  const where = `${v.State}${live.length ? ` (${live.map((a) => `${a.InstanceId} ${a.State}`).join(', ')})` : ''}`;
  switch (want.kind) {
    case 'created':
      return v.State === 'available' || (v.State === 'in-use' && live.every((a) => a.State === 'attached'))
        ? { state: 'done', value: v }
        : { state: 'pending', detail: where };
    case 'detached':
      // A detach stays in `detaching` while the guest still uses the disk.
      return v.State === 'available' && live.length === 0
        ? { state: 'done', value: v }
        : { state: 'pending', detail: `${where}; if it stays detaching, unmount it inside the forensic instance` };
    case 'attached':
      return isAttachedTo(v, want.instanceId) ? { state: 'done', value: v } : { state: 'pending', detail: where };
  }
}
