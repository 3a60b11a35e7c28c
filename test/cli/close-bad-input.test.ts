/**
 * `case close` on bad input and awkward cases, as a user meets them, against the local AWS: a
 * malformed case id or option (exit 2, no AWS request), an unknown case (exit 2, named), a case
 * whose room is already gone (room down first: close still finishes what is left), and a custody
 * record that fails verification (exit 3: nothing deleted, nothing appended).
 */
import t from 'tap';
import { S3Client, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { VAULT } from '../custody/helpers.js';
import { SRC, acquiredCase, closeEvents, closeState, runCli } from './close-helpers.js';

t.test('bad input: malformed id or option, unknown case', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);

  const before = proxy.calls.length;
  const badId = await runCli(env, ['case', 'close', '--case', 'bad case!', '--yes']);
  t.equal(badId.code, 2);
  t.match(badId.stderr, /case id/i);
  const badDays = await runCli(env, ['case', 'close', '--case', 'IR-x', '--yes', '--snapshot-lock-days', '0']);
  t.equal(badDays.code, 2);
  t.match(badDays.stderr, /--snapshot-lock-days must be a whole number of days \(1–36500\), got "0"/);
  const badWindow = await runCli(env, [
    'case',
    'close',
    '--case',
    'IR-x',
    '--yes',
    '--key-deletion-window-days',
    '3',
    '--json',
  ]);
  t.equal(badWindow.code, 2);
  t.equal(badWindow.json().error.code, 'INVALID_KEY_WINDOW');
  const noCase = await runCli(env, ['case', 'close', '--yes']);
  t.equal(noCase.code, 2);
  t.match(noCase.stderr, /case/);
  t.equal(proxy.calls.length, before, 'refused before any AWS request');

  const unknown = await runCli(env, ['case', 'close', '--case', 'IR-nothing-here', '--yes', '--json']);
  t.equal(unknown.code, 2, unknown.stderr);
  t.equal(unknown.json().error.code, 'UNKNOWN_CASE');
  t.match(
    unknown.json().error.message,
    /There is no case IR-nothing-here in the vault s3:\/\/cleanroom-evidence-123456789012-us-east-1\/: it has no custody record under cases\/IR-nothing-here\/custody\/.*case ids are case-sensitive/,
  );
  t.same(await closeEvents('IR-nothing-here'), [], 'nothing recorded for an unknown case');
  t.notOk(
    proxy.calls.slice(before).some((c) => /^(Delete|Detach|Create|Schedule|Put)/.test(c.action)),
    'nothing changed',
  );
});

t.test('a case whose room is already gone: close finishes what is left', async (t) => {
  const aws = await useLocalAws(t);
  const env = aws.env();
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const { evidence } = await acquiredCase(aws, 'IR-gone');
  const down = await runCli(env, ['room', 'down', '--case', 'IR-gone', '--detach-evidence', '--yes']);
  t.equal(down.code, 0, down.stderr);
  t.same(
    (await closeState(aws, 'IR-gone')).workingVolumes,
    ['available', 'available'],
    'room down keeps the evidence volumes',
  );

  const r = await runCli(env, ['case', 'close', '--case', 'IR-gone', '--yes', '--accept-unverified', ...SRC]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /the room of IR-gone is already gone; closing what is left/);
  t.match(r.stdout, /Case IR-gone closed\. The record verifies, head #\d+ [0-9a-f]+\./);
  t.match(r.stdout, /Room: already gone\./);
  for (const e of evidence) t.match(r.stdout, new RegExp(`Working volumes deleted: .*${e.volumeId}`));
  t.same(await closeState(aws, 'IR-gone'), {
    stack: 'none',
    workingVolumes: [],
    snapshots: ['forensic-copy retained', 'forensic-copy retained', 'written-check retained', 'written-check retained'],
    forensicKeys: ['case-key Enabled'],
    sourceKeys: ['share-key PendingDeletion'],
  });
  const ev = await closeEvents('IR-gone');
  t.equal(ev.at(-1)!.action, 'case.close');
  const stackEvent = ev.find((e) => e.idempotencyKey === 'close:delete-stack')!;
  t.equal(stackEvent.outcome.status, 'skipped', 'the record says the room was already gone');
  // room down detached the evidence under the evidence detach key of the attach cycle, so close has nothing to detach or record.
  t.same(
    ev
      .filter((e) => e.action === 'room.down.detach')
      .map((e) => e.idempotencyKey)
      .sort(),
    evidence.map((e) => `evidence:detach:${e.evidenceId}:${e.volumeId}:1`).sort(),
  );
  t.equal(ev.filter((e) => e.action === 'case.close.detach').length, 0, 'nothing left to detach');
});

t.test('a custody record that fails verification: close refuses (3), nothing deleted, nothing appended', async (t) => {
  const aws = await useLocalAws(t);
  const env = aws.env();
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  const up = await runCli(env, ['room', 'up', '--case', 'IR-tampered']);
  t.equal(up.code, 0, up.stderr);
  const events = await closeEvents('IR-tampered');
  // A new version written over an event key (same bytes), as someone with write access could.
  const s3 = new S3Client({ region: 'us-east-1' });
  const key = `cases/IR-tampered/custody/${String(1).padStart(10, '0')}.json`;
  const body = await (await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: key }))).Body!.transformToByteArray();
  await s3.send(new PutObjectCommand({ Bucket: VAULT, Key: key, Body: body, ServerSideEncryption: 'aws:kms' }));
  const before = await closeState(aws, 'IR-tampered');

  const r = await runCli(env, ['case', 'close', '--case', 'IR-tampered', '--yes', '--json']);
  t.equal(r.code, 3, r.stderr);
  t.equal(r.json().error.code, 'CUSTODY_INVALID');
  t.match(
    r.json().error.message,
    /The custody record of case IR-tampered does not verify \(1 finding\(s\): EXTRA_VERSION at seq 1: .*\)\. close refuses to go on.*Nothing was changed/,
  );
  t.same(await closeState(aws, 'IR-tampered'), before, 'nothing deleted: the room is still up');
  t.equal(before.stack, 'CREATE_COMPLETE');
  t.equal((await closeEvents('IR-tampered')).length, events.length, 'nothing appended');
  const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-tampered', '--json']);
  t.equal(verify.code, 3);
  t.same(
    verify.json().findings.map((f: any) => f.code),
    ['EXTRA_VERSION'],
    'the record is as the tamper left it',
  );
});
