/**
 * Every idempotency key cleanroom writes into a custody record, in one place.
 *
 * A key names one unit of work; the recorder appends an event only when no event of the record has
 * its key, so a rerun after a crash never duplicates one (the recorder seam, domain/recorder.ts). Keys live on in
 * immutable records: the byte strings below are a lasting contract. A new version may add a
 * family; it never changes the form of one, or an old case would redo (and re-record) its work on
 * resume. test/fixtures/pre-change-case/ holds a case written before this module existed; its keys
 * must all parse (test/domain/idempotency-keys.test.ts).
 *
 * Build a key with {@link idempotencyKeys} (never a literal elsewhere: a test greps for it); read
 * one with {@link parseIdempotencyKey}, which returns the family and its fields, or undefined for a
 * key no family describes (a record may hold keys of a later version).
 *
 * Marks: the failure of a unit of work is recorded under its key with `:failed` (room guard rails,
 * room down's detach) or `:failed:<CODE>` (isolate, close: one event per distinct failure); a
 * deployment whose wait ran out under `:timeout`; a snapshot lock the region does not offer under
 * `:unsupported`. {@link markKey} adds a mark; the parser reports it beside the family.
 */

/** A key made by a builder of this module (a plain string in a stored event). */
export type IdempotencyKey = string & { readonly __idempotencyKey: true };

/** One segment of a key: a literal, or a named field with what it may contain. */
type Segment = string | { field: string; re: string };
/** No colon (ids, digests, codes). */
const id = (field: string): Segment => ({ field, re: '[^:]+' });
/** Anything, colons included (ARNs, lease owners): last, or followed only by segments of a narrower form. */
const rest = (field: string): Segment => ({ field, re: '.+' });
/** Anything or nothing, colons included: last. */
const maybe = (field: string): Segment => ({ field, re: '.*' });
const num = (field: string): Segment => ({ field, re: '\\d+' });

/**
 * The families, in the order the parser tries them (a more specific form before a general one).
 * Each: the event it keys (action), its segments, and what the fields are.
 */
export const KEY_FAMILIES = {
  /** `case.key.create`: the case's KMS key (found or made), by its ARN. */
  'case-key': ['case-key', rest('keyArn')],
  /** `case.lease.takeover`: a command took over a dead or expired holder's lease (previous owner — caller ARN, host, pid, random — and its generation). */
  'lease.takeover': ['lease', 'takeover', rest('owner'), num('generation')],
  /** `case.lease.takeover` of a lock (scope `<kind>:<name>`, src/domain/exclusive.ts): an expired holder's lock taken over. */
  'lock.takeover': ['lock', 'takeover', id('kind'), id('name'), rest('owner'), num('generation')],
  /** `case.lease.takeover` of a vault-wide lock (scope `<kind>:<name>@<account>.<region>`): an expired holder's — of any case — taken over. */
  'vault-lock.takeover': ['vault-lock', 'takeover', id('kind'), id('name'), rest('owner'), num('generation')],
  /** `room.guest-tools`: the guest tooling uploaded, by the digest over its files. */
  'room.guest-tools': ['room', 'guest-tools', id('digest')],
  /** `room.deploy.start`: a change set of the room stack executed. */
  'room.deploy.start': ['room', 'deploy', rest('changeSetId')],
  /** `room.deploy`: how that change set ended (`:timeout` when the wait ran out). */
  'room.deploy.outcome': ['room', 'deploy-outcome', rest('changeSetId')],
  /** `room.discard-review-stack`: a stack left in REVIEW_IN_PROGRESS deleted, by stack id. */
  'room.discard-review': ['room', 'discard-review', rest('stackId')],
  /** `room.guard-rail.revoke-rules`: undeclared rules of a group revoked (rule ids joined by commas). */
  'room.revoke': ['room', 'revoke', id('groupId'), id('ruleIds')],
  /** `room.session` recorded afterwards by `room sessions --record`: a session Session Manager knows and the record did not, by session id. */
  'room.session-found': ['room', 'session-found', id('sessionId')],
  /** `room.down`: the room stack deleted, by stack id. */
  'room.down': ['room', 'down', rest('stackId')],
  /** `room.session.start`: a Session Manager session opened by `room shell`, by its session id. */
  'room.session.start': ['room', 'session-start', rest('sessionId')],
  /** `room.session`: how that session ended (closed or failed), by its session id. */
  'room.session': ['room', 'session', rest('sessionId')],
  /** `room.down.detach` of a volume that names no evidence item (volume id, attach time as it was read). */
  'room.down.detach-unknown': ['room-down', 'detach', 'unknown', id('volumeId'), maybe('attachTime')],
  /**
   * `isolate.complete` of a later isolation of the instance — one begun after an earlier isolation
   * was released: keyed by the custody seq of that isolation's first event (as its release is), so
   * each isolation records its own completion.
   */
  'isolate.complete.of': ['isolate', id('instanceId'), 'isolation', num('isolationSeq'), 'complete'],
  /** `isolate.complete`: the instance is isolated (its first isolation). */
  'isolate.complete': ['isolate', id('instanceId'), 'complete'],
  /** An isolation step applied again after drift, keyed by its calls' digest: written before redone steps were keyed by the event they redo. Read, no longer written. */
  'isolate.reapplied': ['isolate', id('instanceId'), id('step'), 'reapplied', id('digest')],
  /**
   * An isolation step done again — after drift, or in a later isolation of the instance (after a
   * release) — keyed by the custody seq of the step's latest event it redoes: each redo is its own
   * unit of work, even when it makes the same calls as an earlier one.
   */
  'isolate.redone': ['isolate', id('instanceId'), id('step'), 'redone-after', num('priorSeq')],
  /** `isolate.<step>` (and `isolate.record-state` as step `state`): one isolation step of an instance. */
  'isolate.step': ['isolate', id('instanceId'), id('step')],
  /**
   * `isolate.release.<step>` (and `isolate.release` as step `complete`) of a later isolation of the
   * instance — one isolated again after an earlier isolation was released: keyed by the custody seq
   * of the first isolate event of that isolation, so each isolation released is a release of its own.
   */
  'isolate.release.of': ['isolate-release', id('instanceId'), 'isolation', num('isolationSeq'), id('step')],
  /** `isolate.release.<step>` (and `isolate.release` as step `complete`): one step of releasing an isolated instance (its first isolation). */
  'isolate.release': ['isolate-release', id('instanceId'), id('step')],
  /** `evidence.snapshot`: the source snapshot of an evidence item. */
  'acquire.snapshot': ['acquire', 'snapshot', id('evidenceId'), id('snapshotId')],
  /** `evidence.share.copy`: the copy under the temporary sharing key (source account). */
  'acquire.sharing-copy': ['acquire', 'sharing-copy', id('evidenceId'), id('snapshotId')],
  /** `evidence.share`: that copy shared with the forensic account. */
  'acquire.share': ['acquire', 'share', id('evidenceId'), id('snapshotId')],
  /** `evidence.copy`: the forensic copy under the case key. */
  'acquire.forensic-copy': ['acquire', 'forensic-copy', id('evidenceId'), id('snapshotId')],
  /** `evidence.preserved`: the forensic copy completed. */
  'acquire.preserved': ['acquire', 'preserved', id('evidenceId'), id('snapshotId')],
  /** `evidence.hash`: the acquisition content hash of an item's forensic snapshot (and its source snapshot's). */
  'acquire.hash': ['acquire', 'hash', id('evidenceId'), id('snapshotId')],
  /** `evidence.hash.check`: one recomputation of that hash by `evidence hash` (digest of its result and time). */
  'evidence.hash-check': ['evidence', 'hash-check', id('evidenceId'), id('snapshotId'), id('digest')],
  /** `evidence.share.retire`: the sharing copy deleted (by acquire or close). */
  'acquire.sharing-copy-retire': ['acquire', 'sharing-copy-retire', id('evidenceId'), id('snapshotId')],
  /** `acquire.share-key`: the temporary sharing key of the source account, by key id. */
  'acquire.share-key': ['acquire', 'share-key', id('keyId')],
  /** `acquire.share-key.retire`: its deletion scheduled. */
  'acquire.share-key-retire': ['acquire', 'share-key-retire', id('keyId')],
  /** `acquire.share-key.kept`: kept because an item still needs it (digest of the run's end state). */
  'acquire.share-key-kept': ['acquire', 'share-key-kept', id('keyId'), id('digest')],
  /** `acquire.share-key.retire` that failed, by error code. */
  'acquire.retire-failed': ['acquire', 'retire-failed', id('code')],
  /** `acquire.run`: the summary of one acquire run (digest of its items' end state). */
  'acquire.run': ['acquire', 'run', id('digest')],
  /** `evidence.volume.create`: the working volume of an item. */
  'evidence.volume': ['evidence', 'volume', id('evidenceId'), id('volumeId')],
  /** `evidence.attach`: attach cycle n of a working volume. */
  'evidence.attach': ['evidence', 'attach', id('evidenceId'), id('volumeId'), num('cycle')],
  /** `evidence.detach` (also room down's and close's detach): ends attach cycle n. */
  'evidence.detach': ['evidence', 'detach', id('evidenceId'), id('volumeId'), num('cycle')],
  /** `evidence.readonly-check`: the guest's answer for attach cycle n (confirmed, writable, not-confirmed). */
  'evidence.readonly': ['evidence', 'readonly', id('evidenceId'), id('volumeId'), num('cycle'), id('status')],
  /** `evidence.room-hash`: the in-room hash of attach cycle n (verified, MISMATCH, not-confirmed). */
  'evidence.room-hash': ['evidence', 'room-hash', id('evidenceId'), id('volumeId'), num('cycle'), id('result')],
  /** `evidence.export.start`: a multipart upload of an item's raw image into the vault began (or was taken up), by upload id. */
  'evidence.export-start': ['evidence', 'export-start', id('evidenceId'), rest('uploadId')],
  /** `evidence.export` into the vault: the image of that upload completed, hash-checked, retention set. */
  'evidence.export.vault': ['evidence', 'export', id('evidenceId'), 'vault', rest('uploadId')],
  /** `evidence.export` to a local file: by a digest of the file (path, device, inode, time written). */
  'evidence.export.file': ['evidence', 'export', id('evidenceId'), 'file', id('digest')],
  /** `memory.capture.start`: a memory capture began, by instance and the image's UTC time stamp (YYYYMMDDTHHMMSSZ). */
  'memory.capture-start': ['memory', 'capture-start', id('instanceId'), id('time')],
  /** `memory.capture`: how that capture ended (succeeded or failed), by instance and time stamp. */
  'memory.capture': ['memory', 'capture', id('instanceId'), id('time')],
  /** `memory.upload.abort`: an open multipart upload of a memory image aborted, by upload id. */
  'memory.upload-abort': ['memory', 'upload-abort', rest('uploadId')],
  /** `evidence.failed`: a step of an item failed, by step and error code. */
  'evidence.failed': ['evidence', 'failed', id('evidenceId'), id('step'), id('code')],
  /** `case.close.verify`: the record verified before close changed anything. */
  'close.verify': ['close', 'verify'],
  /** `case.close.delete-stack`: the room stack deleted by close. */
  'close.delete-stack': ['close', 'delete-stack'],
  /** `case.close.retain-snapshot`: an evidence snapshot tagged retained. */
  'close.retain-snapshot': ['close', 'retain-snapshot', id('snapshotId')],
  /** `case.close.lock-snapshot`: an evidence snapshot locked (`:unsupported` where the region has no lock). */
  'close.lock-snapshot': ['close', 'lock-snapshot', id('snapshotId')],
  /** `case.close.written-check`: the written-to check of a working volume. */
  'close.written-check': ['close', 'written-check', id('evidenceId'), id('volumeId')],
  /** `case.close.delete-volume`: a working volume deleted (or kept). */
  'close.delete-volume': ['close', 'delete-volume', id('evidenceId'), id('volumeId')],
  /** `case.close.schedule-key-deletion`: a temporary KMS key's deletion scheduled. */
  'close.schedule-key-deletion': ['close', 'schedule-key-deletion', id('keyId')],
  /** `case.close.incomplete`: a close that left work outstanding (digest of what). */
  'close.incomplete': ['close', 'incomplete', id('digest')],
  /** `case.close`: the case is closed (one segment: the key is the action's name). */
  'case.close': ['case.close'],
  /** `automation.run`: a fleet run, by its run id (the execution is `run-<runId>`). */
  'automation.run': ['automation', 'run', id('runId')],
  /** `automation.approval` written before approvals were per instance: the decision on a paused execution, by its ARN. Read, no longer written. */
  'automation.approval': ['automation', 'approval', rest('executionArn')],
  /** `automation.approval`: the decision on one instance's paused response, by instance and execution ARN (a fleet's children may share an execution id). */
  'automation.approval-instance': ['automation', 'approval-instance', id('instanceId'), rest('executionArn')],
  /** `automation.start`: an automated response took up a finding for an instance (source, digest of the finding id, instance). */
  'automation.start': ['automation', 'start', id('source'), id('findingDigest'), id('instanceId')],
  /** `automation.approval.request`: approval asked for by one execution (its ARN) for one instance (a fleet's items may share an execution id). */
  'automation.approval-request': ['automation', 'approval-request', id('instanceId'), rest('executionArn')],
  /** `automation.notify`: the notification of how one execution ended for one instance (outcome: succeeded, failed, rejected, expired; `summary` of a fleet, instance `fleet`). */
  'automation.notify': ['automation', 'notify', id('outcome'), id('instanceId'), rest('executionArn')],
} as const satisfies Record<string, readonly Segment[]>;

export type KeyFamily = keyof typeof KEY_FAMILIES;
export type KeyMark = 'failed' | 'timeout' | 'unsupported';

export interface ParsedKey {
  family: KeyFamily;
  fields: Record<string, string>;
  /** Present on a marked key: the unit of work failed, timed out, or is unsupported. */
  mark?: KeyMark;
  /** The error code of a `:failed:<CODE>` mark. */
  code?: string;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const PATTERNS = (Object.entries(KEY_FAMILIES) as Array<[KeyFamily, readonly Segment[]]>).map(([family, segs]) => ({
  family,
  names: segs.flatMap((s) => (typeof s === 'string' ? [] : [s.field])),
  re: new RegExp(`^${segs.map((s) => (typeof s === 'string' ? escapeRegExp(s) : `(${s.re})`)).join(':')}$`),
}));

function build(family: KeyFamily, ...values: Array<string | number>): IdempotencyKey {
  const segs = KEY_FAMILIES[family] as readonly Segment[];
  let i = 0;
  return segs.map((s) => (typeof s === 'string' ? s : String(values[i++]))).join(':') as IdempotencyKey;
}

/** Add a mark to a key: `:failed`, `:failed:<CODE>`, `:timeout`, `:unsupported`. */
export function markKey(key: IdempotencyKey, mark: KeyMark, code?: string): IdempotencyKey {
  return `${key}:${mark}${mark === 'failed' && code !== undefined ? `:${code}` : ''}` as IdempotencyKey;
}

function parseBase(key: string): Omit<ParsedKey, 'mark' | 'code'> | undefined {
  for (const p of PATTERNS) {
    const m = p.re.exec(key);
    if (m) return { family: p.family, fields: Object.fromEntries(p.names.map((n, i) => [n, m[i + 1]!])) };
  }
  return undefined;
}

/** The family and fields of a key; undefined for a key no family describes. */
export function parseIdempotencyKey(key: string): ParsedKey | undefined {
  const marked = /^(.+):failed:([^:]+)$/.exec(key) ?? /^(.+):(failed|timeout|unsupported)$/.exec(key);
  if (marked) {
    const base = parseBase(marked[1]!);
    if (base)
      return ['timeout', 'unsupported', 'failed'].includes(marked[2]!)
        ? { ...base, mark: marked[2] as KeyMark }
        : { ...base, mark: 'failed', code: marked[2]! };
  }
  return parseBase(key);
}

/** The events of a record whose key is of this family (unmarked unless `marked`), with their fields. */
export function eventsOfFamily<E extends { idempotencyKey?: string }>(
  events: readonly E[],
  family: KeyFamily,
  opts: { marked?: boolean } = {},
): Array<{ event: E; fields: Record<string, string> }> {
  const out: Array<{ event: E; fields: Record<string, string> }> = [];
  for (const event of events) {
    const p = event.idempotencyKey === undefined ? undefined : parseIdempotencyKey(event.idempotencyKey);
    if (p?.family === family && (opts.marked || !p.mark)) out.push({ event, fields: p.fields });
  }
  return out;
}

/** The typed builders: the only way a key is made. */
/** A lock's take-over (scope `<kind>:<name>`): kind and name are fields of their own. */
function scopeTakeover(
  family: 'lock.takeover' | 'vault-lock.takeover',
  scope: string,
  owner: string,
  generation: number,
): IdempotencyKey {
  const at = scope.indexOf(':');
  return build(family, scope.slice(0, at), scope.slice(at + 1), owner, generation);
}

export const idempotencyKeys = {
  caseKey: (keyArn: string) => build('case-key', keyArn),
  leaseTakeover: (owner: string, generation: number) => build('lease.takeover', owner, generation),
  lockTakeover: (scope: string, owner: string, generation: number) =>
    scopeTakeover('lock.takeover', scope, owner, generation),
  vaultLockTakeover: (scope: string, owner: string, generation: number) =>
    scopeTakeover('vault-lock.takeover', scope, owner, generation),
  room: {
    guestTools: (digest: string) => build('room.guest-tools', digest),
    sessionFound: (sessionId: string) => build('room.session-found', sessionId),
    deployStart: (changeSetId: string) => build('room.deploy.start', changeSetId),
    deployOutcome: (changeSetId: string) => build('room.deploy.outcome', changeSetId),
    discardReview: (stackId: string) => build('room.discard-review', stackId),
    revoke: (groupId: string, ruleIds: readonly string[]) => build('room.revoke', groupId, ruleIds.join(',')),
    down: (stackId: string) => build('room.down', stackId),
    detachUnknown: (volumeId: string, attachTime: string) => build('room.down.detach-unknown', volumeId, attachTime),
    sessionStart: (sessionId: string) => build('room.session.start', sessionId),
    session: (sessionId: string) => build('room.session', sessionId),
  },
  memory: {
    captureStart: (instanceId: string, time: string) => build('memory.capture-start', instanceId, time),
    capture: (instanceId: string, time: string) => build('memory.capture', instanceId, time),
    uploadAbort: (uploadId: string) => build('memory.upload-abort', uploadId),
  },
  isolate: {
    step: (instanceId: string, step: string) => build('isolate.step', instanceId, step),
    /** The key of a step redone before redone steps were keyed by the event they redo (read, not written). */
    reapplied: (instanceId: string, step: string, digest: string) =>
      build('isolate.reapplied', instanceId, step, digest),
    /** A step done again after its event at `priorSeq` (the step's latest) no longer held. */
    redone: (instanceId: string, step: string, priorSeq: number) => build('isolate.redone', instanceId, step, priorSeq),
    /** A step that failed: its first doing (`priorSeq` absent), or its redoing after the event at `priorSeq`. */
    failed: (instanceId: string, step: string, code: string, priorSeq?: number): IdempotencyKey =>
      markKey(
        priorSeq === undefined
          ? idempotencyKeys.isolate.step(instanceId, step)
          : idempotencyKeys.isolate.redone(instanceId, step, priorSeq),
        'failed',
        code,
      ),
    /** The completion of the instance's first isolation (`isolationSeq` absent), or of the isolation begun at that seq. */
    complete: (instanceId: string, isolationSeq?: number) =>
      isolationSeq === undefined
        ? build('isolate.complete', instanceId)
        : build('isolate.complete.of', instanceId, isolationSeq),
    /** A release step of the instance's first isolation (`isolationSeq` absent), or of the isolation begun at that seq. */
    release: (instanceId: string, step: string, isolationSeq?: number) =>
      isolationSeq === undefined
        ? build('isolate.release', instanceId, step)
        : build('isolate.release.of', instanceId, isolationSeq, step),
    releaseFailed: (instanceId: string, step: string, code: string, isolationSeq?: number): IdempotencyKey =>
      markKey(idempotencyKeys.isolate.release(instanceId, step, isolationSeq), 'failed', code),
  },
  acquire: {
    snapshot: (eid: string, snap: string) => build('acquire.snapshot', eid, snap),
    sharingCopy: (eid: string, snap: string) => build('acquire.sharing-copy', eid, snap),
    share: (eid: string, snap: string) => build('acquire.share', eid, snap),
    forensicCopy: (eid: string, snap: string) => build('acquire.forensic-copy', eid, snap),
    preserved: (eid: string, snap: string) => build('acquire.preserved', eid, snap),
    hash: (eid: string, snap: string) => build('acquire.hash', eid, snap),
    retireSharingCopy: (eid: string, snap: string) => build('acquire.sharing-copy-retire', eid, snap),
    shareKey: (keyId: string) => build('acquire.share-key', keyId),
    shareKeyRetire: (keyId: string) => build('acquire.share-key-retire', keyId),
    shareKeyKept: (keyId: string, digest: string) => build('acquire.share-key-kept', keyId, digest),
    retireFailed: (code: string) => build('acquire.retire-failed', code),
    run: (digest: string) => build('acquire.run', digest),
  },
  evidence: {
    volume: (eid: string, vid: string) => build('evidence.volume', eid, vid),
    attach: (eid: string, vid: string, cycle: number) => build('evidence.attach', eid, vid, cycle),
    detach: (eid: string, vid: string, cycle: number) => build('evidence.detach', eid, vid, cycle),
    readOnly: (eid: string, vid: string, cycle: number, status: string) =>
      build('evidence.readonly', eid, vid, cycle, status),
    roomHash: (eid: string, vid: string, cycle: number, result: string) =>
      build('evidence.room-hash', eid, vid, cycle, result),
    failed: (eid: string, step: string, code: string) => build('evidence.failed', eid, step, code),
    hashCheck: (eid: string, snap: string, digest: string) => build('evidence.hash-check', eid, snap, digest),
    exportStart: (eid: string, uploadId: string) => build('evidence.export-start', eid, uploadId),
    exportToVault: (eid: string, uploadId: string) => build('evidence.export.vault', eid, uploadId),
    exportToFile: (eid: string, digest: string) => build('evidence.export.file', eid, digest),
  },
  close: {
    verify: () => build('close.verify'),
    deleteStack: () => build('close.delete-stack'),
    retainSnapshot: (snapshotId: string) => build('close.retain-snapshot', snapshotId),
    lockSnapshot: (snapshotId: string) => build('close.lock-snapshot', snapshotId),
    writtenCheck: (eid: string, vid: string) => build('close.written-check', eid, vid),
    deleteVolume: (eid: string, vid: string) => build('close.delete-volume', eid, vid),
    scheduleKeyDeletion: (keyId: string) => build('close.schedule-key-deletion', keyId),
    incomplete: (digest: string) => build('close.incomplete', digest),
    closed: () => build('case.close'),
  },
  automation: {
    run: (runId: string) => build('automation.run', runId),
    /** The key of a decision recorded before approvals were per instance (read, to honour it; not written). */
    approval: (executionArn: string) => build('automation.approval', executionArn),
    approvalOfInstance: (instanceId: string, executionArn: string) =>
      build('automation.approval-instance', instanceId, executionArn),
    start: (source: string, findingDigest: string, instanceId: string) =>
      build('automation.start', source, findingDigest, instanceId),
    approvalRequest: (instanceId: string, executionArn: string) =>
      build('automation.approval-request', instanceId, executionArn),
    notify: (outcome: string, instanceId: string, executionArn: string) =>
      build('automation.notify', outcome, instanceId, executionArn),
  },
};

/** The key a parse came from: the family's form filled with the fields, then the mark. */
export function formatIdempotencyKey(p: ParsedKey): IdempotencyKey {
  const segs = KEY_FAMILIES[p.family] as readonly Segment[];
  const base = segs.map((s) => (typeof s === 'string' ? s : (p.fields[s.field] ?? ''))).join(':') as IdempotencyKey;
  return p.mark ? markKey(base, p.mark, p.code) : base;
}
