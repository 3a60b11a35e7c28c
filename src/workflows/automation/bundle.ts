/**
 * The Lambda code of the automation stack: the step handlers (src/lambda/handlers.ts, compiled to
 * dist/lambda/handlers.js) bundled by esbuild into one ESM file `index.mjs` with the AWS SDK and the
 * library in it, zipped deterministically (one entry, fixed time stamp, fixed attributes), so that
 * the same code gives the same zip byte for byte and so the same SHA-256 — the code's name in the
 * vault (`automation/code/<sha256>.zip`), in the stack (CodeSha256) and in every custody event a
 * step appends.
 *
 * esbuild runs at deploy time on the installed package's compiled JavaScript (no TypeScript
 * needed): it must be installed where `automation deploy` runs (a dependency of the package).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { packagePath } from '../../assets/package-path.js';
import { CleanroomError } from '../../domain/errors.js';

/** dist/lambda/handlers.js of the installed package (from dist/workflows/automation). */
export const HANDLERS_ENTRY = packagePath(import.meta.url, '../../lambda/handlers.js', 'dist/lambda/handlers.js');
/** The package root (esbuild's working directory: the paths in the bundle's comments are relative to it). */
const PACKAGE_ROOT = packagePath(import.meta.url, '../../..', '.');

/** The file name in the zip; the functions' handlers are `index.<name>`. */
export const BUNDLE_FILE = 'index.mjs';
/**
 * The time stamp of the zip entry: 1980-01-01 00:00 in local time, the first a zip can hold. The
 * zip stores local date and time fields, so a date built from local fields is the same in every
 * time zone.
 */
const FIXED_MTIME = () => new Date(1980, 0, 1, 0, 0, 0);

/** The Node.js version the bundle targets (the functions' runtime is nodejs22.x). */
export const BUNDLE_TARGET = 'node22';

export interface LambdaBundle {
  /** The zip uploaded as the functions' code. */
  zip: Uint8Array;
  /** SHA-256 of the zip (hex): the code's name. */
  sha256: string;
  /** SHA-256 of index.mjs (hex). */
  indexSha256: string;
  /** Size of index.mjs in bytes. */
  indexBytes: number;
  /** The entry module that was bundled. */
  entry: string;
}

export interface BundleOptions {
  /** The module to bundle (default {@link HANDLERS_ENTRY}). */
  entry?: string;
  /**
   * Files zipped beside index.mjs (the ASL definitions), so that the code's SHA-256 names them too:
   * a changed definition is a new code key, which CloudFormation sees as a change.
   */
  files?: Readonly<Record<string, string | Uint8Array>>;
}

/**
 * The ESM bundle needs `require` for the CommonJS modules it inlines that require Node built-ins.
 * Named so it cannot clash with a binding of the bundled code.
 */
const REQUIRE_SHIM = [
  "import { createRequire as __cleanroomCreateRequire } from 'node:module';",
  'const require = __cleanroomCreateRequire(import.meta.url);',
].join('\n');

/** Bundle the handlers into index.mjs and zip it (see the module comment). */
export async function buildLambdaBundle(o: BundleOptions = {}): Promise<LambdaBundle> {
  // Run from the TypeScript sources (a loader, the tests), the handlers are the .ts file beside.
  const entry = path.resolve(
    o.entry ?? (existsSync(HANDLERS_ENTRY) ? HANDLERS_ENTRY : HANDLERS_ENTRY.replace(/\.js$/, '.ts')),
  );
  if (!existsSync(entry))
    throw new CleanroomError(
      'INSTALLATION_INCOMPLETE',
      `The automation handlers ${entry} are missing: build cleanroom (npm run build) or reinstall it.`,
      { details: { entry } },
    );
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new CleanroomError(
      'INSTALLATION_INCOMPLETE',
      'esbuild is not installed: `cleanroom automation deploy` bundles the Lambda code with it (npm install esbuild).',
    );
  }
  const built = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: path.resolve(PACKAGE_ROOT),
    bundle: true,
    platform: 'node',
    target: BUNDLE_TARGET,
    format: 'esm',
    outfile: BUNDLE_FILE,
    write: false,
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    banner: { js: REQUIRE_SHIM },
    logLevel: 'silent',
  });
  const index = built.outputFiles.find((f) => f.path.endsWith(BUNDLE_FILE));
  if (!index) throw new CleanroomError('INTERNAL', `esbuild produced no ${BUNDLE_FILE} for ${entry}.`);
  const entries: Record<string, Uint8Array> = { ...bytesOf(o.files ?? {}), [BUNDLE_FILE]: index.contents };
  // Sorted names, one fixed time stamp: the same files give the same zip.
  const zip = zipSync(
    Object.fromEntries(
      Object.keys(entries)
        .sort()
        .map((name) => [name, [entries[name]!, { mtime: FIXED_MTIME(), level: 9 }] as const]),
    ),
  );
  return {
    zip,
    sha256: sha256(zip),
    indexSha256: sha256(index.contents),
    indexBytes: index.contents.length,
    entry,
  };
}

function bytesOf(files: Readonly<Record<string, string | Uint8Array>>): Record<string, Uint8Array> {
  return Object.fromEntries(
    Object.entries(files).map(([name, body]) => [name, typeof body === 'string' ? Buffer.from(body) : body]),
  );
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
