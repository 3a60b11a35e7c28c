/**
 * `room tools`: the forensic toolkit the room installs with no route out. Builds a wheelhouse with
 * the local Python's pip for the room's Python (CPython 3.11, manylinux x86_64 or aarch64, binary
 * wheels only), pins every project exactly with the SHA-256 of its wheels (requirements.txt), writes
 * the manifest (src/domain/toolkit.ts), and with `publish` uploads it to the vault's
 * `tools/toolkits/<toolkitId>/` (SSE-KMS, checksummed, under Object Lock; what is already there with
 * the same SHA-256 is not uploaded again) and points `tools/toolkits/default.json` at it.
 *
 * A folder given as `out` is kept, and reused without a download when it already holds a wheelhouse
 * of the same request whose files match its manifest; pip's own cache is used as it is.
 */
import type { GuestFile } from './guest-tools.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { checkRegion } from '../../aws/region.js';
import { CleanroomError, UsageError } from '../../domain/errors.js';
import { throwIfAborted } from '../../domain/abort.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import {
  assembleToolkit,
  DEFAULT_TOOLKIT_KEY,
  DEFAULT_TOOLKIT_PACKAGES,
  MANIFEST_FILE,
  manifestBytes,
  manifestProblems,
  normalizeName,
  REQUIREMENTS_FILE,
  requirementName,
  TOOLKIT_ARCHES,
  TOOLKIT_IMPLEMENTATION,
  TOOLKIT_POINTER_SCHEMA,
  TOOLKIT_PYTHON,
  toolkitPlatforms,
  toolkitPrefix,
  WHEELS_DIR,
  type ToolkitArch,
  type ToolkitManifest,
  type ToolkitPointer,
} from '../../domain/toolkit.js';
import { requireCompliantVault, type CompliantVault } from '../../custody/vault/gate.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';
import { checksumSha256, retainUntil } from '../../custody/store.js';
import { readToolkit } from '../../resources/toolkit.js';

/** What a process run answered. */
export interface ProcessResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell); rejects only when it cannot be started (ENOENT, EACCES). */
export type ProcessRunner = (
  cmd: string,
  args: string[],
  opts: { signal?: AbortSignal; onLine?: (line: string) => void },
) => Promise<ProcessResult>;

/** The default runner: child_process.spawn, output collected, lines passed on as they come. */
export const spawnRunner: ProcessRunner = (cmd, args, opts) =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (c: Buffer) => {
      const s = c.toString();
      stdout += s;
      if (!opts.onLine) return;
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l);
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', (e) => {
      if ((e as { name?: string }).name === 'AbortError') resolve({ code: null, stdout, stderr });
      else reject(e);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

export interface RoomToolsDeps {
  /** The forensic account: needed with `publish` only. */
  account?: AwsAccount;
  reporter?: Reporter;
  /** How Python is run (default: child_process). */
  run?: ProcessRunner;
  now?: () => Date;
}

export interface RoomToolsOptions {
  /** Keep the wheelhouse in this folder (and reuse it when it matches); default a temporary folder, removed after. */
  out?: string;
  /** Upload it to the vault's tools prefix. */
  publish?: boolean;
  /** With `publish`: point tools/toolkits/default.json at it (default true). */
  setDefault?: boolean;
  /** The local Python whose pip builds the wheelhouse (default `python3`). */
  python?: string;
  /** The room's architecture (default x86_64). */
  arch?: ToolkitArch;
  /** Packages (pip requirement specifiers) added to the default set. */
  packages?: readonly string[];
  /** The toolkit's name in its manifest (default `cleanroom-toolkit`). */
  name?: string;
  /** The vault (default cleanroom-evidence-<account>-<region>). */
  bucket?: string;
  signal?: AbortSignal;
}

/** A toolkit file as published: the same shape as a guest tool's upload. */
export type PublishedToolkitFile = GuestFile;

export interface RoomToolsResult {
  toolkitId: string;
  manifest: ToolkitManifest;
  /** SHA-256 of manifest.json (the published one when the vault already held this toolkit). */
  manifestSha256: string;
  /** The wheelhouse folder (`out`), or null when it was a temporary one, now removed. */
  dir: string | null;
  /** True when `out` already held this wheelhouse and nothing was downloaded. */
  reused: boolean;
  published?: {
    bucket: string;
    prefix: string;
    files: PublishedToolkitFile[];
    /** The vault already held this toolkit's manifest.json (built earlier): it was kept. */
    manifestKept: boolean;
    /** The default pointer written, unless `setDefault` was false. */
    pointer?: { key: string; versionId?: string; document: ToolkitPointer };
  };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Check the options before anything runs: exit 2 naming the flag. */
function checkOptions(o: RoomToolsOptions): { arch: ToolkitArch; packages: string[]; name: string } {
  const arch = o.arch ?? 'x86_64';
  if (!TOOLKIT_ARCHES.includes(arch))
    throw new UsageError('INVALID_VALUE', `--arch must be x86_64 or aarch64, got ${JSON.stringify(arch)}.`, {
      details: { option: '--arch', value: arch },
    });
  const name = o.name ?? 'cleanroom-toolkit';
  if (!NAME_PATTERN.test(name))
    throw new UsageError(
      'INVALID_VALUE',
      `--name ${JSON.stringify(name)} is not a toolkit name: up to 64 letters, digits, dots, hyphens and underscores.`,
      { details: { option: '--name', value: name } },
    );
  const packages = [...DEFAULT_TOOLKIT_PACKAGES];
  for (const spec of o.packages ?? []) {
    const n = requirementName(spec);
    if (!n || spec.startsWith('-') || /\s-/.test(spec))
      throw new UsageError(
        'INVALID_VALUE',
        `--package ${JSON.stringify(spec)} is not a package requirement (a name, optionally with a version: dissect.cobaltstrike or yara-python==4.5.1).`,
        { details: { option: '--package', value: spec } },
      );
    if (!packages.some((p) => normalizeName(requirementName(p)!) === normalizeName(n))) packages.push(spec.trim());
    else if (spec.trim() !== n) {
      // A version for a default package: the given specifier replaces the bare name.
      const i = packages.findIndex((p) => normalizeName(requirementName(p)!) === normalizeName(n));
      packages[i] = spec.trim();
    }
  }
  return { arch, packages, name };
}

/** The local Python and its pip: PYTHON_NOT_FOUND (exit 2) naming --python when either is missing. */
async function localPython(run: ProcessRunner, python: string, signal?: AbortSignal) {
  const notFound = (why: string) =>
    new UsageError(
      'PYTHON_NOT_FOUND',
      `${why}: \`cleanroom room tools\` builds the wheelhouse with the local Python's pip (any Python 3 with pip 20.3 or newer). Install one, or name it with --python PATH.`,
      { details: { python } },
    );
  let v: ProcessResult;
  try {
    v = await run(python, ['-c', 'import platform; print(platform.python_version())'], signal ? { signal } : {});
  } catch (e) {
    throw Object.assign(notFound(`There is no Python at --python ${python} (${(e as Error).message})`), { cause: e });
  }
  if (v.code !== 0) throw notFound(`--python ${python} does not run Python (exit ${v.code}: ${v.stderr.trim()})`);
  const p = await run(python, ['-m', 'pip', '--version'], signal ? { signal } : {});
  const pip = /^pip (\S+)/.exec(p.stdout)?.[1];
  if (p.code !== 0 || !pip) throw notFound(`--python ${python} has no pip (python -m pip: ${p.stderr.trim()})`);
  return { python: v.stdout.trim(), pip };
}

/** The package pip names in its complaint, else the requested ones. */
function failingPackage(stderr: string, packages: string[]): string {
  const m =
    /No matching distribution found for (\S+)/.exec(stderr) ??
    /Could not find a version that satisfies the requirement (\S+)/.exec(stderr);
  return m?.[1] ?? packages.join(', ');
}

/** The wheels of a folder with their hashes, sorted by name. */
function hashWheels(dir: string) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.whl'))
    .sort()
    .map((file) => {
      const body = readFileSync(path.join(dir, file));
      return { file, sha256: sha256(body), bytes: body.length };
    });
}

/**
 * A wheelhouse already in `dir` that answers the same request (packages, arch) and whose every file
 * matches its manifest: it is reused as it is.
 */
function reusable(dir: string, packages: string[], arch: ToolkitArch): ToolkitManifest | undefined {
  const file = path.join(dir, MANIFEST_FILE);
  if (!existsSync(file)) return undefined;
  let m: ToolkitManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as ToolkitManifest;
  } catch {
    return undefined;
  }
  if (manifestProblems(m).length) return undefined;
  const want = packages.map((p) => requirementName(p)!).join('\n');
  if (m.target.arch !== arch || m.tools.map((x) => x.name).join('\n') !== want) return undefined;
  if (packages.some((p) => p !== requirementName(p))) return undefined; // a version was asked for: resolve again
  for (const f of m.files) {
    const p = path.join(dir, f.name);
    if (!existsSync(p) || sha256(readFileSync(p)) !== f.sha256) return undefined;
  }
  const listed = new Set(m.files.map((f) => f.name));
  if (hashWheels(path.join(dir, WHEELS_DIR)).some((w) => !listed.has(`${WHEELS_DIR}/${w.file}`))) return undefined;
  return m;
}

/** Build (or reuse) the wheelhouse in `dir`; returns its manifest and whether it was reused. */
async function buildWheelhouse(
  run: ProcessRunner,
  reporter: Reporter,
  dir: string,
  o: { python: string; arch: ToolkitArch; packages: string[]; name: string; now: Date; signal?: AbortSignal },
): Promise<{ manifest: ToolkitManifest; reused: boolean }> {
  const kept = reusable(dir, o.packages, o.arch);
  if (kept) {
    reporter.progress({ kind: 'step', message: `reused the wheelhouse in ${dir} (toolkit ${kept.toolkitId})` });
    return { manifest: kept, reused: true };
  }
  const builtWith = await localPython(run, o.python, o.signal);
  throwIfAborted(o.signal, 'download the wheels');
  const wheels = path.join(dir, WHEELS_DIR);
  // A previous wheelhouse in the folder is replaced (only the toolkit's own files).
  rmSync(wheels, { recursive: true, force: true });
  rmSync(path.join(dir, MANIFEST_FILE), { force: true });
  rmSync(path.join(dir, REQUIREMENTS_FILE), { force: true });
  mkdirSync(wheels, { recursive: true });
  const platforms = toolkitPlatforms(o.arch);
  reporter.progress({
    kind: 'step',
    message: `downloading wheels for CPython ${TOOLKIT_PYTHON} on ${o.arch} with ${o.python} (pip ${builtWith.pip}): ${o.packages.join(' ')}`,
  });
  const args = [
    '-m',
    'pip',
    'download',
    '--only-binary=:all:',
    ...platforms.flatMap((p) => ['--platform', p]),
    '--python-version',
    TOOLKIT_PYTHON,
    '--implementation',
    TOOLKIT_IMPLEMENTATION,
    '--progress-bar',
    'off',
    '-d',
    wheels,
    ...o.packages,
  ];
  const r = await run(o.python, args, {
    ...(o.signal ? { signal: o.signal } : {}),
    onLine: (line) => {
      const saved = /^(?:Saved|File was already downloaded) (.+\.whl)$/.exec(line.trim());
      if (saved) reporter.progress({ kind: 'item', item: path.basename(saved[1]!), phase: 'downloaded' });
    },
  });
  throwIfAborted(o.signal, 'write the requirements and the manifest');
  if (r.code !== 0) {
    const last = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-8).join('\n');
    const pkg = failingPackage(r.stderr, o.packages);
    throw new CleanroomError(
      'TOOLKIT_BUILD_FAILED',
      `pip could not download binary wheels of ${pkg} for CPython ${TOOLKIT_PYTHON} on manylinux ${o.arch} (exit ${r.code}). pip said:\n${last}`,
      { details: { package: pkg, exitCode: r.code, pipOutput: last } },
    );
  }
  let built: ReturnType<typeof assembleToolkit>;
  try {
    built = assembleToolkit({
      name: o.name,
      builtAt: o.now.toISOString(),
      builtWith,
      arch: o.arch,
      packages: o.packages,
      wheels: hashWheels(wheels),
    });
  } catch (e) {
    throw new CleanroomError(
      'TOOLKIT_BUILD_FAILED',
      `The wheelhouse pip made in ${wheels} cannot be pinned: ${(e as Error).message}.`,
      { details: { dir: wheels }, cause: e },
    );
  }
  writeFileSync(path.join(dir, REQUIREMENTS_FILE), built.requirements);
  writeFileSync(path.join(dir, MANIFEST_FILE), manifestBytes(built.manifest));
  return { manifest: built.manifest, reused: false };
}

/** The S3 SHA-256 of an object (hex), or undefined when it is not there or carries none. */
async function storedSha256(account: AwsAccount, bucket: string, key: string): Promise<string | undefined> {
  try {
    const h = await account.s3.headObject({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' });
    const sum = h.ChecksumSHA256;
    return sum && !sum.includes('-') ? Buffer.from(sum, 'base64').toString('hex') : undefined;
  } catch (e) {
    if (isAwsCode(e, 'NotFound', 'NoSuchKey', '404')) return undefined;
    throw e;
  }
}

/** One toolkit object into the vault: SSE-KMS under the vault key, its checksum, Object Lock retention. */
async function putToolkitObject(account: AwsAccount, v: CompliantVault, key: string, body: Buffer, now: Date) {
  const r = await account.s3.putObject({
    Bucket: v.bucket,
    Key: key,
    Body: body,
    ContentType: key.endsWith('.json') ? 'application/json' : key.endsWith('.txt') ? 'text/plain' : 'application/zip',
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: checksumSha256(body),
    ObjectLockMode: v.lockMode,
    ObjectLockRetainUntilDate: retainUntil(now, v.retentionDays),
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: v.vaultKeyArn,
    BucketKeyEnabled: true,
  });
  return r.VersionId;
}

async function publish(
  account: AwsAccount,
  reporter: Reporter,
  v: CompliantVault,
  dir: string,
  manifest: ToolkitManifest,
  o: { setDefault: boolean; now: () => Date; signal?: AbortSignal },
): Promise<{
  published: NonNullable<RoomToolsResult['published']>;
  manifest: ToolkitManifest;
  manifestSha256: string;
}> {
  const prefix = toolkitPrefix(manifest.toolkitId);
  const files: PublishedToolkitFile[] = [];
  for (const f of manifest.files) {
    throwIfAborted(o.signal, `upload ${f.name}`);
    const key = `${prefix}${f.name}`;
    if ((await storedSha256(account, v.bucket, key)) === f.sha256) {
      files.push({ name: f.name, key, sha256: f.sha256, bytes: f.bytes, uploaded: false });
      continue;
    }
    const body = readFileSync(path.join(dir, f.name));
    if (sha256(body) !== f.sha256)
      throw new CleanroomError(
        'TOOLKIT_BUILD_FAILED',
        `${path.join(dir, f.name)} changed after the manifest was written (SHA-256 ${sha256(body)}, the manifest says ${f.sha256}): build the toolkit again.`,
        { details: { file: path.join(dir, f.name) } },
      );
    reporter.progress({ kind: 'item', item: f.name, phase: 'uploading' });
    const versionId = await putToolkitObject(account, v, key, body, o.now());
    files.push({
      name: f.name,
      key,
      sha256: f.sha256,
      bytes: f.bytes,
      uploaded: true,
      ...(versionId ? { versionId } : {}),
    });
  }
  // The manifest last, once every file it lists is there. The same wheels built again have the same
  // id: the manifest already published for it (its build time, its Python) is kept.
  throwIfAborted(o.signal, 'upload the manifest');
  const manifestKey = `${prefix}${MANIFEST_FILE}`;
  let manifestSha256: string;
  let manifestKept = false;
  const existing = await readToolkit(account, v.bucket, manifest.toolkitId).catch((e) => {
    if (e instanceof CleanroomError && (e.code === 'TOOLKIT_NOT_FOUND' || e.code === 'TOOLKIT_INVALID'))
      return undefined;
    throw e;
  });
  if (existing) {
    manifestSha256 = existing.manifestSha256;
    manifest = existing.manifest;
    manifestKept = true;
  } else {
    const body = manifestBytes(manifest);
    manifestSha256 = sha256(body);
    reporter.progress({ kind: 'item', item: MANIFEST_FILE, phase: 'uploading' });
    await putToolkitObject(account, v, manifestKey, body, o.now());
  }
  const published: NonNullable<RoomToolsResult['published']> = { bucket: v.bucket, prefix, files, manifestKept };
  if (o.setDefault) {
    throwIfAborted(o.signal, 'point the default at the toolkit');
    const document: ToolkitPointer = {
      schema: TOOLKIT_POINTER_SCHEMA,
      toolkitId: manifest.toolkitId,
      manifestSha256,
      publishedAt: o.now().toISOString(),
    };
    const versionId = await putToolkitObject(
      account,
      v,
      DEFAULT_TOOLKIT_KEY,
      Buffer.from(`${JSON.stringify(document, null, 2)}\n`),
      o.now(),
    );
    published.pointer = { key: DEFAULT_TOOLKIT_KEY, document, ...(versionId ? { versionId } : {}) };
  }
  return { published, manifest, manifestSha256 };
}

/**
 * Build the toolkit's wheelhouse (or reuse the one in `out`) and, with `publish`, put it in the
 * vault. Errors: PYTHON_NOT_FOUND (2), TOOLKIT_BUILD_FAILED (1, pip's last lines), NO_VAULT (2) and
 * VAULT_AUDIT_FAILED (3) before anything is built when publishing, INTERRUPTED on the signal.
 */
export async function roomTools(deps: RoomToolsDeps, opts: RoomToolsOptions = {}): Promise<RoomToolsResult> {
  const { arch, packages, name } = checkOptions(opts);
  const reporter = deps.reporter ?? silentReporter;
  const run = deps.run ?? spawnRunner;
  const now = deps.now ?? (() => new Date());
  const setDefault = opts.setDefault ?? true;
  let vault: CompliantVault | undefined;
  if (opts.publish) {
    const account = deps.account;
    if (!account) throw new UsageError('USAGE', 'roomTools with publish needs the forensic account (deps.account).');
    await checkRegion(account);
    vault = await requireCompliantVault(account, await resolveVaultBucket(account, opts.bucket));
  }
  throwIfAborted(opts.signal, 'build the wheelhouse');
  const dir = opts.out ? path.resolve(opts.out) : mkdtempSync(path.join(tmpdir(), 'cleanroom-toolkit-'));
  try {
    mkdirSync(dir, { recursive: true });
    const { manifest, reused } = await buildWheelhouse(run, reporter, dir, {
      python: opts.python ?? 'python3',
      arch,
      packages,
      name,
      now: now(),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const manifestSha256 = sha256(readFileSync(path.join(dir, MANIFEST_FILE)));
    const result: RoomToolsResult = {
      toolkitId: manifest.toolkitId,
      manifest,
      manifestSha256,
      dir: opts.out ? dir : null,
      reused,
    };
    if (vault && deps.account) {
      const p = await publish(deps.account, reporter, vault, dir, manifest, {
        setDefault,
        now,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      Object.assign(result, { manifest: p.manifest, manifestSha256: p.manifestSha256, published: p.published });
    }
    return result;
  } finally {
    if (!opts.out) rmSync(dir, { recursive: true, force: true });
  }
}
