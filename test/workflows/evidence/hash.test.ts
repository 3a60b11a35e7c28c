/**
 * `evidence hash` at the workflow level (hashEvidence), on a MemoryRecorder holding an acquired
 * case and a fake content hasher (the hashing itself: test/evidence/content-hash.test.ts): equal,
 * different (ok false; the CLI exits 3), no acquisition hash recorded, --all, every recomputation
 * recorded as evidence.hash.check, and bad input refused from the record alone, before any hash.
 */
import t from 'tap';
import type { AwsAccount } from '../../../src/aws/ports.js';
import { CleanroomError, PartialFailureError, UsageError } from '../../../src/domain/errors.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { StepRecorder } from '../../../src/domain/step-recorder.js';
import { idempotencyKeys } from '../../../src/domain/idempotency-keys.js';
import type { ContentHash, SnapshotHasher } from '../../../src/evidence/hash-step.js';
import { hashEvidence } from '../../../src/workflows/evidence/index.js';
import { IDENTITY } from '../../fakes/ports.js';

const CASE = 'IR-7';
const hex = (c: string) => c.repeat(64);
const hashOf = (snapshotId: string, sha: string): ContentHash => ({
  snapshotId,
  sha256: sha,
  merkleRoot: hex('b'),
  sizeBytes: 2 ** 30,
  blockSize: 524288,
  blocksRead: 3,
  hashedAt: '2026-03-01T00:00:00.000Z',
  hashTool: { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' },
});

/** A case with two preserved items (ev-one hashed at acquisition, ev-two acquired before hashing) and one not preserved. */
async function acquiredCase() {
  const custody = new MemoryRecorder();
  const run = new StepRecorder(custody);
  await run.recordEvidence(idempotencyKeys.acquire.preserved('ev-one', 'snap-1'), 'evidence.preserved', [], {
    evidenceId: 'ev-one',
    forensicSnapshotId: 'snap-1',
    sizeGiB: 1,
    state: 'preserved',
  });
  const { snapshotId: _s, ...fields } = hashOf('snap-1', hex('a'));
  await run.recordEvidence(idempotencyKeys.acquire.hash('ev-one', 'snap-1'), 'evidence.hash', [], {
    evidenceId: 'ev-one',
    ...fields,
    sourceHash: { status: 'equal', snapshotId: 'snap-src', sha256: hex('a') },
  });
  await run.recordEvidence(idempotencyKeys.acquire.preserved('ev-two', 'snap-2'), 'evidence.preserved', [], {
    evidenceId: 'ev-two',
    forensicSnapshotId: 'snap-2',
    state: 'preserved',
  });
  await run.recordEvidence(idempotencyKeys.acquire.snapshot('ev-three', 'snap-3s'), 'evidence.snapshot', [], {
    evidenceId: 'ev-three',
    state: 'snapshotting',
  });
  return custody;
}

/** The forensic account: only its identity (the hasher is the fake below). */
const forensic = { ...IDENTITY } as unknown as AwsAccount;

function fakeHasher(content: Record<string, string>) {
  const calls: string[] = [];
  const hasher: SnapshotHasher = async (_a, snapshotId, opts) => {
    calls.push(snapshotId);
    opts?.onProgress?.({ bytesDone: 2 ** 30, bytesTotal: 2 ** 30, blocksRead: 3 });
    return hashOf(snapshotId, content[snapshotId] ?? hex('0'));
  };
  return { hasher, calls };
}

t.test('equal: exit-0 result, recorded as evidence.hash.check with both hashes', async (t) => {
  const custody = await acquiredCase();
  const { hasher, calls } = fakeHasher({ 'snap-1': hex('a') });
  const r = await hashEvidence({ forensic, custody, hasher }, { caseId: CASE, evidenceId: 'ev-one' });
  t.equal(r.ok, true);
  t.same(calls, ['snap-1'], 'the forensic snapshot of the record is hashed');
  t.equal(r.checks.length, 1);
  t.equal(r.checks[0]!.result, 'equal');
  t.equal(r.checks[0]!.recorded?.sha256, hex('a'));
  const ev = custody.events().filter((e) => e.action === 'evidence.hash.check');
  t.equal(ev.length, 1);
  t.match(ev[0]!.outcome.details, { evidenceId: 'ev-one', snapshotId: 'snap-1', result: 'equal', sha256: hex('a') });
  t.match(ev[0]!.idempotencyKey, /^evidence:hash-check:ev-one:snap-1:[0-9a-f]{16}$/);
  t.notOk(ev[0]!.outcome.details?.['evidence'], 'a check does not change the acquisition hash of the item');
});

t.test('different: ok false, named in a warning, recorded too', async (t) => {
  const custody = await acquiredCase();
  const { hasher } = fakeHasher({ 'snap-1': hex('c') });
  const warnings: string[] = [];
  const r = await hashEvidence(
    { forensic, custody, hasher, reporter: { progress() {}, warn: (m) => warnings.push(m), debug() {} } },
    { caseId: CASE, evidenceId: 'ev-one' },
  );
  t.equal(r.ok, false);
  t.equal(r.checks[0]!.result, 'different');
  t.match(
    warnings.join('\n'),
    new RegExp(`ev-one: the forensic snapshot snap-1 now hashes ${hex('c')}, NOT the ${hex('a')}`),
  );
  const ev = custody.events().filter((e) => e.action === 'evidence.hash.check');
  t.equal(ev[0]!.outcome.details?.['result'], 'different');
});

t.test('--all: every preserved item; one without an acquisition hash is no-record', async (t) => {
  const custody = await acquiredCase();
  const { hasher, calls } = fakeHasher({ 'snap-1': hex('a'), 'snap-2': hex('d') });
  const r = await hashEvidence({ forensic, custody, hasher }, { caseId: CASE, all: true });
  t.same(calls.sort(), ['snap-1', 'snap-2'], 'the item not preserved is not hashed');
  t.same(Object.fromEntries(r.checks.map((c) => [c.evidenceId, c.result])), {
    'ev-one': 'equal',
    'ev-two': 'no-record',
  });
  t.equal(r.ok, true);
  t.equal(custody.events().filter((e) => e.action === 'evidence.hash.check').length, 2);
  // Run again: a new measurement, recorded again.
  await hashEvidence(
    { forensic, custody, hasher: fakeHasher({ 'snap-1': hex('a') }).hasher },
    { caseId: CASE, evidenceId: 'ev-one' },
  );
  t.ok(custody.events().filter((e) => e.action === 'evidence.hash.check').length >= 2);
});

t.test('bad input is refused from the record alone: no hash is started', async (t) => {
  const custody = await acquiredCase();
  const { hasher, calls } = fakeHasher({});
  const n = custody.events().length;
  const cases: Array<[Partial<Parameters<typeof hashEvidence>[1]>, string]> = [
    [{ evidenceId: 'ev-nope' }, 'UNKNOWN_EVIDENCE'],
    [{ evidenceId: 'not-an-id' }, 'INVALID_EVIDENCE_ID'],
    [{ evidenceId: 'ev-three' }, 'NOT_PRESERVED'],
    [{}, 'MISSING_OPTION'],
    [{ evidenceId: 'ev-one', all: true }, 'CONFLICTING_OPTIONS'],
  ];
  for (const [o, code] of cases) {
    const e = await hashEvidence({ forensic, custody, hasher }, { caseId: CASE, ...o }).catch((x) => x);
    t.type(e, UsageError, code);
    t.equal((e as CleanroomError).code, code);
    t.equal((e as CleanroomError).exitCode, 2);
  }
  const unknown = await hashEvidence({ forensic, custody, hasher }, { caseId: CASE, evidenceId: 'ev-nope' }).catch(
    (x) => x,
  );
  t.match(unknown.message, /Case IR-7 has no evidence ev-nope \(it has ev-one, ev-two, ev-three\)/);
  t.same(calls, [], 'nothing hashed');
  t.equal(custody.events().length, n, 'nothing recorded');
});

t.test('a snapshot that cannot be read: a failure naming the item; the others are still checked', async (t) => {
  const custody = await acquiredCase();
  const hasher: SnapshotHasher = async (_a, snapshotId) => {
    if (snapshotId === 'snap-2')
      throw new CleanroomError('BLOCK_READ_FAILED', `Block 7 of snapshot ${snapshotId} could not be read`);
    return hashOf(snapshotId, hex('a'));
  };
  const e = await hashEvidence({ forensic, custody, hasher }, { caseId: CASE, all: true }).catch((x) => x);
  t.type(e, PartialFailureError);
  t.equal(e.exitCode, 1);
  t.same(
    e.failures.map((f: { item: string }) => f.item),
    ['ev-two'],
  );
  t.match(e.failures[0].error.message, /Block 7 of snapshot snap-2/);
  t.equal(custody.events().filter((x) => x.action === 'evidence.hash.check').length, 1, 'ev-one checked and recorded');
});
