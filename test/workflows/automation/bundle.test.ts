// The Lambda bundle: the same code gives the same zip byte for byte (its SHA-256 names the code in
// the vault, the stack and the custody record), a change gives another, and the zip holds one ESM
// index.mjs that Node loads with the handlers as named exports, beside the definitions.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { unzipSync } from 'fflate';
import { buildLambdaBundle, BUNDLE_FILE } from '../../../src/workflows/automation/bundle.js';
import { ROOT } from '../../../local-aws/local-aws.js';
import { HANDLER_NAMES } from '../../../src/lambda/types.js';

// Inside the package, so that the stand-in entry resolves the package's node_modules as the real one does.
const dir = mkdtempSync(path.join(ROOT, '.tmp-bundle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A stand-in for src/lambda/handlers.ts: named handlers over library code and the AWS SDK,
 * which is what the bundle must carry.
 */
function entry(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    [
      `import { STSClient } from '@aws-sdk/client-sts';`,
      `import { canonicalize } from ${JSON.stringify(path.join(ROOT, 'src/custody/canonical.ts'))};`,
      `export const resolve = async (e) => ({ status: 'done', canonical: canonicalize(e), sdk: typeof STSClient, ${body} });`,
      `export const notify = async () => ({ status: 'done' });`,
    ].join('\n'),
  );
  return file;
}

const files = { 'response.asl.json': '{"StartAt":"A"}', 'fleet.asl.json': '{"StartAt":"B"}' };

t.test('two bundles of the same code are byte-identical', async (t) => {
  const e = entry('handlers.mjs', 'v: 1');
  const a = await buildLambdaBundle({ entry: e, files });
  const b = await buildLambdaBundle({ entry: e, files });
  t.ok(Buffer.from(a.zip).equals(Buffer.from(b.zip)), 'same bytes');
  t.equal(a.sha256, b.sha256);
  t.match(a.sha256, /^[0-9a-f]{64}$/);
});

t.test('a change in the code or a definition is another SHA-256', async (t) => {
  const base = await buildLambdaBundle({ entry: entry('h1.mjs', 'v: 1'), files });
  const code = await buildLambdaBundle({ entry: entry('h1.mjs', 'v: 2'), files });
  const asl = await buildLambdaBundle({
    entry: entry('h1.mjs', 'v: 1'),
    files: { ...files, 'fleet.asl.json': '{"StartAt":"C"}' },
  });
  t.not(code.sha256, base.sha256, 'code changed');
  t.not(asl.sha256, base.sha256, 'a definition changed');
});

t.test('the zip holds index.mjs, which Node loads with the named handlers, and the definitions', async (t) => {
  const b = await buildLambdaBundle({ entry: entry('h2.mjs', 'v: 3'), files });
  const unzipped = unzipSync(b.zip);
  t.same(Object.keys(unzipped).sort(), [BUNDLE_FILE, 'fleet.asl.json', 'response.asl.json'].sort());
  t.equal(Buffer.from(unzipped['response.asl.json']!).toString(), files['response.asl.json']);
  const out = path.join(dir, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const index = path.join(out, BUNDLE_FILE);
  writeFileSync(index, unzipped[BUNDLE_FILE]!);
  t.equal(b.indexBytes, unzipped[BUNDLE_FILE]!.length);
  const mod = (await import(pathToFileURL(index).href)) as Record<string, (e: unknown) => Promise<any>>;
  t.same(Object.keys(mod).sort(), ['notify', 'resolve']);
  const r = await mod['resolve']!({ b: 1, a: 2 });
  t.same(
    r,
    { status: 'done', canonical: '{"a":2,"b":1}', sdk: 'function', v: 3 },
    'runs with the SDK and the library inside',
  );
});

t.test('a missing entry is INSTALLATION_INCOMPLETE', async (t) => {
  await t.rejects(buildLambdaBundle({ entry: path.join(dir, 'nope.mjs') }), { code: 'INSTALLATION_INCOMPLETE' });
});

t.test(
  "the package's own handlers bundle into an index.mjs that exports every handler the template names",
  async (t) => {
    const b = await buildLambdaBundle();
    t.match(b.entry, /lambda\/handlers\.(js|ts)$/, 'the handlers of this package');
    const index = path.join(dir, 'real', BUNDLE_FILE);
    mkdirSync(path.dirname(index), { recursive: true });
    writeFileSync(index, unzipSync(b.zip)[BUNDLE_FILE]!);
    const mod = (await import(pathToFileURL(index).href)) as Record<string, unknown>;
    for (const h of HANDLER_NAMES) t.type(mod[h], 'function', `index.${h}`);
    t.ok(b.indexBytes > 1_000_000, `the AWS SDK and the library are inside (${b.indexBytes} bytes)`);
  },
);
