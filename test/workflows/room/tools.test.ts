/**
 * roomTools (src/workflows/room/tools.ts) with a fake Python (a ProcessRunner answering as python
 * and pip do): the pip command it runs for the room's target, the wheelhouse it writes, a matching
 * --out reused without a download and a changed one rebuilt, the temporary folder removed, and the
 * clear errors — no Python or no pip (PYTHON_NOT_FOUND, exit 2, naming --python), pip failing
 * (TOOLKIT_BUILD_FAILED naming the package with pip's last lines), bad options before anything
 * runs, and the AbortSignal.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { roomTools, type ProcessRunner } from '../../../src/workflows/room/tools.js';
import { DEFAULT_TOOLKIT_PACKAGES, manifestProblems } from '../../../src/domain/toolkit.js';
import type { CleanroomError } from '../../../src/domain/errors.js';

/** A fake python3: version, pip, and `pip download` writing one wheel per package plus a dependency. */
function fakePython(opts: { noPython?: boolean; noPip?: boolean; pipFails?: string } = {}) {
  const calls: string[][] = [];
  const run: ProcessRunner = async (_cmd, args, o) => {
    calls.push(args);
    if (opts.noPython) throw Object.assign(new Error('spawn python3 ENOENT'), { code: 'ENOENT' });
    if (args[0] === '-c') return { code: 0, stdout: '3.11.7\n', stderr: '' };
    if (args.join(' ') === '-m pip --version')
      return opts.noPip
        ? { code: 1, stdout: '', stderr: '/usr/bin/python3: No module named pip' }
        : { code: 0, stdout: 'pip 24.0 from /usr/lib/python3/site-packages/pip (python 3.11)\n', stderr: '' };
    if (args[2] === 'download') {
      if (opts.pipFails)
        return {
          code: 1,
          stdout: 'Collecting dissect.target\n',
          stderr: `ERROR: Could not find a version that satisfies the requirement ${opts.pipFails} (from versions: none)\nERROR: No matching distribution found for ${opts.pipFails}\n`,
        };
      const dir = args[args.indexOf('-d') + 1]!;
      const pkgs = args.slice(args.indexOf('-d') + 2);
      for (const p of [...pkgs, 'dissect.util']) {
        const file = `${p.split('=')[0]!.replace(/[-.]/g, '_')}-1.0-py3-none-any.whl`;
        writeFileSync(path.join(dir, file), `wheel ${file}`);
        o.onLine?.(`Saved ${path.join(dir, file)}`);
      }
      return { code: 0, stdout: '', stderr: '' };
    }
    throw new Error(`unexpected python ${args.join(' ')}`);
  };
  return { run, calls, downloads: () => calls.filter((a) => a[2] === 'download').length };
}

const outDir = (t: { teardown(fn: () => void): void }) => {
  const d = mkdtempSync(path.join(tmpdir(), 'cleanroom-tools-test-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('pip download for the room: CPython 3.11, manylinux, binary only; the wheelhouse pinned', async (t) => {
  const py = fakePython();
  const out = outDir(t);
  const r = await roomTools({ run: py.run }, { out, packages: ['yara-python==4.5.1'], arch: 'aarch64' });
  const dl = py.calls.find((a) => a[2] === 'download')!;
  t.same(dl.slice(0, 4), ['-m', 'pip', 'download', '--only-binary=:all:']);
  t.same(
    dl.filter((_, i) => dl[i - 1] === '--platform'),
    ['manylinux2014_aarch64', 'manylinux_2_17_aarch64', 'manylinux_2_24_aarch64', 'manylinux_2_28_aarch64'],
  );
  t.equal(dl[dl.indexOf('--python-version') + 1], '3.11');
  t.equal(dl[dl.indexOf('--implementation') + 1], 'cp');
  t.same(dl.slice(dl.indexOf('-d') + 2), [...DEFAULT_TOOLKIT_PACKAGES, 'yara-python==4.5.1']);
  t.equal(r.dir, out);
  t.equal(r.reused, false);
  t.same(r.manifest.builtWith, { python: '3.11.7', pip: '24.0' });
  t.equal(r.manifest.target.arch, 'aarch64');
  t.same(r.manifest.tools.at(-1), { name: 'yara-python', version: '1.0' });
  t.same(manifestProblems(JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'))), []);
  t.match(readFileSync(path.join(out, 'requirements.txt'), 'utf8'), /^dissect-util==1\.0 --hash=sha256:[0-9a-f]{64}$/m);
  t.equal(readdirSync(path.join(out, 'wheels')).length, DEFAULT_TOOLKIT_PACKAGES.length + 2);
});

t.test('a matching --out is reused without a download; a changed one is built again', async (t) => {
  const py = fakePython();
  const out = outDir(t);
  const first = await roomTools({ run: py.run }, { out });
  const second = await roomTools({ run: py.run }, { out });
  t.equal(second.reused, true);
  t.equal(second.toolkitId, first.toolkitId);
  t.equal(py.downloads(), 1, 'one download');
  writeFileSync(path.join(out, 'wheels/pytsk3-1.0-py3-none-any.whl'), 'changed');
  const third = await roomTools({ run: py.run }, { out });
  t.equal(third.reused, false, 'a file that no longer matches its manifest: built again');
  t.equal(third.toolkitId, first.toolkitId, 'pip gave the same wheels again');
  t.equal(py.downloads(), 2);
  await roomTools({ run: py.run }, { out, packages: ['extra'] });
  t.equal(py.downloads(), 3, 'another package set: built again');
});

t.test('without --out the wheelhouse is built in a temporary folder, removed after', async (t) => {
  const py = fakePython();
  const r = await roomTools({ run: py.run }, {});
  t.equal(r.dir, null);
  const dl = py.calls.find((a) => a[2] === 'download')!;
  t.notOk(existsSync(path.dirname(dl[dl.indexOf('-d') + 1]!)), 'the temporary folder is gone');
});

t.test('no Python, no pip, pip failing: clear errors', async (t) => {
  const noPy = (await roomTools({ run: fakePython({ noPython: true }).run }, { python: '/opt/py' }).catch(
    (e) => e,
  )) as CleanroomError;
  t.match(noPy, { code: 'PYTHON_NOT_FOUND', exitCode: 2, message: /no Python at --python \/opt\/py/ });
  const noPip = (await roomTools({ run: fakePython({ noPip: true }).run }, {}).catch((e) => e)) as CleanroomError;
  t.match(noPip, { code: 'PYTHON_NOT_FOUND', exitCode: 2, message: /--python python3 has no pip/ });
  const failed = (await roomTools(
    { run: fakePython({ pipFails: 'dissect.nope==9' }).run },
    { packages: ['dissect.nope==9'] },
  ).catch((e) => e)) as CleanroomError;
  t.equal(failed.code, 'TOOLKIT_BUILD_FAILED');
  t.equal(failed.exitCode, 1);
  t.match(failed.message, /binary wheels of dissect\.nope==9 for CPython 3\.11 on manylinux x86_64/);
  t.match(failed.message, /pip said:\n[\s\S]*No matching distribution found for dissect\.nope==9/);
});

t.test('bad options are refused before Python runs; the signal stops it', async (t) => {
  const py = fakePython();
  for (const [o, flag] of [
    [{ arch: 'sparc' as never }, '--arch'],
    [{ packages: ['--index-url=http://evil'] }, '--package'],
    [{ packages: ['x -r other.txt'] }, '--package'],
    [{ name: '../x' }, '--name'],
  ] as const)
    t.match(await roomTools({ run: py.run }, o).catch((e) => e), {
      code: 'INVALID_VALUE',
      exitCode: 2,
      message: new RegExp(flag),
    });
  t.equal(py.calls.length, 0, 'Python never ran');
  const ac = new AbortController();
  ac.abort();
  t.match(await roomTools({ run: py.run }, { signal: ac.signal }).catch((e) => e), { code: 'INTERRUPTED' });
  t.equal(py.downloads(), 0);
});
