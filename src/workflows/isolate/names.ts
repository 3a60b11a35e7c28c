/**
 * Names, tags and policy documents of what `isolate` creates in the source account, and the
 * idempotency keys of its custody events. Everything is derived from the case id (and the VPC), so
 * a rerun on any machine finds what an earlier run made.
 */
import { createHash } from 'node:crypto';
import { TAG_ROLE } from '../../domain/tags.js';
import { caseTags } from '../../domain/case-id.js';
import { idempotencyKeys, parseIdempotencyKey, type KeyFamily, type ParsedKey } from '../../domain/idempotency-keys.js';
import type { RecordedEvent } from '../../domain/recorder.js';

/** EC2 instance ids: `i-` and 8 or 17 hex digits. */
export const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** The inline policy the IAM console's "Revoke active sessions" writes; isolate writes the same. */
export const REVOKE_POLICY_NAME = 'AWSRevokeOlderSessions';
/** The quarantine role's only policy. */
export const DENY_ALL_POLICY_NAME = 'cleanroom-deny-all';

/** Tags of a resource isolate creates for a case. */
export function isolationTags(caseId: string, role: string): { Key: string; Value: string }[] {
  return caseTags(caseId, { [TAG_ROLE]: role });
}

/** The isolation group of a case in a VPC: no rule in either direction. */
export function isolationGroupName(caseId: string): string {
  return `cleanroom-isolation-${caseId}`;
}

/**
 * The transit group: allows all traffic both ways (IPv4 and IPv6), so that the flows of an
 * interface moved into it become untracked and the isolation group then cuts them at once.
 */
export function transitGroupName(caseId: string): string {
  return `cleanroom-untrack-${caseId}`;
}

/**
 * The quarantine role and instance profile of a case: `cleanroom-quarantine-<case>`, shortened with
 * a hash when the case id is long (IAM role names are at most 64 characters).
 */
export function quarantineName(caseId: string): string {
  const plain = `cleanroom-quarantine-${caseId}`;
  if (plain.length <= 64) return plain;
  const digest = createHash('sha256').update(caseId).digest('hex').slice(0, 10);
  return `cleanroom-quarantine-${caseId.slice(0, 64 - 'cleanroom-quarantine-'.length - 11)}-${digest}`;
}

/** Trust policy of the quarantine role: EC2 may assume it (an instance profile needs that). */
export const QUARANTINE_TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** The quarantine role's policy: deny everything. */
export const DENY_ALL_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'CleanroomQuarantineDenyAll', Effect: 'Deny', Action: '*', Resource: '*' }],
});

/**
 * The session-revocation policy, as the IAM console's "Revoke active sessions" writes it: deny
 * everything to credentials of the role issued before `time`
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
 */
export function revokePolicy(time: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: {
      Effect: 'Deny',
      Action: ['*'],
      Resource: ['*'],
      Condition: { DateLessThan: { 'aws:TokenIssueTime': time } },
    },
  });
}

/** The `aws:TokenIssueTime` of a revocation policy document (IAM returns documents URL-encoded). */
export function revocationTime(document: string | undefined): string | undefined {
  if (!document) return undefined;
  try {
    const doc = JSON.parse(decodeURIComponent(document)) as { Statement?: unknown };
    const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
    for (const s of statements as Array<{ Effect?: string; Condition?: { DateLessThan?: Record<string, string> } }>) {
      const t = s?.Condition?.DateLessThan?.['aws:TokenIssueTime'];
      if (s?.Effect === 'Deny' && typeof t === 'string') return t;
    }
  } catch {
    // not a revocation policy
  }
  return undefined;
}

/** Idempotency keys of the custody events of one instance's isolation. */
export const keys = idempotencyKeys.isolate;

/** The key families of a step's own events: done or found in place, redone (either form). */
const STEP_FAMILIES = new Set<KeyFamily>(['isolate.step', 'isolate.reapplied', 'isolate.redone']);

/**
 * The events of one isolation step of an instance that did not fail — its first doing (or finding
 * in place) and every redoing, in record order: the last is what the record says of it now.
 */
export function stepEvents(events: readonly RecordedEvent[], instanceId: string, step: string): RecordedEvent[] {
  const prefix = keys.step(instanceId, step); // a redoing's key begins with it too
  return events.filter((e) => {
    if (!e.idempotencyKey?.startsWith(prefix) || e.outcome.status === 'failed') return false;
    const p = parseIdempotencyKey(e.idempotencyKey);
    return Boolean(
      p && !p.mark && STEP_FAMILIES.has(p.family) && p.fields['instanceId'] === instanceId && p.fields['step'] === step,
    );
  });
}

/** A completed release's summary (`isolate.release`, of any isolation of the instance). */
export const isReleaseSummary = (p: ParsedKey): boolean =>
  !p.mark && p.fields['step'] === 'complete' && (p.family === 'isolate.release' || p.family === 'isolate.release.of');

/** The seq of the instance's last completed release, if any: an isolate event after it is of a later isolation. */
export function lastReleaseSeq(events: readonly RecordedEvent[], instanceId: string): number | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.action !== 'isolate.release' || !e.idempotencyKey) continue;
    const p = parseIdempotencyKey(e.idempotencyKey);
    if (p && p.fields['instanceId'] === instanceId && isReleaseSummary(p)) return e.seq;
  }
  return undefined;
}

/**
 * Which isolation of the instance a release undoes, or an isolation's completion completes, as its
 * keys name it. The first isolation's release and completion have the keys they always had (undefined
 * here): a record with one isolation and one release reads and reruns as before. Once a release completed (its `isolate.release` summary), an isolate event
 * recorded after it begins a new isolation: the release of that one is keyed by the seq of that first
 * event — so release → isolate → release records two complete releases, and a rerun of either
 * release finds its own events (with no isolate event after the last summary, the isolation that
 * summary released is the one a rerun converges on). Likewise isolate → release → isolate records two
 * completions, the second keyed by that isolation's first event.
 */
export function isolationUndone(events: readonly RecordedEvent[], instanceId: string): number | undefined {
  let released: { isolationSeq: number | undefined } | undefined;
  let begun: number | undefined;
  for (const e of events) {
    const p = e.idempotencyKey === undefined ? undefined : parseIdempotencyKey(e.idempotencyKey);
    if (!p || p.fields['instanceId'] !== instanceId) continue;
    if (isReleaseSummary(p)) {
      released = {
        isolationSeq: p.fields['isolationSeq'] === undefined ? undefined : Number(p.fields['isolationSeq']),
      };
      begun = undefined;
    } else if (released && begun === undefined && ISOLATION_FAMILIES.has(p.family)) {
      begun = e.seq;
    }
  }
  return begun ?? released?.isolationSeq;
}

/** The key families of isolate's own events (a step, failed or done; a step redone, in either form; the summary). */
const ISOLATION_FAMILIES = new Set<KeyFamily>([
  'isolate.step',
  'isolate.reapplied',
  'isolate.redone',
  'isolate.complete',
  'isolate.complete.of',
]);
