/**
 * `custody log`: the case's events as stored (current versions, in sequence order), read-only and
 * without judging them — `custody verify` judges.
 */
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { mapPool } from '../domain/pool.js';
import { resolveVaultBucket } from './vault/bucket.js';
import type { CustodyEvent } from './event.js';
import { getBytes, listCustodyKeys } from './store.js';
import { CHECKPOINT_ACTION, LaneSet } from './lanes.js';
import { unknownCaseError } from './case-exists.js';
import { sessionOfEvent, type RecordedSession } from './room-sessions.js';
import { viaOf } from './actor.js';
import type { ActorContext } from '../domain/recorder.js';

/** One line of the timeline (the contract's fields first). */
export interface LogEntry
  extends Pick<CustodyEvent, 'seq' | 'time' | 'actor' | 'action' | 'hash' | 'prevHash' | 'resources'> {
  status: string;
  error?: { code: string; message: string };
  /** Set on a lane event (its `seq` is then its position in the lane); it is listed right before the checkpoint that commits it, or at the end when none does yet. */
  lane?: string;
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
  const listed = await listCustodyKeys(account, bucket, opts.caseId);
  const keys = listed.events;
  if (keys.length === 0 && listed.lanes.length === 0) throw await unknownCaseError(account, bucket, opts.caseId);
  // Lanes (many writers): read first, so each checkpoint lists the lane events it commits before itself.
  const lanes = new LaneSet(opts.caseId, () => undefined);
  const laneObjects = await mapPool(listed.lanes, opts.concurrency ?? 16, async (k) => ({
    k,
    obj: await getBytes(account, bucket, k.key),
  }));
  for (const g of laneObjects) {
    if (!g.ok) throw g.error;
    if (g.value.obj) lanes.addObject(g.value.k.lane, g.value.k.first, g.value.obj.body);
  }
  lanes.order();
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
    if (ev.action === CHECKPOINT_ACTION && lanes.size > 0)
      lanes.commit(seq, ev as CustodyEvent, (le) => events.push(entryOf(le.seq, le)));
    events.push(entryOf(seq, ev));
  }
  for (const le of lanes.uncommittedEvents()) events.push(entryOf(le.seq, le));
  return { bucket, events };
}

/** One line of the timeline from a stored event (what of it is readable). */
function entryOf(seq: number, ev: Partial<CustodyEvent>): LogEntry {
  const entry: LogEntry = {
    seq,
    time: String(ev.time ?? ''),
    actor: String(ev.actor ?? ''),
    action: String(ev.action ?? '(unreadable)'),
    hash: String(ev.hash ?? ''),
    prevHash: String(ev.prevHash ?? ''),
    status: String(ev.outcome?.status ?? ''),
    resources: Array.isArray(ev.resources) ? ev.resources : [],
    ...(ev.outcome?.error ? { error: ev.outcome.error } : {}),
    ...(typeof ev.lane === 'string' ? { lane: ev.lane } : {}),
  };
  const via = viaOf(ev);
  if (via) entry.via = via;
  const session = sessionOfEvent(seq, ev);
  if (session) entry.session = session;
  return entry;
}
