/**
 * `cleanroom memory tools --avml FILE [--version V]`: the memory capture tool into the vault.
 * Checks the vault complies (as every writer does), refuses a file that is not an ELF executable
 * for x86-64 or aarch64 Linux, puts the binary under `tools/memory/avml/<sha256>` and points
 * `tools/memory/avml.json` at it (src/evidence/memory-tool.ts). Not a case: no custody event.
 */
import { readFile } from 'node:fs/promises';
import type { AwsAccount } from '../../aws/ports.js';
import { UsageError } from '../../domain/errors.js';
import { throwIfAborted } from '../../domain/abort.js';
import { requireCompliantVault } from '../../custody/vault/gate.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';
import { publishMemoryTool, type MemoryToolPointer } from '../../evidence/memory-tool.js';

export {
  MEMORY_TOOL_POINTER_KEY,
  MEMORY_TOOL_SCHEMA,
  elfArch,
  readMemoryTool,
  type MemoryToolPointer,
} from '../../evidence/memory-tool.js';

export interface MemoryToolsOptions {
  /** The AVML binary: a path, or its bytes. */
  avml: string | { bytes: Uint8Array; name: string };
  version?: string;
  source?: 'supplied' | 'built';
  bucket?: string;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface MemoryToolsResult extends MemoryToolPointer {
  bucket: string;
  /** False when the vault already held this binary (only the pointer was written). */
  uploaded: boolean;
}

export async function memoryTools(account: AwsAccount, o: MemoryToolsOptions): Promise<MemoryToolsResult> {
  const file = typeof o.avml === 'string' ? o.avml : o.avml.name;
  let bytes: Uint8Array;
  if (typeof o.avml === 'string') {
    try {
      bytes = await readFile(o.avml);
    } catch (e) {
      throw new UsageError(
        'MEMORY_TOOL_INVALID',
        `Cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`,
        { cause: e, details: { file } },
      );
    }
  } else bytes = o.avml.bytes;
  throwIfAborted(o.signal);
  const vault = await requireCompliantVault(account, await resolveVaultBucket(account, o.bucket));
  throwIfAborted(o.signal);
  const r = await publishMemoryTool(
    { account, bucket: vault.bucket, vaultKeyArn: vault.vaultKeyArn },
    {
      bytes,
      file,
      ...(o.version !== undefined ? { version: o.version } : {}),
      ...(o.source ? { source: o.source } : {}),
      ...(o.now ? { now: o.now } : {}),
    },
  );
  return { ...r, bucket: vault.bucket };
}
