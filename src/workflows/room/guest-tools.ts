/**
 * The guest tooling (scripts/guest/: read-only udev rule, mount helper, status script, install.sh)
 * uploaded to the vault under the case's tools prefix, where the room's user data downloads it at
 * boot. Stored SSE-KMS under the vault key; each object carries its SHA-256 (metadata and S3
 * checksum), so a rerun uploads only what changed and the custody record says exactly what the
 * room ran. The tools are compiled into the build (src/assets/generated/guest-tools.ts, generated
 * from scripts/guest/ by `npm run build`, exact bytes and executable bits), so a bundle carries them.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { CleanroomError } from '../../domain/errors.js';
import type { Reporter } from '../../domain/reporter.js';
import { guestToolsPrefix } from '../../domain/vault-name.js';
import { GUEST_TOOLS } from '../../assets/generated/guest-tools.js';
import { packagePath } from '../../assets/package-path.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { putVaultObjectOnce } from '../../resources/vault-object.js';

/** scripts/guest/ of the installed package (dist/workflows/room → ../../../scripts/guest): the source of {@link builtInGuestTools}. */
export const GUEST_TOOLS_DIR = packagePath(import.meta.url, '../../../scripts/guest', 'scripts/guest');

export interface GuestFile {
  name: string;
  key: string;
  sha256: string;
  bytes: number;
  /** True when this run uploaded it (false: the same content was already there). */
  uploaded: boolean;
  versionId?: string;
}

export interface GuestTools {
  bucket: string;
  prefix: string;
  /** SHA-256 over the sorted `name sha256` lines: names the bundle in the record. */
  digest: string;
  files: GuestFile[];
}

export interface GuestToolFile {
  name: string;
  body: Buffer;
  sha256: string;
  /** Permission bits (0o755 for the executables install.sh installs as commands, else 0o644). */
  mode: number;
}

/** The guest tools compiled into this build (scripts/guest/ when it was built), sorted by name. */
export function builtInGuestTools(): GuestToolFile[] {
  return GUEST_TOOLS.map((f) => {
    const body = Buffer.from(f.base64, 'base64');
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (sha256 !== f.sha256)
      throw new CleanroomError(
        'INSTALLATION_INCOMPLETE',
        `The guest tool ${f.name} built into cleanroom does not match its recorded SHA-256: reinstall cleanroom.`,
        { details: { name: f.name } },
      );
    return { name: f.name, body, sha256, mode: f.mode };
  });
}

/** Read a bundle from a folder on disk (regular files only, sorted by name). */
export function readGuestTools(dir: string): GuestToolFile[] {
  return readdirSync(dir)
    .filter((n) => statSync(path.join(dir, n)).isFile())
    .sort()
    .map((name) => {
      const file = path.join(dir, name);
      const body = readFileSync(file);
      return { name, body, sha256: createHash('sha256').update(body).digest('hex'), mode: statSync(file).mode & 0o777 };
    });
}

export function bundleDigest(files: ReadonlyArray<{ name: string; sha256: string }>): string {
  return createHash('sha256')
    .update(files.map((f) => `${f.name} ${f.sha256}\n`).join(''))
    .digest('hex');
}

/**
 * Upload what is missing or different, then record the bundle (once per bundle digest: a rerun
 * with the same tooling appends nothing). A failure partway is recorded with what was uploaded.
 */
export async function uploadGuestTools(
  account: AwsAccount,
  o: {
    caseId: string;
    bucket: string;
    vaultKeyArn: string /** A folder to upload instead of the built-in tools. */;
    dir?: string;
    custody: CustodyRecorder;
    reporter: Reporter;
  },
): Promise<GuestTools> {
  const prefix = guestToolsPrefix(o.caseId);
  const local = o.dir === undefined ? builtInGuestTools() : readGuestTools(o.dir);
  const from = o.dir ?? `the guest tools built into cleanroom (from ${GUEST_TOOLS_DIR})`;
  if (!local.some((f) => f.name === 'install.sh'))
    throw new CleanroomError(
      'INSTALLATION_INCOMPLETE',
      `The guest tooling in ${from} has no install.sh; the package is incomplete: reinstall cleanroom.`,
      { details: { dir: o.dir ?? GUEST_TOOLS_DIR } },
    );
  const digest = bundleDigest(local);
  const accountId = await account.accountId();
  const resources = [resourceRef('s3:prefix', `s3://${o.bucket}/${prefix}`, accountId, account.region)];
  const files: GuestFile[] = [];
  const listed = () =>
    files.map(({ name, key, sha256, bytes, uploaded, versionId }) => ({
      name,
      key,
      sha256,
      bytes,
      uploaded,
      ...(versionId ? { versionId } : {}),
    }));
  try {
    for (const f of local) files.push(await uploadOne(account, o, `${prefix}${f.name}`, f));
  } catch (e) {
    // What was uploaded before the failure is in the vault: the record says so.
    await o.custody.record({
      action: 'room.guest-tools',
      resources,
      inputs: { digest },
      outcome: {
        status: files.some((f) => f.uploaded) ? 'partial' : 'failed',
        error: { code: e instanceof CleanroomError ? e.code : 'INTERNAL', message: (e as Error).message },
        details: { bucket: o.bucket, prefix, digest, files: listed() },
      },
    });
    throw e;
  }
  await new StepRecorder(o.custody).record(
    idempotencyKeys.room.guestTools(digest),
    'room.guest-tools',
    resources,
    {
      status: 'succeeded',
      details: {
        bucket: o.bucket,
        prefix,
        digest,
        kmsKeyArn: o.vaultKeyArn,
        uploaded: files.filter((f) => f.uploaded).length,
        files: listed(),
      },
    },
    { digest },
  );
  return { bucket: o.bucket, prefix, digest, files };
}

/** Upload one file unless the vault already holds the same content under its key. */
async function uploadOne(
  account: AwsAccount,
  o: { bucket: string; vaultKeyArn: string; reporter: Reporter },
  key: string,
  f: { name: string; body: Buffer; sha256: string },
): Promise<GuestFile> {
  const file = { name: f.name, key, sha256: f.sha256, bytes: f.body.length };
  const put = await putVaultObjectOnce(account, {
    bucket: o.bucket,
    key,
    body: f.body,
    sha256: f.sha256,
    vaultKeyArn: o.vaultKeyArn,
    contentType: 'text/plain; charset=utf-8',
  });
  if (put.uploaded)
    o.reporter.progress({ kind: 'step', message: `uploaded guest tool ${f.name} to s3://${o.bucket}/${key}` });
  return { ...file, ...put };
}
