// cfn-lint and checkov on templates/room.yaml: both clean, and both shown to fail on a broken copy
// (so a checker that silently stopped working would not pass this file).
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { yamlParse } from 'yaml-cfn';
import { ROOT } from '../../local-aws/local-aws.js';

const TEMPLATE_PATH = path.join(ROOT, 'templates/room.yaml');
const TEMPLATE = readFileSync(TEMPLATE_PATH, 'utf8');
const CFN_LINT = path.join(ROOT, '.venv/bin/cfn-lint');
const CHECKOV = path.join(ROOT, '.venv/bin/checkov');

// The pinned checkers live in the project venv (scripts/local-aws/requirements.txt).
execFileSync('bash', [path.join(ROOT, 'scripts/setup-venv')], { stdio: ['ignore', 'ignore', 'inherit'] });

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

const cfnLint = (file: string) => run(CFN_LINT, [file]);
// --skip-download: checkov otherwise asks Prisma Cloud for guideline links; the checks run offline.
const checkov = (file: string, ...extra: string[]) =>
  run(CHECKOV, ['-f', file, '--framework', 'cloudformation', '--quiet', '--compact', '--skip-download', ...extra]);

/** A copy of the template with `from` replaced by `to` (which must occur), in a temp dir removed at teardown. */
function brokenCopy(t: Test, from: string, to: string): string {
  t.ok(TEMPLATE.includes(from), `the template contains ${JSON.stringify(from)}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'room-lint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'room.yaml');
  writeFileSync(file, TEMPLATE.replace(from, to));
  return file;
}

t.test('cfn-lint: no findings', async (t) => {
  const r = cfnLint(TEMPLATE_PATH);
  t.equal(r.out.trim(), '', 'no findings printed');
  t.equal(r.status, 0, 'exit 0');
});

t.test('cfn-lint fails on a template that refers to a missing resource', async (t) => {
  const r = cfnLint(brokenCopy(t, 'RouteTableId: !Ref RouteTable', 'RouteTableId: !Ref NoSuchRouteTable'));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /NoSuchRouteTable/, 'the finding names the bad reference');
});

t.test('checkov: every check passes', async (t) => {
  const r = checkov(TEMPLATE_PATH);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /Failed checks: 0/);
});

t.test('checkov fails when the launch template allows IMDSv1', async (t) => {
  const r = checkov(brokenCopy(t, 'HttpTokens: required', 'HttpTokens: optional'));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /CKV_AWS_79/, 'the IMDSv1 check is named');
});

t.test('every checkov skip in the template is justified', async (t) => {
  // Skips live in the resource's Metadata (checkov: skip: [{id, comment}]); each needs a reason.
  const doc = yamlParse(TEMPLATE) as {
    Resources: Record<string, { Metadata?: { checkov?: { skip?: { id?: string; comment?: string }[] } } }>;
  };
  const skips = Object.entries(doc.Resources).flatMap(([id, r]) =>
    (r.Metadata?.checkov?.skip ?? []).map((s) => ({ resource: id, ...s })),
  );
  for (const s of skips) {
    t.match(s.id, /^CKV2?_AWS_\d+$/, `${s.resource}: skip names a check`);
    t.ok((s.comment ?? '').trim().length >= 30, `${s.resource}: skip of ${s.id} says why it does not apply`);
  }
  const r = checkov(TEMPLATE_PATH, '-o', 'json');
  const summary = (JSON.parse(r.stdout) as { summary: { skipped: number; failed: number } }).summary;
  t.equal(summary.skipped, skips.length, 'checkov skipped exactly the justified checks');
  t.equal(summary.failed, 0);
});
