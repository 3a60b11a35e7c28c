/**
 * The room as evidence work needs it: up, passing its audit (before anything is attached), and its
 * forensic instance — where it is (its Availability Zone), how it names disks (NVMe on Nitro), how
 * many more EBS volumes it can take, and which device names are free.
 */
import type { RoomGate, RoomInfo } from '../domain/room.js';
import { CleanroomError, UsageError, VerificationFailedError } from '../domain/errors.js';
import type { EvidenceRun } from './run.js';

/** Stack states in which the room stands (`ROLLBACK_COMPLETE` is a failed creation). */
const UP = /^(CREATE_COMPLETE|UPDATE_COMPLETE|UPDATE_ROLLBACK_COMPLETE)$/;

export interface ForensicInstance {
  instanceId: string;
  availabilityZone: string;
  instanceType?: string;
  /** EBS volumes appear as NVMe disks (Nitro): the guest finds them by volume id, not by device name. */
  nvme: boolean;
  /** Volume id → device name, as attached now. */
  attached: Map<string, string>;
  devices: DeviceAllocator;
}

export interface RoomTarget {
  room: RoomInfo;
  instance: ForensicInstance;
}

/**
 * The room to attach evidence to, or an error that says what is wrong: no room / not up (exit 2),
 * fails its audit (exit 3), an instance that is gone or not where the room says (exit 2).
 */
export async function roomForAttach(run: EvidenceRun, gate: RoomGate): Promise<RoomTarget> {
  const room = await gate.describe(run.caseId);
  if (!room || !UP.test(room.stackStatus) || !room.instanceId || !room.availabilityZone) {
    throw new UsageError(
      'ROOM_NOT_UP',
      `The clean room of case ${run.caseId} is ${room ? `not up (stack ${room.stackName} is ${room.stackStatus})` : 'not there (no stack)'}, so there is no forensic instance to attach evidence to. Bring it up with \`cleanroom room up --case ${run.caseId}\`, or acquire with --no-attach and attach later with \`cleanroom evidence attach\`.`,
      { details: { caseId: run.caseId, stackStatus: room?.stackStatus ?? null } },
    );
  }
  const audit = await gate.audit(run.caseId);
  if (!audit.ok) {
    const failed = audit.checks.filter((c) => !c.ok && c.severity !== 'warning');
    throw new VerificationFailedError(
      'ROOM_AUDIT_FAILED',
      `The clean room of case ${run.caseId} fails its audit (${failed.map((c) => `${c.id}: ${c.detail}`).join('; ')}), so no evidence is attached to it. Nothing was changed. Fix the room (see \`cleanroom room verify --case ${run.caseId}\`), or acquire with --no-attach to preserve the evidence now.`,
      { caseId: run.caseId, failedChecks: failed.map((c) => c.id) },
    );
  }
  return { room, instance: await forensicInstance(run, room) };
}

/** The room when it stands (for --no-attach: where to put working volumes), else undefined. */
export async function roomIfUp(run: EvidenceRun, gate: RoomGate): Promise<RoomTarget | undefined> {
  const room = await gate.describe(run.caseId);
  if (!room || !UP.test(room.stackStatus) || !room.instanceId || !room.availabilityZone) return undefined;
  return { room, instance: await forensicInstance(run, room) };
}

async function forensicInstance(run: EvidenceRun, room: RoomInfo): Promise<ForensicInstance> {
  const instanceId = room.instanceId!;
  const r = await run.forensic.ec2.describeInstances({ Filters: [{ Name: 'instance-id', Values: [instanceId] }] });
  const inst = (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).find((i) => i.InstanceId === instanceId);
  const state = inst?.State?.Name;
  if (!inst || state === 'terminated' || state === 'shutting-down') {
    throw new UsageError(
      'FORENSIC_INSTANCE_GONE',
      `The forensic instance ${instanceId} of case ${run.caseId} is ${inst ? state : 'not found'} in ${run.forensic.region}; the room needs repair: run \`cleanroom room up --case ${run.caseId}\` again.`,
      {
        details: { instanceId, state: state ?? null },
      },
    );
  }
  const az = inst.Placement?.AvailabilityZone;
  if (az !== room.availabilityZone) {
    throw new UsageError(
      'AZ_MISMATCH',
      `The forensic instance ${instanceId} is in ${az ?? 'an unknown Availability Zone'}, but the room of case ${run.caseId} says ${room.availabilityZone}. EBS volumes attach only within one Availability Zone, so cleanroom will not guess: check the room with \`cleanroom room verify --case ${run.caseId}\`.`,
      { details: { instanceId, instanceAz: az ?? null, roomAz: room.availabilityZone } },
    );
  }
  const attached = new Map<string, string>();
  for (const m of inst.BlockDeviceMappings ?? [])
    if (m.Ebs?.VolumeId && m.DeviceName) attached.set(m.Ebs.VolumeId, m.DeviceName);
  const enis = inst.NetworkInterfaces?.length ?? 1;

  let nvme = true;
  let maxEbs: number | undefined;
  if (inst.InstanceType) {
    const t = (await run.forensic.ec2.describeInstanceTypes({ InstanceTypes: [inst.InstanceType as never] }))
      .InstanceTypes?.[0];
    const ebs = t?.EbsInfo as
      | { NvmeSupport?: string; MaximumEbsAttachments?: number; AttachmentLimitType?: string }
      | undefined;
    if (ebs?.NvmeSupport) nvme = ebs.NvmeSupport !== 'unsupported';
    if (typeof ebs?.MaximumEbsAttachments === 'number') {
      // "shared": network interfaces beyond the first count against the same limit
      // (Amazon EBS volume limits for Amazon EC2 instances).
      maxEbs = ebs.MaximumEbsAttachments - (ebs.AttachmentLimitType === 'shared' ? Math.max(0, enis - 1) : 0);
    }
  }
  const capacity = maxEbs === undefined ? undefined : Math.max(0, maxEbs - attached.size);
  return {
    instanceId,
    availabilityZone: room.availabilityZone!,
    ...(inst.InstanceType ? { instanceType: inst.InstanceType } : {}),
    nvme,
    attached,
    devices: new DeviceAllocator(new Set(attached.values()), capacity, instanceId, inst.InstanceType, maxEbs),
  };
}

/**
 * Device names for new attachments: the recommended /dev/sd[f-p] first, then the other names AWS
 * lists as available for HVM instances ("Device names for volumes on Amazon EC2 instances").
 * On Nitro the guest ignores the name (NVMe); it still must be unique per instance.
 */
const CANDIDATES = [
  ...'fghijklmnop'.split('').map((c) => `/dev/sd${c}`),
  ...'qrstuvwxyz'.split('').map((c) => `/dev/sd${c}`),
  ...'bc'.split('').flatMap((x) => 'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `/dev/xvd${x}${c}`)),
];

export class DeviceAllocator {
  constructor(
    private readonly inUse: Set<string>,
    /** How many more volumes the instance type takes (undefined: not known). */
    private capacity: number | undefined,
    private readonly instanceId: string,
    private readonly instanceType: string | undefined,
    private readonly maxEbs: number | undefined,
  ) {}

  /** Reserve a free device name, or fail (before AttachVolume) when the instance is full. */
  take(evidenceId: string, volumeId: string): string {
    if (this.capacity !== undefined && this.capacity <= 0) {
      throw new CleanroomError(
        'ATTACHMENT_LIMIT',
        `The forensic instance ${this.instanceId} (${this.instanceType}) takes at most ${this.maxEbs} EBS volumes and has no free attachment left, so ${evidenceId} stays ready as volume ${volumeId}, not attached. Detach evidence you are done with (\`cleanroom evidence detach\`), then \`cleanroom evidence attach --evidence ${evidenceId}\`.`,
        { details: { instanceId: this.instanceId, evidenceId, volumeId } },
      );
    }
    const name = CANDIDATES.find((d) => !this.inUse.has(d));
    if (!name)
      throw new CleanroomError(
        'NO_DEVICE_NAME',
        `No free device name is left on ${this.instanceId} for ${evidenceId}.`,
        { details: { instanceId: this.instanceId } },
      );
    this.inUse.add(name);
    if (this.capacity !== undefined) this.capacity -= 1;
    return name;
  }

  /** Give a reserved name back (the attach did not happen). */
  release(name: string): void {
    if (this.inUse.delete(name) && this.capacity !== undefined) this.capacity += 1;
  }
}

/** How a Nitro guest finds an EBS volume: udev's by-id link built from the volume id. */
export function nvmeByIdPath(volumeId: string): string {
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`;
}
