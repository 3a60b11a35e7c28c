/**
 * The content-hash step (src/evidence/hash-step.ts): a hash that outlives its budget (the evidence
 * wait budget for the volume's size) is TIMEOUT naming the snapshot, a stop by the caller's signal
 * stays the caller's, AccessDenied (also as the cause of another error) is "unavailable" with the
 * reason, and the source-hash outcomes.
 */
import t from 'tap';
import type { AwsAccount } from '../../src/aws/ports.js';
import { AwsError, CleanroomError, TimeoutError } from '../../src/domain/errors.js';
import { MemoryRecorder } from '../../src/domain/recorder.js';
import { EvidenceRun } from '../../src/evidence/run.js';
import {
  accessDeniedReason,
  hashSource,
  hashWithinBudget,
  sourceHashOutcome,
  type ContentHash,
  type SnapshotHasher,
} from '../../src/evidence/hash-step.js';

const account = {} as Pick<AwsAccount, 'ebs'>;
const h = (sha: string): ContentHash => ({
  snapshotId: 'snap-1',
  sha256: sha.repeat(64),
  merkleRoot: 'b'.repeat(64),
  sizeBytes: 2 ** 30,
  blockSize: 524288,
  blocksRead: 1,
  hashedAt: '2026-03-01T00:00:00.000Z',
  hashTool: { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' },
});
const run = (waitBaseMs: number) =>
  new EvidenceRun({
    caseId: 'IR-1',
    forensic: {} as AwsAccount,
    custody: new MemoryRecorder(),
    budgets: { waitBaseMs, waitPerGiBMs: 0 },
  });
/** A hash that never finishes on its own: it ends when its signal aborts. */
const endless: SnapshotHasher = (_a, _s, opts) =>
  new Promise((_, reject) => opts?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));

t.test('out of budget: TIMEOUT naming the snapshot and the item', async (t) => {
  const e = await hashWithinBudget(run(5), account, 'snap-9', {
    item: 'ev-one',
    what: 'forensic snapshot',
    sizeGiB: 1,
    hasher: endless,
  }).catch((x) => x);
  t.type(e, TimeoutError);
  t.match(e.message, /Hashing the forensic snapshot snap-9 of ev-one did not finish within its budget/);
});

t.test("stopped by the caller's signal: the hasher's own error, not a timeout", async (t) => {
  const stop = new AbortController();
  const p = hashWithinBudget(run(60_000), account, 'snap-9', {
    item: 'ev-one',
    what: 'forensic snapshot',
    hasher: endless,
    signal: stop.signal,
  }).catch((x) => x);
  stop.abort();
  const e = await p;
  t.notOk(e instanceof TimeoutError);
  t.equal(e.message, 'aborted');
});

t.test('AccessDenied, directly or as a cause: unavailable with the reason; anything else is thrown', async (t) => {
  const denied = new AwsError('ebs', 'ListSnapshotBlocks', 'AccessDeniedException', 'Access denied for ebs');
  t.equal(accessDeniedReason(denied), 'Access denied for ebs');
  t.equal(
    accessDeniedReason(new CleanroomError('BLOCK_READ_FAILED', 'block 0', { cause: denied })),
    'Access denied for ebs',
  );
  t.equal(accessDeniedReason(new CleanroomError('BLOCK_READ_FAILED', 'HTTP 500')), undefined);
  const r = await hashSource(run(60_000), account, 'snap-s', {
    item: 'ev-one',
    what: 'source snapshot',
    hasher: async () => {
      throw denied;
    },
  });
  t.same(r, { unavailable: 'Access denied for ebs' });
  const failed = await hashSource(run(60_000), account, 'snap-s', {
    item: 'ev-one',
    what: 'source snapshot',
    hasher: async () => {
      throw new CleanroomError('BLOCK_READ_FAILED', 'HTTP 500');
    },
  }).catch((x) => x);
  t.equal(failed.code, 'BLOCK_READ_FAILED');
});

t.test('source hash outcomes', async (t) => {
  t.same(sourceHashOutcome(h('a'), undefined, 'snap-s'), { status: 'skipped', snapshotId: 'snap-s' });
  t.same(sourceHashOutcome(h('a'), { unavailable: 'no' }, 'snap-s'), {
    status: 'unavailable',
    snapshotId: 'snap-s',
    reason: 'no',
  });
  t.equal(sourceHashOutcome(h('a'), { hash: { ...h('a'), snapshotId: 'snap-s' } }, 'snap-s').status, 'equal');
  t.match(sourceHashOutcome(h('a'), { hash: { ...h('c'), snapshotId: 'snap-s' } }, 'snap-s'), {
    status: 'different',
    snapshotId: 'snap-s',
    sha256: 'c'.repeat(64),
  });
  t.equal(
    sourceHashOutcome(h('a'), { hash: { ...h('a'), sizeBytes: 2 ** 31 } }, 'snap-s').status,
    'different',
    'a different size is different content',
  );
});
