/**
 * cleanroom bundled (esbuild, as for Lambda) into one ESM or CommonJS file and run from a folder outside the
 * repo, where Node's permission model lets it read nothing but that folder: every asset it needs
 * (evidence schemas, the room template, the guest tools, the SDK's partition table) comes with the
 * bundle, none from a path relative to a module file.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const example = (rel: string) =>
  JSON.parse(fs.readFileSync(path.join(root, 'evidence-schema/v1/examples', rel), 'utf8')) as unknown;

// What the bundle is asked to do, run there with `node` (the bundle is the only cleanroom it has).
const RUNNER = (format: 'esm' | 'cjs') => `
${
  format === 'esm'
    ? "import { createHash } from 'node:crypto'; import fs from 'node:fs'; import * as lib from './cleanroom.mjs';"
    : "const { createHash } = require('node:crypto'); const fs = require('node:fs'); const lib = require('./cleanroom.cjs');"
}
const input = JSON.parse(fs.readFileSync('./input.json', 'utf8'));
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const refused = (f) => { try { f(); return null; } catch (e) { return { code: e.code, exitCode: e.exitCode, message: e.message }; } };
const template = lib.roomTemplateBody();
console.log(JSON.stringify({
  validEvent: lib.eventSchemaErrors(input.validEvent),
  invalidEvent: lib.eventSchemaErrors(input.invalidEvent),
  validManifest: lib.manifestSchemaErrors(input.validManifest),
  template: { sha256: sha256(template), bytes: Buffer.byteLength(template) },
  guestTools: lib.builtInGuestTools().map((f) => ({ name: f.name, sha256: sha256(f.body), mode: f.mode })),
  typo: refused(() => lib.checkRegionName('us-esat-1', '--region')),
  good: refused(() => lib.checkRegionName('us-east-1', '--region')),
}));
`;

for (const format of ['esm', 'cjs'] as const)
  t.test(
    `bundled into one ${format.toUpperCase()} file and run outside the repo, cleanroom has every asset`,
    async (t) => {
      const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-bundle-')));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      t.notOk(dir.startsWith(root + path.sep), 'the bundle folder is outside the repo');
      const out = await build({
        entryPoints: [path.join(root, 'src/index.ts')],
        bundle: true,
        platform: 'node',
        format,
        target: 'node22',
        outfile: path.join(dir, format === 'esm' ? 'cleanroom.mjs' : 'cleanroom.cjs'),
        logLevel: 'silent',
        // CommonJS dependencies (the AWS SDK, ajv) call require(): an ESM bundle gives them one.
        ...(format === 'esm'
          ? {
              banner: {
                js: "import { createRequire as __cleanroomRequire } from 'node:module'; const require = __cleanroomRequire(import.meta.url);",
              },
            }
          : {}),
      });
      t.same(out.errors, [], 'esbuild bundles src/index.ts');
      const runner = format === 'esm' ? 'run.mjs' : 'run.cjs';
      fs.writeFileSync(path.join(dir, runner), RUNNER(format));
      fs.writeFileSync(
        path.join(dir, 'input.json'),
        JSON.stringify({
          validEvent: example('custody-event/valid/room-up.json'),
          invalidEvent: example('custody-event/invalid/extra-property.json'),
          validManifest: example(
            `case-manifest/valid/${fs.readdirSync(path.join(root, 'evidence-schema/v1/examples/case-manifest/valid'))[0]}`,
          ),
        }),
      );

      // Node's permission model: the bundle may read its own folder and nothing else (no repo, no
      // node_modules). A read outside fails with ERR_ACCESS_DENIED.
      // (`env -u NODE_OPTIONS`: tap's process tracking adds an --import of its own to every child.)
      const r = spawnSync(
        'env',
        ['-u', 'NODE_OPTIONS', process.execPath, '--permission', `--allow-fs-read=${dir}`, runner],
        { cwd: dir, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir } },
      );
      t.equal(r.status, 0, `the bundle runs (stderr: ${r.stderr})`);
      const got = JSON.parse(r.stdout) as Record<string, any>;

      t.same(got['validEvent'], [], 'a valid custody event passes the schema');
      t.match(got['invalidEvent'], [/additional properties/], 'an invalid one is refused by it');
      t.same(got['validManifest'], [], 'a valid case manifest passes its schema');

      const yaml = fs.readFileSync(path.join(root, 'templates/room.yaml'));
      t.same(got['template'], { sha256: sha256(yaml), bytes: yaml.length }, 'room up sends templates/room.yaml');

      const guestDir = path.join(root, 'scripts/guest');
      const onDisk = fs
        .readdirSync(guestDir)
        .sort()
        .map((name) => {
          const file = path.join(guestDir, name);
          return { name, sha256: sha256(fs.readFileSync(file)), mode: fs.statSync(file).mode & 0o100 ? 0o755 : 0o644 };
        });
      t.same(
        got['guestTools'],
        onDisk,
        'the guest tools: same names, same SHA-256 as scripts/guest/, executable bits kept',
      );

      t.match(
        got['typo'],
        { code: 'UNKNOWN_REGION', exitCode: 2, message: /us-esat-1.*Did you mean us-east-1/ },
        'a mistyped region is refused from the SDK partitions',
      );
      t.equal(got['good'], null, 'us-east-1 is accepted');
    },
  );
