/**
 * The assets compiled into the build (src/assets/generated/, written by scripts/gen-assets.mjs from
 * the files) are the files: a generated module that is stale against its source fails here, and
 * what the code hands out (schemas, room template, guest tools with their bytes and modes, the
 * SDK's partition table) equals what is on disk.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtInGuestTools, GUEST_TOOLS_DIR } from '../../src/workflows/room/guest-tools.js';
import { ROOM_TEMPLATE, ROOM_TEMPLATE_PATH, roomTemplateBody } from '../../src/workflows/room/up.js';
import { EVENT_SCHEMA_FILE, MANIFEST_SCHEMA_FILE } from '../../src/custody/schema.js';
import { EVENT_SCHEMA, MANIFEST_SCHEMA } from '../../src/assets/generated/schemas.js';
import { SDK_CORE_VERSION } from '../../src/assets/generated/partitions.js';
import { sdkPartitions } from '../../src/aws/region.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

t.test(
  'every generated module is what scripts/gen-assets.mjs makes from the files now (else: npm run build)',
  async (t) => {
    const gen = (await import(path.join(root, 'scripts/gen-assets.mjs'))) as { renderAssets(): Record<string, string> };
    const rendered = gen.renderAssets();
    t.same(
      Object.keys(rendered).sort(),
      fs
        .readdirSync(path.join(root, 'src/assets/generated'))
        .map((f) => `src/assets/generated/${f}`)
        .sort(),
      'one module per asset, nothing else in the folder',
    );
    for (const [rel, content] of Object.entries(rendered)) {
      t.equal(fs.readFileSync(path.join(root, rel), 'utf8'), content, `${rel} is up to date`);
    }
  },
);

t.test('gen-assets --check finds nothing stale and writes nothing', async (t) => {
  const { spawnSync } = await import('node:child_process');
  // (A stale module is not made here: another test file running in parallel could load it.)
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-assets.mjs'), '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
});

t.test('the room template room up sends is templates/room.yaml', async (t) => {
  t.equal(ROOM_TEMPLATE, fs.readFileSync(ROOM_TEMPLATE_PATH, 'utf8'));
  t.equal(roomTemplateBody(), ROOM_TEMPLATE, 'room up sends the built-in template when given none');
  t.equal(roomTemplateBody('x: 1'), 'x: 1', 'a given template is sent as it is');
  t.throws(() => roomTemplateBody('#'.repeat(51_201)), { code: 'TEMPLATE_TOO_LARGE' });
});

t.test('the schemas validated against are the files in evidence-schema/v1', async (t) => {
  t.same(EVENT_SCHEMA, JSON.parse(fs.readFileSync(EVENT_SCHEMA_FILE, 'utf8')));
  t.same(MANIFEST_SCHEMA, JSON.parse(fs.readFileSync(MANIFEST_SCHEMA_FILE, 'utf8')));
});

t.test('the guest tools are scripts/guest/: same names, exact bytes, executable bits', async (t) => {
  const onDisk = fs
    .readdirSync(GUEST_TOOLS_DIR)
    .filter((n) => fs.statSync(path.join(GUEST_TOOLS_DIR, n)).isFile())
    .sort();
  const built = builtInGuestTools();
  t.same(
    built.map((f) => f.name),
    onDisk,
  );
  for (const f of built) {
    const file = path.join(GUEST_TOOLS_DIR, f.name);
    t.equal(f.sha256, sha256(fs.readFileSync(file)), `${f.name}: same SHA-256`);
    t.ok(f.body.equals(fs.readFileSync(file)), `${f.name}: same bytes`);
    t.equal(f.mode & 0o100, fs.statSync(file).mode & 0o100, `${f.name}: executable exactly when the file is`);
  }
  t.equal(built.find((f) => f.name === 'install.sh')?.mode, 0o755, 'install.sh is executable');
});

t.test("the partition table is the installed @aws-sdk/core's", async (t) => {
  const { createRequire } = await import('node:module');
  const pkgFile = createRequire(import.meta.url).resolve('@aws-sdk/core/package.json');
  t.equal(
    SDK_CORE_VERSION,
    JSON.parse(fs.readFileSync(pkgFile, 'utf8')).version,
    'generated from the installed version',
  );
  const src = fs.readFileSync(
    path.join(path.dirname(pkgFile), 'dist-es/submodules/client/util-endpoints/lib/aws/partitions.js'),
    'utf8',
  );
  const sdk = JSON.parse(src.slice(src.indexOf('{'), src.lastIndexOf('}') + 1)) as {
    partitions: Array<{ id: string; regionRegex: string; regions: Record<string, unknown> }>;
  };
  t.same(
    sdkPartitions()?.map((p) => ({ id: p.id, regionRegex: p.regionRegex, regions: Object.keys(p.regions).sort() })),
    sdk.partitions.map((p) => ({ id: p.id, regionRegex: p.regionRegex, regions: Object.keys(p.regions).sort() })),
  );
});
