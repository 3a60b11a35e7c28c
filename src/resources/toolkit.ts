/**
 * The forensic toolkits in the vault (model: src/domain/toolkit.ts): reading one by id, by prefix or
 * through the default pointer, verified (schema, the id of its files, the pointer's manifest hash);
 * listing them; and copying one server-side into a case (`cases/<case>/tools/toolkit/`, where the
 * room's instance role can read), every source object's SHA-256 checked against the manifest before
 * anything is copied and every copy's checksum after.
 */
import { createHash } from 'node:crypto';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { UsageError, VerificationFailedError } from '../domain/errors.js';
import {
  caseToolkitPrefix,
  DEFAULT_TOOLKIT_KEY,
  MANIFEST_FILE,
  manifestProblems,
  pointerProblems,
  TOOLKIT_ID_PATTERN,
  TOOLKITS_PREFIX,
  toolkitPrefix,
  type ToolkitManifest,
  type ToolkitPointer,
} from '../domain/toolkit.js';

/** A toolkit read from the vault and verified. */
export interface ToolkitRef {
  toolkitId: string;
  /** `tools/toolkits/<toolkitId>/` */
  prefix: string;
  manifest: ToolkitManifest;
  /** SHA-256 of manifest.json's bytes. */
  manifestSha256: string;
  /** The version of manifest.json that was read (the vault is versioned). */
  manifestVersionId?: string;
}

/** Where and how objects are written into the vault: the custody record's vault target. */
export interface ToolkitVault {
  bucket: string;
  vaultKeyArn: string;
  lockMode: 'GOVERNANCE' | 'COMPLIANCE';
  retentionDays: number;
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** S3's `ChecksumSHA256` (base64) of a hex SHA-256. */
export const checksumOfHex = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

const PUBLISH_HINT = 'publish one with `cleanroom room tools --publish`';

async function getObjectBytes(
  account: AccountCalls<{ s3: 'getObject' }>,
  bucket: string,
  key: string,
): Promise<{ body: Buffer; versionId?: string } | undefined> {
  try {
    const r = await account.s3.getObject({ Bucket: bucket, Key: key });
    const body = Buffer.from((await r.Body!.transformToByteArray()) as Uint8Array);
    return { body, ...(r.VersionId ? { versionId: r.VersionId } : {}) };
  } catch (e) {
    if (isAwsCode(e, 'NoSuchKey', 'NotFound')) return undefined;
    throw e;
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function invalid(bucket: string, key: string, problems: string[]): VerificationFailedError {
  return new VerificationFailedError(
    'TOOLKIT_INVALID',
    `The toolkit object s3://${bucket}/${key} does not verify: ${problems.join('; ')}. Publish the toolkit again with \`cleanroom room tools --publish\`.`,
    { bucket, key, problems },
  );
}

/**
 * The toolkit id a `--toolkit` value names: `default` (undefined here: read the pointer), a toolkit
 * id, or its prefix `tools/toolkits/<id>/` (an `s3://<bucket>/` in front is accepted).
 */
export function toolkitIdOf(spec: string): string | undefined {
  if (spec === 'default') return undefined;
  const m = /^(?:s3:\/\/[^/]+\/)?(?:tools\/toolkits\/)?(tk-[0-9a-f]{20})\/?$/.exec(spec);
  if (!m || !TOOLKIT_ID_PATTERN.test(m[1]!))
    throw new UsageError(
      'INVALID_VALUE',
      `--toolkit ${JSON.stringify(spec)} is not default, none, a toolkit id (tk- and 20 hex characters) or its prefix tools/toolkits/<id>/.`,
      { details: { toolkit: spec } },
    );
  return m[1]!;
}

/** The default pointer, or undefined when none was published. */
export async function readToolkitPointer(
  account: AccountCalls<{ s3: 'getObject' }>,
  bucket: string,
): Promise<ToolkitPointer | undefined> {
  const got = await getObjectBytes(account, bucket, DEFAULT_TOOLKIT_KEY);
  if (!got) return undefined;
  const pointer = parseJson(got.body);
  const problems = pointer === undefined ? ['it is not JSON'] : pointerProblems(pointer);
  if (problems.length) throw invalid(bucket, DEFAULT_TOOLKIT_KEY, problems);
  return pointer as ToolkitPointer;
}

/**
 * Read a toolkit: `spec` is `default`, a toolkit id or its prefix. Verifies that manifest.json is a
 * `cleanroom.toolkit.v1` whose id is the id of its files and the id of its prefix (and, through the
 * pointer, the manifest hash the pointer recorded). TOOLKIT_NOT_FOUND (exit 2) when there is none;
 * TOOLKIT_INVALID (exit 3) when it does not verify. The files themselves are checked where they are
 * used: {@link copyToolkitToCase} and the room's installer.
 */
export async function readToolkit(
  account: AccountCalls<{ s3: 'getObject' }>,
  bucket: string,
  spec: string,
): Promise<ToolkitRef> {
  let id = toolkitIdOf(spec);
  let pointer: ToolkitPointer | undefined;
  if (id === undefined) {
    pointer = await readToolkitPointer(account, bucket);
    if (!pointer)
      throw new UsageError(
        'TOOLKIT_NOT_FOUND',
        `The vault ${bucket} has no default toolkit (s3://${bucket}/${DEFAULT_TOOLKIT_KEY}): ${PUBLISH_HINT}, or pass --toolkit none.`,
        { details: { bucket, key: DEFAULT_TOOLKIT_KEY } },
      );
    id = pointer.toolkitId;
  }
  const prefix = toolkitPrefix(id);
  const key = `${prefix}${MANIFEST_FILE}`;
  const got = await getObjectBytes(account, bucket, key);
  if (!got)
    throw new UsageError(
      'TOOLKIT_NOT_FOUND',
      `The vault ${bucket} has no toolkit ${id} (no s3://${bucket}/${key})${pointer ? `, though the default pointer names it` : ''}: ${PUBLISH_HINT}.`,
      { details: { bucket, toolkitId: id, key } },
    );
  const manifestSha256 = sha256Hex(got.body);
  const manifest = parseJson(got.body);
  const problems = manifest === undefined ? ['it is not JSON'] : manifestProblems(manifest);
  if (!problems.length && (manifest as ToolkitManifest).toolkitId !== id)
    problems.push(`it names toolkit ${(manifest as ToolkitManifest).toolkitId}, not ${id}`);
  if (!problems.length && pointer && pointer.manifestSha256 !== manifestSha256)
    problems.push(`its SHA-256 ${manifestSha256} is not the ${pointer.manifestSha256} the default pointer recorded`);
  if (problems.length) throw invalid(bucket, key, problems);
  return {
    toolkitId: id,
    prefix,
    manifest: manifest as ToolkitManifest,
    manifestSha256,
    ...(got.versionId ? { manifestVersionId: got.versionId } : {}),
  };
}

export interface ToolkitListEntry {
  toolkitId: string;
  prefix: string;
  /** True for the toolkit the default pointer names. */
  isDefault: boolean;
  name?: string;
  builtAt?: string;
  tools?: { name: string; version: string }[];
  files?: number;
  bytes?: number;
  manifestSha256?: string;
  /** Why the toolkit does not verify (its manifest only; the files are checked when used). */
  problem?: string;
}

/** Every toolkit under `tools/toolkits/`, each read and verified, sorted by build time (newest first). */
export async function listToolkits(
  account: AccountCalls<{ s3: 'getObject' }> & AccountCalls<{ s3: 'listObjectsV2' }>,
  bucket: string,
): Promise<ToolkitListEntry[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const r = await account.s3.listObjectsV2({
      Bucket: bucket,
      Prefix: TOOLKITS_PREFIX,
      Delimiter: '/',
      ...(token ? { ContinuationToken: token } : {}),
    });
    for (const p of r.CommonPrefixes ?? []) {
      const id = p.Prefix?.slice(TOOLKITS_PREFIX.length, -1);
      if (id && TOOLKIT_ID_PATTERN.test(id)) ids.push(id);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  let defaultId: string | undefined;
  try {
    defaultId = (await readToolkitPointer(account, bucket))?.toolkitId;
  } catch {
    defaultId = undefined;
  }
  const out: ToolkitListEntry[] = [];
  for (const id of ids) {
    const base = { toolkitId: id, prefix: toolkitPrefix(id), isDefault: id === defaultId };
    try {
      const t = await readToolkit(account, bucket, id);
      const m = t.manifest;
      out.push({
        ...base,
        name: m.name,
        builtAt: m.builtAt,
        tools: m.tools,
        files: m.files.length,
        bytes: m.files.reduce((n, f) => n + f.bytes, 0),
        manifestSha256: t.manifestSha256,
      });
    } catch (e) {
      out.push({ ...base, problem: (e as Error).message });
    }
  }
  return out.sort((a, b) => (b.builtAt ?? '').localeCompare(a.builtAt ?? '') || a.toolkitId.localeCompare(b.toolkitId));
}

/** One file of a case's toolkit copy. */
export interface CopiedToolkitFile {
  name: string;
  key: string;
  sha256: string;
  bytes: number;
  /** False: the same content was already there (a rerun). */
  copied: boolean;
  versionId?: string;
}

export interface CaseToolkitCopy {
  toolkitId: string;
  bucket: string;
  /** `cases/<case>/tools/toolkit/` */
  prefix: string;
  manifestSha256: string;
  files: CopiedToolkitFile[];
}

type HeadAnswer = { sha256?: string; bytes?: number; versionId?: string } | undefined;

async function head(account: AccountCalls<{ s3: 'headObject' }>, bucket: string, key: string, versionId?: string) {
  try {
    const h = await account.s3.headObject({
      Bucket: bucket,
      Key: key,
      ChecksumMode: 'ENABLED',
      ...(versionId ? { VersionId: versionId } : {}),
    });
    const sum = h.ChecksumSHA256 && !h.ChecksumSHA256.includes('-') ? h.ChecksumSHA256 : undefined;
    return {
      ...(sum ? { sha256: Buffer.from(sum, 'base64').toString('hex') } : {}),
      ...(h.ContentLength !== undefined ? { bytes: h.ContentLength } : {}),
      ...(h.VersionId ? { versionId: h.VersionId } : {}),
    } as HeadAnswer;
  } catch (e) {
    if (isAwsCode(e, 'NotFound', 'NoSuchKey', '404')) return undefined;
    throw e;
  }
}

const copySource = (bucket: string, key: string, versionId?: string) =>
  `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ''}`;

/**
 * Copy a toolkit into a case, server-side: every file of its manifest and manifest.json itself, to
 * `cases/<case>/tools/toolkit/<same name>`, SSE-KMS under the vault key, under the vault's Object
 * Lock retention. First every source object's S3 SHA-256 checksum is checked against the manifest
 * (a missing or different one: TOOLKIT_INVALID, exit 3, and nothing is copied); each copy names the
 * source version it checked, and its own checksum is checked again. A file already in the case
 * with the same SHA-256 is not copied again: a rerun copies only what is missing.
 */
export async function copyToolkitToCase(
  account: AccountCalls<{ s3: 'headObject' }> & AccountCalls<{ s3: 'copyObject' }>,
  vault: ToolkitVault,
  toolkit: ToolkitRef,
  caseId: string,
  opts: { now?: Date; onFile?: (name: string, copied: boolean) => void } = {},
): Promise<CaseToolkitCopy> {
  const bucket = vault.bucket;
  const wanted = [
    { name: MANIFEST_FILE, sha256: toolkit.manifestSha256, versionId: toolkit.manifestVersionId },
    ...toolkit.manifest.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes, versionId: undefined })),
  ];
  // 1. Every source first: a toolkit with one tampered or missing file is not copied at all.
  const sources: { name: string; sha256: string; bytes: number; versionId?: string }[] = [];
  const problems: string[] = [];
  for (const w of wanted) {
    const key = `${toolkit.prefix}${w.name}`;
    const h = await head(account, bucket, key, w.versionId);
    if (!h) problems.push(`${w.name} is missing`);
    else if (h.sha256 === undefined) problems.push(`${w.name} carries no SHA-256 checksum`);
    else if (h.sha256 !== w.sha256) problems.push(`${w.name} has SHA-256 ${h.sha256}, the manifest says ${w.sha256}`);
    else if ('bytes' in w && w.bytes !== undefined && h.bytes !== undefined && h.bytes !== w.bytes)
      problems.push(`${w.name} is ${h.bytes} bytes, the manifest says ${w.bytes}`);
    else
      sources.push({
        name: w.name,
        sha256: w.sha256,
        bytes: h.bytes ?? 0,
        ...(h.versionId ? { versionId: h.versionId } : {}),
      });
  }
  if (problems.length)
    throw new VerificationFailedError(
      'TOOLKIT_INVALID',
      `Toolkit ${toolkit.toolkitId} in s3://${bucket}/${toolkit.prefix} does not match its manifest, so it was not copied into case ${caseId}: ${problems.join('; ')}. Publish it again with \`cleanroom room tools --publish\`.`,
      { bucket, toolkitId: toolkit.toolkitId, prefix: toolkit.prefix, problems },
    );
  // 2. Copy what the case does not hold yet.
  const prefix = caseToolkitPrefix(caseId);
  const retainUntil = new Date((opts.now ?? new Date()).getTime() + vault.retentionDays * 86_400_000);
  const files: CopiedToolkitFile[] = [];
  for (const s of sources) {
    const key = `${prefix}${s.name}`;
    const there = await head(account, bucket, key);
    if (there?.sha256 === s.sha256) {
      files.push({
        name: s.name,
        key,
        sha256: s.sha256,
        bytes: s.bytes,
        copied: false,
        ...(there.versionId ? { versionId: there.versionId } : {}),
      });
      opts.onFile?.(s.name, false);
      continue;
    }
    const r = await account.s3.copyObject({
      Bucket: bucket,
      Key: key,
      CopySource: copySource(bucket, `${toolkit.prefix}${s.name}`, s.versionId),
      MetadataDirective: 'COPY',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: vault.vaultKeyArn,
      BucketKeyEnabled: true,
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: vault.lockMode,
      ObjectLockRetainUntilDate: retainUntil,
    });
    const sum = r.CopyObjectResult?.ChecksumSHA256;
    const got = sum ? Buffer.from(sum, 'base64').toString('hex') : undefined;
    if (got !== s.sha256)
      throw new VerificationFailedError(
        'TOOLKIT_INVALID',
        `The copy of ${s.name} in s3://${bucket}/${key} has SHA-256 ${got ?? '(none reported)'}, not the manifest's ${s.sha256}: the case's toolkit copy must not be used.`,
        { bucket, key, expected: s.sha256, ...(got ? { actual: got } : {}) },
      );
    files.push({
      name: s.name,
      key,
      sha256: s.sha256,
      bytes: s.bytes,
      copied: true,
      ...(r.VersionId ? { versionId: r.VersionId } : {}),
    });
    opts.onFile?.(s.name, true);
  }
  return { toolkitId: toolkit.toolkitId, bucket, prefix, manifestSha256: toolkit.manifestSha256, files };
}
