/**
 * `custody log`: the case's events as stored (current versions, in sequence order), read-only and
 * without judging them — `custody verify` judges.
 */
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { mapPool } from '../domain/pool.js';
import { resolveVaultBucket } from './vault/bucket.js';
import type { CustodyEvent } from './event.js';
import { getBytes, listEventKeys } from './store.js';
import { unknownCaseError } from './case-exists.js';
import { sessionOfEvent, type RecordedSession } from './room-sessions.js';
import { viaOf } from './actor.js';
import type { ActorContext } from '../domain/recorder.js';

/** One line of the timeline (the contract's fields first). */
export interface LogEntry
  extends Pick<CustodyEvent, 'seq' | 'time' | 'actor' | 'action' | 'hash' | 'prevHash' | 'resources'> {
  status: string;
  error?: { code: string; message: string };
  /** A session event (`room.session.start`, `room.session`): who entered, when, the session id, the transcript's SHA-256. */
  session?: RecordedSession;
  /** Automation's context of the append (the execution, the function, the code's SHA-256), when it has one. */
  via?: ActorContext;
}

/** The events of a case, for reading. Objects that are not JSON are shown as unreadable, not hidden. */
export async function readCaseLog(
  account: Pick<AwsAccount, 'accountId' | 'region'> & AccountCalls<{ s3: 'listObjectsV2' | 'getObject' }>,
  opts: { caseId: string; bucket?: string; concurrency?: number },
): Promise<{ bucket: string; events: LogEntry[] }> {
  const bucket = await resolveVaultBucket(account, opts.bucket);
  const keys = await listEventKeys(account, bucket, opts.caseId);
  if (keys.length === 0) throw await unknownCaseError(account, bucket, opts.caseId);
  const got = await mapPool(keys, opts.concurrency ?? 16, async (k) => ({
    seq: k.seq,
    obj: await getBytes(account, bucket, k.key),
  }));
  const events: LogEntry[] = [];
  for (const g of got) {
    if (!g.ok) throw g.error;
    const { seq, obj } = g.value;
    let ev: Partial<CustodyEvent> = {};
    try {
      ev = obj ? (JSON.parse(obj.body.toString('utf8')) as CustodyEvent) : {};
    } catch {
      ev = {};
    }
    events.push({
      seq,
      time: String(ev.time ?? ''),
      actor: String(ev.actor ?? ''),
      action: String(ev.action ?? '(unreadable)'),
      hash: String(ev.hash ?? ''),
      prevHash: String(ev.prevHash ?? ''),
      status: String(ev.outcome?.status ?? ''),
      resources: Array.isArray(ev.resources) ? ev.resources : [],
      ...(ev.outcome?.error ? { error: ev.outcome.error } : {}),
    });
    const via = viaOf(ev);
    if (via) events[events.length - 1]!.via = via;
    const session = sessionOfEvent(seq, ev);
    if (session) events[events.length - 1]!.session = session;
  }
  return { bucket, events };
}
