/**
 * The offline bundle verifier cannot be fooled: ONE genuine bundle is exported from the local AWS,
 * then every row of the adversarial suite (test/custody/tamper.ts) tampers with a copy of it and
 * runs the real CLI, `cleanroom custody verify --bundle DIR … --json`, with no AWS reachable.
 * Each row names the exit code and the finding codes it must produce.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useLocalAws, type LocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { FINDING_CODES } from '../../src/custody/verify.js';
import { account, cli, offlineEnv } from './helpers.js';
import { CASES, makeCtx, resum, rewriteAndResign } from './tamper.js';
import { verifyBundle, type BundleVerifyOptions } from '../../src/custody/bundle.js';
import type { CleanroomError } from '../../src/domain/errors.js';

async function genuineBundle(
  t: Test,
  base: string,
): Promise<{ dir: string; exported: Record<string, any>; aws: LocalAws }> {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const c = await openCaseCustody(await account(), { caseId: 'IR-TAMPER' });
  for (let i = 1; i <= 5; i++) {
    await c.record({
      action: i === 1 ? 'room.deploy' : 'evidence.snapshot',
      resources: [{ type: 'ec2:snapshot', id: `snap-${i}` }],
      outcome: {
        status: i === 4 ? 'failed' : 'succeeded',
        ...(i === 4 ? { error: { code: 'AWS_Throttling', message: 'Rate exceeded' } } : {}),
        details:
          i >= 2
            ? {
                evidence: {
                  evidenceId: `ev-vol-${i}`,
                  sourceVolumeId: `vol-${i}`,
                  sourceAccount: '222222222222',
                  sourceRegion: 'us-east-1',
                  state: 'preserved',
                  forensicSnapshotId: `snap-${i}`,
                },
              }
            : {},
      },
      idempotencyKey: `step:${i}`,
    });
  }
  await c.sealManifest();
  const dir = path.join(base, 'genuine');
  const ex = await cli(aws, ['custody', 'export', '--case', 'IR-TAMPER', '--out', dir, '--json']);
  t.equal(ex.code, 0, ex.stderr);
  return { dir, exported: ex.json(), aws };
}

/** The CLI flags of a row as verifyBundle options (the CLI reads --public-key the same way). */
function options(args: string[]): BundleVerifyOptions {
  const o: BundleVerifyOptions = {};
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '--key-fingerprint') o.expectKeyFingerprint = args[i + 1]!;
    else if (args[i] === '--public-key') o.trustedPublicKey = fs.readFileSync(args[i + 1]!, 'utf8');
    else throw new Error(`unknown flag ${args[i]}`);
  }
  return o;
}

t.test('custody verify --bundle cannot be fooled', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cr-tamper-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const { dir: genuine, exported, aws } = await genuineBundle(t, base);
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  const ctx = makeCtx(outside, genuine);
  const arn = JSON.parse(fs.readFileSync(path.join(genuine, 'export.json'), 'utf8')).signingKeyArn as string;
  let n = 0;
  const copy = (mutate: (dir: string) => void) => {
    const dir = path.join(base, `case-${++n}`);
    fs.cpSync(genuine, dir, { recursive: true });
    mutate(dir);
    return dir;
  };

  await t.test('export prints the fingerprint and how to verify with it', async (t) => {
    t.equal(ctx.fingerprint, exported.keyFingerprint, 'the fingerprint export printed is the key in the bundle');
    t.equal(
      exported.verifyCommand,
      `cleanroom custody verify --bundle ${genuine} --key-fingerprint ${ctx.fingerprint}`,
    );
    t.same(fs.readdirSync(genuine).sort(), [
      'SHA256SUMS',
      'bundle.sig.json',
      'events',
      'export.json',
      'manifest.json',
      'report.html',
      'report.md',
      'signing-key.pem',
    ]);
  });

  // Every row through verifyBundle and the CLI's exit mapping (0 ok, 3 a finding, a thrown error's
  // exit code); the real CLI runs below for what it prints.
  await t.test(`the adversarial suite: ${CASES.length} rows`, async (t) => {
    t.ok(CASES.length >= 30);
    const known = new Set<string>(FINDING_CODES);
    for (const row of CASES) {
      const dir = copy((d) => row.mutate(d, ctx));
      const args = row.args ? row.args(ctx) : ['--key-fingerprint', ctx.fingerprint];
      let exit: number;
      let codes: string[];
      let detail: string;
      try {
        const r = await verifyBundle(dir, options(args));
        exit = r.ok ? 0 : 3;
        codes = r.findings.map((f) => f.code);
        detail = JSON.stringify(r.findings);
        t.ok(
          codes.every((c) => known.has(c)),
          `${row.name}: every finding code is one of FINDING_CODES`,
        );
        t.equal(r.ok, codes.length === 0, `${row.name}: ok exactly when nothing was found`);
        if (!r.trusted || !r.ok)
          t.notOk(r.signingKeyArn && !r.trusted, `${row.name}: no key ARN for an untrusted signer`);
      } catch (e) {
        exit = (e as CleanroomError).exitCode ?? 1;
        codes = [(e as CleanroomError).code];
        detail = (e as Error).message;
      }
      t.equal(exit, row.exit, `${row.name}: exit ${exit} — ${detail}`);
      if (row.exact)
        t.same(
          [...new Set(codes)].sort(),
          [...row.codes].sort(),
          `${row.name}: exactly ${row.codes.join(', ') || 'no finding'}`,
        );
      else
        t.ok(
          row.codes.every((c) => codes.includes(c)),
          `${row.name}: ${row.codes.join(', ')} among ${codes.join(', ')}`,
        );
    }
  });

  await t.test('the real CLI, offline: the anchor decides, and the ARN is shown only when signed by it', async (t) => {
    const good = await cli(
      undefined,
      ['custody', 'verify', '--bundle', genuine, '--key-fingerprint', ctx.fingerprint],
      offlineEnv(),
    );
    t.equal(good.code, 0, good.stdout);
    t.match(good.stdout, /the bundle verifies — 5 event\(s\)/);
    t.match(good.stdout, `Bundle's signing key SHA-256: ${ctx.fingerprint} (${arn})`);
    const goodJson = await cli(
      undefined,
      ['custody', 'verify', '--bundle', genuine, '--public-key', ctx.genuinePem, '--json'],
      offlineEnv(),
    );
    t.equal(goodJson.code, 0);
    t.match(goodJson.json(), {
      ok: true,
      trusted: true,
      anchor: 'public-key',
      signingKeyArn: arn,
      keyFingerprint: ctx.fingerprint,
      findings: [],
    });

    const bare = await cli(undefined, ['custody', 'verify', '--bundle', genuine], offlineEnv());
    t.equal(bare.code, 3, 'no anchor: not verified');
    t.match(bare.stdout, /NOT verified — nothing says whose key signed it/);
    t.match(bare.stdout, `--key-fingerprint <SHA-256>`);
    t.notMatch(bare.stdout, arn, 'no ARN shown for a signer nobody vouched for');
    t.notMatch(bare.stdout, /the bundle verifies/);

    const forged = copy((d) => rewriteAndResign(d, ctx));
    const r = await cli(
      undefined,
      ['custody', 'verify', '--bundle', forged, '--key-fingerprint', ctx.fingerprint, '--json'],
      offlineEnv(),
    );
    t.equal(r.code, 3);
    t.same(
      r.json().findings.map((f: { code: string }) => f.code),
      ['KEY_NOT_TRUSTED'],
    );
    t.equal(
      r.json().signingKeyArn,
      undefined,
      'the genuine ARN (still in export.json) is not shown beside the attacker key',
    );
    const text = await cli(undefined, ['custody', 'verify', '--bundle', forged], offlineEnv());
    t.equal(text.code, 3);
    t.notMatch(text.stdout, arn);
    t.match(text.stdout, `${ctx.attacker.fingerprint} (not trusted)`);

    const report = copy((d) => {
      fs.writeFileSync(
        path.join(d, 'report.md'),
        fs.readFileSync(path.join(d, 'report.md'), 'utf8').replace('| succeeded |', '| failed |'),
      );
      resum(d);
    });
    const rr = await cli(
      undefined,
      ['custody', 'verify', '--bundle', report, '--key-fingerprint', ctx.fingerprint, '--json'],
      offlineEnv(),
    );
    t.equal(rr.code, 3);
    t.same(
      rr.json().findings.map((f: { code: string }) => f.code),
      ['BUNDLE_SIGNATURE_INVALID'],
    );

    const abc = await cli(
      undefined,
      ['custody', 'verify', '--bundle', genuine, '--key-fingerprint', 'abc', '--json'],
      offlineEnv(),
    );
    t.equal(abc.code, 2, 'a malformed fingerprint is bad input');
    t.equal(abc.json().error.code, 'BAD_KEY_FINGERPRINT');
    t.match(abc.json().error.message, /--key-fingerprint "abc" is not a key fingerprint: give the 64 hex characters/);
    const both = await cli(
      undefined,
      ['custody', 'verify', '--case', 'IR-TAMPER', '--key-fingerprint', ctx.fingerprint, '--json'],
      offlineEnv(),
    );
    t.equal(both.code, 2, 'an anchor without --bundle is bad usage');
    t.equal(both.json().error.code, 'ANCHOR_WITHOUT_BUNDLE');
    const missing = await cli(
      undefined,
      ['custody', 'verify', '--bundle', genuine, '--public-key', path.join(outside, 'nope.pem')],
      offlineEnv(),
    );
    t.equal(missing.code, 2);
    t.match(missing.stderr, /--public-key \S+nope\.pem cannot be read \(ENOENT\)/);
  });

  await t.test(
    '--expect-case / --expect-head: a genuine bundle of another case, or an earlier export of this one, is told apart',
    async (t) => {
      t.equal(
        exported.pinnedVerifyCommand,
        `cleanroom custody verify --bundle ${genuine} --key-fingerprint ${ctx.fingerprint} --expect-case IR-TAMPER --expect-head ${exported.head.hash}`,
        'export prints the pinned command',
      );
      const pin = (dir: string, c: string, h: string) =>
        cli(
          undefined,
          [
            'custody',
            'verify',
            '--bundle',
            dir,
            '--key-fingerprint',
            ctx.fingerprint,
            '--expect-case',
            c,
            '--expect-head',
            h,
            '--json',
          ],
          offlineEnv(),
        );
      const ok = await pin(genuine, 'IR-TAMPER', exported.head.hash);
      t.equal(ok.code, 0, ok.stdout);
      t.equal(
        (await pin(genuine, 'IR-TAMPER', exported.head.hash.toUpperCase())).code,
        0,
        'the head in upper case too',
      );

      // The same vault key signs every case: a genuine bundle of another case verifies with it …
      const other = await openCaseCustody(await account(), { caseId: 'IR-OTHER' });
      await other.record({
        action: 'room.deploy',
        resources: [{ type: 'cloudformation:stack', id: 'cleanroom-IR-OTHER' }],
        outcome: { status: 'succeeded' },
        idempotencyKey: 'other:1',
      });
      await other.sealManifest();
      const otherDir = path.join(base, 'other');
      const oex = await cli(aws, ['custody', 'export', '--case', 'IR-OTHER', '--out', otherDir, '--json']);
      t.equal(oex.code, 0, oex.stderr);
      t.equal(
        (
          await cli(
            undefined,
            ['custody', 'verify', '--bundle', otherDir, '--key-fingerprint', ctx.fingerprint, '--json'],
            offlineEnv(),
          )
        ).code,
        0,
        'without a pin, another case of the vault verifies with the same key',
      );
      // … and only the pin tells it is not the bundle the custodian meant.
      const wrongCase = await pin(otherDir, 'IR-TAMPER', exported.head.hash);
      t.equal(wrongCase.code, 3);
      t.same(
        wrongCase
          .json()
          .findings.map((f: { code: string }) => f.code)
          .sort(),
        ['CASE_NOT_EXPECTED', 'HEAD_NOT_EXPECTED'],
      );
      t.match(
        wrongCase.json().findings.find((f: { code: string }) => f.code === 'CASE_NOT_EXPECTED').message,
        /of case "IR-OTHER", not of the expected case IR-TAMPER/,
      );

      // A later export of this case (one more event): the earlier genuine bundle no longer passes the latest head.
      const more = await openCaseCustody(await account(), { caseId: 'IR-TAMPER' });
      await more.record({
        action: 'room.audit',
        resources: [],
        outcome: { status: 'succeeded' },
        idempotencyKey: 'step:6',
      });
      await more.sealManifest();
      const laterDir = path.join(base, 'later');
      const later = await cli(aws, ['custody', 'export', '--case', 'IR-TAMPER', '--out', laterDir, '--json']);
      t.equal(later.code, 0, later.stderr);
      t.equal(later.json().head.seq, 6);
      const earlier = await pin(genuine, 'IR-TAMPER', later.json().head.hash);
      t.equal(earlier.code, 3, 'the earlier export is not the one the custodian pinned');
      t.same(
        earlier.json().findings.map((f: { code: string }) => f.code),
        ['HEAD_NOT_EXPECTED'],
      );
      t.match(earlier.json().findings[0].message, /ends at #5 .*, not at the expected head/);
      t.equal(
        (await pin(laterDir, 'IR-TAMPER', later.json().head.hash)).code,
        0,
        'the latest export passes its own pin',
      );

      const badHead = await pin(genuine, 'IR-TAMPER', 'abc');
      t.equal(badHead.code, 2);
      t.equal(badHead.json().error.code, 'BAD_EXPECTED_HEAD');
      const badCase = await pin(genuine, 'ir tamper', exported.head.hash);
      t.equal(badCase.code, 2, 'an expected case that is no case id is bad input');
      const noBundle = await cli(
        undefined,
        ['custody', 'verify', '--case', 'IR-TAMPER', '--expect-case', 'IR-TAMPER', '--json'],
        offlineEnv(),
      );
      t.equal(noBundle.code, 2);
      t.equal(noBundle.json().error.code, 'EXPECT_WITHOUT_BUNDLE');
    },
  );

  await t.test('--trust-vault: the anchor is the vault signing key, read from KMS', async (t) => {
    const r = await cli(aws, ['custody', 'verify', '--bundle', genuine, '--trust-vault', '--json']);
    t.equal(r.code, 0, r.stdout);
    t.match(r.json(), {
      ok: true,
      trusted: true,
      anchor: 'vault',
      signingKeyArn: arn,
      keyFingerprint: ctx.fingerprint,
    });
    const forged = copy((d) => rewriteAndResign(d, ctx));
    const f = await cli(aws, ['custody', 'verify', '--bundle', forged, '--trust-vault', '--json']);
    t.equal(f.code, 3);
    t.ok(
      f.json().findings.some((x: { code: string }) => x.code === 'KEY_NOT_TRUSTED'),
      JSON.stringify(f.json().findings),
    );
    t.equal(f.json().signingKeyArn, undefined);
    const noVault = await cli(aws, [
      'custody',
      'verify',
      '--bundle',
      genuine,
      '--trust-vault',
      '--bucket',
      'cleanroom-evidence-123456789012-eu-west-3',
      '--json',
    ]);
    t.equal(noVault.code, 2, noVault.stdout);
  });
});
