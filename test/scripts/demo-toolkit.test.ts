/**
 * The demo's analysis step on its own (scripts/demo-toolkit): the toolkit installed offline with the
 * room's guest installer, then target-query on the fixture's root image on a read-only loop device. The
 * whole step runs, as root, inside the demo (test/demo.test.ts); here what it refuses and how: without a
 * wheelhouse, without root (it says the command to run), and a wheelhouse whose wheel is not the one its
 * manifest names — the installer stops it before anything is installed or any device attached.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function demoToolkit(args: string[], asUid?: number): Promise<Run> {
  const script = ['bash', path.join(ROOT, 'scripts/demo-toolkit'), ...args];
  // Not root: setpriv drops to nobody (65534); the repository is readable by all.
  const [cmd, ...argv] =
    asUid !== undefined ? ['setpriv', `--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', ...script] : script;
  return new Promise((resolve) => {
    execFile(cmd!, argv, { cwd: ROOT, env: process.env }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Loop devices currently backed by a file under `dir` (losetup's list). */
function loopsOver(dir: string): string[] {
  return execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], {
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
  })
    .toString()
    .split('\n')
    .filter((l) => l.trim().startsWith(dir));
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A small wheelhouse in the toolkit layout, its manifest naming each file's SHA-256 (cleanroom.toolkit.v1). */
function wheelhouse(dir: string): { wheel: string } {
  mkdirSync(path.join(dir, 'wheels'), { recursive: true });
  const wheel = 'wheels/cleanroom_demo_probe-1.0-py3-none-any.whl';
  const wheelBytes = Buffer.from('a wheel the manifest names by its SHA-256\n');
  const requirements = `cleanroom-demo-probe==1.0 --hash=sha256:${sha256(wheelBytes)}\n`;
  writeFileSync(path.join(dir, wheel), wheelBytes);
  writeFileSync(path.join(dir, 'requirements.txt'), requirements);
  const files = [
    { name: 'requirements.txt', sha256: sha256(requirements), bytes: Buffer.byteLength(requirements) },
    { name: wheel, sha256: sha256(wheelBytes), bytes: wheelBytes.length },
  ];
  const lines = files.map((f) => `${f.name} ${f.sha256}`).sort();
  const manifest = {
    schema: 'cleanroom.toolkit.v1',
    toolkitId: `tk-${sha256(`${lines.join('\n')}\n`).slice(0, 20)}`,
    name: 'demo-toolkit-test',
    builtAt: '2026-12-05T00:00:00.000Z',
    builtWith: { python: '3.11.7', pip: '24.0' },
    target: { python: '3.11', implementation: 'cp', arch: 'x86_64', platforms: ['manylinux2014_x86_64'] },
    tools: [{ name: 'cleanroom-demo-probe', version: '1.0' }],
    requirements: 'requirements.txt',
    files,
  };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { wheel };
}

const work = mkdtempSync(path.join(tmpdir(), 'cleanroom-demo-toolkit-test-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('a folder without a toolkit: exit 2, and how to build one', async (t) => {
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  const r = await demoToolkit([empty]);
  t.equal(r.code, 2, r.stderr);
  t.match(
    r.stderr,
    `${empty} holds no toolkit (no manifest.json): build one with 'cleanroom room tools --out ${empty}'`,
  );
  t.equal(r.stdout, '');
});

t.test('not root: exit 2, it says the loop device needs root and the command that runs it', async (t) => {
  const dir = path.join(work, 'as-nobody');
  wheelhouse(dir);
  execFileSync('chmod', ['-R', 'a+rX', work]);
  const r = await demoToolkit([dir], 65534);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, `attaching a loop device needs root (losetup): run it as 'sudo bash scripts/demo-toolkit ${dir}'`);
  t.equal(r.stdout, '', 'nothing ran');
});

t.test(
  'a wheel that is not the one its manifest names: the installer refuses (exit 3), nothing installed, no device attached',
  async (t) => {
    const dir = path.join(work, 'tampered');
    const { wheel } = wheelhouse(dir);
    writeFileSync(path.join(dir, wheel), 'another wheel under the same name\n');
    const venv = path.join(work, 'venv');
    const r = await demoToolkit([dir, '--venv', venv]);
    t.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
    const status = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{')) ?? 'null') as {
      status: string;
      detail: string;
    };
    t.equal(status.status, 'mismatch');
    t.match(status.detail, path.basename(wheel));
    t.match(r.stderr, 'the installer refused or failed (exit 3): nothing runs on the evidence');
    t.notMatch(r.stdout, /losetup|target-query/, 'the evidence image is never attached');
    t.notOk(existsSync(path.join(venv, 'bin', 'python')), 'no virtual environment made');
    t.same(loopsOver(path.join(ROOT, '.cache/fixture-images')), [], 'no loop device left on the fixture images');
  },
);
