/**
 * The reads around a case in the vault, on a fake vault (no local AWS): whether a case exists
 * (src/custody/case-exists.ts: exact ids, letter case, a prefix of another id), `custody log`
 * (src/custody/log.ts: every listing page, unreadable objects shown not hidden) and the trust
 * anchor read from the vault (src/custody/trust-vault.ts: the signing key's public key, a missing
 * key, KMS failures).
 */
import t from 'tap';
import { createPublicKey } from 'node:crypto';
import { caseExists, requireExistingCase, unknownCaseError } from '../../src/custody/case-exists.js';
import { eventKey } from '../../src/custody/event.js';
import { readCaseLog } from '../../src/custody/log.js';
import { vaultSigningKey } from '../../src/custody/trust-vault.js';
import { awsError } from '../fakes/ports.js';
import { BUCKET, chain, fakeVault } from './fake-vault.js';
import { canonicalBytes } from '../../src/custody/canonical.js';

t.test('a case exists by its exact id only', async (t) => {
  const v = fakeVault('IR-10', 2);
  t.equal(await caseExists(v.account, BUCKET, 'IR-10'), true);
  t.equal(await caseExists(v.account, BUCKET, 'IR-1'), false, 'IR-1 is not a prefix match of IR-10');
  t.equal(await caseExists(v.account, BUCKET, 'ir-10'), false, 'ids are case-sensitive');
  t.same(
    v.bucket.calls.of('listObjectsV2')[0],
    { Bucket: BUCKET, Prefix: 'cases/IR-10/custody/', MaxKeys: 1 },
    'one call, one key',
  );
  await t.resolves(requireExistingCase(v.account, BUCKET, 'IR-10'));
  await t.rejects(requireExistingCase(v.account, BUCKET, 'IR-1'), {
    code: 'UNKNOWN_CASE',
    exitCode: 2,
    details: { caseId: 'IR-1', bucket: BUCKET },
  });
});

t.test('an unknown case names the ids that differ only in letter case, and only those', async (t) => {
  const v = fakeVault('IR-7', 1);
  for (const id of ['ir-7', 'Ir-7', 'IR-70']) v.bucket.put(eventKey(id, 1), canonicalBytes(chain(id, 1)[0]));
  const e = await unknownCaseError(v.account, BUCKET, 'iR-7');
  t.same(e.details['similarCaseIds'], ['IR-7', 'Ir-7', 'ir-7']);
  t.match(
    e.message,
    /There is no case iR-7 in the vault s3:\/\/cleanroom-evidence-123456789012-us-east-1\/.*\(this vault has IR-7, Ir-7, ir-7\)/,
  );
  t.same(v.bucket.calls.of('listObjectsV2').at(-1), { Bucket: BUCKET, Prefix: 'cases/', Delimiter: '/' });
});

t.test('the letter-case hint is best effort: a listing that fails still gives UNKNOWN_CASE', async (t) => {
  const v = fakeVault('IR-7', 1);
  v.bucket.faults.set('listObjectsV2', (i) =>
    i['Delimiter'] ? awsError('s3', 'listObjectsV2', 'AccessDenied') : undefined,
  );
  const e = await unknownCaseError(v.account, BUCKET, 'ir-7');
  t.equal(e.code, 'UNKNOWN_CASE');
  t.equal(e.details['similarCaseIds'], undefined);
  t.notMatch(e.message, /this vault has/);
});

t.test('custody log reads every listing page, in sequence order', async (t) => {
  const v = fakeVault('IR-7', 5, { pageSize: 2 });
  const log = await readCaseLog(v.account, { caseId: 'IR-7', bucket: BUCKET, concurrency: 2 });
  t.equal(log.bucket, BUCKET);
  t.same(
    log.events.map((e) => [e.seq, e.action, e.status]),
    [
      [1, 'room.up', 'succeeded'],
      [2, 'step.2', 'succeeded'],
      [3, 'step.3', 'succeeded'],
      [4, 'step.4', 'succeeded'],
      [5, 'step.5', 'succeeded'],
    ],
  );
  t.same(
    v.bucket.calls.of<{ ContinuationToken?: string }>('listObjectsV2').map((c) => c.ContinuationToken),
    [undefined, '2', '4'],
  );
  t.equal(log.events[1]!.prevHash, v.events[0]!.hash);
});

t.test(
  'custody log shows an object that is not JSON, or gone between listing and reading, as unreadable',
  async (t) => {
    const v = fakeVault('IR-7', 3);
    v.bucket.put(eventKey('IR-7', 2), Buffer.from('{not json'));
    v.bucket.faults.set('getObject', (i) =>
      i['Key'] === eventKey('IR-7', 3) ? awsError('s3', 'getObject', 'NoSuchKey') : undefined,
    );
    const log = await readCaseLog(v.account, { caseId: 'IR-7', bucket: BUCKET });
    t.same(
      log.events.map((e) => [e.seq, e.action, e.hash]),
      [
        [1, 'room.up', v.events[0]!.hash],
        [2, '(unreadable)', ''],
        [3, '(unreadable)', ''],
      ],
    );
  },
);

t.test('custody log of a case with no events is UNKNOWN_CASE; a throttled read is an error', async (t) => {
  const v = fakeVault('IR-7', 2);
  await t.rejects(readCaseLog(v.account, { caseId: 'ir-7', bucket: BUCKET }), {
    code: 'UNKNOWN_CASE',
    details: { similarCaseIds: ['IR-7'] },
  });
  v.bucket.faults.set('getObject', () => awsError('s3', 'getObject', 'SlowDown'));
  await t.rejects(readCaseLog(v.account, { caseId: 'IR-7', bucket: BUCKET }), { code: 'AWS_SlowDown' });
});

t.test('the trust anchor from the vault is its signing key’s public key', async (t) => {
  const v = fakeVault('IR-7', 1);
  const k = await vaultSigningKey(v.account, { bucket: BUCKET });
  t.equal(k.bucket, BUCKET);
  t.equal(k.arn, v.key.arn);
  t.ok((createPublicKey(k.pem).export({ format: 'der', type: 'spki' }) as Buffer).equals(v.key.publicDer));
  t.same(
    v.kmsCalls.list.map((c) => c.op),
    ['describeKey', 'getPublicKey'],
  );
  t.same(v.kmsCalls.list[0]!.input, { KeyId: 'alias/cleanroom/signing/cleanroom-evidence-123456789012-us-east-1' });
  t.equal((await vaultSigningKey(v.account)).bucket, BUCKET, 'no --bucket: the account’s default vault');
});

t.test(
  'no signing key to trust: SIGNING_KEY_NOT_FOUND (exit 2) naming the alias; other KMS errors pass through',
  async (t) => {
    const v = fakeVault('IR-7', 1);
    v.kmsFaults.set('getPublicKey', (_, n) =>
      n === 1
        ? awsError('kms', 'getPublicKey', 'NotFoundException')
        : awsError('kms', 'getPublicKey', 'ThrottlingException'),
    );
    await t.rejects(
      vaultSigningKey(v.account, { bucket: BUCKET }),
      {
        code: 'SIGNING_KEY_NOT_FOUND',
        exitCode: 2,
        details: { alias: 'alias/cleanroom/signing/cleanroom-evidence-123456789012-us-east-1' },
      },
      'key gone under its alias',
    );
    await t.rejects(
      vaultSigningKey(v.account, { bucket: BUCKET }),
      { code: 'AWS_ThrottlingException', exitCode: 1 },
      'throttling is not "no key"',
    );
    v.keys.length = 0;
    await t.rejects(vaultSigningKey(v.account, { bucket: BUCKET }), { code: 'SIGNING_KEY_NOT_FOUND' }, 'no alias');
    await t.rejects(vaultSigningKey(v.account, { bucket: 'Not_A_Bucket' }), { code: 'INVALID_BUCKET' });
  },
);
