/**
 * The project's runtime (Node 24 LTS; package.json `engines` node >= 22): the tests themselves run on
 * it, and scripts/node — the shim scripts/test, scripts/demo, scripts/bench-* and .ci/run use — picks
 * the `node` on PATH when it is 22 or newer, else the Node 24 that `npm ci` installs for the project
 * (devDependency `node`, node_modules/.bin/node).
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../local-aws/local-aws.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const SHIM = path.join(ROOT, 'scripts/node');
const major = (v: string) => Number(/^v?(\d+)\./.exec(v.trim())?.[1]);

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd: os.tmpdir() }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A directory holding a fake `node` that reports the given major version and otherwise prints "fake node <args>". */
function fakeNode(t: Test, version: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-fake-node-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'node'),
    `#!/bin/sh\nif [ "$1" = -p ]; then echo ${version}; else echo "fake node $*"; fi\n`,
    { mode: 0o755 },
  );
  return dir;
}
const pathWith = (dir: string) => `${dir}:/usr/bin:/bin`;

t.test('the tests run on Node 22 or newer, the runtime package.json declares', async (t) => {
  t.equal(pkg.engines.node, '>=22');
  t.ok(major(process.version) >= 22, `this test process runs on ${process.version} (${process.execPath})`);
  t.comment(`tests run on Node ${process.version}`);
});

t.test("npm ci installs the project's own Node 24, pinned exactly", async (t) => {
  t.match(pkg.devDependencies.node, /^24\.\d+\.\d+$/);
  const r = await run(path.join(ROOT, 'node_modules/.bin/node'), ['-v'], process.env);
  t.equal(r.stdout.trim(), `v${pkg.devDependencies.node}`, r.stderr);
});

t.test("scripts/node: a node older than 22 on PATH is passed over for the project's Node 24", async (t) => {
  const r = await run('bash', [SHIM, '-p', 'process.version'], { ...process.env, PATH: pathWith(fakeNode(t, 20)) });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), `v${pkg.devDependencies.node}`);
});

t.test('scripts/node: a node 22 or newer on PATH is used as it is', async (t) => {
  const r = await run('bash', [SHIM, '-v'], { ...process.env, PATH: pathWith(fakeNode(t, 22)) });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'fake node -v');
});

t.test(
  "sourced, scripts/node puts the project's Node first on PATH, so `node` and every `#!/usr/bin/env node` below run on it",
  async (t) => {
    const r = await run('bash', ['-c', `. ${JSON.stringify(SHIM)} && node -p process.version && command -v node`], {
      ...process.env,
      PATH: pathWith(fakeNode(t, 20)),
    });
    t.equal(r.code, 0, r.stderr);
    const [version, where] = r.stdout.trim().split('\n');
    t.equal(version, `v${pkg.devDependencies.node}`);
    t.equal(where, path.join(ROOT, 'node_modules/node/bin/node'));
  },
);

t.test('sourced with a node 22 or newer on PATH, scripts/node leaves PATH as it is', async (t) => {
  const PATH = pathWith(fakeNode(t, 22));
  const r = await run('bash', ['-c', `. ${JSON.stringify(SHIM)} && printf %s "$PATH"`], { ...process.env, PATH });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, PATH);
});

t.test('scripts/node: with neither, exit 1 and a message saying what to do', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-no-node-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'scripts'));
  fs.copyFileSync(SHIM, path.join(root, 'scripts/node'));
  const r = await run('bash', [path.join(root, 'scripts/node'), '-v'], {
    ...process.env,
    PATH: pathWith(fakeNode(t, 20)),
  });
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(
    r.stderr,
    /cleanroom needs Node 22 or newer: the node on PATH is .*\/node \(major version 20\).*Run 'npm ci' in /,
  );
});
