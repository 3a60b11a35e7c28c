/**
 * What a program using the built library (dist/index.js, as a Lambda host would) gets without the
 * CLI, against the local AWS: roomUp, acquireEvidence and isolateInstance leave the custody record
 * sealed (`custody verify` passes, no MANIFEST_STALE); a workflow that throws after it appended
 * still seals; one stopped by its AbortSignal stops at a step boundary, records nothing half-done,
 * seals and throws INTERRUPTED, and a rerun finishes with no duplicate event; a destructive step
 * without an approval is refused before anything changes; the wait budgets are library defaults a
 * caller overrides.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { useLocalAws } from '../local-aws/local-aws.js';
import { ec2In, instanceWithVolumes } from './workflows/acquire/fixtures.js';
import type * as Lib from '../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string };
const lib = (await import(pathToFileURL(path.join(root, pkg.main)).href)) as typeof Lib;

const aws = await useLocalAws(t);
const account = await lib.openAccount({});
await lib.initVault(account, {});
const ec2 = ec2In(aws.endpoint);
const FAST = { watcher: { intervalMs: 200, maxIntervalMs: 1000, debounceMs: 50 } };

/** `custody verify` of the case: passes, and the manifest seals the head. */
async function verifies(t: Test, caseId: string, what: string) {
  const v = await lib.verifyCaseInVault(account, { caseId });
  t.equal(v.ok, true, `${what}: custody verify passes (${v.findings.map((f) => f.code).join(', ')})`);
  t.notOk(
    v.findings.some((f) => f.code === 'MANIFEST_STALE'),
    `${what}: no MANIFEST_STALE`,
  );
  t.equal(v.manifest?.head.seq, v.head.seq, `${what}: the manifest seals event ${v.head.seq}`);
}

async function plainInstance(): Promise<string> {
  return (
    await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.small',
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: 'us-east-1a' },
      }),
    )
  ).Instances![0]!.InstanceId!;
}

t.test('roomUp, acquireEvidence and isolateInstance through dist/index.js leave the record sealed', async (t) => {
  const caseId = 'IR-lib-1';
  const custody = await lib.openCaseCustody(account, { caseId });
  const up = await lib.roomUp({ account, custody }, { caseId });
  t.same(up.seal, { sealed: true }, 'room up says it sealed');
  await verifies(t, caseId, 'after roomUp');

  const { instanceId } = await instanceWithVolumes(ec2, 'us-east-1a', [1]);
  const acq = await lib.acquireEvidence(
    { forensic: account, source: account, custody, room: lib.roomGate(account) },
    { caseId, instanceIds: [instanceId], attach: false, ...FAST },
  );
  t.ok(acq.evidence.length >= 2, 'the volumes were acquired');
  t.same(acq.seal, { sealed: true }, 'acquire says it sealed');
  await verifies(t, caseId, 'after acquireEvidence');

  const iso = await lib.isolateInstance({ account, custody }, { caseId, instanceId: await plainInstance() });
  t.equal(iso.alreadyIsolated, false);
  t.same(iso.seal, { sealed: true }, 'isolate says it sealed');
  await verifies(t, caseId, 'after isolateInstance');
});

t.test('a workflow that throws after appending still leaves the manifest sealed, and says so', async (t) => {
  const caseId = 'IR-lib-2';
  const custody = await lib.openCaseCustody(account, { caseId });
  const before = custody.events().length;
  // A wait that runs out right after the state was recorded (the reporter is the hook).
  const reporter: Lib.Reporter = {
    progress: (e) => {
      if (e.kind === 'step' && custody.events().length > before)
        throw new lib.TimeoutError('the test ran the budget out', {});
    },
    warn() {},
    debug() {},
  };
  const e = (await lib
    .isolateInstance({ account, custody, reporter }, { caseId, instanceId: await plainInstance() })
    .catch((x: unknown) => x)) as Lib.CleanroomError;
  t.equal(e.code, 'TIMEOUT');
  t.same(
    custody.events().map((x) => x.action),
    ['isolate.record-state'],
    'it had appended',
  );
  t.equal(e.details['sealed'], true, 'the error says the manifest is sealed');
  await verifies(t, caseId, 'after the failure');
});

t.test(
  'stopped by its AbortSignal: a step boundary, nothing half-done, sealed, INTERRUPTED; a rerun finishes',
  async (t) => {
    const caseId = 'IR-lib-3';
    const instanceId = await plainInstance();
    const custody = await lib.openCaseCustody(account, { caseId });
    const stop = new AbortController();
    // Aborted while the first step (recording the state) runs: it finishes, the next does not start.
    const reporter: Lib.Reporter = {
      progress: (e) => {
        if (e.kind === 'step' && /state of the instance/i.test(e.message)) stop.abort(new Error('stop'));
      },
      warn() {},
      debug() {},
    };
    const e = (await lib
      .isolateInstance({ account, custody, reporter }, { caseId, instanceId, signal: stop.signal })
      .catch((x: unknown) => x)) as Lib.CleanroomError;
    t.ok(lib.isInterrupted(e), `INTERRUPTED (${e.code}: ${e.message})`);
    t.equal(e.exitCode, 1);
    t.equal(e.details['sealed'], true, 'sealed on the way out');
    t.same(
      custody.events().map((x) => `${x.action}:${x.outcome.status}`),
      ['isolate.record-state:succeeded'],
      'the step under way finished; nothing after it, nothing failed',
    );
    await verifies(t, caseId, 'after the stop');

    const rerun = await lib.isolateInstance({ account, custody }, { caseId, instanceId });
    t.same(rerun.seal, { sealed: true });
    const keys = custody
      .events()
      .map((x) => x.idempotencyKey)
      .filter(Boolean);
    t.equal(new Set(keys).size, keys.length, 'no duplicate event after the rerun');
    t.equal(custody.events().at(-1)?.action, 'isolate.complete');
    await verifies(t, caseId, 'after the rerun');

    const already = new AbortController();
    already.abort();
    await t.rejects(
      lib.roomUp({ account, custody }, { caseId, signal: already.signal }),
      { code: 'INTERRUPTED' },
      'an aborted signal stops before the first step',
    );
  },
);

t.test(
  'initVault takes the AbortSignal too: stopped after its keys, before the bucket; a rerun finishes',
  async (t) => {
    const bucket = 'cleanroom-lib-stopped-vault';
    const stop = new AbortController();
    const reporter: Lib.Reporter = {
      progress: (e) => {
        if (e.kind === 'step' && /vault keys/.test(e.message)) stop.abort(new Error('stop'));
      },
      warn() {},
      debug() {},
    };
    await t.rejects(
      lib.initVault(account, { bucket, reporter, signal: stop.signal }),
      { code: 'INTERRUPTED' },
      'INTERRUPTED at the boundary after the keys',
    );
    await t.rejects(account.s3.headBucket({ Bucket: bucket }), 'no bucket was made after the stop');
    const again = await lib.initVault(account, { bucket });
    t.equal(again.audit.ok, true, 'the rerun makes the vault and it passes its audit');
  },
);

t.test('a destructive step needs the one typed approval: without it, refused before anything changes', async (t) => {
  const caseId = 'IR-lib-4';
  const custody = await lib.openCaseCustody(account, { caseId });
  await lib.roomUp({ account, custody }, { caseId });
  const events = custody.events().length;
  await t.rejects(lib.roomDown({ account, custody }, { caseId }), {
    name: 'UsageError',
    code: 'CONFIRMATION_REQUIRED',
    exitCode: 2,
  });
  const asked: Lib.ApprovalRequest[] = [];
  await t.rejects(lib.roomDown({ account, custody, approve: (r) => (asked.push(r), false) }, { caseId }), {
    code: 'ABORTED',
    exitCode: 2,
  });
  t.match(asked, [
    {
      action: 'room.down',
      caseId,
      question: /DELETE stack cleanroom-IR-lib-4/,
      plan: { stackName: 'cleanroom-IR-lib-4' },
    },
  ]);
  t.equal(custody.events().length, events, 'nothing recorded');
  const down = await lib.roomDown({ account, custody, approve: lib.approveAll }, { caseId });
  t.equal(down.deleted, true);
  t.same(down.seal, { sealed: true });
  await verifies(t, caseId, 'after roomDown');
});

t.test('wait budgets are library defaults a caller overrides', async (t) => {
  t.same(lib.evidenceBudgets(), lib.DEFAULT_EVIDENCE_BUDGETS);
  t.match(lib.evidenceBudgets({ roomHashMinutes: 1, roomHashMinutesPerGiB: 0.25 }), {
    roomHashBaseMs: 60_000,
    roomHashPerGiBMs: 15_000,
  });
  t.match(lib.evidenceBudgets({ minutes: 2, minutesPerGiB: 0.5, readOnlyCheckSeconds: 5 }), {
    waitBaseMs: 120_000,
    waitPerGiBMs: 30_000,
    volumeMs: 120_000,
    apiMs: 120_000,
    readOnlyCheckMs: 5000,
  });
  t.match(lib.evidenceBudgets({ minutes: 60 }), {
    waitBaseMs: 3_600_000,
    volumeMs: lib.DEFAULT_EVIDENCE_BUDGETS.volumeMs,
    apiMs: lib.DEFAULT_EVIDENCE_BUDGETS.apiMs,
  });
  t.throws(() => lib.evidenceBudgets({ minutes: -1 }), { code: 'INVALID_BUDGET', exitCode: 2 });
});
