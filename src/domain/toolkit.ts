/**
 * The forensic toolkit: a wheelhouse of Python wheels (Dissect, Volatility 3, The Sleuth Kit's
 * bindings) built for the room's Python, kept in the vault and installed offline by the room's
 * instance (`pip install --no-index --require-hashes`). This module is its model: the manifest
 * (`cleanroom.toolkit.v1`) and the default pointer, the vault keys, the requirements file with its
 * exact pins and hashes, and the toolkit id that names a set of files by their content.
 *
 *   tools/toolkits/<toolkitId>/manifest.json        the manifest below
 *   tools/toolkits/<toolkitId>/requirements.txt     `name==version --hash=sha256:<hex>` per project
 *   tools/toolkits/<toolkitId>/wheels/<file>.whl    every wheel
 *   tools/toolkits/default.json                     the pointer `room up --toolkit default` reads
 *   cases/<case>/tools/toolkit/…                    a case's copy (same names), read by the instance
 */
import { createHash } from 'node:crypto';
import { casePrefix } from './vault-name.js';

export const TOOLKIT_SCHEMA = 'cleanroom.toolkit.v1';
export const TOOLKIT_POINTER_SCHEMA = 'cleanroom.toolkit-pointer.v1';

/** Where the vault keeps its toolkits. */
export const TOOLKITS_PREFIX = 'tools/toolkits/';
/** The default pointer (a new version each publish: the vault is versioned). */
export const DEFAULT_TOOLKIT_KEY = `${TOOLKITS_PREFIX}default.json`;
export const MANIFEST_FILE = 'manifest.json';
export const REQUIREMENTS_FILE = 'requirements.txt';
export const WHEELS_DIR = 'wheels';

/** `tk-` + 20 hex characters. */
export const TOOLKIT_ID_PATTERN = /^tk-[0-9a-f]{20}$/;

/** The prefix of a toolkit in the vault: `tools/toolkits/<toolkitId>/`. */
export function toolkitPrefix(toolkitId: string): string {
  return `${TOOLKITS_PREFIX}${toolkitId}/`;
}

/** A case's copy of its toolkit, where the room's instance role can read: `cases/<case>/tools/toolkit/`. */
export function caseToolkitPrefix(caseId: string): string {
  return `${casePrefix(caseId)}tools/toolkit/`;
}

export type ToolkitArch = 'x86_64' | 'aarch64';
export const TOOLKIT_ARCHES: readonly ToolkitArch[] = ['x86_64', 'aarch64'];

/** The room's Python: Amazon Linux 2023's `python3.11` package (CPython 3.11). */
export const TOOLKIT_PYTHON = '3.11';
export const TOOLKIT_IMPLEMENTATION = 'cp';

/**
 * The manylinux platforms a wheel may be built for to run on the room's image (Amazon Linux 2023,
 * glibc 2.34): `pip download --platform` takes each.
 */
export function toolkitPlatforms(arch: ToolkitArch): string[] {
  return ['manylinux2014', 'manylinux_2_17', 'manylinux_2_24', 'manylinux_2_28'].map((p) => `${p}_${arch}`);
}

/**
 * The default package set: the Dissect framework (`target-query`, `target-fs`, `target-shell`, …)
 * with its filesystem plugins, Volatility 3 and pytsk3. All have binary wheels for CPython 3.11 on
 * manylinux (`dissect.target[full]` has not: fusepy is an sdist).
 */
export const DEFAULT_TOOLKIT_PACKAGES: readonly string[] = [
  'dissect.target',
  'dissect.extfs',
  'dissect.xfs',
  'dissect.fat',
  'dissect.btrfs',
  'dissect.squashfs',
  'dissect.vmfs',
  'dissect.ffs',
  'volatility3',
  'pytsk3',
];

export interface ToolkitFile {
  /** `requirements.txt` or `wheels/<file>.whl`. */
  name: string;
  sha256: string;
  bytes: number;
}

export interface ToolkitTool {
  name: string;
  version: string;
}

export interface ToolkitManifest {
  schema: typeof TOOLKIT_SCHEMA;
  toolkitId: string;
  name: string;
  builtAt: string;
  builtWith: { python: string; pip: string };
  target: { python: string; implementation: string; arch: ToolkitArch; platforms: string[] };
  /** The requested top-level packages, with the versions pip resolved. */
  tools: ToolkitTool[];
  requirements: typeof REQUIREMENTS_FILE;
  /** Every file of the toolkit except manifest.json, sorted by name. */
  files: ToolkitFile[];
}

export interface ToolkitPointer {
  schema: typeof TOOLKIT_POINTER_SCHEMA;
  toolkitId: string;
  manifestSha256: string;
  publishedAt: string;
}

/** PEP 503 name normalisation: lower case, every run of `-`, `_`, `.` one `-`. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export interface WheelName {
  file: string;
  /** The distribution name as the file spells it (`dissect_target`). */
  distribution: string;
  /** {@link normalizeName} of it (`dissect-target`). */
  name: string;
  version: string;
  build?: string;
  tags: { python: string; abi: string; platform: string };
}

/**
 * A wheel's file name, read as the binary distribution format specifies it:
 * `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, where no part holds a `-`.
 * Undefined when the name is not a wheel's.
 */
export function parseWheelName(file: string): WheelName | undefined {
  if (!file.endsWith('.whl') || file.includes('/')) return undefined;
  const parts = file.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  if (parts.some((p) => p === '')) return undefined;
  const [distribution, version] = parts as [string, string];
  const [python, abi, platform] = parts.slice(-3) as [string, string, string];
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/.test(distribution)) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9.+!_]*$/.test(version)) return undefined;
  if (parts.length === 6 && !/^\d/.test(parts[2]!)) return undefined;
  return {
    file,
    distribution,
    name: normalizeName(distribution),
    version,
    ...(parts.length === 6 ? { build: parts[2]! } : {}),
    tags: { python, abi, platform },
  };
}

/** The project name of a requirement specifier (`dissect.target[cli]>=3.20` → `dissect.target`). */
export function requirementName(spec: string): string | undefined {
  const m = /^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;@ ]|$)/.exec(spec);
  return m?.[1];
}

/**
 * The toolkit id: `tk-` + the first 20 hex characters of the SHA-256 over the sorted lines
 * `<name> <sha256>\n` of every file except manifest.json. The same files give the same id.
 */
export function toolkitId(files: ReadonlyArray<{ name: string; sha256: string }>): string {
  const lines = files.map((f) => `${f.name} ${f.sha256}\n`).sort();
  return `tk-${createHash('sha256').update(lines.join('')).digest('hex').slice(0, 20)}`;
}

/** A wheel of the wheelhouse with its content hash. */
export interface HashedWheel {
  file: string;
  sha256: string;
  bytes: number;
}

/** One project of the requirements: its exact pin and the hashes of its wheels. */
export interface Pin {
  name: string;
  version: string;
  hashes: string[];
  files: string[];
}

/**
 * The exact pins of a wheelhouse: one per project (names normalised), each with the SHA-256 of
 * every wheel of it, sorted by name. Throws a plain Error naming the file when a name is not a
 * wheel's or one project comes in two versions.
 */
export function pinsOf(wheels: ReadonlyArray<HashedWheel>): Pin[] {
  const byName = new Map<string, Pin>();
  for (const w of wheels) {
    const p = parseWheelName(w.file);
    if (!p) throw new Error(`${w.file} is not a wheel file name`);
    if (!/^[0-9a-f]{64}$/.test(w.sha256)) throw new Error(`${w.file}: ${w.sha256} is not a SHA-256`);
    const pin = byName.get(p.name);
    if (!pin) byName.set(p.name, { name: p.name, version: p.version, hashes: [w.sha256], files: [w.file] });
    else if (pin.version !== p.version)
      throw new Error(`${p.name} comes in two versions: ${pin.version} (${pin.files[0]}) and ${p.version} (${w.file})`);
    else {
      pin.hashes.push(w.sha256);
      pin.files.push(w.file);
    }
  }
  return [...byName.values()]
    .map((p) => ({ ...p, hashes: [...new Set(p.hashes)].sort(), files: p.files.sort() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * requirements.txt: `name==version --hash=sha256:<hex>` per project, so that `pip install
 * --require-hashes` installs exactly these files and nothing else.
 */
export function requirementsText(pins: ReadonlyArray<Pin>): string {
  return [
    '# cleanroom toolkit: exact pins with the SHA-256 of every wheel.',
    '# pip install --no-index --find-links wheels --require-hashes -r requirements.txt',
    ...pins.map((p) => `${p.name}==${p.version} ${p.hashes.map((h) => `--hash=sha256:${h}`).join(' ')}`),
    '',
  ].join('\n');
}

/** The requested packages with the versions of their wheels; throws naming a package without a wheel. */
export function resolvedTools(requested: ReadonlyArray<string>, pins: ReadonlyArray<Pin>): ToolkitTool[] {
  return requested.map((spec) => {
    const name = requirementName(spec);
    if (!name) throw new Error(`${JSON.stringify(spec)} is not a package requirement`);
    const pin = pins.find((p) => p.name === normalizeName(name));
    if (!pin) throw new Error(`no wheel of ${name} in the wheelhouse`);
    return { name, version: pin.version };
  });
}

export interface ToolkitBuild {
  name: string;
  builtAt: string;
  builtWith: { python: string; pip: string };
  arch: ToolkitArch;
  /** The requested packages (specifiers as given). */
  packages: ReadonlyArray<string>;
  wheels: ReadonlyArray<HashedWheel>;
}

/** requirements.txt and the manifest of a wheelhouse. */
export function assembleToolkit(b: ToolkitBuild): { requirements: Buffer; manifest: ToolkitManifest } {
  const pins = pinsOf(b.wheels);
  const requirements = Buffer.from(requirementsText(pins));
  const files: ToolkitFile[] = [
    {
      name: REQUIREMENTS_FILE,
      sha256: createHash('sha256').update(requirements).digest('hex'),
      bytes: requirements.length,
    },
    ...b.wheels.map((w) => ({ name: `${WHEELS_DIR}/${w.file}`, sha256: w.sha256, bytes: w.bytes })),
  ].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return {
    requirements,
    manifest: {
      schema: TOOLKIT_SCHEMA,
      toolkitId: toolkitId(files),
      name: b.name,
      builtAt: b.builtAt,
      builtWith: b.builtWith,
      target: {
        python: TOOLKIT_PYTHON,
        implementation: TOOLKIT_IMPLEMENTATION,
        arch: b.arch,
        platforms: toolkitPlatforms(b.arch),
      },
      tools: resolvedTools(b.packages, pins),
      requirements: REQUIREMENTS_FILE,
      files,
    },
  };
}

/** A file name a manifest may list: requirements.txt or a wheel under wheels/ (no path tricks). */
export function isToolkitFileName(name: string): boolean {
  if (name === REQUIREMENTS_FILE) return true;
  const m = /^wheels\/([^/]+)$/.exec(name);
  return !!m && parseWheelName(m[1]!) !== undefined;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isString = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/**
 * What is wrong with a parsed manifest, one line per problem (empty: it is a valid
 * `cleanroom.toolkit.v1` whose id is the id of its files).
 */
export function manifestProblems(x: unknown): string[] {
  if (!isObject(x)) return ['the manifest is not a JSON object'];
  const p: string[] = [];
  if (x['schema'] !== TOOLKIT_SCHEMA) p.push(`schema is ${JSON.stringify(x['schema'])}, not ${TOOLKIT_SCHEMA}`);
  if (!isString(x['toolkitId']) || !TOOLKIT_ID_PATTERN.test(x['toolkitId']))
    p.push('toolkitId is not tk- and 20 hex characters');
  for (const k of ['name', 'builtAt'] as const) if (!isString(x[k])) p.push(`${k} is missing`);
  const bw = x['builtWith'];
  if (!isObject(bw) || !isString(bw['python']) || !isString(bw['pip'])) p.push('builtWith needs python and pip');
  const tg = x['target'];
  if (
    !isObject(tg) ||
    !isString(tg['python']) ||
    !isString(tg['implementation']) ||
    !TOOLKIT_ARCHES.includes(tg['arch'] as ToolkitArch) ||
    !Array.isArray(tg['platforms']) ||
    !tg['platforms'].every(isString)
  )
    p.push('target needs python, implementation, arch (x86_64 or aarch64) and platforms');
  const tools = x['tools'];
  if (!Array.isArray(tools) || !tools.every((t) => isObject(t) && isString(t['name']) && isString(t['version'])))
    p.push('tools must be a list of { name, version }');
  if (x['requirements'] !== REQUIREMENTS_FILE) p.push(`requirements is not ${REQUIREMENTS_FILE}`);
  const files = x['files'];
  if (!Array.isArray(files)) return [...p, 'files is not a list'];
  const seen = new Set<string>();
  for (const f of files) {
    if (
      !isObject(f) ||
      !isString(f['name']) ||
      typeof f['sha256'] !== 'string' ||
      !/^[0-9a-f]{64}$/.test(f['sha256']) ||
      !Number.isSafeInteger(f['bytes']) ||
      (f['bytes'] as number) < 0
    ) {
      p.push(`a file entry is not { name, sha256 (64 hex), bytes }: ${JSON.stringify(f)}`);
      continue;
    }
    if (!isToolkitFileName(f['name']))
      p.push(`file name ${JSON.stringify(f['name'])} is not requirements.txt or wheels/<wheel>`);
    if (seen.has(f['name'])) p.push(`file ${f['name']} is listed twice`);
    seen.add(f['name']);
  }
  if (!seen.has(REQUIREMENTS_FILE)) p.push('files does not list requirements.txt');
  if (p.length === 0) {
    const id = toolkitId(files as ToolkitFile[]);
    if (id !== x['toolkitId']) p.push(`toolkitId ${x['toolkitId'] as string} is not the id of its files (${id})`);
  }
  return p;
}

/** What is wrong with a parsed default pointer (empty: valid). */
export function pointerProblems(x: unknown): string[] {
  if (!isObject(x)) return ['the pointer is not a JSON object'];
  const p: string[] = [];
  if (x['schema'] !== TOOLKIT_POINTER_SCHEMA)
    p.push(`schema is ${JSON.stringify(x['schema'])}, not ${TOOLKIT_POINTER_SCHEMA}`);
  if (!isString(x['toolkitId']) || !TOOLKIT_ID_PATTERN.test(x['toolkitId']))
    p.push('toolkitId is not tk- and 20 hex characters');
  if (typeof x['manifestSha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(x['manifestSha256']))
    p.push('manifestSha256 is not 64 hex characters');
  if (!isString(x['publishedAt'])) p.push('publishedAt is missing');
  return p;
}

/** manifest.json as written: two-space JSON and a final newline (its SHA-256 is over these bytes). */
export function manifestBytes(m: ToolkitManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}
