/**
 * A hand-written, stateful fake of the accounts acquisition talks to (EC2, KMS, SSM), with the AWS
 * rules moto does not enforce (docs/local-aws.md): snapshots stay `pending` for a while; only a
 * `completed` snapshot can be copied; a shared snapshot is visible to the grantee (without the
 * owner's tags) and copyable only when its key's policy names the grantee; an AWS managed key's
 * snapshot cannot be shared; 20 concurrent copies per destination, 5 pending snapshots per volume;
 * attach only within the AZ and on a free device name. Ids are derived from what a resource is
 * made from (and how many such were made before), so a duplicate shows up as a different id and the
 * end state of two runs compares regardless of the order concurrent items ran in.
 *
 * Crash injection: the world dies right after the k-th mutating call (the request took effect, the
 * answer was lost: what a SIGKILL does), or before the k-th custody write; every call after throws.
 */
import { createHash } from 'node:crypto';
import type {
  _InstanceType,
  Filter,
  InstanceStateName,
  SnapshotState,
  TagSpecification,
  VolumeAttachmentState,
  VolumeState,
} from '@aws-sdk/client-ec2';
import type { KeySpec, KeyState } from '@aws-sdk/client-kms';
import type { CommandInvocationStatus } from '@aws-sdk/client-ssm';
import type { AwsAccount, Ec2Port, KmsPort, SsmPort } from '../../../src/aws/ports.js';
import type { FakePort } from '../../fakes/ports.js';
import { AwsError, CleanroomError } from '../../../src/domain/errors.js';
import type { SnapshotHasher } from '../../../src/evidence/hash-step.js';
import { MemoryRecorder, type CustodyEntry } from '../../../src/domain/recorder.js';
import { Crash, Interruptions } from '../../harness/interruptions.js';
import type { Clock } from '../../../src/domain/waiter.js';
import type { AuditResult, RoomGate, RoomInfo } from '../../../src/domain/room.js';

export const CASE = 'IR-42';
export const FORENSIC = '123456789012';
export const SOURCE = '111111111111';
export const REGION = 'us-east-1';
export const AZ = 'us-east-1a';

export { Crash };

type Tags = Record<string, string>;
const hex = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);
const toTags = (m: Tags) => Object.entries(m).map(([Key, Value]) => ({ Key, Value }));
const fromSpec = (specs: TagSpecification[] | undefined, type: string): Tags =>
  Object.fromEntries(
    (specs ?? [])
      .filter((s) => s.ResourceType === type)
      .flatMap((s) => s.Tags ?? [])
      .map((t) => [t.Key, t.Value]),
  );

export interface Snap {
  id: string;
  owner: string;
  region: string;
  volumeId: string;
  size: number;
  state: SnapshotState;
  pendingPolls: number;
  tags: Tags;
  encrypted: boolean;
  kmsKeyId?: string;
  sharedWith: Set<string>;
  copyOf?: string;
  endsInError?: boolean;
}
export interface Vol {
  id: string;
  az: string;
  size: number;
  state: VolumeState;
  tags: Tags;
  snapshotId?: string;
  encrypted: boolean;
  kmsKeyId?: string;
  attachment?: { instanceId: string; device: string; state: VolumeAttachmentState };
  creatingPolls: number;
}
export interface Inst {
  id: string;
  az: string;
  type: _InstanceType;
  state: InstanceStateName;
  devices: Map<string, string>;
  enis: number;
}
export interface Key {
  id: string;
  arn: string;
  state: KeyState;
  tags: Tags;
  policy: string;
  manager: 'CUSTOMER' | 'AWS';
  spec: KeySpec;
}

export class FakeAccount {
  instances = new Map<string, Inst>();
  volumes = new Map<string, Vol>();
  snapshots = new Map<string, Snap>();
  deletedSnapshots: Snap[] = [];
  keys = new Map<string, Key>();
  aliases = new Map<string, string>();
  made = new Map<string, number>();
  mutations: string[] = [];
  calls: Array<{ op: string; input: Record<string, unknown> }> = [];
  /** Per operation: fail the next n calls with this error before doing anything (throttling, 5xx). */
  failBefore = new Map<string, { n: number; code: string; status: number }>();
  /** Per operation: do it, then fail the next n answers (the answer was lost). */
  failAfter = new Map<string, { n: number; code: string; status: number }>();
  /** How many polls a new snapshot (or copy) stays pending. */
  pendingPolls = 1;
  maxConcurrentCopies = 0;
  maxEbsAttachments = 27;

  constructor(
    readonly accountId: string,
    readonly region: string,
    readonly world: World,
  ) {}

  nextId(prefix: string, basis: string, len: number): string {
    const n = (this.made.get(`${prefix}|${basis}`) ?? 0) + 1;
    this.made.set(`${prefix}|${basis}`, n);
    return `${prefix}-${hex(`${this.accountId}|${basis}|${n}`, len)}`;
  }

  err(op: string, code: string, message: string, status = 400): AwsError {
    const cause = Object.assign(new Error(message), { $metadata: { httpStatusCode: status } });
    return new AwsError('ec2', op, code, `${op} failed: ${message}`, {
      cause,
      exitCode: /NotFound|Invalid/.test(code) ? 2 : 1,
    });
  }

  /** A mutating call: may be throttled first, may lose its answer after, counts for crash injection. */
  mutate<T>(op: string, input: object, fn: () => T): T {
    this.read(op, input);
    const r = fn();
    this.mutations.push(op);
    this.world.afterMutation();
    const after = this.failAfter.get(op);
    if (after && after.n > 0) {
      after.n--;
      throw this.err(op, after.code, 'injected after the fact', after.status);
    }
    return r;
  }

  read(op: string, input: object): void {
    this.world.alive();
    // An SDK input, kept for the tests to read any of its fields.
    this.calls.push({ op, input: input as Record<string, unknown> });
    const before = this.failBefore.get(op);
    if (before && before.n > 0) {
      before.n--;
      throw this.err(op, before.code, 'injected', before.status);
    }
  }

  matches(tags: Tags, fields: Record<string, string | undefined>, filters: Filter[] = []): boolean {
    return filters.every((f) => {
      const vals = f.Values ?? [];
      const name = f.Name ?? '';
      if (name === 'tag-key') return vals.some((v) => v in tags);
      if (name.startsWith('tag:')) return vals.includes(tags[name.slice(4)] ?? '\u0000');
      if (!(name in fields)) throw new Error(`fake: unsupported filter ${name}`);
      return vals.includes(fields[name] ?? '\u0000');
    });
  }

  /** Snapshots this account can see: its own, and others' shared with it (without their tags). */
  visibleSnapshot(id: string): Snap | undefined {
    const own = this.snapshots.get(id);
    if (own) return own;
    for (const a of this.world.accounts()) {
      const s = a.snapshots.get(id);
      if (s && a !== this && a.region === this.region && s.sharedWith.has(this.accountId)) return s;
    }
    return undefined;
  }

  pendingCopies(): number {
    return [...this.snapshots.values()].filter((s) => s.copyOf && s.state === 'pending').length;
  }

  keyByRef(ref: string): Key | undefined {
    const id = ref.startsWith('alias/')
      ? this.aliases.get(ref)
      : ref.includes(':alias/')
        ? this.aliases.get(ref.slice(ref.indexOf('alias/')))
        : ref.includes(':key/')
          ? ref.slice(ref.indexOf(':key/') + 5)
          : ref;
    return id ? this.keys.get(id) : undefined;
  }

  port(): AwsAccount {
    const self = this;
    const w = this.world;
    const ec2: FakePort<
      Pick<
        Ec2Port,
        | 'describeRegions'
        | 'describeInstances'
        | 'describeInstanceTypes'
        | 'describeVolumes'
        | 'describeSnapshots'
        | 'createSnapshot'
        | 'createSnapshots'
        | 'copySnapshot'
        | 'modifySnapshotAttribute'
        | 'deleteSnapshot'
        | 'createTags'
        | 'createVolume'
        | 'attachVolume'
        | 'detachVolume'
      >
    > = {
      async describeRegions() {
        self.read('DescribeRegions', {});
        return { Regions: ['us-east-1', 'us-west-2', 'eu-west-1'].map((RegionName) => ({ RegionName })) };
      },
      async describeInstances(i) {
        self.read('DescribeInstances', i);
        const list = [...self.instances.values()].filter((x) => self.matches({}, { 'instance-id': x.id }, i.Filters));
        return {
          Reservations: [
            {
              Instances: list.map((x) => ({
                InstanceId: x.id,
                InstanceType: x.type,
                State: { Name: x.state },
                Placement: { AvailabilityZone: x.az },
                NetworkInterfaces: Array.from({ length: x.enis }, () => ({})),
                BlockDeviceMappings: [...x.devices].map(([DeviceName, VolumeId]) => ({
                  DeviceName,
                  Ebs: { VolumeId },
                })),
              })),
            },
          ],
        };
      },
      async describeInstanceTypes(i) {
        self.read('DescribeInstanceTypes', i);
        return {
          InstanceTypes: [
            {
              InstanceType: i.InstanceTypes![0],
              EbsInfo: {
                NvmeSupport: 'required',
                MaximumEbsAttachments: self.maxEbsAttachments,
                AttachmentLimitType: 'shared',
              },
            },
          ],
        };
      },
      async describeVolumes(i) {
        self.read('DescribeVolumes', i);
        const out = [...self.volumes.values()].filter((v) => self.matches(v.tags, { 'volume-id': v.id }, i.Filters));
        for (const v of out) {
          if (v.state === 'creating' && v.creatingPolls-- <= 0) v.state = 'available';
          if (v.attachment?.state === 'attaching') v.attachment.state = 'attached';
          if (v.attachment?.state === 'detaching') {
            v.attachment = undefined;
            v.state = 'available';
          }
        }
        return {
          Volumes: out.map((v) => ({
            VolumeId: v.id,
            AvailabilityZone: v.az,
            Size: v.size,
            State: v.state,
            Encrypted: v.encrypted,
            KmsKeyId: v.kmsKeyId,
            SnapshotId: v.snapshotId,
            Tags: toTags(v.tags),
            Attachments: v.attachment
              ? [
                  {
                    InstanceId: v.attachment.instanceId,
                    Device: v.attachment.device,
                    State: v.attachment.state,
                    VolumeId: v.id,
                  },
                ]
              : [],
          })),
        };
      },
      async describeSnapshots(i) {
        self.read('DescribeSnapshots', i);
        if (JSON.stringify(i.OwnerIds) !== '["self"]')
          throw new Error('fake: acquisition describes its own snapshots only');
        const out = [...self.snapshots.values()].filter((s) =>
          self.matches(s.tags, { 'snapshot-id': s.id, 'volume-id': s.volumeId, status: s.state }, i.Filters),
        );
        for (const s of out) {
          if (s.state === 'pending' && s.pendingPolls-- <= 0) s.state = s.endsInError ? 'error' : 'completed';
        }
        w.describedSnapshotIds.push(out.length);
        return {
          Snapshots: out.map((s) => ({
            SnapshotId: s.id,
            OwnerId: s.owner,
            VolumeId: s.volumeId,
            VolumeSize: s.size,
            State: s.state,
            Progress: s.state === 'completed' ? '100%' : `${Math.max(0, 90 - 30 * s.pendingPolls)}%`,
            Encrypted: s.encrypted,
            KmsKeyId: s.kmsKeyId,
            StartTime: new Date(0),
            Tags: toTags(s.tags),
          })),
        };
      },
      async createSnapshot(i) {
        return self.mutate('CreateSnapshot', i, () => {
          const v = self.volumes.get(i.VolumeId!);
          if (!v)
            throw self.err('createSnapshot', 'InvalidVolume.NotFound', `The volume '${i.VolumeId}' does not exist.`);
          const pending = [...self.snapshots.values()].filter(
            (s) => s.volumeId === v.id && s.state === 'pending',
          ).length;
          if (pending >= 5)
            throw self.err(
              'createSnapshot',
              'SnapshotCreationPerVolumeRateExceeded',
              'The maximum per volume CreateSnapshot request rate has been exceeded.',
            );
          const s = self.newSnapshot(v, fromSpec(i.TagSpecifications, 'snapshot'));
          return { SnapshotId: s.id, VolumeId: v.id, State: s.state, Tags: toTags(s.tags) };
        });
      },
      async createSnapshots(i) {
        return self.mutate('CreateSnapshots', i, () => {
          const inst = self.instances.get(i.InstanceSpecification!.InstanceId!)!;
          const tags = fromSpec(i.TagSpecifications, 'snapshot');
          const snaps = [...inst.devices.values()].map((vid) => self.newSnapshot(self.volumes.get(vid)!, { ...tags }));
          return {
            Snapshots: snaps.map((s) => ({
              SnapshotId: s.id,
              VolumeId: s.volumeId,
              State: s.state,
              Tags: toTags(s.tags),
            })),
          };
        });
      },
      async copySnapshot(i) {
        return self.mutate('CopySnapshot', i, () => {
          const home = w.accounts().find((a) => a.accountId === self.accountId && a.region === i.SourceRegion) ?? self;
          const src = home.visibleSnapshot(i.SourceSnapshotId!);
          if (!src)
            throw self.err(
              'copySnapshot',
              'InvalidSnapshot.NotFound',
              `The snapshot '${i.SourceSnapshotId}' does not exist.`,
            );
          if (src.state !== 'completed')
            throw self.err(
              'copySnapshot',
              'IncorrectState',
              `Snapshot ${src.id} is ${src.state}; only completed snapshots can be copied.`,
            );
          if (src.owner !== self.accountId) {
            const key = w.byId(src.owner)!.keyByRef(src.kmsKeyId ?? '');
            if (!src.encrypted || !key)
              throw new Error(
                `TEST FAILURE: a shared snapshot ${src.id} is not encrypted under a customer managed key`,
              );
            if (!key.policy.includes(`arn:aws:iam::${self.accountId}:root`))
              throw self.err('copySnapshot', 'AccessDenied', `not authorized to use key ${key.arn}`, 403);
          }
          if (i.KmsKeyId && !self.keyByRef(i.KmsKeyId))
            throw self.err('copySnapshot', 'InvalidParameterValue', `KMS key ${i.KmsKeyId} does not exist`);
          if (self.pendingCopies() >= 20)
            throw self.err('copySnapshot', 'ResourceLimitExceeded', 'Too many snapshot copies in progress.');
          const tags = fromSpec(i.TagSpecifications, 'snapshot');
          const id = self.nextId('snap', `copy|${src.id}`, 17);
          const s: Snap = {
            id,
            owner: self.accountId,
            region: self.region,
            volumeId: 'vol-ffffffff',
            size: src.size,
            state: 'pending',
            pendingPolls: self.pendingPolls,
            tags,
            encrypted: true,
            kmsKeyId: self.keyByRef(i.KmsKeyId ?? '')?.arn ?? i.KmsKeyId,
            sharedWith: new Set(),
            copyOf: src.id,
            endsInError: w.copiesEndInError,
          };
          self.snapshots.set(id, s);
          self.maxConcurrentCopies = Math.max(self.maxConcurrentCopies, self.pendingCopies());
          return { SnapshotId: id };
        });
      },
      async modifySnapshotAttribute(i) {
        return self.mutate('ModifySnapshotAttribute', i, () => {
          const s = self.snapshots.get(i.SnapshotId!)!;
          if (i.OperationType !== 'add' || i.Attribute !== 'createVolumePermission')
            throw new Error('fake: only add createVolumePermission');
          const key = self.keyByRef(s.kmsKeyId ?? '');
          if (!s.encrypted || !key || key.manager === 'AWS')
            throw self.err(
              'modifySnapshotAttribute',
              'InvalidParameter',
              'Snapshots encrypted with the AWS managed key cannot be shared.',
            );
          for (const u of i.UserIds ?? []) s.sharedWith.add(u);
          return {};
        });
      },
      async deleteSnapshot(i) {
        return self.mutate('DeleteSnapshot', i, () => {
          const s = self.snapshots.get(i.SnapshotId!);
          if (!s) throw self.err('deleteSnapshot', 'InvalidSnapshot.NotFound', 'gone');
          self.snapshots.delete(s.id);
          self.deletedSnapshots.push(s);
          return {};
        });
      },
      async createTags(i) {
        return self.mutate('CreateTags', i, () => {
          for (const r of i.Resources ?? []) {
            const o = self.snapshots.get(r) ?? self.volumes.get(r);
            for (const t of i.Tags ?? []) o!.tags[t.Key!] = t.Value!;
          }
          return {};
        });
      },
      async createVolume(i) {
        return self.mutate('CreateVolume', i, () => {
          const s = self.visibleSnapshot(i.SnapshotId!)!;
          if (!i.Encrypted || !i.KmsKeyId)
            throw new Error('TEST FAILURE: working volume not encrypted with the case key');
          const id = self.nextId('vol', `${i.SnapshotId}|${i.AvailabilityZone}`, 17);
          const v: Vol = {
            id,
            az: i.AvailabilityZone!,
            size: s.size,
            state: 'creating',
            tags: fromSpec(i.TagSpecifications, 'volume'),
            snapshotId: s.id,
            encrypted: true,
            kmsKeyId: i.KmsKeyId,
            creatingPolls: 1,
          };
          self.volumes.set(id, v);
          return { VolumeId: id, AvailabilityZone: v.az, State: v.state, Tags: toTags(v.tags) };
        });
      },
      async attachVolume(i) {
        return self.mutate('AttachVolume', i, () => {
          const v = self.volumes.get(i.VolumeId!)!;
          const inst = self.instances.get(i.InstanceId!)!;
          if (v.attachment) throw self.err('attachVolume', 'VolumeInUse', `${v.id} is already attached to an instance`);
          if (v.az !== inst.az)
            throw self.err(
              'attachVolume',
              'InvalidVolume.ZoneMismatch',
              `The volume '${v.id}' is not in the same availability zone as instance '${inst.id}'`,
            );
          if (inst.devices.has(i.Device!))
            throw self.err('attachVolume', 'InvalidParameterValue', `Attachment point ${i.Device} is already in use`);
          if (inst.devices.size + inst.enis - 1 >= self.maxEbsAttachments)
            throw self.err('attachVolume', 'AttachmentLimitExceeded', 'too many attachments');
          v.attachment = { instanceId: inst.id, device: i.Device!, state: 'attaching' };
          v.state = 'in-use';
          inst.devices.set(i.Device!, v.id);
          return { State: 'attaching' };
        });
      },
      async detachVolume(i) {
        return self.mutate('DetachVolume', i, () => {
          const v = self.volumes.get(i.VolumeId!)!;
          const inst = self.instances.get(i.InstanceId!)!;
          if (!v.attachment || v.attachment.instanceId !== i.InstanceId)
            throw self.err('detachVolume', 'IncorrectState', 'not attached there');
          inst.devices.delete(v.attachment.device);
          v.attachment.state = 'detaching';
          return { State: 'detaching' };
        });
      },
    };
    const kms: FakePort<
      Pick<
        KmsPort,
        | 'describeKey'
        | 'createKey'
        | 'createAlias'
        | 'updateAlias'
        | 'enableKeyRotation'
        | 'getKeyRotationStatus'
        | 'listAliases'
        | 'listKeys'
        | 'listResourceTags'
        | 'getKeyPolicy'
        | 'listGrants'
        | 'scheduleKeyDeletion'
      >
    > = {
      async describeKey(i) {
        self.read('DescribeKey', i);
        const k = self.keyByRef(i.KeyId!);
        if (!k)
          throw new AwsError('kms', 'describeKey', 'NotFoundException', `Key ${i.KeyId} not found`, { exitCode: 2 });
        return {
          KeyMetadata: {
            KeyId: k.id,
            Arn: k.arn,
            KeyState: k.state,
            KeyManager: k.manager,
            KeySpec: k.spec,
            KeyUsage: 'ENCRYPT_DECRYPT',
          },
        };
      },
      async createKey(i) {
        return self.mutate('CreateKey', i, () => {
          const id = self.nextId('key', 'key', 12).slice(4);
          const k: Key = {
            id,
            arn: `arn:aws:kms:${self.region}:${self.accountId}:key/${id}`,
            state: 'Enabled',
            tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.TagKey, t.TagValue])),
            policy: i.Policy ?? '{}',
            manager: 'CUSTOMER',
            spec: 'SYMMETRIC_DEFAULT',
          };
          self.keys.set(id, k);
          return { KeyMetadata: { KeyId: id, Arn: k.arn } };
        });
      },
      async createAlias(i) {
        return self.mutate('CreateAlias', i, () => {
          if (self.aliases.has(i.AliasName!))
            throw new AwsError('kms', 'createAlias', 'AlreadyExistsException', 'exists');
          self.aliases.set(i.AliasName!, i.TargetKeyId!);
          return {};
        });
      },
      async updateAlias(i) {
        return self.mutate('UpdateAlias', i, () => {
          self.aliases.set(i.AliasName!, i.TargetKeyId!);
          return {};
        });
      },
      async enableKeyRotation(i) {
        return self.mutate('EnableKeyRotation', i, () => {
          self.keyByRef(i.KeyId!)!.tags['rotation'] = 'on';
          return {};
        });
      },
      async getKeyRotationStatus(i) {
        self.read('GetKeyRotationStatus', i);
        return { KeyRotationEnabled: self.keyByRef(i.KeyId!)!.tags['rotation'] === 'on' };
      },
      async listAliases(i) {
        self.read('ListAliases', i);
        return { Aliases: [...self.aliases].map(([AliasName, TargetKeyId]) => ({ AliasName, TargetKeyId })) };
      },
      async listKeys(i) {
        self.read('ListKeys', i);
        return { Keys: [...self.keys.values()].map((k) => ({ KeyId: k.id, KeyArn: k.arn })) };
      },
      async listResourceTags(i) {
        self.read('ListResourceTags', i);
        return {
          Tags: Object.entries(self.keyByRef(i.KeyId!)!.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        };
      },
      async getKeyPolicy(i) {
        self.read('GetKeyPolicy', i);
        return { Policy: self.keyByRef(i.KeyId!)!.policy };
      },
      async listGrants(i) {
        self.read('ListGrants', i);
        return { Grants: [] };
      },
      async scheduleKeyDeletion(i) {
        return self.mutate('ScheduleKeyDeletion', i, () => {
          const k = self.keyByRef(i.KeyId!)!;
          if (k.tags['cleanroom:role'] === 'case-key')
            throw new Error('TEST FAILURE: the case key was scheduled for deletion');
          k.state = 'PendingDeletion';
          return { KeyId: k.arn, DeletionDate: new Date(w.clock.now() + (i.PendingWindowInDays ?? 30) * 86_400_000) };
        });
      },
    };
    const ssm: FakePort<Pick<SsmPort, 'sendCommand' | 'getCommandInvocation'>> = {
      async sendCommand(i) {
        self.read('SendCommand', i);
        // AWS refuses a command to an instance that is not managed by SSM.
        const hashing = String(i.Parameters?.['commands']?.[0]).includes('cleanroom-evidence-hash');
        if (w.ssmMode === 'unreachable' || (hashing && w.hashMode === 'unreachable'))
          throw new AwsError(
            'ssm',
            'sendCommand',
            'InvalidInstanceId',
            'Instances [[i-0f0f0f0f0f0f0f0f0]] not in a valid state for account 123456789012',
            { exitCode: 2 },
          );
        const id = `cmd-${++w.commands}`;
        w.commandTargets.set(id, i.InstanceIds![0]!);
        w.commandLines.set(id, i.Parameters?.['commands']?.[0] ?? '');
        return { Command: { CommandId: id } };
      },
      async getCommandInvocation(i) {
        self.read('GetCommandInvocation', i);
        const line = w.commandLines.get(i.CommandId!) ?? '';
        return line.includes('cleanroom-evidence-hash') ? w.hashAnswer(line) : w.ssmAnswer(self, i.InstanceId!);
      },
    };
    return {
      region: self.region,
      accountId: async () => {
        w.alive();
        return self.accountId;
      },
      callerArn: async () => `arn:aws:sts::${self.accountId}:assumed-role/responder/s`,
      ec2,
      kms,
      ssm,
      single: { ec2, kms },
      // Acquisition takes a whole AwsAccount; the fake has only the EC2, KMS and SSM calls it makes
      // (each typed above by its SDK command), and answers without `$metadata`, which nothing reads.
    } as unknown as AwsAccount;
  }

  newSnapshot(v: Vol, tags: Tags): Snap {
    const id = this.nextId('snap', `vol|${v.id}`, 17);
    const s: Snap = {
      id,
      owner: this.accountId,
      region: this.region,
      volumeId: v.id,
      size: v.size,
      state: 'pending',
      pendingPolls: this.pendingPolls,
      tags,
      encrypted: v.encrypted,
      ...(v.kmsKeyId ? { kmsKeyId: v.kmsKeyId } : {}),
      sharedWith: new Set(),
      endsInError: this.world.sourceSnapshotsEndInError,
    };
    this.snapshots.set(id, s);
    return s;
  }

  /** A comparable picture of the end state (no ids: they depend only on history, compared by shape). */
  picture() {
    const snaps = [...this.snapshots.values()].map((s) => ({
      tags: s.tags,
      state: s.state,
      encrypted: s.encrypted,
      key: s.kmsKeyId ? (this.keyByRef(s.kmsKeyId)?.tags['cleanroom:role'] ?? 'other') : null,
      shared: [...s.sharedWith],
    }));
    return {
      snapshots: snaps.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      deletedSnapshots: this.deletedSnapshots.length,
      volumes: [...this.volumes.values()]
        .map((v) => ({
          tags: v.tags,
          state: v.state,
          az: v.az,
          attached: v.attachment ? `${v.attachment.instanceId} ${v.attachment.state}` : null,
        }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      keys: [...this.keys.values()]
        .map((k) => ({ tags: k.tags, state: k.state }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      aliases: [...this.aliases.keys()].sort(),
    };
  }
}

export type SsmMode = 'guest' | 'empty' | 'writable' | 'unreachable';
/** How the guest's cleanroom-evidence-hash answers: as the tool does, with nothing, or unable to read. */
export type HashMode = 'guest' | 'empty' | 'could-not' | 'running' | 'unreachable';

/** Both accounts (and the source account in another Region), the record, the clock, the room, the crash switch. */
export class World extends Interruptions {
  clock: Clock & { t: number };
  forensic: FakeAccount;
  source: FakeAccount;
  sourceWest: FakeAccount;
  recorder: MemoryRecorder;
  commands = 0;
  commandTargets = new Map<string, string>();
  /** The shell line of each SSM command sent. */
  commandLines = new Map<string, string>();
  hashMode: HashMode = 'guest';
  /** What each working volume reads as inside the room (SHA-256); by default what the command expects. */
  deviceSha256 = new Map<string, string>();
  ssmMode: SsmMode = 'guest';
  sourceSnapshotsEndInError = false;
  copiesEndInError = false;
  /** How many snapshots each DescribeSnapshots answered with (batched polling shows here). */
  describedSnapshotIds: number[] = [];
  room: { info?: RoomInfo; audit: AuditResult };
  forensicInstance = 'i-0f0f0f0f0f0f0f0f0';

  constructor() {
    super();
    const clock = { t: Date.parse('2026-03-01T00:00:00Z') } as Clock & { t: number };
    clock.now = () => clock.t;
    clock.sleep = async (ms: number) => {
      // Let queued work (custody appends) run first: time passes only while everything waits.
      await new Promise((r) => setImmediate(r));
      clock.t += Math.max(1, ms);
    };
    this.clock = clock;
    this.forensic = new FakeAccount(FORENSIC, REGION, this);
    this.source = new FakeAccount(SOURCE, REGION, this);
    this.sourceWest = new FakeAccount(SOURCE, 'us-west-2', this);
    // Appends are serialised and take a moment, as in the S3 recorder: AWS calls of other items
    // (and of the same item, when it does not wait) run while an append is queued.
    this.recorder = this.interruptible(
      new MemoryRecorder('arn:aws:sts::123456789012:assumed-role/analyst/a', () => new Date(this.clock.now())),
    );
    const record = this.recorder.record.bind(this.recorder);
    let queue: Promise<unknown> = Promise.resolve();
    this.recorder.record = (entry: CustodyEntry) => {
      const p = queue.then(async () => {
        await new Promise((r) => setImmediate(r));
        return record(entry);
      });
      queue = p.catch(() => undefined);
      return p;
    };
    // The room (up, passing its audit), its instance, and the case key room up made.
    const f = this.forensic;
    f.instances.set(this.forensicInstance, {
      id: this.forensicInstance,
      az: AZ,
      type: 'm5.large',
      state: 'running',
      devices: new Map([['/dev/xvda', 'vol-0aaaaaaaaaaaaaaaa']]),
      enis: 1,
    });
    f.volumes.set('vol-0aaaaaaaaaaaaaaaa', {
      id: 'vol-0aaaaaaaaaaaaaaaa',
      az: AZ,
      size: 8,
      state: 'in-use',
      tags: { Name: 'forensic root' },
      encrypted: true,
      attachment: { instanceId: this.forensicInstance, device: '/dev/xvda', state: 'attached' },
      creatingPolls: 0,
    });
    f.keys.set('casekey', {
      id: 'casekey',
      arn: `arn:aws:kms:${REGION}:${FORENSIC}:key/casekey`,
      state: 'Enabled',
      tags: { 'cleanroom:case': CASE, 'cleanroom:role': 'case-key' },
      policy: '{}',
      manager: 'CUSTOMER',
      spec: 'SYMMETRIC_DEFAULT',
    });
    f.aliases.set(`alias/cleanroom/case/${CASE}`, 'casekey');
    this.room = {
      info: {
        case: CASE,
        stackName: `cleanroom-${CASE}`,
        stackStatus: 'CREATE_COMPLETE',
        availabilityZone: AZ,
        instanceId: this.forensicInstance,
        vpcId: 'vpc-1',
        subnetId: 'subnet-1',
        forensicsSecurityGroupId: 'sg-1',
      },
      audit: { ok: true, checks: [{ id: 'network.no-route-out', ok: true, detail: 'no route out' }] },
    };
  }

  accounts(): FakeAccount[] {
    return [this.forensic, this.source, this.sourceWest];
  }

  /** Hashes the fake computed (the snapshot and the account that owns it), in order. */
  hashes: Array<{ owner: string; snapshotId: string }> = [];
  /** Accounts whose EBS direct reads AWS refuses (AccessDeniedException). */
  denyHash = new Set<string>();
  /** Snapshots whose content differs from what they were copied from. */
  corrupt = new Set<string>();
  /** Snapshots whose read fails (BLOCK_READ_FAILED, as when the local AWS cannot read EC2 snapshots). */
  unreadable = new Set<string>();

  /**
   * A content hasher for the fake (narrow: no EBS direct API): a snapshot holds the content of the
   * volume its copy chain started from, so a copy hashes as its source unless marked corrupt.
   */
  hasher(): SnapshotHasher {
    return async (_account, snapshotId, opts) => {
      this.alive();
      const all = this.accounts().flatMap((a) => [...a.snapshots.values(), ...a.deletedSnapshots]);
      const find = (id: string) => all.find((x) => x.id === id);
      const snap = find(snapshotId);
      if (!snap)
        throw new AwsError('ebs', 'ListSnapshotBlocks', 'ResourceNotFoundException', `${snapshotId} not found`);
      if (this.denyHash.has(snap.owner))
        throw new AwsError(
          'ebs',
          'ListSnapshotBlocks',
          'AccessDeniedException',
          `Access denied for ListSnapshotBlocks: the caller lacks the permission ebs:ListSnapshotBlocks`,
        );
      if (this.unreadable.has(snapshotId))
        throw new CleanroomError('BLOCK_READ_FAILED', `Block 0 of snapshot ${snapshotId} could not be read: HTTP 500`, {
          details: { snapshotId, blockIndex: 0 },
        });
      let root = snap;
      while (root.copyOf) root = find(root.copyOf) ?? root;
      const content = this.corrupt.has(snapshotId) ? `corrupt|${snapshotId}` : `${root.volumeId}|${root.size}`;
      const sizeBytes = snap.size * 2 ** 30;
      opts?.onProgress?.({ bytesDone: sizeBytes / 2, bytesTotal: sizeBytes, blocksRead: 1 });
      opts?.onProgress?.({ bytesDone: sizeBytes, bytesTotal: sizeBytes, blocksRead: 2 });
      this.hashes.push({ owner: snap.owner, snapshotId });
      return {
        snapshotId,
        sha256: hex(`sha|${content}`, 64),
        merkleRoot: hex(`merkle|${content}`, 64),
        sizeBytes,
        blockSize: 524288,
        blocksRead: 2,
        hashedAt: new Date(this.clock.now()).toISOString(),
        hashTool: { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' },
      };
    };
  }

  byId(accountId: string): FakeAccount | undefined {
    return this.accounts().find((a) => a.accountId === accountId && a.region === REGION);
  }

  gate(): RoomGate & { audits: number } {
    const g = {
      audits: 0,
      describe: async (c: string) => {
        this.alive();
        return c === CASE ? this.room.info : undefined;
      },
      audit: async () => {
        this.alive();
        g.audits++;
        return this.room.audit;
      },
    };
    return g;
  }

  ssmAnswer(
    acct: FakeAccount,
    instanceId: string,
  ): {
    Status: CommandInvocationStatus;
    ResponseCode: number;
    StandardOutputContent: string;
    StandardErrorContent: string;
  } {
    if (this.ssmMode === 'empty')
      return { Status: 'Success', ResponseCode: 0, StandardOutputContent: '', StandardErrorContent: '' };
    const inst = acct.instances.get(instanceId)!;
    const lines = [...inst.devices]
      .filter(([d]) => d !== '/dev/xvda')
      .map(([, vid], i) =>
        JSON.stringify({
          device: `/dev/nvme${i + 1}n1`,
          volumeId: vid,
          readOnly: this.ssmMode !== 'writable',
          partitions: [{ device: `/dev/nvme${i + 1}n1p1`, readOnly: this.ssmMode !== 'writable' }],
        }),
      );
    return {
      Status: this.ssmMode === 'writable' ? 'Failed' : 'Success',
      ResponseCode: this.ssmMode === 'writable' ? 3 : 0,
      StandardOutputContent: lines.join('\n'),
      StandardErrorContent: '',
    };
  }

  /** The answer of `cleanroom-evidence-hash --by-volume-id V --expected H [--size N]` inside the room. */
  hashAnswer(line: string): {
    Status: CommandInvocationStatus;
    ResponseCode: number;
    StandardOutputContent: string;
    StandardErrorContent: string;
  } {
    const arg = (flag: string) => line.split(' ')[line.split(' ').indexOf(flag) + 1]!;
    const [volumeId, expected] = [arg('--by-volume-id'), arg('--expected')];
    const sizeBytes = line.includes('--size') ? Number(arg('--size')) : 8 * 2 ** 30;
    if (this.hashMode === 'running')
      return { Status: 'InProgress', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' };
    if (this.hashMode === 'empty')
      return { Status: 'Success', ResponseCode: 0, StandardOutputContent: '', StandardErrorContent: '' };
    if (this.hashMode === 'could-not')
      return {
        Status: 'Failed',
        ResponseCode: 1,
        StandardOutputContent: '',
        StandardErrorContent: `cleanroom-evidence-hash: not verified: reading /dev/nvme1n1 failed\n`,
      };
    const sha256 = this.deviceSha256.get(volumeId) ?? expected;
    const result = sha256 === expected ? 'verified' : 'MISMATCH';
    return {
      Status: result === 'verified' ? 'Success' : 'Failed',
      ResponseCode: result === 'verified' ? 0 : 3,
      StandardOutputContent: `${JSON.stringify({ device: '/dev/nvme1n1', volumeId, sizeBytes, sha256, expected, result, seconds: 4.2 })}\n`,
      StandardErrorContent: '',
    };
  }

  /** A compromised instance in the source account with volumes of the given sizes (root first). */
  compromisedInstance(
    sizes: number[],
    account: FakeAccount = this.source,
    id = 'i-0123456789abcdef0',
  ): { instanceId: string; volumeIds: string[] } {
    const az = account.region === REGION ? 'us-east-1b' : `${account.region}a`;
    const inst: Inst = { id, az, type: 't3.small', state: 'running', devices: new Map(), enis: 1 };
    const volumeIds = sizes.map((size, i) => {
      const vid = `vol-${hex(`${id}|${i}`, 17)}`;
      const device = i === 0 ? '/dev/xvda' : `/dev/sd${String.fromCharCode(102 + i - 1)}`;
      account.volumes.set(vid, {
        id: vid,
        az,
        size,
        state: 'in-use',
        tags: {},
        encrypted: i > 0,
        ...(i > 0 ? { kmsKeyId: 'alias/aws/ebs' } : {}),
        attachment: { instanceId: id, device, state: 'attached' },
        creatingPolls: 0,
      });
      inst.devices.set(device, vid);
      return vid;
    });
    account.instances.set(id, inst);
    return { instanceId: id, volumeIds };
  }

  /** Every mutation in both accounts. */
  mutations(): string[] {
    return this.accounts().flatMap((a) => a.mutations.map((m) => `${a.accountId}/${a.region}:${m}`));
  }

  keys(): string[] {
    return this.recorder.events().map((e) => e.idempotencyKey ?? `(no key) ${e.action}`);
  }

  picture() {
    return { forensic: this.forensic.picture(), source: this.source.picture() };
  }
}
