/**
 * Two cases on one instance through the CLI: `isolate`, `isolate release` and `acquire` take the
 * instance's vault-wide lock (`locks/<account>/<region>/instance/<id>.json`) for the instance's
 * work, as the automation's steps do. Case A holds it (taken with the library as an automation step
 * of case A would) → case B's command exits 1 CASE_BUSY naming case A, the instance unchanged; once
 * A gives it back, B goes on, and gives the lock back at the end.
 */
import t, { type Test } from 'tap';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as ec2 from '@aws-sdk/client-ec2';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { lockScopes } from '../../src/domain/exclusive.js';
import { VAULT, account, cli, type CliRun } from '../custody/helpers.js';
import { SOURCE_ROLE, compromisedInstance, groupsByInterface, sourceClients } from '../workflows/isolate/fixture.js';

const aws = await useLocalAws(t);
const c = sourceClients(aws.endpoint);
const SRC = ['--source-role-arn', SOURCE_ROLE];
const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, forcePathStyle: true });

/** The vault-wide lock object of an instance of the source account, as it is now. */
async function lockObject(instanceId: string): Promise<Record<string, unknown>> {
  const r = await s3.send(
    new GetObjectCommand({ Bucket: VAULT, Key: `locks/111111111111/us-east-1/instance/${instanceId}.json` }),
  );
  return JSON.parse(await r.Body!.transformToString());
}

/** Case A's automation step holding the instance's lock (the case's object and the vault-wide one). */
function holdAsCaseA(instanceId: string, command: string) {
  return account().then((a) =>
    openCaseCustody(a, {
      caseId: 'IR-A',
      locks: {
        owner: `exec-a|${command}|1`,
        command: `automation ${command}`,
        scopes: [lockScopes.instance(instanceId, { account: '111111111111', region: 'us-east-1' })],
      },
    }),
  );
}

/** Case B's command refused: exit 1 CASE_BUSY naming case A, its command, the instance's lock and its expiry. */
function busyForCaseA(t: Test, run: CliRun, command: string, instanceId: string) {
  t.equal(run.code, 1, run.stderr);
  const err = run.json().error;
  t.equal(err.code, 'CASE_BUSY');
  t.match(err.details, { holderCase: 'IR-A' });
  t.match(
    err.message,
    new RegExp(
      `^Case IR-B has to wait: case IR-A's \`automation ${command}\` holds the lock instance:${instanceId}@111111111111\\.us-east-1 .*until `,
    ),
    'names the other case, the scope and the expiry',
  );
}

const tagsOf = async (instanceId: string) =>
  (await c.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [instanceId] })))
    .Reservations![0]!.Instances![0]!.Tags?.map((x) => `${x.Key}=${x.Value}`)
    .sort() ?? [];

t.test('vault init', async (t) => {
  const init = await cli(aws, ['vault', 'init', '--json']);
  t.equal(init.code, 0, init.stderr);
});

t.test(
  "isolate and isolate release of case B wait for case A's lock on the instance: CASE_BUSY naming case A, nothing changed; then B goes on and gives the lock back",
  async (t) => {
    const x = await compromisedInstance(c);
    const enis = [x.primaryEni, x.secondaryEni];
    const groupsBefore = await groupsByInterface(c, enis);
    const tagsBefore = await tagsOf(x.instanceId);
    const a = await holdAsCaseA(x.instanceId, 'isolate');

    const busy = await cli(aws, ['isolate', '--case', 'IR-B', '--instance', x.instanceId, ...SRC, '--json']);
    busyForCaseA(t, busy, 'isolate', x.instanceId);
    t.same(await groupsByInterface(c, enis), groupsBefore, "the instance's groups unchanged");
    t.same(await tagsOf(x.instanceId), tagsBefore, 'not tagged');
    t.match(await lockObject(x.instanceId), { case: 'IR-A', owner: 'exec-a|isolate|1' }, "still case A's");

    await a.releaseLease();
    const run = await cli(aws, ['isolate', '--case', 'IR-B', '--instance', x.instanceId, ...SRC, '--json']);
    t.equal(run.code, 0, run.stderr);
    t.equal(run.json().alreadyIsolated, false);
    t.notSame(await groupsByInterface(c, enis), groupsBefore, 'isolated now');
    t.match(await lockObject(x.instanceId), { case: 'IR-B', released: true }, 'taken by B, given back at the end');

    const again = await holdAsCaseA(x.instanceId, 'acquire');
    const release = await cli(aws, ['isolate', 'release', '--case', 'IR-B', '--instance', x.instanceId, ...SRC]);
    t.equal(release.code, 1, release.stderr);
    t.match(release.stderr, /case IR-A's `automation acquire` holds the lock instance:/);
    t.notSame(await groupsByInterface(c, enis), groupsBefore, 'still isolated');
    await again.releaseLease();
    const released = await cli(aws, ['isolate', 'release', '--case', 'IR-B', '--instance', x.instanceId, ...SRC]);
    t.equal(released.code, 0, released.stderr);
    t.same(await groupsByInterface(c, enis), groupsBefore, 'given back');
    t.match(await lockObject(x.instanceId), { case: 'IR-B', released: true });
  },
);

t.test("acquire of case B refuses, before any snapshot, while case A holds one of its instances' lock", async (t) => {
  const x = await compromisedInstance(c);
  const y = await compromisedInstance(c);
  const a = await holdAsCaseA(y.instanceId, 'isolate');
  const snapshots = async () =>
    (await c.ec2.send(new ec2.DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots?.length ?? 0;
  const before = await snapshots();
  const r = await cli(aws, [
    'acquire',
    '--case',
    'IR-B',
    '--instance',
    x.instanceId,
    '--instance',
    y.instanceId,
    ...SRC,
    '--no-attach',
    '--json',
  ]);
  busyForCaseA(t, r, 'isolate', y.instanceId);
  t.equal(await snapshots(), before, 'no snapshot of either instance');
  const free = await lockObject(x.instanceId).catch(() => ({ released: true }));
  t.match(free, { released: true }, "the free instance's lock is not held (given back, or never taken)");
  await a.releaseLease();
});
