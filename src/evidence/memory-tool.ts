/**
 * The memory capture tool in the vault: AVML's binary under `tools/memory/avml/<sha256>` (SSE-KMS,
 * its SHA-256 as the S3 checksum) and the pointer `tools/memory/avml.json` naming the one in use.
 * `cleanroom memory tools --avml FILE` writes both ({@link publishMemoryTool}); a capture reads the
 * pointer ({@link readMemoryTool}) and hands the host a presigned GET of the binary
 * ({@link presignMemoryToolUrl}) with its SHA-256, which the host checks before it runs anything.
 * The tool is not a case: nothing here is a custody event.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError, UsageError } from '../domain/errors.js';
import { putVaultObjectOnce } from '../resources/vault-object.js';

export const MEMORY_TOOL_SCHEMA = 'cleanroom.memory-tool.v1';
export const MEMORY_TOOL_POINTER_KEY = 'tools/memory/avml.json';
/** Where a binary of `sha256` is kept. */
export const memoryToolKey = (sha256: string): string => `tools/memory/avml/${sha256}`;

/** `tools/memory/avml.json`. */
export interface MemoryToolPointer {
  schema: typeof MEMORY_TOOL_SCHEMA;
  tool: 'avml';
  version: string;
  sha256: string;
  size: number;
  key: string;
  /** supplied: a binary the user had; built: made by scripts/build-avml. */
  source: 'supplied' | 'built';
  publishedAt: string;
  /** The ELF machine: x86-64 or aarch64 (which hosts it runs on). */
  arch: ElfArch;
}

export type ElfArch = 'x86-64' | 'aarch64';

/**
 * The architecture of an ELF executable for Linux on x86-64 or aarch64 (64-bit, little-endian,
 * an executable or a position-independent one), or the reason it is not one.
 */
export function elfArch(bytes: Uint8Array): { arch: ElfArch } | { reason: string } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return { reason: 'it is not an ELF file' };
  if (b[4] !== 2 || b[5] !== 1) return { reason: 'it is not a 64-bit little-endian ELF file' };
  const type = b.readUInt16LE(16);
  if (type !== 2 && type !== 3) return { reason: `it is an ELF file of type ${type}, not an executable` };
  const machine = b.readUInt16LE(18);
  if (machine === 0x3e) return { arch: 'x86-64' };
  if (machine === 0xb7) return { arch: 'aarch64' };
  return { reason: `it is an ELF executable for machine ${machine}, not x86-64 (62) or aarch64 (183)` };
}

/** The AVML version a crates.io build names in its own bytes (`avml-0.21.0/src/…`), if any. */
export function embeddedAvmlVersion(bytes: Uint8Array): string | undefined {
  const m = /avml-(\d+\.\d+\.\d+)[/\\]src/.exec(Buffer.from(bytes).toString('latin1'));
  return m?.[1];
}

export interface PublishMemoryToolInput {
  bytes: Uint8Array;
  /** Where the bytes came from (named in errors). */
  file: string;
  /** AVML's version; default: the one the binary names, else `unknown`. */
  version?: string;
  source?: 'supplied' | 'built';
  now?: () => Date;
}

export type MemoryToolVault = {
  account: AccountCalls<{ s3: 'headObject' | 'putObject' }>;
  bucket: string;
  vaultKeyArn: string;
};

/**
 * Put an AVML binary into the vault and point `tools/memory/avml.json` at it. Refuses (exit 2,
 * MEMORY_TOOL_INVALID) a file that is not an ELF executable for x86-64 or aarch64. The binary is
 * uploaded once per content (a rerun with the same file only rewrites the pointer).
 */
export async function publishMemoryTool(
  vault: MemoryToolVault,
  o: PublishMemoryToolInput,
): Promise<MemoryToolPointer & { uploaded: boolean }> {
  const elf = elfArch(o.bytes);
  if ('reason' in elf)
    throw new UsageError(
      'MEMORY_TOOL_INVALID',
      `${o.file} is not an AVML binary cleanroom can run on a Linux host: ${elf.reason}. Give the avml executable (from https://github.com/microsoft/avml/releases, or built with scripts/build-avml).`,
      { details: { file: o.file, reason: elf.reason } },
    );
  if (o.version !== undefined && !/^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/.test(o.version))
    throw new UsageError('INVALID_VALUE', `--version ${JSON.stringify(o.version)} is not a version (e.g. 0.21.0).`);
  const sha256 = createHash('sha256').update(o.bytes).digest('hex');
  const key = memoryToolKey(sha256);
  const put = await putVaultObjectOnce(vault.account, {
    bucket: vault.bucket,
    key,
    body: o.bytes,
    sha256,
    vaultKeyArn: vault.vaultKeyArn,
    contentType: 'application/octet-stream',
  });
  const pointer: MemoryToolPointer = {
    schema: MEMORY_TOOL_SCHEMA,
    tool: 'avml',
    version: o.version ?? embeddedAvmlVersion(o.bytes) ?? 'unknown',
    sha256,
    size: o.bytes.byteLength,
    key,
    source: o.source ?? 'supplied',
    publishedAt: (o.now?.() ?? new Date()).toISOString(),
    arch: elf.arch,
  };
  const body = Buffer.from(`${JSON.stringify(pointer, null, 2)}\n`);
  await vault.account.s3.putObject({
    Bucket: vault.bucket,
    Key: MEMORY_TOOL_POINTER_KEY,
    Body: body,
    ContentType: 'application/json',
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: vault.vaultKeyArn,
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
  });
  return { ...pointer, uploaded: put.uploaded };
}

const missing = (why: string) =>
  new UsageError(
    'MEMORY_TOOL_MISSING',
    `${why}: put AVML into the vault first with \`cleanroom memory tools --avml FILE\` (a release from https://github.com/microsoft/avml/releases, or scripts/build-avml).`,
  );

/**
 * The tool the pointer names, checked: the pointer's schema, and the binary there with the size
 * it records. Refuses (MEMORY_TOOL_MISSING, exit 2) when there is no pointer or no binary.
 */
export async function readMemoryTool(vault: {
  account: AccountCalls<{ s3: 'getObject' | 'headObject' }>;
  bucket: string;
}): Promise<MemoryToolPointer> {
  let text: string;
  try {
    const r = await vault.account.s3.getObject({ Bucket: vault.bucket, Key: MEMORY_TOOL_POINTER_KEY });
    const chunks: Buffer[] = [];
    for await (const c of r.Body as Readable) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    if (isAwsCode(e, 'NoSuchKey', 'NotFound', '404'))
      throw missing(`The vault ${vault.bucket} holds no memory capture tool (${MEMORY_TOOL_POINTER_KEY})`);
    throw e;
  }
  let p: MemoryToolPointer;
  try {
    p = JSON.parse(text) as MemoryToolPointer;
  } catch {
    throw new CleanroomError('MEMORY_TOOL_MISSING', `${MEMORY_TOOL_POINTER_KEY} in ${vault.bucket} is not JSON.`, {
      exitCode: 2,
    });
  }
  if (p.schema !== MEMORY_TOOL_SCHEMA || !/^[0-9a-f]{64}$/.test(p.sha256 ?? '') || p.key !== memoryToolKey(p.sha256))
    throw missing(`${MEMORY_TOOL_POINTER_KEY} in ${vault.bucket} is not a ${MEMORY_TOOL_SCHEMA} pointer`);
  try {
    const head = await vault.account.s3.headObject({ Bucket: vault.bucket, Key: p.key });
    if (head.ContentLength !== p.size)
      throw missing(`${p.key} holds ${head.ContentLength} bytes, not the ${p.size} its pointer records`);
  } catch (e) {
    if (isAwsCode(e, 'NoSuchKey', 'NotFound', '404'))
      throw missing(`${MEMORY_TOOL_POINTER_KEY} names ${p.key}, which is not in the vault`);
    throw e;
  }
  return p;
}

/** A presigned GET of the tool's binary, for the host (it checks the SHA-256 before it runs it). */
export async function presignMemoryToolUrl(
  vault: { account: AccountCalls<{ s3Presign: 'getObject' }>; bucket: string },
  o: { tool: Pick<MemoryToolPointer, 'key'>; expiresInSeconds: number; signingDate?: Date },
): Promise<string> {
  return vault.account.s3Presign.getObject(
    { Bucket: vault.bucket, Key: o.tool.key },
    { expiresInSeconds: o.expiresInSeconds, ...(o.signingDate ? { signingDate: o.signingDate } : {}) },
  );
}
