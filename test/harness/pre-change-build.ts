/**
 * cleanroom as it was before the idempotency-key module and the one step recorder (issue 12): built
 * from git at a pinned commit, so that tests can write a case with the OLD code on the local AWS and
 * then resume, close and verify it with the new one ("old cases must keep verifying and resuming").
 *
 * `git archive` of the pinned commit (src/, scripts/, templates/, evidence-schema/, tsconfig.json,
 * package.json) into a temp folder, node_modules symlinked from this checkout, assets generated and
 * tsc run there (about 10 s). Needs the git history (a clean clone has it; a shallow one does not).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';

/**
 * The last commit of main before the change ("AWS SDK on its latest releases", 0861f2f): the code
 * that wrote test/fixtures/pre-change-case/. Never move it — it names what "an old case" is.
 */
export const PRE_CHANGE_COMMIT = '0861f2fd6fd31d0441d15b9a94d4ba03e82f225e';

/** Build the pinned commit (once per process); returns the path of its `dist/cli/bin.js`. */
let built: string | undefined;
export function preChangeCli(): string {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-pre-change-'));
  const archive = execFileSync(
    'git',
    [
      '-C',
      ROOT,
      'archive',
      '--format=tar',
      PRE_CHANGE_COMMIT,
      'src',
      'scripts',
      'templates',
      'evidence-schema',
      'tsconfig.json',
      'package.json',
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, ['scripts/gen-assets.mjs'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  built = path.join(dir, 'dist/cli/bin.js');
  return built;
}
