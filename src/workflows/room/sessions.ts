/**
 * `room sessions`: the sessions of a case's room as the custody record holds them, reconciled with
 * Session Manager's own list (DescribeSessions, state Active and History, filtered to the case's
 * instances: the room's current instance and every instance a recorded session names). A session
 * Session Manager knows and the record does not — someone ran `aws ssm start-session` directly,
 * past `room shell` — is `unrecorded` (the CLI exits 3). With `record`, each unrecorded session that
 * has ended is recorded as a `room.session` with `found: true` (its owner as the actor, its times,
 * and its transcript when Session Manager wrote one into the case's sessions folder of the vault:
 * hashed as it is read), once (idempotency key by session id); a session still active is left for
 * a later run. Read-only without `record`.
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import { assertCaseId } from '../../domain/case-id.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { readCaseLog } from '../../custody/log.js';
import { withCustodySession, type CustodySource, type SealState } from '../../custody/session.js';
import {
  sessionsPrefix,
  SESSION_END_ACTION,
  type RecordedSession,
  type SessionTranscript,
} from '../../custody/room-sessions.js';
import { readTranscript } from '../../custody/verify-transcripts.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';
import { readRoomStack, roomInfo } from '../../resources/stacks.js';
import { resourceRef } from '../../resources/refs.js';

/** A session as Session Manager lists it. */
export interface ManagerSession {
  sessionId: string;
  /** The IAM identity that started it (Session Manager's `Owner`). */
  owner?: string;
  /** The instance. */
  target?: string;
  /** `Connected`, `Terminated`, `Failed`, … */
  status?: string;
  /** `Active` or `History`: the list it was found in. */
  state: 'Active' | 'History';
  startedAt?: string;
  endedAt?: string;
  document?: string;
  reason?: string;
}

/** A session of the record, and whether Session Manager still lists it (it keeps 30 days of history). */
export interface RecordedRoomSession extends RecordedSession {
  inSessionManager: boolean;
}

export interface RoomSessionsResult {
  case: string;
  bucket: string;
  /** The instances whose sessions were asked for. */
  instances: string[];
  /** The record's sessions: one per session id (its end event, or its start when it has none). */
  recorded: RecordedRoomSession[];
  /** Sessions Session Manager knows and the record does not. */
  unrecorded: ManagerSession[];
  /** With `record`: the unrecorded sessions recorded now (`room.session`, `found: true`). */
  recordedNow: Array<{ sessionId: string; seq: number; transcript: SessionTranscript | null }>;
  /** With `record`: unrecorded sessions not recorded yet, and why (still active). */
  notRecorded: Array<{ sessionId: string; why: string }>;
  /** True when every session Session Manager knows is in the record (before this run recorded any). */
  ok: boolean;
}

export type RoomSessionsAccount = Pick<AwsAccount, 'accountId' | 'region'> &
  AccountCalls<{ ssm: 'describeSessions'; s3: 'listObjectsV2' | 'getObject'; cfn: 'describeStacks' }>;

export interface RoomSessionsDeps {
  account: RoomSessionsAccount;
  /** The case's record, opened for writing: needed only with `record`. */
  custody?: CustodySource;
  reporter?: Reporter;
}

export interface RoomSessionsOptions {
  caseId: string;
  bucket?: string;
  /** Record the sessions Session Manager knows and the record does not (`room.session`, `found: true`). */
  record?: boolean;
  signal?: AbortSignal;
}

/** Session Manager's statuses of a session that has not ended. */
const ACTIVE = new Set(['Connected', 'Connecting', 'Disconnected', 'Terminating']);

const iso = (d: Date | string | undefined): string | undefined =>
  d === undefined ? undefined : new Date(d).toISOString();

/** Every session Session Manager lists for one instance, in one state (all pages). */
async function describeSessions(
  account: AccountCalls<{ ssm: 'describeSessions' }>,
  instanceId: string,
  state: 'Active' | 'History',
): Promise<ManagerSession[]> {
  const out: ManagerSession[] = [];
  let NextToken: string | undefined;
  do {
    const r = await account.ssm.describeSessions({
      State: state,
      Filters: [{ key: 'Target', value: instanceId }],
      ...(NextToken ? { NextToken } : {}),
    });
    for (const s of r.Sessions ?? []) {
      if (!s.SessionId) continue;
      const startedAt = iso(s.StartDate);
      const endedAt = iso(s.EndDate);
      out.push({
        sessionId: s.SessionId,
        state,
        ...(s.Owner ? { owner: s.Owner } : {}),
        ...(s.Target ? { target: s.Target } : {}),
        ...(s.Status ? { status: s.Status } : {}),
        ...(startedAt ? { startedAt } : {}),
        ...(endedAt ? { endedAt } : {}),
        ...(s.DocumentName ? { document: s.DocumentName } : {}),
        ...(s.Reason ? { reason: s.Reason } : {}),
      });
    }
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  return out;
}

/** One entry per session id: its end event, or its start when the record holds no end. */
function latestPerSession(sessions: readonly RecordedSession[]): RecordedSession[] {
  const byId = new Map<string, RecordedSession>();
  for (const s of sessions) {
    const had = byId.get(s.sessionId);
    if (!had || s.action === SESSION_END_ACTION || had.action !== SESSION_END_ACTION) byId.set(s.sessionId, s);
  }
  return [...byId.values()];
}

/** The sessions of a case's room, from the record and from Session Manager; optionally record the missing ones. */
export async function roomSessions(
  deps: RoomSessionsDeps,
  opts: RoomSessionsOptions,
): Promise<RoomSessionsResult & { seal?: SealState }> {
  const caseId = assertCaseId(opts.caseId);
  const { account } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const bucket = await resolveVaultBucket(account, opts.bucket);
  reporter.progress({ kind: 'step', message: `reading the sessions of case ${caseId} from its custody record` });
  const log = await readCaseLog(account, { caseId, bucket });
  const recordedAll = log.events.flatMap((e) => (e.session ? [e.session] : []));
  const stack = await readRoomStack(account, caseId);
  const current = stack ? roomInfo(caseId, stack).instanceId : undefined;
  const instances = [
    ...new Set([...(current ? [current] : []), ...recordedAll.flatMap((s) => (s.instanceId ? [s.instanceId] : []))]),
  ].sort();

  reporter.progress({
    kind: 'step',
    message: `asking Session Manager for the sessions to ${instances.length ? instances.join(', ') : 'no instance'}`,
  });
  const managed: ManagerSession[] = [];
  for (const id of instances)
    for (const state of ['Active', 'History'] as const) managed.push(...(await describeSessions(account, id, state)));
  const seen = new Map<string, ManagerSession>();
  for (const m of managed) if (!seen.has(m.sessionId) || m.state === 'History') seen.set(m.sessionId, m);

  const known = new Set(recordedAll.map((s) => s.sessionId));
  const recorded = latestPerSession(recordedAll).map((s) => ({ ...s, inSessionManager: seen.has(s.sessionId) }));
  const unrecorded = [...seen.values()]
    .filter((m) => !known.has(m.sessionId))
    .sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt)) || a.sessionId.localeCompare(b.sessionId));
  const base: RoomSessionsResult = {
    case: caseId,
    bucket,
    instances,
    recorded,
    unrecorded,
    recordedNow: [],
    notRecorded: [],
    ok: unrecorded.length === 0,
  };
  if (!opts.record || unrecorded.length === 0) return base;

  const accountId = await account.accountId();
  return withCustodySession(deps.custody, opts.signal, async (session) => {
    const custody = await session.open();
    for (const m of unrecorded) {
      session.checkpoint(`recording session ${m.sessionId}`);
      if (m.state === 'Active' || (m.status && ACTIVE.has(m.status))) {
        base.notRecorded.push({
          sessionId: m.sessionId,
          why: `still ${m.status ?? 'active'}: its transcript is written when it ends; run again then`,
        });
        continue;
      }
      const key = `${sessionsPrefix(caseId)}${m.sessionId}.log`;
      const got = await readTranscript(account, { bucket, key });
      const transcript: SessionTranscript | null = got
        ? { bucket, key, ...(got.versionId ? { versionId: got.versionId } : {}), sha256: got.sha256, bytes: got.bytes }
        : null;
      const portForward = /port-?forward/i.test(m.document ?? '');
      const ev = await custody.record({
        action: 'room.session',
        resources: [
          resourceRef('ec2:instance', m.target ?? instances[0] ?? 'unknown', accountId, account.region),
          ...(transcript
            ? [resourceRef('s3:object', key, accountId, account.region, `arn:aws:s3:::${bucket}/${key}`)]
            : []),
        ],
        outcome: {
          status: 'succeeded',
          details: {
            session: {
              sessionId: m.sessionId,
              ...(m.target ? { instanceId: m.target } : {}),
              ...(m.document ? { document: m.document } : {}),
              kind: portForward ? 'port-forward' : 'shell',
              ...(m.owner ? { actor: m.owner } : {}),
              ...(m.startedAt ? { startedAt: m.startedAt } : {}),
              ...(m.endedAt ? { endedAt: m.endedAt } : {}),
              transcript,
              status: m.status === 'Failed' ? 'failed' : 'closed',
              reason: [
                `found in Session Manager's history (status ${m.status ?? 'unknown'}) and not in the record: it was not started with \`cleanroom room shell\``,
                ...(transcript ? [] : [`no transcript at s3://${bucket}/${key}`]),
                ...(m.reason ? [`Session Manager says: ${m.reason}`] : []),
              ].join('; '),
              found: true,
            },
          },
        },
        idempotencyKey: idempotencyKeys.room.sessionFound(m.sessionId),
      });
      base.recordedNow.push({ sessionId: m.sessionId, seq: ev.seq, transcript });
    }
    return base;
  });
}
