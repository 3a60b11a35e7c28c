/**
 * `case close` at the workflow level, on a hand-written, stateful fake of the forensic (and source)
 * account and a MemoryRecorder: the order of the steps, resumability (a crash after every single
 * mutating call, and before every custody write, then a rerun: same end state, no duplicate
 * events), refusal on a record or vault that fails verification, and the written-to decision table.
 * A fake clock drives every wait; nothing sleeps.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { type FakeCalls, sdkStream } from '../../fakes/ports.js';
import type { LockState, SnapshotState, VolumeState } from '@aws-sdk/client-ec2';
import type { StackStatus } from '@aws-sdk/client-cloudformation';
import type { KeyManagerType, KeyState } from '@aws-sdk/client-kms';
import {
  AwsError,
  CleanroomError,
  PartialFailureError,
  UsageError,
  VerificationFailedError,
} from '../../../src/domain/errors.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { Crash, Interruptions } from '../../harness/interruptions.js';
import type { Clock } from '../../../src/domain/waiter.js';
import {
  closeCase,
  closePlanText,
  type CloseDeps,
  type CloseOptions,
  type ClosePlan,
  type CloseResult,
  type CustodyVerification,
} from '../../../src/workflows/close/index.js';

/** closeCase, with an incomplete close (a PartialFailureError carrying the close's result) returned as its result. */
const closeOrPartial = (deps: CloseDeps, o: CloseOptions): Promise<CloseResult> =>
  closeCase(deps, o).catch((e: unknown) => {
    if (e instanceof PartialFailureError && e.result) return e.result as CloseResult;
    throw e;
  });

const CASE = 'IR-7';
const FORENSIC = '111111111111';
const SOURCE = '222222222222';
const REGION = 'us-east-1';
const INSTANCE = 'i-forensic';

type Tags = Record<string, string>;
interface Vol {
  id: string;
  state: VolumeState;
  snapshotId?: string;
  instance?: string;
  device?: string;
  tags: Tags;
  blocks: Map<number, Buffer>;
}
interface Snap {
  id: string;
  state: SnapshotState;
  volumeId?: string;
  tags: Tags;
  blocks: Map<number, Buffer>;
  pendingPolls: number;
  lock?: { state: LockState; until: Date };
}
interface Key {
  id: string;
  arn: string;
  state: KeyState;
  tags: Tags;
  aliases: string[];
  manager?: KeyManagerType;
}

const blk = (n: number) => Buffer.alloc(16, n);
const toTags = (m: Tags) => Object.entries(m).map(([Key, Value]) => ({ Key, Value }));

/** One account's resources, with the calls close makes. */
class FakeAccount {
  volumes = new Map<string, Vol>();
  snapshots = new Map<string, Snap>();
  keys = new Map<string, Key>();
  stack?: { id: string; name: string; status: StackStatus; failOnDelete?: string };
  deletedStacks = new Map<string, string>();
  mutations: string[] = [];
  n = 0;
  ebsWorks = true;
  lockSupported = true;
  /** Polls a new check snapshot stays pending for. */
  checkPendingPolls = 0;
  constructor(
    readonly accountId: string,
    readonly world: World,
  ) {}

  mutate<T>(op: string, fn: () => T): T {
    this.world.alive();
    const r = fn();
    this.mutations.push(op);
    this.world.afterMutation(`${this.accountId}:${op}`);
    return r;
  }

  match(
    tags: Tags,
    id: string,
    extra: Record<string, string | undefined>,
    filters: Array<{ Name?: string; Values?: string[] }> = [],
  ): boolean {
    return filters.every((f) => {
      const vals = f.Values ?? [];
      if (f.Name === 'tag-key') return vals.some((v) => v in tags);
      if (f.Name?.startsWith('tag:')) return vals.includes(tags[f.Name.slice(4)] ?? '\u0000');
      if (f.Name === 'volume-id' || f.Name === 'snapshot-id')
        return vals.includes((f.Name === 'volume-id' ? extra['volumeId'] : extra['snapshotId']) ?? id);
      throw new Error(`fake: unsupported filter ${f.Name}`);
    });
  }

  port(): AwsAccount {
    const self = this;
    const w = this.world;
    const notFoundStack = (name: string) =>
      new AwsError('cloudformation', 'describeStacks', 'ValidationError', `Stack with id ${name} does not exist`, {
        exitCode: 2,
      });
    const key = (ref: string) =>
      [...self.keys.values()].find((k) => k.id === ref || k.arn === ref || k.aliases.includes(ref));
    const account: FakeCalls<{
      ec2:
        | 'describeVolumes'
        | 'detachVolume'
        | 'createSnapshot'
        | 'describeSnapshots'
        | 'deleteSnapshot'
        | 'createTags'
        | 'deleteVolume'
        | 'describeLockedSnapshots'
        | 'lockSnapshot';
      ebs: 'listChangedBlocks' | 'listSnapshotBlocks' | 'getSnapshotBlock';
      cfn: 'describeStacks' | 'deleteStack' | 'describeStackResources' | 'describeStackEvents';
      kms: 'listAliases' | 'describeKey' | 'listResourceTags' | 'scheduleKeyDeletion';
    }> = {
      region: REGION,
      accountId: async () => self.accountId,
      callerArn: async () => `arn:aws:sts::${self.accountId}:assumed-role/r/s`,
      ec2: {
        async describeVolumes(i) {
          w.alive();
          return {
            Volumes: [...self.volumes.values()]
              .filter((v) => self.match(v.tags, v.id, { volumeId: v.id }, i.Filters))
              .map((v) => ({
                VolumeId: v.id,
                State: v.state,
                SnapshotId: v.snapshotId,
                Tags: toTags(v.tags),
                Attachments: v.instance ? [{ InstanceId: v.instance, Device: v.device, State: 'attached' }] : [],
              })),
          };
        },
        async detachVolume(i) {
          return self.mutate('DetachVolume', () => {
            const v = self.volumes.get(i.VolumeId!)!;
            if (i.InstanceId !== v.instance)
              throw new AwsError('ec2', 'detachVolume', 'IncorrectState', 'not attached there');
            v.instance = undefined;
            v.state = 'available';
            return {};
          });
        },
        async createSnapshot(i) {
          return self.mutate('CreateSnapshot', () => {
            const v = self.volumes.get(i.VolumeId!)!;
            const id = `snap-chk${++self.n}`;
            const tags = Object.fromEntries((i.TagSpecifications?.[0]?.Tags ?? []).map((x) => [x.Key, x.Value]));
            self.snapshots.set(id, {
              id,
              state: 'pending',
              volumeId: v.id,
              tags,
              blocks: new Map(v.blocks),
              pendingPolls: self.checkPendingPolls,
            });
            return { SnapshotId: id };
          });
        },
        async describeSnapshots(i) {
          w.alive();
          const out = [...self.snapshots.values()].filter((s) =>
            self.match(s.tags, s.id, { snapshotId: s.id, volumeId: s.volumeId }, i.Filters),
          );
          for (const s of out) if (s.state === 'pending' && s.pendingPolls-- <= 0) s.state = 'completed';
          return {
            Snapshots: out.map((s) => ({
              SnapshotId: s.id,
              State: s.state,
              VolumeId: s.volumeId,
              Progress: s.state === 'completed' ? '100%' : '40%',
              Tags: toTags(s.tags),
            })),
          };
        },
        async deleteSnapshot(i) {
          return self.mutate('DeleteSnapshot', () => {
            if (!self.snapshots.delete(i.SnapshotId!))
              throw new AwsError(
                'ec2',
                'deleteSnapshot',
                'InvalidSnapshot.NotFound',
                `The snapshot '${i.SnapshotId}' does not exist.`,
                { exitCode: 2 },
              );
            return {};
          });
        },
        async createTags(i) {
          const tags = i.Tags ?? [];
          return self.mutate(`CreateTags:${tags.map((x) => x.Key).join(',')}`, () => {
            for (const r of i.Resources ?? []) {
              const o = self.volumes.get(r) ?? self.snapshots.get(r);
              for (const x of tags) o!.tags[x.Key!] = x.Value!;
            }
            return {};
          });
        },
        async deleteVolume(i) {
          return self.mutate('DeleteVolume', () => {
            if (!self.volumes.delete(i.VolumeId!))
              throw new AwsError('ec2', 'deleteVolume', 'InvalidVolume.NotFound', 'gone', { exitCode: 2 });
            return {};
          });
        },
        async describeLockedSnapshots(i) {
          w.alive();
          if (!self.lockSupported) throw new Error('unsupported');
          return {
            Snapshots: (i.SnapshotIds ?? []).flatMap((id) => {
              const l = self.snapshots.get(id)?.lock;
              return l ? [{ SnapshotId: id, LockState: l.state, LockExpiresOn: l.until }] : [];
            }),
          };
        },
        async lockSnapshot(i) {
          if (!self.lockSupported) {
            w.alive();
            // What the account adapter makes of an endpoint without LockSnapshot (an HTML error page).
            throw new AwsError(
              'ec2',
              'lockSnapshot',
              'UnreadableResponse',
              'ec2 lockSnapshot failed (HTTP 500): the answer was not an AWS response (a text/html body).',
            );
          }
          return self.mutate('LockSnapshot', () => {
            const until = new Date(w.clock.now() + i.LockDuration! * 86_400_000);
            self.snapshots.get(i.SnapshotId!)!.lock = { state: i.LockMode!, until };
            return { SnapshotId: i.SnapshotId, LockState: i.LockMode, LockExpiresOn: until };
          });
        },
      },
      ebs: {
        async listChangedBlocks(i) {
          w.alive();
          if (!self.ebsWorks)
            throw new AwsError(
              'ebs',
              'listChangedBlocks',
              'InternalServerException',
              'ebs listChangedBlocks failed (HTTP 500)',
            );
          const a = self.snapshots.get(i.FirstSnapshotId!)!.blocks;
          const b = self.snapshots.get(i.SecondSnapshotId!)!.blocks;
          const idx = [...new Set([...a.keys(), ...b.keys()])].filter(
            (k) => !a.get(k) || !b.get(k) || !a.get(k)!.equals(b.get(k)!),
          );
          return { ChangedBlocks: idx.map((BlockIndex) => ({ BlockIndex })), BlockSize: 16 };
        },
        async listSnapshotBlocks(i) {
          w.alive();
          if (!self.ebsWorks)
            throw new AwsError(
              'ebs',
              'listSnapshotBlocks',
              'InternalServerException',
              'ebs listSnapshotBlocks failed (HTTP 500)',
            );
          return {
            Blocks: [...self.snapshots.get(i.SnapshotId!)!.blocks.keys()].map((BlockIndex) => ({
              BlockIndex,
              BlockToken: `t${BlockIndex}`,
            })),
            BlockSize: 16,
          };
        },
        async getSnapshotBlock(i) {
          w.alive();
          const data = self.snapshots.get(i.SnapshotId!)!.blocks.get(i.BlockIndex!)!;
          return {
            BlockData: sdkStream(data),
            Checksum: createHash('sha256').update(data).digest('base64'),
            ChecksumAlgorithm: 'SHA256',
          };
        },
      },
      cfn: {
        async describeStacks(i) {
          w.alive();
          const s = self.stack;
          if (s && (i.StackName === s.name || i.StackName === s.id))
            return { Stacks: [{ StackId: s.id, StackName: s.name, StackStatus: s.status, CreationTime: new Date(0) }] };
          if (self.deletedStacks.has(i.StackName!))
            return {
              Stacks: [
                {
                  StackId: i.StackName,
                  StackName: self.deletedStacks.get(i.StackName!),
                  StackStatus: 'DELETE_COMPLETE',
                  CreationTime: new Date(0),
                },
              ],
            };
          throw notFoundStack(i.StackName!);
        },
        async deleteStack(i) {
          return self.mutate('DeleteStack', () => {
            const s = self.stack!;
            if (i.StackName !== s.id) throw new Error('fake: delete by id');
            if (s.failOnDelete) {
              s.status = 'DELETE_FAILED';
            } else {
              self.deletedStacks.set(s.id, s.name);
              self.stack = undefined;
            }
            return {};
          });
        },
        async describeStackResources() {
          w.alive();
          return {
            StackResources: [
              {
                LogicalResourceId: 'ForensicsSecurityGroup',
                PhysicalResourceId: 'sg-123',
                ResourceType: 'AWS::EC2::SecurityGroup',
                ResourceStatus: 'DELETE_FAILED',
                ResourceStatusReason: self.stack?.failOnDelete,
                Timestamp: new Date(0),
              },
            ],
          };
        },
        async describeStackEvents() {
          w.alive();
          return { StackEvents: [] };
        },
      },
      kms: {
        async listAliases() {
          w.alive();
          return {
            Aliases: [...self.keys.values()].flatMap((k) =>
              k.aliases.map((AliasName) => ({ AliasName, TargetKeyId: k.id })),
            ),
          };
        },
        async describeKey(i) {
          w.alive();
          const k = key(i.KeyId!);
          if (!k)
            throw new AwsError('kms', 'describeKey', 'NotFoundException', `Alias ${i.KeyId} is not found.`, {
              exitCode: 2,
            });
          return { KeyMetadata: { KeyId: k.id, Arn: k.arn, KeyState: k.state, KeyManager: k.manager ?? 'CUSTOMER' } };
        },
        async listResourceTags(i) {
          w.alive();
          return { Tags: Object.entries(key(i.KeyId!)!.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) };
        },
        async scheduleKeyDeletion(i) {
          return self.mutate('ScheduleKeyDeletion', () => {
            const k = key(i.KeyId!)!;
            if (k.tags['cleanroom:role'] === 'case-key')
              throw new Error('TEST FAILURE: the case key was scheduled for deletion');
            k.state = 'PendingDeletion';
            return {
              KeyId: k.arn,
              DeletionDate: new Date(w.clock.now() + (i.PendingWindowInDays ?? 30) * 86_400_000),
              KeyState: 'PendingDeletion',
            };
          });
        },
      },
    };
    // Close takes a whole AwsAccount; the fake has only the calls it makes (each typed above by its SDK command).
    return account as unknown as AwsAccount;
  }

  /** A comparable picture of the end state. */
  snapshotState() {
    return {
      volumes: [...this.volumes.values()]
        .map((v) => ({ id: v.id, state: v.state, instance: v.instance ?? null, tags: v.tags }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      snapshots: [...this.snapshots.values()]
        .map((s) => ({ tags: s.tags, state: s.state, volumeId: s.volumeId ?? null, lock: s.lock?.state ?? null }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      stack: this.stack?.status ?? 'gone',
      keys: [...this.keys.values()]
        .map((k) => ({ aliases: k.aliases, state: k.state }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    };
  }
}

/** Both accounts, the record, the clock, and the crash switch. */
class World extends Interruptions {
  clock: Clock & { t: number } = {
    t: Date.parse('2026-03-01T00:00:00Z'),
    now: () => this.clock.t,
    sleep: async (ms) => {
      this.clock.t += ms;
    },
  } as Clock & { t: number };
  forensic = new FakeAccount(FORENSIC, this);
  source = new FakeAccount(SOURCE, this);
  recorder: MemoryRecorder;
  sealed = 0;
  verifyFindings: CustodyVerification['findings'] = [];
  vaultOk = true;
  confirmed: ClosePlan[] = [];

  constructor() {
    super();
    this.recorder = this.interruptible(
      new MemoryRecorder('arn:aws:sts::111111111111:assumed-role/analyst/a', () => new Date(this.clock.now())),
    );
  }

  deps(extra: Partial<CloseDeps> = {}): CloseDeps {
    const rec = this.recorder;
    return {
      account: this.forensic.port(),
      custody: Object.assign(rec, {
        bucket: 'cleanroom-evidence-111111111111-us-east-1',
        sealManifest: async () => {
          this.alive();
          this.sealed++;
        },
      }) as unknown as CloseDeps['custody'],
      verifyCustody: async () => {
        this.alive();
        const ev = rec.events();
        return {
          ok: this.verifyFindings.length === 0,
          findings: this.verifyFindings,
          events: ev.length,
          head: { seq: ev.length, hash: ev.at(-1)?.hash ?? null },
        };
      },
      auditVault: async () => ({
        ok: this.vaultOk,
        checks: [
          {
            id: 'bucket.object-lock',
            ok: this.vaultOk,
            detail: this.vaultOk ? 'COMPLIANCE 365 days' : 'Object Lock is not enabled',
          },
        ],
      }),
      approve: async (req) => {
        this.confirmed.push(req.plan as ClosePlan);
        return true;
      },
      clock: this.clock,
      // The source account is reachable unless a test says otherwise (sourceAccounts: []).
      sourceAccounts: [this.source.port()],
      ...extra,
    };
  }
}

/** A case after a cross-account acquisition of two volumes, attached to the forensic instance. */
async function acquiredCase(): Promise<World> {
  const w = new World();
  const f = w.forensic;
  f.stack = {
    id: `arn:aws:cloudformation:${REGION}:${FORENSIC}:stack/cleanroom-${CASE}/abc`,
    name: `cleanroom-${CASE}`,
    status: 'CREATE_COMPLETE',
  };
  f.keys.set('k-case', {
    id: 'k-case',
    arn: `arn:aws:kms:${REGION}:${FORENSIC}:key/k-case`,
    state: 'Enabled',
    tags: { 'cleanroom:case': CASE, 'cleanroom:role': 'case-key' },
    aliases: [`alias/cleanroom/case/${CASE}`],
  });
  f.keys.set('k-vault', {
    id: 'k-vault',
    arn: `arn:aws:kms:${REGION}:${FORENSIC}:key/k-vault`,
    state: 'Enabled',
    tags: { 'cleanroom:role': 'vault' },
    aliases: ['alias/cleanroom/vault'],
  });
  w.source.keys.set('k-share', {
    id: 'k-share',
    arn: `arn:aws:kms:${REGION}:${SOURCE}:key/k-share`,
    state: 'Enabled',
    tags: { 'cleanroom:case': CASE, 'cleanroom:role': 'share-key' },
    aliases: [`alias/cleanroom/share/${CASE}`],
  });
  await w.recorder.record({
    action: 'case.key.create',
    resources: [{ type: 'kms:key', id: 'k-case', arn: f.keys.get('k-case')!.arn, account: FORENSIC, region: REGION }],
    outcome: { status: 'succeeded' },
    idempotencyKey: 'case-key:k-case',
  });
  await w.recorder.record({
    action: 'acquire.share-key',
    resources: [
      { type: 'kms:key', id: 'k-share', arn: w.source.keys.get('k-share')!.arn, account: SOURCE, region: REGION },
    ],
    outcome: { status: 'succeeded' },
    idempotencyKey: 'acquire:share-key',
  });
  for (const [i, ev] of ['ev-aaa', 'ev-bbb'].entries()) {
    const blocks = new Map([
      [0, blk(i + 1)],
      [3, blk(i + 7)],
    ]);
    const snap = `snap-ev${i}`;
    const vol = `vol-work${i}`;
    f.snapshots.set(snap, {
      id: snap,
      state: 'completed',
      tags: { 'cleanroom:case': CASE, 'cleanroom:evidence': ev, 'cleanroom:role': 'forensic-copy' },
      blocks,
      pendingPolls: 0,
    });
    f.volumes.set(vol, {
      id: vol,
      state: 'in-use',
      snapshotId: snap,
      instance: INSTANCE,
      device: `/dev/sd${'fg'[i]}`,
      tags: { 'cleanroom:case': CASE, 'cleanroom:evidence': ev },
      blocks: new Map(blocks),
    });
    await w.recorder.record({
      action: 'evidence.attach',
      resources: [{ type: 'ec2:volume', id: vol }],
      outcome: {
        status: 'succeeded',
        details: {
          evidence: {
            evidenceId: ev,
            sourceAccount: SOURCE,
            forensicSnapshotId: snap,
            volumeId: vol,
            instanceId: INSTANCE,
            state: 'attached',
          },
        },
      },
      idempotencyKey: `evidence:attach:${ev}:${vol}:1`, // as src/evidence/volume.ts keys an attach
    });
  }
  return w;
}

const opts = (o: Partial<CloseOptions> = {}): CloseOptions => ({ caseId: CASE, ...o });
const keysOf = (w: World) => w.recorder.events().map((e) => e.idempotencyKey);
const closeKeys = (w: World) => keysOf(w).filter((k) => k?.startsWith('close:') || k === 'case.close');

t.test('a full close: steps in order, evidence kept, everything else gone, record ends with the close', async (t) => {
  const w = await acquiredCase();
  const r = await closeOrPartial(w.deps({ sourceAccounts: [w.source.port()] }), opts());
  t.equal(r.incomplete, false);
  t.equal(r.roomDeleted, true);
  t.same(r.volumesDeleted.sort(), ['vol-work0', 'vol-work1']);
  t.same(r.evidenceRetained.sort(), ['snap-ev0', 'snap-ev1']);
  t.same(r.writtenChecks.map((c) => [c.volumeId, c.method, c.identical]).sort(), [
    ['vol-work0', 'changed-blocks', true],
    ['vol-work1', 'changed-blocks', true],
  ]);

  // Order of the mutating calls: detach before the check snapshot before the delete (per volume),
  // then retention, the stack, the keys.
  const m = w.forensic.mutations;
  t.ok(m.indexOf('DetachVolume') < m.indexOf('CreateSnapshot'), 'detached before the check snapshot');
  t.ok(m.indexOf('CreateSnapshot') < m.indexOf('DeleteVolume'), 'checked before deleted');
  t.ok(
    m.lastIndexOf('DeleteVolume') < m.indexOf('CreateTags:cleanroom:retained'),
    'volumes are settled before the snapshots are tagged',
  );
  t.ok(m.lastIndexOf('CreateTags:cleanroom:retained') < m.indexOf('DeleteStack'), 'retention before the stack goes');
  t.same(w.source.mutations, ['ScheduleKeyDeletion']);

  // The record: verify first, closing event last, then sealed once.
  const actions = w.recorder
    .events()
    .map((e) => e.action)
    .filter((a) => a.startsWith('case.close'));
  t.equal(actions[0], 'case.close.verify');
  t.equal(actions.at(-1), 'case.close');
  t.ok(actions.indexOf('case.close.delete-stack') > actions.lastIndexOf('case.close.retain-snapshot'));
  t.ok(actions.indexOf('case.close.schedule-key-deletion') > actions.indexOf('case.close.delete-stack'));
  t.equal(w.sealed, 1);
  const closing = w.recorder.find('case.close')!;
  t.same(closing.outcome.details!['volumesDeleted'], r.volumesDeleted);
  t.equal(closing.outcome.details!['incomplete'], false);
  t.same(r.head, { seq: closing.seq, hash: closing.hash }, 'head is the verified head after the close');

  // What stays: evidence snapshots (retained), the check snapshots, the case key, the vault key.
  const f = w.forensic;
  t.equal(f.volumes.size, 0);
  t.equal(f.stack, undefined);
  for (const id of ['snap-ev0', 'snap-ev1']) t.equal(f.snapshots.get(id)!.tags['cleanroom:retained'], 'true');
  t.equal([...f.snapshots.values()].filter((s) => s.tags['cleanroom:role'] === 'written-check').length, 2);
  t.equal(f.keys.get('k-case')!.state, 'Enabled', 'the case key is never scheduled');
  t.equal(f.keys.get('k-vault')!.state, 'Enabled');
  t.equal(w.source.keys.get('k-share')!.state, 'PendingDeletion');
  t.same(
    r.keys.map((k) => [k.arn, k.status]),
    [[w.source.keys.get('k-share')!.arn, 'scheduled']],
  );
  t.same(r.unreachableKeys, []);
  t.ok(r.kept.some((k) => k.kind === 'kms-key' && k.id.endsWith('k-case')));
  t.ok(
    r.kept.some((k) => k.kind === 'vault' && k.id === `s3://cleanroom-evidence-111111111111-us-east-1/cases/${CASE}/`),
  );

  // The confirmation listed what goes and what stays.
  t.equal(w.confirmed.length, 1);
  const text = closePlanText(w.confirmed[0]!);
  t.match(
    text,
    /DELETE:[\s\S]*room stack cleanroom-IR-7[\s\S]*vol-work0[\s\S]*alias\/cleanroom\/share\/IR-7[\s\S]*KEEP:[\s\S]*snap-ev0[\s\S]*alias\/cleanroom\/case\/IR-7/,
  );
  t.notMatch(text.split('KEEP:')[0]!, /alias\/cleanroom\/case/, 'the case key is not in the delete list');
});

t.test('closing a closed case says so, appends nothing, changes nothing', async (t) => {
  const w = await acquiredCase();
  const first = await closeOrPartial(w.deps(), opts());
  const n = w.recorder.events().length;
  const before = JSON.stringify(w.forensic.snapshotState());
  w.forensic.mutations.length = 0;
  const again = await closeOrPartial(w.deps(), opts());
  t.equal(again.alreadyClosed, true);
  t.same(again.volumesDeleted, first.volumesDeleted);
  t.same(again.evidenceRetained, first.evidenceRetained);
  t.equal(w.recorder.events().length, n, 'no new events');
  t.same(w.forensic.mutations, []);
  t.equal(JSON.stringify(w.forensic.snapshotState()), before);
});

t.test('interrupted at every point, then rerun: the same end state and no duplicate events', async (t) => {
  const clean = await acquiredCase();
  await closeOrPartial(clean.deps({ sourceAccounts: [clean.source.port()] }), opts());
  const want = {
    forensic: clean.forensic.snapshotState(),
    source: clean.source.snapshotState(),
    keys: closeKeys(clean).sort(),
  };
  const mutations = clean.forensic.mutations.length + clean.source.mutations.length;
  const records = clean.recorder.events().length - 4; // the acquisition's events were there before

  const points = [
    ...Array.from({ length: mutations }, (_, i) => ({ after: i + 1 })),
    ...Array.from({ length: records }, (_, i) => ({ before: i + 1 })),
  ];
  t.ok(points.length > 15, `${points.length} interruption points`);
  for (const p of points) {
    const w = await acquiredCase();
    if ('after' in p) w.crashAfterMutation = p.after;
    else w.crashBeforeRecord = p.before;
    const first = await closeOrPartial(w.deps({ sourceAccounts: [w.source.port()] }), opts()).catch((e) => e);
    t.ok(first instanceof Crash, `interrupted ${JSON.stringify(p)}`);
    w.revive();
    const r = await closeOrPartial(w.deps({ sourceAccounts: [w.source.port()] }), opts());
    t.equal(r.incomplete, false, `rerun completes ${JSON.stringify(p)}`);
    const keys = closeKeys(w);
    t.equal(new Set(keys).size, keys.length, `no duplicate events ${JSON.stringify(p)}`);
    t.same(keys.sort(), want.keys, `same events ${JSON.stringify(p)}`);
    t.same(
      { forensic: w.forensic.snapshotState(), source: w.source.snapshotState() },
      { forensic: want.forensic, source: want.source },
      `same end state ${JSON.stringify(p)}`,
    );
  }
});

t.test('refuses, changing nothing and appending nothing, when the record does not verify', async (t) => {
  const w = await acquiredCase();
  w.verifyFindings = [{ code: 'HASH_MISMATCH', seq: 3, message: 'event 3 does not hash to its stored hash' }];
  const n = w.recorder.events().length;
  const e = await closeOrPartial(w.deps(), opts()).catch((x) => x);
  t.ok(e instanceof VerificationFailedError);
  t.equal(e.exitCode, 3);
  t.match(
    e.message,
    /does not verify.*HASH_MISMATCH at seq 3.*nothing is appended.*Nothing was changed.*custody verify --case IR-7/,
  );
  t.equal(w.recorder.events().length, n);
  t.same(w.forensic.mutations, []);
  t.same(w.confirmed, [], 'not even asked');
});

t.test('refuses when the vault fails its audit', async (t) => {
  const w = await acquiredCase();
  w.vaultOk = false;
  const e = await closeOrPartial(w.deps(), opts()).catch((x) => x);
  t.ok(e instanceof VerificationFailedError);
  t.equal(e.exitCode, 3);
  t.match(e.message, /bucket\.object-lock: Object Lock is not enabled/);
  t.same(w.forensic.mutations, []);
});

t.test('an unknown case is bad input (exit 2), found before anything changes', async (t) => {
  const w = new World();
  const e = await closeOrPartial(w.deps(), opts({ caseId: 'IR-nope' })).catch((x) => x);
  t.ok(e instanceof UsageError);
  t.equal(e.exitCode, 2);
  t.match(e.message, /no case IR-nope to close.*cases\/IR-nope\/.*cleanroom-IR-nope/);
  const bad = await closeOrPartial(w.deps(), opts({ caseId: 'bad id!' })).catch((x) => x);
  t.equal(bad.exitCode, 2);
});

t.test('a case whose room is already gone: closes what is left', async (t) => {
  const w = await acquiredCase();
  w.forensic.stack = undefined;
  for (const v of w.forensic.volumes.values()) {
    v.instance = undefined;
    v.state = 'available';
  }
  const r = await closeOrPartial(w.deps(), opts());
  t.equal(r.incomplete, false);
  t.equal(r.roomDeleted, true);
  t.equal(r.stack!.alreadyGone, true);
  t.equal(w.recorder.find('close:delete-stack')!.outcome.status, 'skipped');
  t.equal(
    w.recorder.find('evidence:detach:ev-aaa:vol-work0:1')!.outcome.details!['foundDetached'],
    true,
    'the record said attached; the detach found done is recorded as such',
  );
  t.equal(w.forensic.volumes.size, 0);
  t.notOk(w.forensic.mutations.includes('DeleteStack'));
});

t.test('written-to decision table', async (t) => {
  const write = (w: World) => w.forensic.volumes.get('vol-work1')!.blocks.set(9, blk(42));

  t.test('identical → deleted', async (t) => {
    const w = await acquiredCase();
    const r = await closeOrPartial(w.deps(), opts());
    t.ok(r.volumesDeleted.includes('vol-work1'));
  });

  t.test(
    'written → kept, tagged, check recorded failed, close incomplete, no closing event; --accept-written on the rerun deletes it',
    async (t) => {
      const w = await acquiredCase();
      write(w);
      const warned: string[] = [];
      const r = await closeOrPartial(
        w.deps({ reporter: { progress() {}, debug() {}, warn: (m) => warned.push(m) } }),
        opts({ acceptUnverified: true }),
      );
      t.equal(r.incomplete, true);
      t.same(r.volumesDeleted, ['vol-work0']);
      t.equal(w.forensic.volumes.get('vol-work1')!.tags['cleanroom:written'], 'true');
      const check = w.recorder.find('close:written-check:ev-bbb:vol-work1')!;
      t.equal(check.outcome.status, 'failed');
      t.equal(check.outcome.details!['identical'], false);
      t.same(check.outcome.details!['changedBlockIndexes'], [9]);
      t.ok(
        warned.some((m) => /WAS WRITTEN TO/.test(m)),
        'warned loudly',
      );
      t.match(r.outstanding.join('\n'), /vol-work1 \(ev-bbb\) WAS WRITTEN TO.*--accept-written/);
      t.ok(r.kept.some((k) => k.kind === 'volume' && k.id === 'vol-work1' && /WRITTEN TO/.test(k.why)));
      t.equal(w.recorder.find('case.close'), undefined, 'not closed');
      t.ok(w.recorder.events().some((e) => e.action === 'case.close.incomplete'));
      t.equal(r.roomDeleted, true, 'the rest of the close still ran');

      const before = w.recorder.events().length;
      const again = await closeOrPartial(w.deps(), opts());
      t.equal(again.incomplete, true, 'same state again without the flag');
      t.equal(w.recorder.events().length, before, 'rerunning into the same state appends nothing');

      const done = await closeOrPartial(w.deps(), opts({ acceptWritten: true }));
      t.equal(done.incomplete, false);
      t.same(done.volumesDeleted.sort(), ['vol-work0', 'vol-work1']);
      t.equal(w.recorder.find('close:delete-volume:ev-bbb:vol-work1')!.inputs!['accepted'], 'written');
      t.equal(w.forensic.mutations.filter((m) => m === 'CreateSnapshot').length, 2, 'the check is not repeated');
    },
  );

  t.test(
    'check unavailable → kept and recorded as unavailable (never identical); --accept-unverified deletes',
    async (t) => {
      const w = await acquiredCase();
      w.forensic.ebsWorks = false;
      const r = await closeOrPartial(w.deps(), opts({ acceptWritten: true }));
      t.equal(r.incomplete, true);
      t.same(r.volumesDeleted, []);
      const check = w.recorder.find('close:written-check:ev-aaa:vol-work0')!;
      t.equal(check.outcome.status, 'skipped');
      t.equal(check.outcome.details!['method'], 'unavailable');
      t.equal(check.outcome.details!['identical'], undefined);
      t.match(check.outcome.details!['reason'], /ListChangedBlocks failed.*ListSnapshotBlocks failed/);
      t.match(r.outstanding.join('\n'), /could not run.*--accept-unverified/);

      const done = await closeOrPartial(w.deps(), opts({ acceptUnverified: true }));
      t.equal(done.incomplete, false);
      t.equal(w.forensic.volumes.size, 0);
      t.equal(w.recorder.find('close:delete-volume:ev-aaa:vol-work0')!.inputs!['accepted'], 'unverified');
    },
  );

  t.test('--accept-unverified does not cover a volume that was written to', async (t) => {
    const w = await acquiredCase();
    write(w);
    const r = await closeOrPartial(w.deps(), opts({ acceptUnverified: true }));
    t.ok(w.forensic.volumes.has('vol-work1'));
    t.equal(r.incomplete, true);
  });
});

t.test('waits run on the injected clock: a check snapshot pending for a while', async (t) => {
  const w = await acquiredCase();
  w.forensic.checkPendingPolls = 3;
  const start = w.clock.now();
  const r = await closeOrPartial(w.deps(), opts());
  t.equal(r.incomplete, false);
  t.ok(w.clock.now() - start >= 2000, 'time passed on the fake clock only');
});

t.test(
  'a stack that will not delete: named with its reason, close incomplete; the next run retries and finishes',
  async (t) => {
    const w = await acquiredCase();
    w.forensic.stack!.failOnDelete = 'resource sg-123 has a dependent object';
    // Partial success, as every workflow reports it: PartialFailureError (exit 1) carrying the result.
    const e = await closeCase(w.deps(), opts()).catch((x: unknown) => x);
    t.ok(e instanceof PartialFailureError, String(e));
    const partial = e as PartialFailureError<CloseResult>;
    t.equal(partial.exitCode, 1);
    t.match(partial.message, /Case IR-7 is not closed: 1 thing\(s\) left to do/);
    t.same(
      partial.failures.map((f) => [f.item, (f.error as CleanroomError).code]),
      [['cleanroom-IR-7', 'STACK_DELETE_FAILED']],
    );
    const r = partial.result!;
    t.equal(r.incomplete, true);
    t.equal(r.roomDeleted, false);
    t.match(
      r.outstanding.join('\n'),
      /cleanroom-IR-7 ended DELETE_FAILED — ForensicsSecurityGroup \(sg-123\): resource sg-123 has a dependent object/,
    );
    t.same(
      r.stack!.failedResources!.map((x) => x.logicalId),
      ['ForensicsSecurityGroup'],
    );
    t.ok(w.recorder.find('close:delete-stack:failed:STACK_DELETE_FAILED'));
    t.equal(w.recorder.find('case.close'), undefined);
    t.equal(w.forensic.volumes.size, 0, 'the volumes were still handled');

    w.forensic.stack!.failOnDelete = undefined;
    const done = await closeOrPartial(w.deps(), opts());
    t.equal(done.incomplete, false);
    t.equal(done.roomDeleted, true);
  },
);

t.test(
  'temporary keys: without the source account they are named and the close is incomplete; the case key is never touched',
  async (t) => {
    const w = await acquiredCase();
    // A key named like the case's but without the case tag is left alone.
    w.forensic.keys.set('k-odd', {
      id: 'k-odd',
      arn: `arn:aws:kms:${REGION}:${FORENSIC}:key/k-odd`,
      state: 'Enabled',
      tags: {},
      aliases: [`alias/cleanroom/tmp/${CASE}`],
    });
    const r = await closeOrPartial(w.deps({ sourceAccounts: [] }), opts());
    t.equal(w.source.keys.get('k-share')!.state, 'Enabled', 'unreachable account: untouched');
    t.same(r.unreachableKeys, [
      { arn: w.source.keys.get('k-share')!.arn, account: SOURCE, region: REGION, retiredInRecord: false },
    ]);
    t.ok(
      r.warnings.some((m) =>
        /temporary KMS key \S+k-share in account 222222222222: the record does not show it retired, and close cannot reach account 222222222222.*--source-role-arn/.test(
          m,
        ),
      ),
    );
    t.same(
      r.unreachable.map((u) => [u.what.replace(/arn:\S+/, 'ARN'), u.account]),
      [['temporary KMS key ARN', SOURCE]],
    );
    t.equal(w.forensic.keys.get('k-odd')!.state, 'Enabled');
    t.ok(r.warnings.some((m) => /k-odd.*does not carry the tag cleanroom:case=IR-7/.test(m)));
    t.equal(w.forensic.keys.get('k-case')!.state, 'Enabled');
    t.equal(r.incomplete, true, 'a temporary key in an account close cannot reach leaves the close incomplete');
    t.match(r.outstanding.join('\n'), /k-share in account 222222222222/);
    t.equal(w.recorder.find('case.close'), undefined, 'no closing event');
    // With the source account the same close finishes.
    const done = await closeOrPartial(w.deps({ sourceAccounts: [w.source.port()] }), opts());
    t.equal(done.incomplete, false);
    t.equal(w.source.keys.get('k-share')!.state, 'PendingDeletion');
  },
);

t.test('a key already pending deletion (retired by acquire) is noted, not scheduled again', async (t) => {
  const w = await acquiredCase();
  w.source.keys.get('k-share')!.state = 'PendingDeletion';
  const r = await closeOrPartial(w.deps({ sourceAccounts: [w.source.port()] }), opts());
  t.same(w.source.mutations, []);
  t.same(
    r.keys.map((k) => k.status),
    ['already-pending'],
  );
  t.equal(w.recorder.find('close:schedule-key-deletion:k-share')!.outcome.status, 'skipped');
});

t.test('snapshot lock: locked and recorded when supported', async (t) => {
  const w = await acquiredCase();
  const r = await closeOrPartial(w.deps(), opts({ snapshotLockDays: 90, snapshotLockMode: 'compliance' }));
  t.equal(r.incomplete, false);
  t.same(
    r.locks.map((l) => [l.snapshotId, l.status, l.lockState]),
    [
      ['snap-ev0', 'locked', 'compliance'],
      ['snap-ev1', 'locked', 'compliance'],
    ],
  );
  t.equal(w.forensic.snapshots.get('snap-ev0')!.lock!.state, 'compliance');
  t.same(w.recorder.find('close:lock-snapshot:snap-ev0')!.inputs, { days: 90, mode: 'compliance' });
  t.notOk(
    [...w.forensic.snapshots.values()].some((s) => s.tags['cleanroom:role'] === 'written-check' && s.lock),
    'only evidence snapshots are locked',
  );
});

t.test('snapshot lock where the endpoint does not support it: recorded as unsupported, close incomplete', async (t) => {
  const w = await acquiredCase();
  w.forensic.lockSupported = false;
  const r = await closeOrPartial(w.deps(), opts({ snapshotLockDays: 30 }));
  t.equal(r.incomplete, true);
  t.same(
    r.locks.map((l) => l.status),
    ['unsupported', 'unsupported'],
  );
  const ev = w.recorder.find('close:lock-snapshot:snap-ev0:unsupported')!;
  t.equal(ev.outcome.status, 'failed');
  t.equal(ev.outcome.error!.code, 'SNAPSHOT_LOCK_UNSUPPORTED');
  t.equal(w.forensic.snapshots.get('snap-ev0')!.tags['cleanroom:retained'], 'true', 'still retained');
  t.match(r.outstanding.join('\n'), /snap-ev0 could not be locked.*does not support EBS snapshot lock/);
});

t.test('a step that fails is recorded as failed, the others still run, and the result says what is left', async (t) => {
  const w = await acquiredCase();
  const port = w.forensic.port();
  const deps = w.deps();
  deps.account = {
    ...port,
    ec2: {
      ...port.ec2,
      detachVolume: async () => {
        throw new AwsError(
          'ec2',
          'detachVolume',
          'UnauthorizedOperation',
          'Access denied for ec2 detachVolume: the caller lacks the permission ec2:DetachVolume',
        );
      },
    },
  };
  const r = await closeOrPartial(deps, opts());
  t.equal(r.incomplete, true);
  t.equal(r.failures.length, 2);
  t.match(r.failures[0]!.message, /ec2:DetachVolume/);
  t.ok(w.recorder.find('evidence:detach:ev-aaa:vol-work0:1:failed:AWS_UnauthorizedOperation'));
  t.equal(w.forensic.volumes.size, 2, 'attached volumes are not deleted');
  t.equal(r.roomDeleted, true);
});

t.test('bad option values are refused before anything runs', async (t) => {
  const w = await acquiredCase();
  for (const o of [{ keyDeletionWindowDays: 3 }, { snapshotLockDays: 0 }, { snapshotLockDays: 1.5 }]) {
    const e = await closeOrPartial(w.deps(), opts(o)).catch((x) => x);
    t.ok(e instanceof CleanroomError && e.exitCode === 2, JSON.stringify(o));
  }
  t.same(w.forensic.mutations, []);
});

t.test(
  "sharing copies acquisition left in the source account: deleted and recorded under acquisition's key; unreachable: named, incomplete",
  async (t) => {
    const leftover = async () => {
      const w = await acquiredCase();
      w.source.keys.get('k-share')!.state = 'PendingDeletion';
      w.source.snapshots.set('snap-share0', {
        id: 'snap-share0',
        state: 'completed',
        tags: { 'cleanroom:case': CASE, 'cleanroom:evidence': 'ev-aaa', 'cleanroom:role': 'sharing-copy' },
        blocks: new Map(),
        pendingPolls: 0,
      });
      await w.recorder.record({
        action: 'evidence.share.copy',
        resources: [{ type: 'ec2:snapshot', id: 'snap-share0', account: SOURCE, region: REGION }],
        outcome: { status: 'succeeded', details: { evidence: { evidenceId: 'ev-aaa', state: 'sharing' } } },
        idempotencyKey: 'acquire:sharing-copy:ev-aaa:snap-share0',
      });
      return w;
    };

    const w = await leftover();
    const r = await closeOrPartial(w.deps(), opts());
    t.equal(r.incomplete, false);
    t.notOk(w.source.snapshots.has('snap-share0'), 'the sharing copy is deleted');
    t.same(
      r.sharingCopies.map((c) => [c.snapshotId, c.status]),
      [['snap-share0', 'deleted']],
    );
    t.equal(
      w.recorder.find('acquire:sharing-copy-retire:ev-aaa:snap-share0')!.action,
      'evidence.share.retire',
      'recorded as acquisition records it, so a later acquire sees it retired',
    );
    const again = await closeOrPartial(w.deps(), opts());
    t.equal(again.alreadyClosed, true);

    const far = await leftover();
    const n = far.recorder.events().length;
    const r2 = await closeOrPartial(far.deps({ sourceAccounts: [] }), opts());
    t.equal(r2.incomplete, true);
    t.ok(far.source.snapshots.has('snap-share0'), 'not reachable: untouched');
    t.same(
      r2.unreachable.map((u) => [u.what.replace(/arn:\S+/, 'ARN'), u.account]),
      [
        ['temporary KMS key ARN', SOURCE],
        ['sharing copy snap-share0 (ev-aaa)', SOURCE],
      ],
      'the record shows neither retired',
    );
    t.match(
      r2.outstanding.join('\n'),
      /sharing copy snap-share0 \(ev-aaa\) in account 222222222222: the record does not show it deleted, and close cannot reach account 222222222222 \(us-east-1\): run close again with --source-profile or --source-role-arn for it/,
    );
    t.ok(far.recorder.events().length > n && !far.recorder.find('case.close'), 'no closing event');

    // Deleted by a run that was killed before recording it: found gone, recorded once.
    const gone = await leftover();
    gone.source.snapshots.delete('snap-share0');
    const r3 = await closeOrPartial(gone.deps(), opts());
    t.same(
      r3.sharingCopies.map((c) => [c.snapshotId, c.status]),
      [['snap-share0', 'already-gone']],
    );
    t.equal(
      gone.recorder.find('acquire:sharing-copy-retire:ev-aaa:snap-share0')!.outcome.details!['foundDeleted'],
      true,
    );
  },
);
