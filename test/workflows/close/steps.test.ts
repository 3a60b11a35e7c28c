/**
 * The close steps one by one (src/workflows/close/steps.ts, keys.ts), each against fakes of only
 * the ports it uses (`AccountWith<{ kms: … }>`: an account's id, region and the KMS methods named) and a step recorder over a
 * MemoryRecorder — no whole AwsAccount. What a user would notice: which keys close touches, what it
 * records (once, also on a rerun), what it names as out of reach.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import type { KmsPort } from '../../../src/aws/ports.js';
import { MemoryRecorder, type RecordedEvent } from '../../../src/domain/recorder.js';
import { StepRecorder } from '../../../src/domain/step-recorder.js';
import { AwsError } from '../../../src/domain/errors.js';
import { DEFAULT_BUDGETS, type CloseSettings } from '../../../src/workflows/close/run.js';
import {
  scheduleKeyDeletions,
  type KeyReader,
  type KeyScheduler,
  type TemporaryKey,
} from '../../../src/workflows/close/keys.js';
import {
  findCaseKeys,
  nameUnreachable,
  snapshotsToRetain,
  type AccountPlace,
} from '../../../src/workflows/close/steps.js';
import { ROOT } from '../../../local-aws/local-aws.js';

const CASE = 'IR-9';
const REGION = 'us-east-1';
const md = { $metadata: {} };

interface FakeKey {
  id: string;
  account: string;
  tags: Record<string, string>;
  aliases: string[];
  manager?: 'AWS' | 'CUSTOMER';
  state?: string;
}
const arnOf = (k: FakeKey) => `arn:aws:kms:${REGION}:${k.account}:key/${k.id}`;

/** An account with KMS keys: only its place and the three KMS reads close makes. */
function keyReader(account: string, keys: FakeKey[]): KeyReader & { calls: string[] } {
  const calls: string[] = [];
  const find = (ref: string) => keys.find((k) => k.id === ref || arnOf(k) === ref);
  const kms: Pick<KmsPort, 'listAliases' | 'describeKey' | 'listResourceTags'> = {
    listAliases: async () => (
      calls.push('listAliases'),
      {
        ...md,
        Aliases: keys.flatMap((k) => k.aliases.map((AliasName) => ({ AliasName, TargetKeyId: k.id }))),
        Truncated: false,
      }
    ),
    describeKey: async ({ KeyId }) => {
      calls.push(`describeKey ${KeyId}`);
      const k = find(KeyId!);
      if (!k) throw new AwsError('kms', 'describeKey', 'NotFoundException', 'not found');
      return {
        ...md,
        KeyMetadata: {
          KeyId: k.id,
          Arn: arnOf(k),
          KeyManager: k.manager ?? 'CUSTOMER',
          KeyState: (k.state ?? 'Enabled') as 'Enabled',
        },
      };
    },
    listResourceTags: async ({ KeyId }) => (
      calls.push(`listResourceTags ${KeyId}`),
      {
        ...md,
        Tags: Object.entries(find(KeyId!)!.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        Truncated: false,
      }
    ),
  };
  return { accountId: async () => account, region: REGION, kms, calls };
}

const settings: CloseSettings = {
  caseId: CASE,
  acceptWritten: false,
  acceptUnverified: false,
  snapshotLockMode: 'governance',
  keyDeletionWindowDays: 7,
  budgets: DEFAULT_BUDGETS,
  compareConcurrency: 1,
  volumeConcurrency: 1,
};
function scheduler(recorder = new MemoryRecorder()): KeyScheduler & { steps: StepRecorder } {
  const steps = new StepRecorder(recorder);
  return { steps, settings, custody: steps.custody, record: steps.record.bind(steps), guard: steps.guard.bind(steps) };
}

t.test(
  'findCaseKeys: the tagged temporary keys in each account; never the case key, an AWS key, or a key named like the case but untagged',
  async (t) => {
    const forensic = keyReader('111111111111', [
      {
        id: 'case',
        account: '111111111111',
        tags: { 'cleanroom:case': CASE, 'cleanroom:role': 'case-key' },
        aliases: [`alias/cleanroom/case/${CASE}`],
      },
      { id: 'odd', account: '111111111111', tags: {}, aliases: [`alias/cleanroom/tmp/${CASE}`] },
      { id: 'aws', account: '111111111111', tags: {}, aliases: [`alias/cleanroom/x/${CASE}`], manager: 'AWS' },
    ]);
    const source = keyReader('222222222222', [
      {
        id: 'share',
        account: '222222222222',
        tags: { 'cleanroom:case': CASE, 'cleanroom:role': 'share-key' },
        aliases: [`alias/cleanroom/share/${CASE}`],
      },
      {
        id: 'other',
        account: '222222222222',
        tags: { 'cleanroom:case': 'IR-other', 'cleanroom:role': 'share-key' },
        aliases: ['alias/cleanroom/share/IR-other'],
      },
    ]);
    const steps = new StepRecorder(new MemoryRecorder());
    const found = await findCaseKeys(steps, forensic, [source], CASE, [], {
      keyId: 'case',
      arn: arnOf({ id: 'case', account: '111111111111', tags: {}, aliases: [] }),
    } as never);
    t.same(found.forensicKeys, []);
    t.same(
      found.sourceKeys.map((s) => s.keys.map((k) => [k.keyId, k.role, k.aliases])),
      [[['share', 'share-key', [`alias/cleanroom/share/${CASE}`]]]],
    );
    t.match(steps.warnings, [
      /KMS key \S+key\/odd \(alias\/cleanroom\/tmp\/IR-9\) looks like a key of case IR-9 but does not carry the tag cleanroom:case=IR-9; close leaves it alone/,
    ]);
    t.notOk(
      source.calls.some((c) => c.includes('other')),
      'a key of another case is not even read',
    );
  },
);

t.test(
  'scheduleKeyDeletions: scheduled and recorded once; already pending: recorded as skipped; a failure: recorded under its code, named, and the rerun finishes',
  async (t) => {
    const scheduled: string[] = [];
    let failOnce = true;
    const kms: Pick<KmsPort, 'scheduleKeyDeletion'> = {
      scheduleKeyDeletion: async ({ KeyId, PendingWindowInDays }) => {
        if (KeyId === 'flaky' && failOnce) {
          failOnce = false;
          throw new AwsError('kms', 'scheduleKeyDeletion', 'KMSInternalException', 'try again');
        }
        scheduled.push(`${KeyId} ${PendingWindowInDays}`);
        return { ...md, KeyId, DeletionDate: new Date('2027-01-01T00:00:00Z') };
      },
    };
    const key = (keyId: string, state = 'Enabled'): TemporaryKey => ({
      keyId,
      arn: `arn:aws:kms:${REGION}:222222222222:key/${keyId}`,
      account: '222222222222',
      region: REGION,
      state,
      role: 'share-key',
      aliases: [],
    });
    const run = scheduler();
    const source = { accountId: async () => '222222222222', region: REGION, kms };
    const out = await scheduleKeyDeletions(run, source, [key('share'), key('gone', 'PendingDeletion'), key('flaky')]);
    t.same(
      out.map((k) => [k.keyId, k.status]),
      [
        ['share', 'scheduled'],
        ['gone', 'already-pending'],
        ['flaky', 'failed'],
      ],
    );
    t.same(scheduled, ['share 7'], 'the window from the settings');
    const keys = () => run.steps.custody.events().map((e) => `${e.idempotencyKey} ${e.outcome.status}`);
    t.same(keys(), [
      'close:schedule-key-deletion:share succeeded',
      'close:schedule-key-deletion:gone skipped',
      'close:schedule-key-deletion:flaky:failed:AWS_KMSInternalException failed',
    ]);
    t.match(run.steps.outstanding, [/case.close.schedule-key-deletion of \S+flaky failed: try again/]);

    const again = await scheduleKeyDeletions(run, source, [
      key('share', 'PendingDeletion'),
      key('gone', 'PendingDeletion'),
      key('flaky'),
    ]);
    t.same(
      again.map((k) => k.status),
      ['already-pending', 'already-pending', 'scheduled'],
    );
    t.same(keys().slice(3), ['close:schedule-key-deletion:flaky succeeded'], 'the rerun records only what it did now');
  },
);

t.test(
  'nameUnreachable on a record written before the change: the one sharing key not retired, in the source account close cannot reach',
  async (t) => {
    const dir = path.join(ROOT, 'test/fixtures/pre-change-case/bundle/events');
    const events = fs
      .readdirSync(dir)
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as RecordedEvent);
    const forensic: AccountPlace = { accountId: async () => '123456789012', region: REGION };
    const steps = new StepRecorder(new MemoryRecorder());
    const { unreachableKeys, unreachable } = await nameUnreachable(steps, forensic, [], events);
    t.same(
      unreachableKeys.map((k) => [k.account, k.retiredInRecord]),
      [
        ['111111111111', true],
        ['111111111111', false],
      ],
    );
    t.equal(unreachable.length, 1, 'the retired key and the deleted sharing copies are not named');
    t.match(unreachable[0]!.what, /^temporary KMS key arn:aws:kms:us-east-1:111111111111:key\/afcbbfaf/);
    t.match(steps.outstanding, [
      /close cannot reach account 111111111111 \(us-east-1\): run close again with --source-profile or --source-role-arn for it/,
    ]);

    const source: AccountPlace = { accountId: async () => '111111111111', region: REGION };
    const reached = await nameUnreachable(new StepRecorder(new MemoryRecorder()), forensic, [source], events);
    t.same(reached, { unreachableKeys: [], unreachable: [] }, 'with the source account, nothing is out of reach');
  },
);

t.test('snapshotsToRetain: the evidence and check snapshots, plus a check snapshot made by this run', async (t) => {
  const snap = (snapshotId: string, role: string) => ({
    snapshotId,
    evidenceId: 'ev-1',
    role,
    state: 'completed',
    tags: {},
  });
  const out = snapshotsToRetain(
    { evidenceSnapshots: [snap('snap-e', 'forensic-copy')], checkSnapshots: [snap('snap-c1', 'written-check')] },
    [
      { volumeId: 'vol-1', evidenceId: 'ev-1', deleted: true, check: { checkSnapshotId: 'snap-c2' } as never },
      { volumeId: 'vol-2', evidenceId: 'ev-1', deleted: true, check: { checkSnapshotId: 'snap-c1' } as never },
    ],
  );
  t.same(
    out.map((s) => [s.snapshotId, s.role]),
    [
      ['snap-e', 'forensic-copy'],
      ['snap-c1', 'written-check'],
      ['snap-c2', 'written-check'],
    ],
  );
});
