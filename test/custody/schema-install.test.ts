/**
 * Evidence schemas that are not the ones this build expects (a broken or mixed install) fail with
 * INSTALLATION_INCOMPLETE (exit 1, "reinstall cleanroom"), not as a bug with a stack.
 */
import t from 'tap';
import fs from 'node:fs';

t.test('schemas with other $ids: INSTALLATION_INCOMPLETE, exit 1, naming the folder', async (t) => {
  const realRead = fs.readFileSync;
  const readFileSync = ((p: fs.PathOrFileDescriptor, o?: unknown) =>
    String(p).endsWith('.schema.json') ? JSON.stringify({ $id: 'https://example.invalid/other.json' }) : (realRead as (p: fs.PathOrFileDescriptor, o?: unknown) => unknown)(p, o)) as typeof fs.readFileSync;
  const schema = await t.mockImport<typeof import('../../src/custody/schema.js')>('../../src/custody/schema.js', {
    'node:fs': { ...fs, default: { ...fs, readFileSync }, readFileSync },
  });
  const err = (() => {
    try {
      schema.eventSchemaErrors({});
    } catch (e) {
      return e as { code?: string; exitCode?: number; message: string; details?: Record<string, unknown> };
    }
    return undefined;
  })();
  t.match(err, { code: 'INSTALLATION_INCOMPLETE', exitCode: 1, message: /do not carry the \$ids this build expects.*reinstall cleanroom/, details: { schemaDir: schema.SCHEMA_DIR } });
});
