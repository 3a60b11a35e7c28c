// The template checkers (cfn-lint, checkov) as the lint tests run them, on a template or on a
// broken copy of it: shared by room-lint.test.ts and automation-lint.test.ts.
import type { Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';

const CFN_LINT = path.join(ROOT, '.venv/bin/cfn-lint');
const CHECKOV = path.join(ROOT, '.venv/bin/checkov');

/** The pinned checkers live in the project venv (scripts/local-aws/requirements.txt). */
export function setUpCheckers(): void {
  execFileSync('bash', [path.join(ROOT, 'scripts/setup-venv')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

export const cfnLint = (file: string) => run(CFN_LINT, [file]);
// --skip-download: checkov otherwise asks Prisma Cloud for guideline links; the checks run offline.
export const checkov = (file: string, ...extra: string[]) =>
  run(CHECKOV, ['-f', file, '--framework', 'cloudformation', '--quiet', '--compact', '--skip-download', ...extra]);

/** A template of templates/ and broken copies of it (in a temp dir removed at teardown). */
export function templateUnderTest(name: string) {
  const file = path.join(ROOT, 'templates', name);
  const text = readFileSync(file, 'utf8');
  return {
    file,
    text,
    /** A copy with `from` replaced by `to` (which must occur). */
    brokenCopy(t: Test, from: string, to: string): string {
      t.ok(text.includes(from), `the template contains ${JSON.stringify(from)}`);
      const dir = mkdtempSync(path.join(tmpdir(), 'template-lint-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const copy = path.join(dir, name);
      writeFileSync(copy, text.replace(from, to));
      return copy;
    },
  };
}
