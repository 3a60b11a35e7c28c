/**
 * The in-room hash (cleanroom-evidence-hash over SSM, src/evidence/room-hash.ts) at the workflow
 * level, on the acquisition fake: what the guest answers — verified, MISMATCH, nothing, could not,
 * SSM unreachable, no answer within the budget — is what the record says (`evidence.room-hash`,
 * the item's inRoomHash); it runs only on a disk confirmed read-only with a hash in the record.
 */
import t from 'tap';
import { acquireEvidence } from '../../src/workflows/acquire/index.js';
import { attachEvidence } from '../../src/workflows/evidence/index.js';
import { DEFAULT_EVIDENCE_BUDGETS, type EvidenceBudgets } from '../../src/evidence/run.js';
import { EVIDENCE_HASH_TOOL, roomHashTimeouts, SSM_MAX_EXECUTION_SECONDS } from '../../src/evidence/room-hash.js';
import { CASE, World, type HashMode } from '../workflows/acquire/fake.js';
import type { SnapshotHasher } from '../../src/evidence/hash-step.js';

/** A hasher whose answers name no SHA-256 (a record from before acquisition hashed). */
function withoutSha256(inner: SnapshotHasher): SnapshotHasher {
  return async (...args) => {
    const { sha256: _, ...rest } = await inner(...args);
    return rest as Awaited<ReturnType<SnapshotHasher>>;
  };
}

const SHA = 'ab'.repeat(32);
const GiB = 2 ** 30;

/** An item preserved with its working volume made (not attached), and the acquisition hash recorded. */
async function preserved(hash: { sha256: string; sizeBytes: number } | null = { sha256: SHA, sizeBytes: 8 * GiB }) {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8]);
  const r = await acquireEvidence(
    {
      forensic: w.forensic.port(),
      source: w.source.port(),
      custody: w.recorder,
      room: w.gate(),
      clock: w.clock,
      // Without a hash to compare (`hash: null`) the item is as one acquired before cleanroom hashed:
      // the record's evidence.hash carries no SHA-256.
      hasher: hash ? w.hasher() : withoutSha256(w.hasher()),
    },
    { caseId: CASE, volumeIds, attach: false },
  );
  const eid = r.evidence[0]!.evidenceId;
  // What acquisition records when it hashes the forensic snapshot (the shared evidence contract).
  if (hash)
    await w.recorder.record({
      action: 'evidence.hash',
      resources: [],
      outcome: { status: 'succeeded', details: { evidence: { evidenceId: eid, ...hash } } },
      idempotencyKey: `test-hash-${eid}`,
    });
  return { w, eid, volumeId: r.evidence[0]!.volumeId! };
}

const attach = (w: World, eid: string, budgets: Partial<EvidenceBudgets> = {}, warn?: (m: string) => void) =>
  attachEvidence(
    {
      forensic: w.forensic.port(),
      custody: w.recorder,
      room: w.gate(),
      clock: w.clock,
      ...(warn ? { reporter: { progress() {}, debug() {}, warn } } : {}),
    },
    { caseId: CASE, evidenceId: eid, budgets },
  );
const hashCommands = (w: World) =>
  w.forensic.calls.filter(
    (c) =>
      c.op === 'SendCommand' &&
      String((c.input['Parameters'] as { commands?: string[] }).commands?.[0]).startsWith(EVIDENCE_HASH_TOOL),
  );
const roomHashEvents = (w: World) => w.recorder.events().filter((e) => e.action === 'evidence.room-hash');

t.test(
  'verified: the guest reads the recorded SHA-256; recorded on the item, asked once per attach cycle',
  async (t) => {
    const { w, eid, volumeId } = await preserved();
    const r = await attach(w, eid);
    t.equal(r.readOnly.status, 'confirmed');
    t.match(r.roomHash, {
      volumeId,
      status: 'verified',
      sha256: SHA,
      expected: SHA,
      seconds: 4.2,
      detail: `SHA-256 of /dev/nvme1n1 inside ${w.forensicInstance} is the recorded ${SHA} (${8 * GiB} bytes read in 4.2 s; SSM command cmd-`,
    });
    const [cmd] = hashCommands(w);
    t.same(cmd!.input.Parameters, {
      commands: [`${EVIDENCE_HASH_TOOL} --by-volume-id ${volumeId} --expected ${SHA} --size ${8 * GiB}`],
      executionTimeout: [String(5 * 60 + 8 * 60)],
    });
    t.same(cmd!.input.InstanceIds, [w.forensicInstance]);

    const [ev] = roomHashEvents(w);
    t.equal(ev!.idempotencyKey, `evidence:room-hash:${eid}:${volumeId}:1:verified`);
    t.equal(ev!.outcome.status, 'succeeded');
    t.match(ev!.outcome.details, { deviceSha256: SHA, expected: SHA, cycle: 1, commandId: /^cmd-/ });
    t.match(r.evidence, { inRoomHash: 'verified', inRoomHashDetail: /is the recorded/, inRoomHashAt: '2026-03-01T' });
    t.match(
      ev!.resources.map((x) => x.id),
      [volumeId, w.forensicInstance],
    );

    // Attaching the attached item again: the conclusive answer stands, the disk is not read again.
    const again = await attach(w, eid);
    t.equal(again.roomHash.status, 'verified');
    t.equal(hashCommands(w).length, 1, 'no second whole-disk read');
    t.equal(roomHashEvents(w).length, 1);
  },
);

t.test('MISMATCH: recorded as a failed check with its code, loud, and the exit-3 material', async (t) => {
  const { w, eid, volumeId } = await preserved();
  const other = 'cd'.repeat(32);
  w.deviceSha256.set(volumeId, other);
  const warned: string[] = [];
  const r = await attach(w, eid, {}, (m) => warned.push(m));
  t.equal(r.roomHash.status, 'MISMATCH');
  t.match(r.roomHash.detail, `is ${other}, the record says ${SHA}`);
  const [ev] = roomHashEvents(w);
  t.equal(ev!.outcome.status, 'failed');
  t.match(ev!.outcome.error, { code: 'IN_ROOM_HASH_MISMATCH', message: /the record says/ });
  t.equal(r.evidence.inRoomHash, 'MISMATCH');
  t.ok(warned.some((m) => /DOES NOT MATCH its acquisition hash/.test(m) && m.includes('cleanroom evidence detach')));
});

t.test(
  'not confirmed, with the reason: an empty answer, a tool that could not read, SSM unreachable, no answer in time',
  async (t) => {
    const cases: [HashMode, RegExp][] = [
      ['empty', /ended Success \(exit 0\): the hash tool gave no answer/],
      [
        'could-not',
        /ended Failed \(exit 1\), stderr: cleanroom-evidence-hash: not verified: reading \/dev\/nvme1n1 failed/,
      ],
      ['unreachable', /SSM could not run the hash tool on i-\w+ \(.*InvalidInstanceId|not in a valid state/],
      [
        'running',
        /no answer from SSM command cmd-\d+ within 180s: the hash of the whole disk may still be running inside i-\w+ \(its executionTimeout is 60s; see `aws ssm get-command-invocation --command-id cmd-\d+/,
      ],
    ];
    for (const [mode, detail] of cases) {
      const { w, eid, volumeId } = await preserved({ sha256: SHA, sizeBytes: GiB });
      w.hashMode = mode;
      const start = w.clock.now();
      const warned: string[] = [];
      const r = await attach(w, eid, { roomHashBaseMs: 60_000, roomHashPerGiBMs: 0 }, (m) => warned.push(m));
      t.equal(r.roomHash.status, 'not-confirmed', mode);
      t.match(r.roomHash.detail, detail, mode);
      const [ev] = roomHashEvents(w);
      t.equal(ev!.outcome.status, 'skipped', `${mode}: recorded as skipped`);
      t.equal(ev!.idempotencyKey, `evidence:room-hash:${eid}:${volumeId}:1:not-confirmed`);
      t.ok(
        warned.some((m) => m.includes(`sudo cleanroom-evidence-hash --by-volume-id ${volumeId} --expected ${SHA}`)),
        `${mode}: says how to check by hand`,
      );
      if (mode === 'running')
        t.ok(w.clock.now() - start <= 60_000 + 2 * 60_000 + 60_000, 'gave up within the command timeout and its grace');
    }
  },
);

t.test(
  'stopped while the guest reads the disk: INTERRUPTED, and no answer recorded for the cut-short wait',
  async (t) => {
    const { w, eid } = await preserved();
    w.hashMode = 'running';
    const stop = new AbortController();
    const answer = w.hashAnswer.bind(w);
    let polls = 0;
    w.hashAnswer = (line) => {
      if (++polls === 2) stop.abort();
      return answer(line);
    };
    const err = await attachEvidence(
      { forensic: w.forensic.port(), custody: w.recorder, room: w.gate(), clock: w.clock },
      { caseId: CASE, evidenceId: eid, signal: stop.signal },
    ).catch((e: unknown) => e);
    t.match(err, { code: 'INTERRUPTED' });
    t.equal(roomHashEvents(w).length, 0, 'no in-room answer recorded');
    t.ok(
      w.recorder.events().some((e) => e.action === 'evidence.readonly-check'),
      'what finished before the stop is recorded',
    );
  },
);

t.test('not run without a read-only confirmation or a recorded hash; nothing sent to the guest', async (t) => {
  const noHash = await preserved(null);
  const r = await attach(noHash.w, noHash.eid);
  t.equal(r.readOnly.status, 'confirmed');
  t.equal(r.roomHash.status, 'not-confirmed');
  t.match(r.roomHash.detail, `not run: the custody record holds no acquisition SHA-256 for ${noHash.eid}`);
  t.equal(hashCommands(noHash.w).length, 0);
  t.equal(roomHashEvents(noHash.w)[0]!.outcome.status, 'skipped');

  const writable = await preserved();
  writable.w.ssmMode = 'writable';
  const r2 = await attach(writable.w, writable.eid);
  t.equal(r2.roomHash.status, 'not-confirmed');
  t.match(r2.roomHash.detail, 'not run: read-only is writable inside the room');
  t.equal(hashCommands(writable.w).length, 0);
});

t.test('acquire verifies each attached disk in the room, one command per disk, recorded per item', async (t) => {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8, 20]);
  // The acquisition hash lands in the record before the read-only step, as acquisition records it.
  const status = w.ssmAnswer.bind(w);
  w.ssmAnswer = (acct, instanceId) => {
    for (const [eid, item] of w.recorder.events().flatMap((e) => {
      const ev = e.outcome.details?.['evidence'] as { evidenceId: string; state?: string } | undefined;
      return ev && !Array.isArray(ev) && ev.state === 'attached' ? [[ev.evidenceId, ev] as const] : [];
    }))
      void w.recorder.record({
        action: 'evidence.hash',
        resources: [],
        outcome: { status: 'succeeded', details: { evidence: { evidenceId: eid, sha256: SHA, sizeBytes: 8 * GiB } } },
        idempotencyKey: `test-hash-${item.evidenceId}`,
      });
    return status(acct, instanceId);
  };
  const r = await acquireEvidence(
    {
      forensic: w.forensic.port(),
      source: w.source.port(),
      custody: w.recorder,
      room: w.gate(),
      clock: w.clock,
      hasher: w.hasher(),
    },
    { caseId: CASE, volumeIds },
  );
  t.same(
    r.roomHash.map((x) => x.status),
    ['verified', 'verified'],
  );
  t.equal(hashCommands(w).length, 2, 'one command per disk');
  t.same(
    r.evidence.map((e) => e.inRoomHash),
    ['verified', 'verified'],
  );
  t.equal(roomHashEvents(w).length, 2);
});

t.test('the wait is scaled to the disk, capped at SSM’s 48 hours', async (t) => {
  const run = { budgets: DEFAULT_EVIDENCE_BUDGETS };
  t.same(roomHashTimeouts(run, GiB), { executionTimeoutSeconds: 360, waitMs: 360_000 + 120_000 });
  t.same(roomHashTimeouts(run, 100 * GiB).executionTimeoutSeconds, 300 + 6000);
  t.equal(roomHashTimeouts(run, 16 * 1024 * GiB).executionTimeoutSeconds, SSM_MAX_EXECUTION_SECONDS);
  t.equal(
    roomHashTimeouts({ budgets: { ...DEFAULT_EVIDENCE_BUDGETS, roomHashBaseMs: 0 } }, 0).executionTimeoutSeconds,
    30,
  );
});
