/**
 * Ctrl-C in a long command, as a user presses it: `cleanroom acquire` as a child process against
 * the local AWS (through the fault proxy), sent SIGINT while a call is in flight right after its
 * first custody event was written. It must exit 130, say what this run recorded and that running
 * the same command again resumes (with --json: one document, code INTERRUPTED), leave the
 * manifest re-sealed, and the rerun must finish with no duplicate custody event.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { custodyEvents, runCli } from './acquire-helpers.js';
import { openAccount } from '../../src/aws/account.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';

t.test('Ctrl-C in acquire: exit 130, what was recorded, manifest sealed; the same command again resumes', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  const init = await runCli(env, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);
  const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1]);
  const args = [
    'acquire',
    '--case',
    'IR-int',
    '--instance',
    fx.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--no-attach',
    '--json',
  ];

  // The call after the first custody event is held (like a long wait) and Ctrl-C is pressed.
  let eventWritten = false;
  let interruptedAt = '';
  const r = await runCli(env, args, (child) =>
    proxy.add({
      when: (c) => {
        if (eventWritten && !interruptedAt) {
          interruptedAt = `${c.service}:${c.action}`;
          setTimeout(() => child.kill('SIGINT'), 200);
          return true;
        }
        if (/^PUT .*cases\/IR-int\/custody\//.test(c.action)) eventWritten = true;
        return false;
      },
      fault: { kind: 'delay', ms: 3000 },
      times: 1,
    }),
  );
  t.ok(interruptedAt, `interrupted during ${interruptedAt}`);
  t.equal(r.signal, null, 'the process exits by itself, not killed by the signal');
  t.equal(r.code, 130, `exit 130 (${r.stderr.trim().split('\n').slice(-1)[0]})`);
  const doc = r.json();
  t.equal(doc.error.code, 'INTERRUPTED');
  t.match(doc.error.message, /Interrupted \(Ctrl-C\) during `cleanroom acquire`/);
  t.match(doc.error.message, /This run recorded \d+ custody event\(s\): #1 /);
  t.match(doc.error.message, /Run the same command again to resume/);
  t.ok(doc.error.details.recorded.length >= 1, 'the recorded events are listed in the JSON');
  t.equal(doc.error.details.sealed, true);
  t.match(r.stderr, /Interrupted: stopping/);
  t.notMatch(r.stderr, /\n\s+at \S+ \(/, 'no stack trace');

  const before = await custodyEvents('IR-int');
  t.ok(before.length >= doc.error.details.recorded.length, 'what it says it recorded is in the vault');
  const custody = await openCaseCustody(await openAccount({ region: 'us-east-1' }), { caseId: 'IR-int' });
  t.equal(custody.dirty, false, 'the manifest was re-sealed over the head the interrupted run left');

  const rerun = await runCli(env, args);
  t.equal(
    rerun.code,
    0,
    `the same command again resumes and finishes: ${rerun.stderr
      .split('\n')
      .filter((l) => /error/.test(l))
      .join(' ')}`,
  );
  t.same(
    rerun.json().evidence.map((e: any) => e.state),
    ['preserved', 'preserved'],
  );
  const after = await custodyEvents('IR-int');
  const keys = after.map((e) => e.idempotencyKey).filter(Boolean);
  t.equal(new Set(keys).size, keys.length, 'no duplicate custody event after the resume');
  t.same(
    after.slice(0, before.length).map((e) => e.hash),
    before.map((e) => e.hash),
    'the rerun continued the same chain',
  );
});
