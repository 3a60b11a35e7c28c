/**
 * Evidence schemas that are not the ones this build expects (a broken or mixed install: schemas
 * built in from another version) fail with INSTALLATION_INCOMPLETE (exit 1, "reinstall
 * cleanroom"), not as a bug with a stack.
 */
import t from 'tap';

t.test('schemas with other $ids: INSTALLATION_INCOMPLETE, exit 1, naming the folder', async (t) => {
  const other = { $id: 'https://example.invalid/other.json' };
  const schema = await t.mockImport<typeof import('../../src/custody/schema.js')>('../../src/custody/schema.js', {
    '../../src/assets/generated/schemas.js': {
      EVENT_SCHEMA: other,
      MANIFEST_SCHEMA: other,
      SCHEMA_SOURCE_DIR: 'evidence-schema/v1',
    },
  });
  const err = (() => {
    try {
      schema.eventSchemaErrors({});
    } catch (e) {
      return e as { code?: string; exitCode?: number; message: string; details?: Record<string, unknown> };
    }
    return undefined;
  })();
  t.match(err, {
    code: 'INSTALLATION_INCOMPLETE',
    exitCode: 1,
    message: /do not carry the \$ids this build expects.*reinstall cleanroom/,
    details: { schemaDir: schema.SCHEMA_DIR },
  });
});
