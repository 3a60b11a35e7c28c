/**
 * Session Manager sessions as the custody record holds them: `room.session.start` (an analyst
 * entered the room) and `room.session` (the session ended; its transcript object and SHA-256),
 * read back from stored events for verification, the export bundle, the report, `custody log` and
 * `room sessions`. Stored events are read as they are: a field missing or of another type is "not
 * recorded", never a crash (the chain checker judges the event itself).
 *
 * `room.session` `outcome.details.session`: `{ sessionId, instanceId, document, kind:
 * 'shell'|'port-forward', portForward?: { local, remote }, actor, startedAt, endedAt, transcript:
 * { bucket, key, versionId?, sha256, bytes } | null, status: 'closed'|'failed', reason?, found? }`
 * (`found: true`: recorded afterwards by `room sessions --record`, from Session Manager's history).
 */

/** The transcript object of a session, as recorded. */
export interface SessionTranscript {
  bucket: string;
  key: string;
  versionId?: string;
  sha256: string;
  bytes: number;
}

/** One session event of the record, reduced to what verification, the report and the log show. */
export interface RecordedSession {
  /** The event's sequence number, time and the actor who recorded it. */
  seq: number;
  time: string;
  recordedBy: string;
  /** `room.session.start` or `room.session`. */
  action: string;
  sessionId: string;
  instanceId?: string;
  document?: string;
  kind?: string;
  portForward?: { local: number | string; remote: number | string };
  /** Who entered the room (the caller ARN, or Session Manager's owner for a found session). */
  actor?: string;
  startedAt?: string;
  endedAt?: string;
  /** The transcript, null when there is none (a port forward, a failed upload), undefined when not recorded. */
  transcript?: SessionTranscript | null;
  status?: string;
  reason?: string;
  /** Recorded afterwards from Session Manager's history (`room sessions --record`), not when it ran. */
  found?: boolean;
}

/** The custody actions of a session's start and end. */
export const SESSION_START_ACTION = 'room.session.start';
export const SESSION_END_ACTION = 'room.session';

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A recorded transcript: bucket, key and a 64-hex SHA-256 at least; otherwise not one. */
function transcriptOf(v: unknown): SessionTranscript | null | undefined {
  if (v === null) return null;
  const t = obj(v);
  if (!t) return undefined;
  const bucket = str(t['bucket']);
  const key = str(t['key']);
  const sha256 = str(t['sha256']);
  if (!bucket || !key || !sha256) return undefined;
  const versionId = str(t['versionId']);
  return {
    bucket,
    key,
    ...(versionId ? { versionId } : {}),
    sha256: sha256.toLowerCase(),
    bytes: typeof t['bytes'] === 'number' ? t['bytes'] : -1,
  };
}

/** The session a stored event records, or undefined when it is not a session event. */
export function sessionOfEvent(
  seq: number,
  ev: { action?: unknown; time?: unknown; actor?: unknown; outcome?: { details?: unknown } } | undefined,
): RecordedSession | undefined {
  if (!ev || (ev.action !== SESSION_START_ACTION && ev.action !== SESSION_END_ACTION)) return undefined;
  const s = obj(obj(ev.outcome?.details)?.['session']);
  const sessionId = str(s?.['sessionId']);
  if (!s || !sessionId) return undefined;
  const pf = obj(s['portForward']);
  const transcript = transcriptOf(s['transcript']);
  const pick = (k: string) => str(s[k]);
  const out: RecordedSession = {
    seq,
    time: String(ev.time ?? ''),
    recordedBy: String(ev.actor ?? ''),
    action: String(ev.action),
    sessionId,
  };
  for (const k of ['instanceId', 'document', 'kind', 'actor', 'startedAt', 'endedAt', 'status', 'reason'] as const) {
    const v = pick(k);
    if (v !== undefined) out[k] = v;
  }
  if (pf && (pf['local'] !== undefined || pf['remote'] !== undefined))
    out.portForward = { local: pf['local'] as number | string, remote: pf['remote'] as number | string };
  if (transcript !== undefined) out.transcript = transcript;
  if (s['found'] === true) out.found = true;
  return out;
}

/** A session id as a file name of the bundle may hold it (Session Manager's ids: `<owner>-<hex>`). */
const SESSION_FILE_ID = /^[A-Za-z0-9][\w+=,.@-]{0,254}$/;

/** The bundle's file of a session's transcript, `sessions/<session id>.log`; undefined for an id that is no plain file name. */
export function transcriptFile(sessionId: string): string | undefined {
  return SESSION_FILE_ID.test(sessionId) && !sessionId.includes('..') ? `sessions/${sessionId}.log` : undefined;
}

/** The folder of the transcripts in a case: `cases/<case>/sessions/` (Session Manager writes `<prefix><session id>.log`). */
export function sessionsPrefix(caseId: string): string {
  return `cases/${caseId}/sessions/`;
}

/** How long a session lasted, in words (`42 min 5 s`), or undefined without both times. */
export function sessionDuration(s: Pick<RecordedSession, 'startedAt' | 'endedAt'>): string | undefined {
  const a = s.startedAt ? Date.parse(s.startedAt) : Number.NaN;
  const b = s.endedAt ? Date.parse(s.endedAt) : Number.NaN;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) return undefined;
  const secs = Math.round((b - a) / 1000);
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const sec = secs % 60;
  return [h ? `${h} h` : '', m ? `${m} min` : '', !h && (sec || !m) ? `${sec} s` : ''].filter(Boolean).join(' ');
}

/** One line for a person: who entered which instance, when, the session, the transcript's hash or why there is none. */
export function sessionLine(s: RecordedSession): string {
  const who = s.actor ?? 'someone (not recorded)';
  const where = s.instanceId ?? 'the room';
  const kind =
    s.kind === 'port-forward' && s.portForward
      ? `port-forward ${s.portForward.local}:${s.portForward.remote}`
      : (s.kind ?? 'session');
  if (s.action === SESSION_START_ACTION)
    return `${who} entered ${where} at ${s.startedAt ?? s.time} — session ${s.sessionId} (${kind}) started`;
  const span = `${s.startedAt ?? '?'} – ${s.endedAt ?? '?'}${sessionDuration(s) ? ` (${sessionDuration(s)})` : ''}`;
  const transcript = s.transcript
    ? `transcript ${s.transcript.key} sha256 ${s.transcript.sha256}`
    : `no transcript${s.reason ? `: ${s.reason}` : ''}`;
  return `${who} in ${where} ${span} — session ${s.sessionId} (${kind}) ${s.status ?? 'ended'}${s.found ? ', found afterwards in Session Manager’s history' : ''}; ${transcript}`;
}
