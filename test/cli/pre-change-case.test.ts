/**
 * An old case, live: written by cleanroom as it was before the idempotency-key module and the one
 * step recorder (built from git at PRE_CHANGE_COMMIT, test/harness/pre-change-build.ts), then
 * resumed and closed by this version, on the same local AWS, under the same vault key. (A stored
 * fixture cannot be replayed into a live vault: moto cannot import asymmetric key material and its
 * key ids are random per run, so the old record is written here, by the old CLI.)
 *
 * The old CLI: vault init, room up, acquire killed mid-way (at its first CopySnapshot). This
 * version: the same acquire again finishes the work without redoing or re-recording any step the
 * old one recorded; `case close` closes the case; the record verifies and every key in it parses.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { useLocalAws, ROOT } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { preChangeCli } from '../harness/pre-change-build.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { custodyEvents, runCli } from './acquire-helpers.js';
import { closeState } from './close-helpers.js';
import { parseIdempotencyKey } from '../../src/domain/idempotency-keys.js';

t.test('a case the old version left half-acquired: this version resumes, closes and verifies it', async (t) => {
  const oldBin = preChangeCli();
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  const old = (args: string[], onStart?: (kill: () => void) => void) =>
    new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [oldBin, ...args], { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      onStart?.(() => child.kill('SIGKILL'));
      child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    });

  t.equal((await old(['vault', 'init'])).code, 0);
  const up = await old(['room', 'up', '--case', 'IR-OLD']);
  t.equal(up.code, 0, up.stderr);
  const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1], 1);
  const acquire = [
    'acquire',
    '--case',
    'IR-OLD',
    '--instance',
    fx.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--readonly-check-seconds',
    '0',
  ];
  const start = proxy.calls.length;
  const killed = await old(acquire, (kill) => {
    for (let n = start + 1; n < start + 400; n++)
      proxy.onCall(n, (c) => (c.action === 'CopySnapshot' ? kill() : undefined));
  });
  t.equal(killed.signal, 'SIGKILL', 'the old acquire was killed mid-way');
  const before = await custodyEvents('IR-OLD');
  t.ok(
    before.some((e) => e.action === 'evidence.snapshot') && !before.some((e) => e.action === 'evidence.preserved'),
    'the old record stops between the snapshots and the copies',
  );

  // This version resumes the acquisition.
  const resumed = await runCli(env, [...acquire, '--json']);
  t.equal(resumed.code, 0, resumed.stderr);
  t.same(
    resumed.json().evidence.map((e: any) => e.state),
    ['attached', 'attached'],
  );
  const after = await custodyEvents('IR-OLD');
  t.same(
    after.slice(0, before.length).map((e) => e.hash),
    before.map((e) => e.hash),
    'the old events stay as they were',
  );
  const keys = after.map((e) => e.idempotencyKey).filter((k): k is string => k !== undefined);
  t.equal(new Set(keys).size, keys.length, 'no step the old version recorded is recorded again');
  t.equal(
    after.filter((e) => e.action === 'evidence.snapshot').length,
    2,
    'the snapshots the old version took are not taken again',
  );

  // ... and closes the case.
  const close = await runCli(env, [
    'case',
    'close',
    '--case',
    'IR-OLD',
    '--yes',
    '--accept-unverified',
    '--source-role-arn',
    SOURCE_ROLE,
    '--json',
  ]);
  t.equal(close.code, 0, close.stderr);
  t.equal(close.json().incomplete, false);
  t.match(await closeState(aws, 'IR-OLD'), {
    stack: 'none',
    workingVolumes: [],
    forensicKeys: ['case-key Enabled'],
    sourceKeys: ['share-key PendingDeletion'],
  });
  const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-OLD', '--json']);
  t.equal(verify.code, 0, verify.stderr);
  t.equal(verify.json().ok, true);
  const all = await custodyEvents('IR-OLD');
  t.equal(all.at(-1)!.action, 'case.close');
  const unparsed = all
    .filter((e) => e.idempotencyKey !== undefined && !parseIdempotencyKey(e.idempotencyKey))
    .map((e) => `${e.seq} ${e.idempotencyKey}`);
  t.same(unparsed, [], 'every key of the old and the new events parses');
});
