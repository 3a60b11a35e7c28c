/**
 * Where a file of the installed package is, for messages, docs and tests (nothing reads assets
 * from these paths at run time: they are compiled in, src/assets/generated/).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `relative` resolved against the folder of the module at `moduleUrl` (its `import.meta.url`). In
 * a CommonJS bundle `import.meta.url` is undefined: then `fallback`, the file's path in the
 * package (evidence-schema/v1, templates/room.yaml), so that loading the bundle does not fail.
 */
export function packagePath(moduleUrl: string | undefined, relative: string, fallback: string): string {
  return typeof moduleUrl === 'string' ? path.resolve(path.dirname(fileURLToPath(moduleUrl)), relative) : fallback;
}
