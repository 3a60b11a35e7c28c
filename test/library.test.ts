/**
 * cleanroom as a library: what a responder's script gets from `import ... from 'cleanroom'` — the
 * package's declared entry point (package.json `main`/`types`, built by `npm run build`), not src/.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string; types: string };

t.test('the package entry point and its type declarations are built where package.json says', async (t) => {
  t.ok(fs.existsSync(path.join(root, pkg.main)), `${pkg.main} exists`);
  t.ok(fs.existsSync(path.join(root, pkg.types)), `${pkg.types} exists`);
});

t.test('the workflows a case needs are exported as functions', async (t) => {
  const lib = (await import(pathToFileURL(path.join(root, pkg.main)).href)) as Record<string, unknown>;
  for (const name of [
    'openAccount',
    'initVault',
    'auditVault',
    'roomUp',
    'auditRoom',
    'roomStatus',
    'listRooms',
    'roomDown',
    'roomShell',
    'isolateInstance',
    'releaseInstance',
    'acquireEvidence',
    'attachEvidence',
    'detachEvidence',
    'listEvidence',
    'hashEvidence',
    'closeCase',
    'openCaseCustody',
    'verifyCaseInVault',
    'exportBundle',
    'verifyBundle',
    'readCaseLog',
    'parseIdempotencyKey',
  ]) {
    t.equal(typeof lib[name], 'function', `${name} is exported`);
  }
});

t.test('what docs/using-aws.md promises a library caller is exported', async (t) => {
  const lib = (await import(pathToFileURL(path.join(root, pkg.main)).href)) as Record<string, unknown>;
  for (const name of ['sealRecord', 'evidenceBudgets', 'approveAll', 'requireApproval', 'isInterrupted'])
    t.equal(typeof lib[name], 'function', `${name} is exported`);
  t.equal(typeof lib['InterruptedError'], 'function', 'InterruptedError is exported');
  t.type(lib['idempotencyKeys'], 'object', 'idempotencyKeys is exported');
  for (const name of [
    'DEFAULT_EVIDENCE_BUDGETS',
    'DEFAULT_ROOM_BUDGETS',
    'DEFAULT_ISOLATE_BUDGETS',
    'DEFAULT_CLOSE_BUDGETS',
  ]) {
    const budgets = lib[name] as Record<string, unknown> | undefined;
    t.type(budgets, 'object', `${name} is exported`);
    const values = Object.values(budgets ?? {});
    t.ok(values.length > 0 && values.every((v) => typeof v === 'number' && v > 0), `${name}: milliseconds per wait`);
  }
});

t.test(
  'a script gets the CLI contract: typed errors carrying the exit code, and RFC 8785 canonical JSON',
  async (t) => {
    const lib = (await import(pathToFileURL(path.join(root, pkg.main)).href)) as {
      verifyBundle(dir: string): Promise<unknown>;
      UsageError: new (...a: never[]) => Error;
      canonicalize(v: unknown): string;
    };
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-lib-'));
    t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
    await t.rejects(lib.verifyBundle(empty), { name: 'UsageError', code: 'NOT_A_BUNDLE', exitCode: 2 });
    const err = await lib.verifyBundle(empty).catch((e: unknown) => e);
    t.ok(err instanceof lib.UsageError, 'the error is the exported UsageError class');
    const vectors = path.join(root, 'test/custody/fixtures/rfc8785');
    const input = JSON.parse(fs.readFileSync(path.join(vectors, 'input/structures.json'), 'utf8'));
    t.equal(lib.canonicalize(input), fs.readFileSync(path.join(vectors, 'output/structures.json'), 'utf8'));
  },
);
