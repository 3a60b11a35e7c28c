/**
 * cleanroom-toolkit-install (scripts/guest/) on a small wheelhouse built here (one pure-Python
 * wheel with a console command, made with Python's zipfile): installed offline into a fresh venv
 * with its command linked and its status written; a tampered, missing or unlisted wheel, or a
 * manifest that is not the recorded one → exit 3 and nothing installed; pip failing → exit 1 and
 * the venv removed. The real toolkit (Dissect, Volatility 3, pytsk3) on a read-only loop device:
 * toolkit-real.test.ts.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { assembleToolkit, manifestBytes, type ToolkitManifest } from '../../src/domain/toolkit.js';
import { GUEST_DIR, guest, must, tempDir } from './fixtures/loop-devices.js';

const TOOL = 'cleanroom-toolkit-install';
const PY = 'python3';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A pure-Python wheel `crdemo-1.0` whose console command `crdemo` prints "crdemo works". */
function makeWheel(dir: string): string {
  const file = 'crdemo-1.0-py3-none-any.whl';
  must(PY, [
    '-c',
    `import zipfile, sys
z = zipfile.ZipFile(sys.argv[1], "w")
z.writestr("crdemo.py", "def main():\\n    print('crdemo works')\\n")
z.writestr("crdemo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: crdemo\\nVersion: 1.0\\n")
z.writestr("crdemo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
z.writestr("crdemo-1.0.dist-info/entry_points.txt", "[console_scripts]\\ncrdemo = crdemo:main\\n")
z.writestr("crdemo-1.0.dist-info/RECORD", "")
z.close()`,
    join(dir, file),
  ]);
  return file;
}

/** A toolkit folder as the case copy holds it: manifest.json, requirements.txt, wheels/. */
function makeToolkit(dir: string, opts: { requirements?: string } = {}): { manifest: ToolkitManifest; bytes: Buffer } {
  mkdirSync(join(dir, 'wheels'), { recursive: true });
  const file = makeWheel(join(dir, 'wheels'));
  const body = readFileSync(join(dir, 'wheels', file));
  const built = assembleToolkit({
    name: 'test',
    builtAt: '2026-12-05T10:00:00.000Z',
    builtWith: { python: '3.11.7', pip: '23.2.1' },
    arch: 'x86_64',
    packages: ['crdemo'],
    wheels: [{ file, sha256: sha(body), bytes: body.length }],
  });
  let { manifest } = built;
  let requirements = built.requirements;
  if (opts.requirements !== undefined) {
    // A requirements file the wheelhouse cannot satisfy, listed honestly in the manifest.
    requirements = Buffer.from(opts.requirements);
    const files = manifest.files.map((f) =>
      f.name === 'requirements.txt' ? { ...f, sha256: sha(requirements), bytes: requirements.length } : f,
    );
    const lines = files.map((f) => `${f.name} ${f.sha256}\n`).sort();
    manifest = { ...manifest, files, toolkitId: `tk-${sha(lines.join('')).slice(0, 20)}` };
  }
  writeFileSync(join(dir, 'requirements.txt'), requirements);
  const bytes = manifestBytes(manifest);
  writeFileSync(join(dir, 'manifest.json'), bytes);
  return { manifest, bytes };
}

function install(dir: string, work: string, extra: string[] = []) {
  const r = guest(TOOL, [
    '--from',
    dir,
    '--venv',
    join(work, 'venv'),
    '--python',
    PY,
    '--bin',
    join(work, 'bin'),
    '--status',
    join(work, 'status.json'),
    ...extra,
  ]);
  const lines = r.stdout.trim().split('\n');
  return { ...r, lines, json: JSON.parse(lines.at(-1)!) as Record<string, unknown> };
}

t.test('installs offline into a fresh venv, links its command, writes its status; a rerun does it again', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'toolkit');
  const { manifest } = makeToolkit(dir);
  const r = install(dir, work);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.lines.length, 1, 'one JSON line');
  t.match(r.json, {
    toolkitId: manifest.toolkitId,
    status: 'installed',
    python: /^3\.\d+\.\d+$/,
    tools: [{ name: 'crdemo', version: '1.0' }],
    detail: /installed offline into .*venv; 1 commands linked/,
  });
  t.same(JSON.parse(readFileSync(join(work, 'status.json'), 'utf8')), r.json, 'the status file holds the same');
  t.equal(readlinkSync(join(work, 'bin/crdemo')), join(work, 'venv/bin/crdemo'));
  t.equal(must(join(work, 'bin/crdemo'), []).trim(), 'crdemo works', 'the linked command runs');
  const again = install(dir, work);
  t.equal(again.status, 0, again.stderr);
  t.equal(again.json['status'], 'installed');
});

t.test('a relative --venv: the linked commands still point at the venv (absolute links)', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'toolkit');
  makeToolkit(dir);
  const r = spawnSync(
    join(GUEST_DIR, TOOL),
    ['--from', 'toolkit', '--venv', 'venv', '--python', PY, '--bin', join(work, 'bin'), '--status', 'status.json'],
    { cwd: work, encoding: 'utf8' },
  );
  t.equal(r.status, 0, r.stderr);
  t.equal(readlinkSync(join(work, 'bin/crdemo')), join(work, 'venv/bin/crdemo'), 'an absolute link');
  t.equal(must(join(work, 'bin/crdemo'), []).trim(), 'crdemo works', 'the linked command runs');
});

t.test('a tampered, missing or unlisted wheel, or another manifest: exit 3, mismatch, nothing installed', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'toolkit');
  const { manifest, bytes } = makeToolkit(dir);
  const wheel = join(dir, manifest.files.find((f) => f.name.startsWith('wheels/'))!.name);
  const good = readFileSync(wheel);

  writeFileSync(wheel, Buffer.concat([good, Buffer.from('x')]));
  let r = install(dir, work);
  t.equal(r.status, 3, r.stderr);
  t.match(r.json, {
    toolkitId: manifest.toolkitId,
    status: 'mismatch',
    detail: /crdemo-1\.0.*has SHA-256 .*the manifest says/,
  });
  t.notOk(existsSync(join(work, 'venv')), 'no venv');
  t.notOk(existsSync(join(work, 'bin/crdemo')), 'no command');
  t.equal(JSON.parse(readFileSync(join(work, 'status.json'), 'utf8'))['status'], 'mismatch');

  writeFileSync(wheel, good);
  writeFileSync(join(dir, 'wheels/evil-1.0-py3-none-any.whl'), 'x');
  r = install(dir, work);
  t.equal(r.status, 3);
  t.match(r.json['detail'], /wheels\/evil-1\.0-py3-none-any\.whl is not in the manifest/);
  must('rm', [join(dir, 'wheels/evil-1.0-py3-none-any.whl')]);

  r = install(dir, work, ['--manifest-sha256', sha('another manifest')]);
  t.equal(r.status, 3);
  t.match(r.json['detail'], new RegExp(`manifest.json has SHA-256 ${sha(bytes)}, expected`));

  must('rm', [wheel]);
  r = install(dir, work);
  t.equal(r.status, 3);
  t.match(r.json['detail'], /crdemo-1\.0-py3-none-any\.whl is missing/);
  t.notOk(existsSync(join(work, 'venv')), 'still no venv');
});

t.test("pip failing: exit 1, failed with pip's last lines, the venv removed", async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'toolkit');
  makeToolkit(dir, { requirements: `notinthewheelhouse==1.0 --hash=sha256:${sha('x')}\n` });
  const r = install(dir, work);
  t.equal(r.status, 1, r.stderr);
  t.match(r.json, { status: 'failed', detail: /pip install failed: .*notinthewheelhouse/ });
  t.notOk(existsSync(join(work, 'venv')), 'the venv is gone');
});

t.test('usage, a missing Python, and a command that is not ours', async (t) => {
  t.equal(guest(TOOL, []).status, 2);
  t.equal(guest(TOOL, ['--from']).status, 2);
  t.equal(guest(TOOL, ['--bogus', 'x']).status, 2);
  const work = tempDir(t);
  const dir = join(work, 'toolkit');
  makeToolkit(dir);
  const r = install(dir, work, ['--python', 'python-that-does-not-exist']);
  t.equal(r.status, 1);
  t.match(r.json, { status: 'failed', detail: /python-that-does-not-exist is not installed/ });

  mkdirSync(join(work, 'bin'));
  writeFileSync(join(work, 'bin/crdemo'), '#!/bin/sh\necho system\n');
  const ok = install(dir, work);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stderr, /bin\/crdemo exists and is not ours; not linked/);
  t.notOk(lstatSync(join(work, 'bin/crdemo')).isSymbolicLink(), 'the existing file is left alone');
});
