/**
 * One writer per case (issue 11, finding 4), as users meet it: two commands on one case started at
 * the same moment, the real CLI against the local AWS. The case's lease in the vault makes the
 * outcome deterministic — one command holds the case, the other refuses at once (exit 1,
 * CASE_BUSY, naming the holder's command and since/until) and changes nothing — and the AWS state
 * afterwards is what one command alone leaves: one forensic snapshot per volume, nothing deleted
 * under another command, and a record that verifies.
 */
import t, { type Test } from 'tap';
import { S3Client, GetObjectCommand, GetBucketEncryptionCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { caseResources, custodyEvents, runCli, type Run } from './acquire-helpers.js';
import { SRC, acquiredCase, closeState } from './close-helpers.js';
import { VAULT } from '../custody/helpers.js';

/** The run that won and the one that lost; fails the test unless exactly one exited 0. */
function winnerAndLoser(t: Test, runs: Run[], names: string[]): { winner: number; loser: number } {
  const codes = runs.map((r) => r.code);
  t.same(
    [...codes].sort(),
    [0, 1],
    `one ${names.join(' / ')} wins, the other refuses (exit codes ${codes.join(', ')}): ${runs.map((r) => r.stderr.trim().split('\n').at(-1)).join(' | ')}`,
  );
  const winner = codes.indexOf(0);
  return { winner, loser: 1 - winner };
}

function busy(t: Test, loser: Run, holderCommand: string, caseId: string) {
  const err = loser.json().error;
  t.equal(err.code, 'CASE_BUSY', 'the loser says the case is busy');
  t.match(err.message, `Case ${caseId} is busy: \`${holderCommand}\` holds its lease`);
  t.match(err.message, /since \d{4}-\d\d-\d\dT.*, until \d{4}-\d\d-\d\dT/);
  t.match(err.message, /nothing was changed/);
  t.equal(err.details.command, holderCommand);
}

async function lease(caseId: string) {
  const s3 = new S3Client({ region: 'us-east-1' });
  const r = await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: `cases/${caseId}/lease.json` }));
  return JSON.parse(await r.Body!.transformToString());
}

t.test(
  'acquire / acquire at once: one takes the evidence, the other refuses; one forensic snapshot per volume',
  async (t) => {
    const aws = await useLocalAws(t);
    const env = aws.env();
    t.equal((await runCli(env, ['vault', 'init'])).code, 0);
    t.equal((await runCli(env, ['room', 'up', '--case', 'IR-race-a'])).code, 0);
    const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1], 1);
    const args = [
      'acquire',
      '--case',
      'IR-race-a',
      '--instance',
      fx.instanceId,
      ...SRC,
      '--readonly-check-seconds',
      '0',
      '--json',
    ];
    const runs = await Promise.all([runCli(env, args), runCli(env, args)]);
    const { winner, loser } = winnerAndLoser(t, runs, ['acquire', 'acquire']);
    t.same(
      runs[winner]!.json().evidence.map((e: any) => e.state),
      ['attached', 'attached'],
    );
    busy(t, runs[loser]!, 'acquire', 'IR-race-a');

    const res = await caseResources(aws.endpoint, 'IR-race-a');
    t.same(res.forensic, { 'forensic-copy': 2 }, 'one forensic snapshot per volume');
    t.same(res.source, { 'source-snapshot': 2 }, 'one source snapshot per volume');
    t.equal(res.workingVolumes.length, 2, 'one working volume per volume');
    const events = await custodyEvents('IR-race-a');
    const preserved = events.filter((e) => e.action === 'evidence.preserved');
    t.equal(preserved.length, 2, 'one evidence.preserved per volume');
    const keys = events.map((e) => e.idempotencyKey).filter(Boolean);
    t.equal(new Set(keys).size, keys.length, 'no unit of work recorded twice');
    const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-race-a', '--json']);
    t.equal(verify.code, 0, verify.stderr);
    t.match(await lease('IR-race-a'), { command: 'acquire', released: true }, 'the winner gave the lease back');

    // Afterwards the case is free again: the same command runs (and changes nothing).
    const again = await runCli(env, args);
    t.equal(again.code, 0, again.stderr);
    t.same((await caseResources(aws.endpoint, 'IR-race-a')).forensic, { 'forensic-copy': 2 });
  },
);

t.test(
  'acquire / room down at once: never a room deleted under an acquisition that reports evidence attached',
  async (t) => {
    const aws = await useLocalAws(t);
    const env = aws.env();
    t.equal((await runCli(env, ['vault', 'init'])).code, 0);
    t.equal((await runCli(env, ['room', 'up', '--case', 'IR-race-b'])).code, 0);
    const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1], 1);
    const runs = await Promise.all([
      runCli(env, [
        'acquire',
        '--case',
        'IR-race-b',
        '--instance',
        fx.instanceId,
        ...SRC,
        '--readonly-check-seconds',
        '0',
        '--json',
      ]),
      runCli(env, ['room', 'down', '--case', 'IR-race-b', '--yes', '--json']),
    ]);
    const { winner, loser } = winnerAndLoser(t, runs, ['acquire', 'room down']);
    const state = await closeState(aws, 'IR-race-b');
    if (winner === 0) {
      busy(t, runs[loser]!, 'acquire', 'IR-race-b');
      t.not(state.stack, 'none', 'room down did not delete the room acquire attached to');
      t.same(
        runs[0]!.json().evidence.map((e: any) => e.state),
        ['attached', 'attached'],
      );
      t.same(
        state.workingVolumes,
        ['in-use attached', 'in-use attached'],
        'the evidence is attached, as acquire reported',
      );
    } else {
      busy(t, runs[loser]!, 'room down', 'IR-race-b');
      t.equal(state.stack, 'none', 'the room is gone, as room down reported');
      t.same(state.workingVolumes, [], 'acquire changed nothing');
      t.same((await caseResources(aws.endpoint, 'IR-race-b')).forensic, {}, 'acquire took no evidence');
    }
    const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-race-b', '--json']);
    t.equal(verify.code, 0, verify.stderr);
  },
);

t.test(
  'case close / case close at once: one closes, the other refuses instead of reporting volumes it did not keep',
  async (t) => {
    const aws = await useLocalAws(t);
    const env = aws.env();
    t.equal((await runCli(env, ['vault', 'init'])).code, 0);
    await acquiredCase(aws, 'IR-race-c', env);
    const args = ['case', 'close', '--case', 'IR-race-c', ...SRC, '--yes', '--accept-unverified', '--json'];
    const runs = await Promise.all([runCli(env, args), runCli(env, args)]);
    const { winner, loser } = winnerAndLoser(t, runs, ['case close', 'case close']);
    t.equal(runs[winner]!.json().closed, true);
    busy(t, runs[loser]!, 'case close', 'IR-race-c');
    t.notMatch(
      runs[loser]!.stdout + runs[loser]!.stderr,
      /INCOMPLETE|Kept: volume/,
      'the loser does not report the winner’s deletions as kept',
    );
    const state = await closeState(aws, 'IR-race-c');
    t.equal(state.stack, 'none');
    t.same(state.workingVolumes, [], 'the working volumes are deleted');
    const events = await custodyEvents('IR-race-c');
    t.equal(events.filter((e) => e.action === 'case.close').length, 1, 'one closing event');
    t.equal(events.filter((e) => e.action === 'case.close.incomplete').length, 0, 'no incomplete close recorded');
    const verify = await runCli(env, ['custody', 'verify', '--case', 'IR-race-c', '--json']);
    t.equal(verify.code, 0, verify.stderr);
    const again = await runCli(env, args);
    t.equal(again.code, 0, again.stderr);
    t.equal(again.json().alreadyClosed, true, 'run again afterwards: already closed');
  },
);

t.test(
  'a command whose lease is taken while it runs does not end as a success (exit 1, CASE_LEASE_LOST naming the taker)',
  async (t) => {
    const aws = await useLocalAws(t);
    const env = aws.env();
    t.equal((await runCli(env, ['vault', 'init'])).code, 0);
    t.equal((await runCli(env, ['room', 'up', '--case', 'IR-race-d'])).code, 0);
    const fx = await instanceWithVolumes(ec2In(aws.endpoint, { roleArn: SOURCE_ROLE }), 'us-east-1b', [1], 1);
    const running = runCli(env, [
      'acquire',
      '--case',
      'IR-race-d',
      '--instance',
      fx.instanceId,
      ...SRC,
      '--readonly-check-seconds',
      '0',
      '--json',
    ]);
    // As soon as acquire holds the lease, another holder takes it over (as one whose clock ran
    // ahead past the expiry would): a conditional write on the version acquire wrote.
    const s3 = new S3Client({ region: 'us-east-1' });
    const key = 'cases/IR-race-d/lease.json';
    let taken = false;
    while (!taken) {
      const cur = await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: key })).catch(() => undefined);
      if (!cur) continue;
      const doc = JSON.parse(await cur.Body!.transformToString());
      if (doc.command !== 'acquire' || doc.released) continue;
      const now = new Date();
      const theirs = {
        ...doc,
        owner: 'arn:aws:sts::123456789012:assumed-role/other/someone|elsewhere|1|ab',
        command: 'case close',
        pid: 1,
        acquiredAt: now.toISOString(),
        renewedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 600_000).toISOString(),
        generation: doc.generation + 1,
      };
      const body = JSON.stringify(theirs);
      await s3.send(
        new PutObjectCommand({
          Bucket: VAULT,
          Key: key,
          Body: body,
          IfMatch: cur.ETag,
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: await vaultKeyArn(),
        }),
      );
      taken = true;
    }
    const run = await running;
    t.equal(run.code, 1, `exit 1, not a success: ${run.stderr.trim().split('\n').at(-1)}`);
    const err = run.json().error;
    t.equal(err.code, 'CASE_LEASE_LOST');
    t.match(err.message, /lost the lease of case IR-race-d/);
    t.match(err.message, /`case close`/, 'names what took it');
    t.match(
      await lease('IR-race-d'),
      { command: 'case close', released: false },
      "the taker's lease is left alone (not released by the loser)",
    );
  },
);

/** The vault key ARN (the bucket policy wants SSE-KMS under it on every PUT). */
async function vaultKeyArn(): Promise<string> {
  const s3 = new S3Client({ region: 'us-east-1' });
  const r = await s3.send(new GetBucketEncryptionCommand({ Bucket: VAULT }));
  return r.ServerSideEncryptionConfiguration!.Rules![0]!.ApplyServerSideEncryptionByDefault!.KMSMasterKeyID!;
}
