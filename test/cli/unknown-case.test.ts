/**
 * Unknown cases are unknown (issue 11, finding 3), as a user meets them: the real CLI against the
 * local AWS. A case exists when it has a custody record in the vault; every command that reads or
 * continues a case refuses one that has none — exit 2, UNKNOWN_CASE, naming the case, the vault and
 * the fix — and writes nothing to the vault (no manifest, no event, no lease). Ids match exactly:
 * letter case counts, and IR-1 is not IR-10.
 */
import t from 'tap';
import { S3Client, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { VAULT, account, cli } from '../custody/helpers.js';

t.test(
  'custody verify/log/export/seal, evidence list/attach/detach, case close refuse a case with no record',
  async (t) => {
    const aws = await useLocalAws(t);
    t.equal((await cli(aws, ['vault', 'init'])).code, 0);
    // Two real cases, IR-10 and Case-7, each with a sealed record.
    for (const caseId of ['IR-10', 'Case-7']) {
      const c = await openCaseCustody(await account(), { caseId });
      await c.record({
        action: 'room.deploy',
        resources: [],
        outcome: { status: 'succeeded' },
        idempotencyKey: 'room:up',
      });
      await c.sealManifest();
    }
    const s3 = new S3Client({ region: 'us-east-1' });
    const vaultKeys = async () => {
      const r = await s3.send(new ListObjectVersionsCommand({ Bucket: VAULT, Prefix: 'cases/' }));
      return (r.Versions ?? []).map((v) => v.Key!).sort();
    };
    const before = await vaultKeys();
    t.ok(before.length >= 4);

    const refusals: Array<[string, string[]]> = [
      ['NOPE-405', ['custody', 'verify', '--case', 'NOPE-405']],
      ['case-7', ['custody', 'verify', '--case', 'case-7']], // the lower-cased id of a real case
      ['IR-1', ['custody', 'verify', '--case', 'IR-1']], // a prefix of a real case's id
      ['NOPE-404', ['custody', 'seal', '--case', 'NOPE-404']],
      ['NOPE-1', ['custody', 'log', '--case', 'NOPE-1']],
      ['NOPE-2', ['custody', 'export', '--case', 'NOPE-2', '--out', `${t.testdir()}/bundle`]],
      ['NOPE-3', ['evidence', 'list', '--case', 'NOPE-3']],
      ['NOPE-4', ['evidence', 'attach', '--case', 'NOPE-4', '--evidence', 'ev-0123456789abcdef']],
      ['NOPE-5', ['evidence', 'detach', '--case', 'NOPE-5', '--evidence', 'ev-0123456789abcdef']],
      ['ir-10', ['case', 'close', '--case', 'ir-10', '--yes']],
    ];
    for (const [caseId, args] of refusals) {
      const r = await cli(aws, [...args, '--json']);
      t.equal(
        r.code,
        2,
        `${args.slice(0, 2).join(' ')} --case ${caseId}: exit 2 (${r.stderr.trim().split('\n').at(-1)})`,
      );
      const err = r.json().error;
      t.equal(err.code, 'UNKNOWN_CASE', `${args.slice(0, 2).join(' ')}: UNKNOWN_CASE`);
      t.match(err.message, `There is no case ${caseId} in the vault s3://${VAULT}/`);
      t.match(err.message, /case ids are case-sensitive/);
      t.equal(err.details.caseId, caseId);
      const human = await cli(aws, args);
      t.equal(human.code, 2);
      t.match(human.stderr, new RegExp(`no case ${caseId}`));
    }
    // The lower-cased ids name the real case.
    const lower = await cli(aws, ['custody', 'verify', '--case', 'case-7', '--json']);
    t.same(lower.json().error.details.similarCaseIds, ['Case-7']);
    t.match(lower.json().error.message, /this vault has Case-7/);

    t.same(await vaultKeys(), before, 'nothing was written to the vault: no manifest, no event, no lease');

    // The real cases still verify, exactly by their ids.
    for (const caseId of ['IR-10', 'Case-7']) {
      const v = await cli(aws, ['custody', 'verify', '--case', caseId, '--json']);
      t.equal(v.code, 0, v.stderr);
      t.equal(v.json().events, 1);
    }
  },
);
