/**
 * The session transcripts of a case, checked in the vault: for every `room.session` event with a
 * transcript, the recorded object version is read (by its version id, so a version written over it
 * changes nothing) and streamed through SHA-256 — never held whole — and compared with the SHA-256
 * and size the event records; its Object Lock retention is checked as the events' is. A few are
 * read at once (bounded). `custody export` hands a file for each, so the bytes it hashed are the
 * bytes the bundle carries.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type { AccountCalls } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { mapPool } from '../domain/pool.js';
import { hashEquals } from './event.js';
import type { RecordedSession, SessionTranscript } from './room-sessions.js';
import { bodyChunks } from '../resources/body.js';
import {
  type ChainChecker,
  type Findings,
  type TranscriptCheck,
  recordedTranscripts,
  transcriptCheck,
} from './verify.js';

export interface TranscriptReadOptions {
  /** Parallel reads (default 4). */
  concurrency?: number;
  /** A new file to write a session's transcript into as it is hashed (export), or undefined. */
  transcriptFile?: (session: RecordedSession) => string | undefined;
  /** Object Lock retention of each transcript version read, for the retention check. */
  onRetention?: (seq: number, what: string, got: { lockMode?: string; retainUntil?: Date }) => void;
}

/**
 * What a read of a transcript (or any object) gave: its SHA-256 and size, streamed, its version and
 * retention; undefined when the object (version) is not there.
 */
export async function readTranscript(
  account: AccountCalls<{ s3: 'getObject' }>,
  t: Pick<SessionTranscript, 'bucket' | 'key' | 'versionId'>,
  file?: string,
): Promise<{ sha256: string; bytes: number; versionId?: string; lockMode?: string; retainUntil?: Date } | undefined> {
  let r: Awaited<ReturnType<typeof account.s3.getObject>>;
  try {
    r = await account.s3.getObject({
      Bucket: t.bucket,
      Key: t.key,
      ...(t.versionId ? { VersionId: t.versionId } : {}),
    });
  } catch (e) {
    // A version id S3 does not know is NoSuchVersion (or, malformed, InvalidArgument); a current
    // version that is a delete marker is NoSuchKey.
    if (isAwsCode(e, 'NoSuchKey', 'NoSuchVersion', 'NotFound', ...(t.versionId ? ['InvalidArgument'] : [])))
      return undefined;
    throw e;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const out = file ? fs.createWriteStream(file, { flags: 'wx' }) : undefined;
  try {
    for await (const c of bodyChunks(
      r.Body,
      () => new Error(`the body of s3://${t.bucket}/${t.key} is neither bytes nor a stream`),
    )) {
      hash.update(c);
      bytes += c.byteLength;
      if (out && !out.write(c)) await once(out, 'drain');
    }
  } finally {
    if (out) await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
  }
  return {
    sha256: hash.digest('hex'),
    bytes,
    ...(r.VersionId ? { versionId: r.VersionId } : {}),
    ...(r.ObjectLockMode ? { lockMode: r.ObjectLockMode } : {}),
    ...(r.ObjectLockRetainUntilDate ? { retainUntil: new Date(r.ObjectLockRetainUntilDate) } : {}),
  };
}

/** Check every transcript the chain's session events name; findings go to `findings`. */
export async function checkVaultTranscripts(
  account: AccountCalls<{ s3: 'getObject' }>,
  chain: ChainChecker,
  findings: Findings,
  opts: TranscriptReadOptions = {},
): Promise<TranscriptCheck[]> {
  const list = recordedTranscripts(chain.sessions);
  const read = await mapPool(list, opts.concurrency ?? 4, async ({ session, transcript }) => ({
    session,
    transcript,
    got: await readTranscript(account, transcript, opts.transcriptFile?.(session)),
  }));
  const out: TranscriptCheck[] = [];
  for (const x of read) {
    if (!x.ok) throw x.error;
    const { session: s, transcript: t, got } = x.value;
    const where = `s3://${t.bucket}/${t.key}${t.versionId ? ` (version ${t.versionId})` : ''}`;
    let ok = true;
    if (!got) {
      ok = false;
      findings.add(
        'TRANSCRIPT_MISSING',
        s.seq,
        `the transcript of session ${s.sessionId} recorded at event ${s.seq} is not in the vault: ${where} is gone`,
      );
    } else {
      if (!hashEquals(got.sha256, t.sha256) || (t.bytes >= 0 && got.bytes !== t.bytes)) {
        ok = false;
        findings.add(
          'TRANSCRIPT_MISMATCH',
          s.seq,
          `the transcript of session ${s.sessionId} (${where}) hashes to ${got.sha256.slice(0, 16)}… (${got.bytes} bytes), not the ${t.sha256.slice(0, 16)}… (${t.bytes} bytes) event ${s.seq} records: it was changed`,
        );
      }
      opts.onRetention?.(s.seq, `the transcript of session ${s.sessionId} (${where})`, got);
    }
    out.push(transcriptCheck(s, t, ok));
  }
  return out;
}
