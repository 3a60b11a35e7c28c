/**
 * The forensic toolkit for real, as the room uses it: `cleanroom room tools` builds the wheelhouse
 * (Dissect, Volatility 3, pytsk3 for CPython 3.11 on manylinux x86_64), cleanroom-toolkit-install
 * installs it into a fresh venv with no index (python3.11 standing in for the room's Amazon Linux
 * python3.11), and the installed `target-query` reads the demo fixture's root disk image
 * (scripts/fixture-images) on a READ-ONLY loop device: it lists the users and finds the planted web
 * shell, and the device's SHA-256 is the same before and after. A tampered wheel: exit 3, nothing
 * installed.
 *
 * Needs, like the other guest tests: root (losetup, blockdev), python3.11 with pip, e2fsprogs (the
 * fixture image), and the network on the first run only — the wheelhouse is kept under
 * .cache/toolkit/<package set>/ (gitignored) and reused while its files match its manifest, and pip
 * keeps its own cache.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';
import { DEFAULT_TOOLKIT_PACKAGES, type ToolkitManifest } from '../../src/domain/toolkit.js';
import { guest, must, run, sha256OfDevice, tempDir } from './fixtures/loop-devices.js';

const PY = 'python3.11';
const BIN = path.join(ROOT, 'dist/cli/bin.js');
const CACHE = path.join(
  ROOT,
  '.cache/toolkit',
  createHash('sha256')
    .update(`x86_64\n${DEFAULT_TOOLKIT_PACKAGES.join('\n')}`)
    .digest('hex')
    .slice(0, 16),
);

/** The wheelhouse, built by the CLI once and reused (the CLI checks every file against the manifest). */
function wheelhouse(): { manifest: ToolkitManifest; reused: boolean } {
  const out = execFileSync(process.execPath, [BIN, 'room', 'tools', '--out', CACHE, '--python', PY, '--json'], {
    encoding: 'utf8',
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(out) as { manifest: ToolkitManifest; reused: boolean };
}

/** The demo fixture's root image (scripts/fixture-images, cached in .cache/fixture-images/). */
function rootImage(): string {
  const images = JSON.parse(
    execFileSync('bash', [path.join(ROOT, 'scripts/fixture-images'), '--json'], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
    }),
  ) as Array<{ name: string; path: string }>;
  return images.find((i) => i.name === 'root')!.path;
}

/** JSON lines of `target-query -j`: the records, without the descriptor lines. */
function records(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r['_type'] === 'record');
}

t.test('built, installed offline, and target-query reads the evidence image on a read-only loop device', async (t) => {
  const { manifest } = wheelhouse();
  t.match(
    manifest.tools.find((x) => x.name === 'dissect.target'),
    { version: /^3\./ },
  );
  t.same(
    manifest.tools.map((x) => x.name),
    [...DEFAULT_TOOLKIT_PACKAGES],
  );
  const again = wheelhouse();
  t.equal(again.reused, true, 'the second build reuses the wheelhouse: nothing downloaded');
  t.equal(again.manifest.toolkitId, manifest.toolkitId);

  const work = tempDir(t, 'cleanroom-toolkit-real-');
  const venv = path.join(work, 'venv');
  const bin = path.join(work, 'bin');
  const inst = guest('cleanroom-toolkit-install', [
    '--from',
    CACHE,
    '--venv',
    venv,
    '--python',
    PY,
    '--bin',
    bin,
    '--status',
    path.join(work, 'status.json'),
    '--manifest-sha256',
    createHash('sha256')
      .update(readFileSync(path.join(CACHE, 'manifest.json')))
      .digest('hex'),
  ]);
  t.equal(inst.status, 0, inst.stderr + inst.stdout);
  const status = JSON.parse(inst.stdout.trim()) as Record<string, unknown>;
  t.match(status, { toolkitId: manifest.toolkitId, status: 'installed', python: /^3\.11\./ });
  t.same(status['tools'], manifest.tools, 'the installed versions are the recorded ones');
  for (const cmd of ['target-query', 'target-fs', 'target-shell', 'target-info', 'vol'])
    t.ok(existsSync(path.join(bin, cmd)), `${cmd} is linked`);

  // The evidence: the demo's root disk, attached read-only.
  const image = rootImage();
  const imageSha = createHash('sha256').update(readFileSync(image)).digest('hex');
  const dev = must('losetup', ['--find', '--show', '--read-only', image]).trim();
  t.teardown(() => {
    run('blockdev', ['--setrw', dev]);
    run('losetup', ['--detach', dev]);
  });
  must('blockdev', ['--setro', dev]);
  t.equal(must('blockdev', ['--getro', dev]).trim(), '1', `${dev} is read-only`);
  const before = await sha256OfDevice(dev);

  const tq = (fn: string) => must(path.join(bin, 'target-query'), ['-q', '-j', '-f', fn, dev]);
  const users = records(tq('users')).map((r) => r['name']);
  for (const u of ['root', 'daemon', 'www-data', 'sshd', 'deploy']) t.ok(users.includes(u), `user ${u} listed`);
  const files = records(tq('walkfs')).map((r) => r['path']);
  t.ok(files.includes('/var/www/html/uploads/.cache.php'), 'the planted web shell is found');

  t.equal(await sha256OfDevice(dev), before, 'the device SHA-256 is unchanged');
  t.equal(createHash('sha256').update(readFileSync(image)).digest('hex'), imageSha, 'and so is the image file');
});

t.test('a tampered wheel: exit 3, mismatch, nothing installed', async (t) => {
  wheelhouse();
  const work = tempDir(t, 'cleanroom-toolkit-real-');
  const copy = path.join(work, 'toolkit');
  cpSync(CACHE, copy, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(copy, 'manifest.json'), 'utf8')) as ToolkitManifest;
  const wheel = manifest.files.find((f) => f.name.startsWith('wheels/pytsk3'))!;
  writeFileSync(
    path.join(copy, wheel.name),
    Buffer.concat([readFileSync(path.join(copy, wheel.name)), Buffer.from('\0')]),
  );
  const venv = path.join(work, 'venv');
  const r = guest('cleanroom-toolkit-install', [
    '--from',
    copy,
    '--venv',
    venv,
    '--python',
    PY,
    '--bin',
    path.join(work, 'bin'),
    '--status',
    path.join(work, 'status.json'),
  ]);
  t.equal(r.status, 3, r.stderr);
  t.match(JSON.parse(r.stdout.trim()), {
    toolkitId: manifest.toolkitId,
    status: 'mismatch',
    detail: new RegExp(`${wheel.name.replace(/[.+]/g, '\\$&')} has SHA-256`),
  });
  t.notOk(existsSync(venv), 'no venv');
  t.notOk(existsSync(path.join(work, 'bin/target-query')), 'no command');
});
