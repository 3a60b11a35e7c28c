/**
 * The custody record of one case in the vault, as the writers see it: open (audit the vault once,
 * load the case's events with a bounded pool and check their chain), `record()` events, and
 * `sealManifest()`.
 *
 * Appending is one S3 PUT per event: `cases/<case>/custody/<seq>.json` with `If-None-Match: *`.
 * When another writer has taken that sequence number (412), the writer backs off (a random wait
 * that grows with the races it lost), catches up — reads the events written since, each checked
 * to link onto the last, and adopts them — and retries at the next free number: the chain never
 * forks, nothing is read-modified-written, and many writers on one case take turns instead of
 * re-colliding. An event is acknowledged only once its PUT succeeded. Appends from one process
 * are serialised in order.
 */
import crypto from 'node:crypto';
import type { AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError, UsageError, VerificationFailedError } from '../domain/errors.js';
import { foldEvidence } from '../domain/evidence.js';
import { assertCaseId } from '../domain/case-id.js';
import { mapPool } from '../domain/pool.js';
import { silentReporter, type Reporter } from '../domain/reporter.js';
import { resolveVaultBucket } from './vault/bucket.js';
import { requireCompliantVault, type CompliantVault } from './vault/gate.js';
import type { VaultAuditResult } from './vault/audit.js';
import { canonicalBytes } from './canonical.js';
import {
  EVENT_SCHEMA_ID,
  GENESIS_PREV_HASH,
  MANIFEST_SCHEMA_ID,
  eventHash,
  eventKey,
  hashEquals,
  laneKey,
  lanesPrefix,
  LANE_ID_PATTERN,
  manifestKey,
  manifestStatement,
  type CaseManifest,
  type ChainHead,
  type CustodyEvent,
  type SignedManifest,
} from './event.js';
import type { ActorContext, CustodyEntry, CustodyRecorder, RecordedEvent } from '../domain/recorder.js';
import { getBytes, listCustodyKeys, putLocked, type ListedLaneKey } from './store.js';
import { CHECKPOINT_ACTION, LaneSet, checkpointHeads } from './lanes.js';
import { eventSchemaErrors, manifestSchemaErrors } from './schema.js';
import { projectEvidence } from './verify.js';
import { requireExistingCase } from './case-exists.js';
import {
  acquireCaseLease,
  acquireCaseLocks,
  acquireVaultLocks,
  leaseKey,
  refuseWhileLocked,
  type CaseLease,
  type LeaseOptions,
  type LeaseTakeover,
} from './lease.js';
import { idempotencyKeys } from '../domain/idempotency-keys.js';
import { resourceRef } from '../resources/refs.js';

export interface CaseCustody extends CustodyRecorder {
  readonly caseId: string;
  readonly bucket: string;
  /** The vault the record is written to, as an upload into it must name it (key, lock mode, days). */
  readonly vaultTarget: {
    bucket: string;
    vaultKeyArn: string;
    lockMode: 'GOVERNANCE' | 'COMPLIANCE';
    retentionDays: number;
  };
  /** Rebuild the manifest from the events and sign its head with the vault's signing key. */
  sealManifest(): Promise<CaseManifest>;
  /**
   * True when the manifest needs sealing: this process appended at least one event, or the
   * manifest found at open did not seal the current head (a writer died before sealing).
   */
  readonly dirty: boolean;
  /** The case's lease, when the record was opened with one (see `lease.ts`). */
  readonly lease: CaseLease | undefined;
  /** Give the lease and the locks back (no-op without them, or when they were lost). */
  releaseLease(): Promise<void>;
  /** The locks of the case this record holds (opened with `locks`, and those of a running {@link withLocks}). */
  readonly locks: readonly CaseLease[];
  /**
   * Hold more locks of the case while `fn` runs (a step of a workflow that changes something the
   * case's instances share: src/domain/exclusive.ts), given back after; CASE_BUSY when another
   * writer has one. A record opened with the case's lease holds every scope of the case already: it
   * takes only the vault-wide locks of scopes naming what is not a case's own.
   */
  withLocks<T>(scopes: readonly string[], fn: () => Promise<T>): Promise<T>;
}

/**
 * How a writer takes locks of the case when it opens the record, instead of its lease (a Step
 * Functions step: only what it changes; see src/domain/exclusive.ts).
 */
export interface CustodyLocksRequest {
  /** Unique per holder (the execution, the function, the invocation). */
  owner: string;
  /** What the holder does, shown to whoever finds a lock busy (`automation isolate`, …). */
  command: string;
  /** The scopes to hold for as long as the record is open (until `releaseLease()`). */
  scopes: readonly string[];
  /** Lock duration without renewal (default 10 min). */
  ttlMs?: number;
}

/** How a writer takes the case's lease when it opens the record. */
export interface CustodyLeaseRequest {
  /** Unique per holder (CLI: caller ARN + host + pid + random; Step Functions: the execution id). */
  owner: string;
  /** What the holder does, shown to whoever finds the case busy (`acquire`, `case close`, …). */
  command: string;
  host?: string;
  pid?: number;
  /** When the holder's machine booted (see {@link LeaseOptions.bootedAt}): with host and pid, lets a rerun see the holder is gone. */
  bootedAt?: string;
  /** Lease duration without renewal (default 10 min). */
  ttlMs?: number;
  /** See {@link LeaseOptions.holderGone}. */
  holderGone?: LeaseOptions['holderGone'];
}

export interface OpenCustodyOptions {
  caseId: string;
  /** The vault; default `cleanroom-evidence-<account>-<region>`. */
  bucket?: string;
  reporter?: Reporter;
  /** Clock for event times and retention dates (tests). */
  now?: () => Date;
  /** Parallel GETs when loading the record. */
  concurrency?: number;
  /** An audit already made by the caller in this process (skips the second audit). */
  audit?: VaultAuditResult;
  /**
   * Refuse (UNKNOWN_CASE, exit 2) a case with no custody record in the vault, before anything is
   * written. Every command that reads or continues a case sets it; only the commands that start a
   * case (room up, isolate, acquire) leave it off.
   */
  mustExist?: boolean;
  /**
   * How an append waits after losing the race for a sequence number (tests pass a fake that does
   * not wait); default a timer.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Random numbers in [0, 1) for the back-off's jitter (tests); default Math.random. */
  random?: () => number;
  /**
   * Append to this writer's own lane instead of racing for the main chain's next number (many
   * writers on one case: Lambda steps of an automated run). `true`, or a prefix naming the writer
   * (e.g. the execution and function); a random part is always added, so no two writers share a
   * lane. Appends then take one conditional PUT per batch (appends made while one is in flight go
   * into the next object) and never contend; `sealManifest()` commits the lanes it knows with a
   * `custody.checkpoint` event. See docs/custody.md, "Many writers on one case".
   *
   * `{ id }` names the lane exactly (no random part): the writer continues that lane from the head
   * it finds at open — how a retried Lambda step goes on with the lane of its earlier attempt. Only
   * one writer may use such a lane at a time; a second one's PUT finds the key taken and fails
   * (CUSTODY_CONTENTION) without forking the lane.
   */
  lane?: true | string | { id: string };
  /**
   * Group commit on the main chain (on by default; `false` turns it off): appends made while one is
   * written go out together as one object of a group lane plus a `custody.checkpoint`. Off, every
   * append is one main-chain event written after the one before. A writer killed between a group
   * object and its checkpoint leaves that object uncommitted: its events are still found by their
   * idempotency keys (a rerun does not record them again), and the next writer that opens with a
   * `lease` commits them at open, before it appends anything (a checkpoint with
   * `details.recovered`; see docs/custody.md, "Group commit on the main chain").
   */
  groupCommit?: boolean;
  /**
   * Take the case's lease (one writer per case) before the record is read; refuse with CASE_BUSY
   * (exit 1) when another holder has it. A take-over of an expired lease is recorded as a
   * `case.lease.takeover` event. Appends refuse once a renewal found the lease lost.
   */
  lease?: CustodyLeaseRequest;
  /**
   * Take these locks of the case (not its lease) before the record is read: CASE_BUSY (exit 1) when
   * another writer holds one of them or the case's lease. Not with `lease` (the lease covers them).
   */
  locks?: CustodyLocksRequest;
  /**
   * Automation's context (a Lambda step of a Step Functions execution): every event this record
   * appends carries it as `via` ({ execution, function, codeSha256 }) beside the caller's `actor`.
   */
  actorContext?: ActorContext;
}

/**
 * How many times an append retries after losing the race for a sequence number. With the back-off
 * below, 64 writers on one case each lose a few dozen races per event at most (scripts/bench-custody
 * writers); this bound only stops a writer that can never win.
 */
const MAX_APPEND_ATTEMPTS = 400;
/** The back-off after the n-th lost race: a random wait in [0, min(cap, base·2^n)) ms ("full jitter"). */
const BACKOFF_BASE_MS = 20;
const BACKOFF_CAP_MS = 2_000;

/** The full-jitter back-off wait (ms) after `lost` lost races. */
export function appendBackoffMs(lost: number, random: () => number): number {
  return Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(lost, 16)));
}

const timerSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Parse and check one stored event against what precedes it; throws naming what is wrong. */
function parseLinked(caseId: string, seq: number, body: Buffer, prev: ChainHead): CustodyEvent {
  let ev: CustodyEvent;
  try {
    ev = JSON.parse(body.toString('utf8')) as CustodyEvent;
  } catch {
    throw new Error(`event ${seq} is not JSON`);
  }
  if (ev.seq !== seq || ev.case !== caseId)
    throw new Error(`event object ${seq} holds seq ${ev.seq} of case ${ev.case}`);
  if (!hashEquals(eventHash(ev), ev.hash)) throw new Error(`event ${seq} does not match its hash`);
  if (!hashEquals(ev.prevHash, prev.hash)) throw new Error(`event ${seq} does not link to event ${prev.seq}`);
  return ev;
}

/** The lane id prefix of a main-chain writer's group commits (`group-<16 hex>`). */
const GROUP_LANE_PREFIX = 'group';

/** Events per lane object at most (one PUT): bounds the object's size. */
const MAX_LANE_BATCH = 64;

interface LaneAppend {
  entry: CustodyEntry;
  done: (ev: RecordedEvent) => void;
  fail: (e: unknown) => void;
}

class S3CaseCustody implements CaseCustody {
  /** The record in its total order: main chain, each checkpoint's newly committed lane events right before it. */
  private readonly list: CustodyEvent[] = [];
  private mainHead: ChainHead = { seq: 0, hash: GENESIS_PREV_HASH };
  /** The lanes of the case (loaded at open, own appends, those other writers' checkpoints committed). */
  private readonly lanes: LaneSet;
  /** Why the lanes fail their check, if they do. */
  private laneProblem: string | undefined;
  /** This writer's lane, when it writes to one. */
  private ownLane: string | undefined;
  private lanePending: LaneAppend[] = [];
  private laneInFlight = new Map<string, Promise<RecordedEvent>>();
  private laneFlush: Promise<void> | undefined;
  private laneFailed: unknown;
  /** Main-chain appends waiting for the next group commit (see {@link recordGrouped}). */
  private mainPending: LaneAppend[] = [];
  private mainInFlight = new Map<string, Promise<RecordedEvent>>();
  private mainFlush: Promise<void> | undefined;
  /** The lane this main-chain writer's group commits go to (made at the first batch). */
  private groupLane: string | undefined;
  private readonly byKey = new Map<string, CustodyEvent>();
  private appended = 0;
  private manifestCurrent = false;
  /** Why the loaded record cannot be appended to (it fails the chain check). */
  private broken: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private actor: Promise<string> | undefined;
  lease: CaseLease | undefined;
  locks: CaseLease[] = [];
  /** How this writer takes locks (set when opened with `locks`, or with the lease: then only vault-wide ones). */
  lockBase: LeaseOptions | undefined;

  constructor(
    private readonly account: AwsAccount,
    readonly caseId: string,
    private readonly vault: CompliantVault,
    private readonly reporter: Reporter,
    private readonly now: () => Date,
    private readonly sleep: (ms: number) => Promise<void> = timerSleep,
    private readonly random: () => number = Math.random,
    lane?: true | string | { id: string },
    private readonly via?: ActorContext,
    private readonly groupCommit = true,
  ) {
    this.lanes = new LaneSet(caseId, (_code, _seq, message) => {
      this.laneProblem ??= message;
    });
    if (lane !== undefined) {
      const suffix = crypto.randomBytes(8).toString('hex');
      const id =
        typeof lane === 'object'
          ? lane.id
          : lane === true
            ? suffix
            : `${lane.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80)}-${suffix}`;
      if (!LANE_ID_PATTERN.test(id))
        throw new UsageError(
          'CUSTODY_EVENT_INVALID',
          `The lane name ${JSON.stringify(typeof lane === 'object' ? lane.id : lane)} cannot name a custody lane.`,
        );
      this.ownLane = id;
    }
  }

  get bucket(): string {
    return this.vault.bucket;
  }

  get vaultTarget(): CaseCustody['vaultTarget'] {
    const v = this.vault;
    return { bucket: v.bucket, vaultKeyArn: v.vaultKeyArn, lockMode: v.lockMode, retentionDays: v.retentionDays };
  }

  get dirty(): boolean {
    return (
      this.appended > 0 ||
      (!this.manifestCurrent && this.list.length > 0) ||
      (this.lanes.size > 0 && this.lanes.uncommittedHeads().length > 0)
    );
  }

  private head(): ChainHead {
    return this.mainHead;
  }

  private keep(ev: CustodyEvent): void {
    if (ev.idempotencyKey && !this.byKey.has(ev.idempotencyKey)) this.byKey.set(ev.idempotencyKey, ev);
  }

  /** Take a main-chain event into the record (a checkpoint's lane events first: they must be loaded). */
  private adopt(ev: CustodyEvent): void {
    if (ev.action === CHECKPOINT_ACTION && this.lanes.size > 0)
      this.lanes.commit(ev.seq, ev, (le) => {
        this.list.push(le);
        this.keep(le);
      });
    if (this.laneProblem) this.broken ??= this.laneProblem;
    this.list.push(ev);
    this.keep(ev);
    this.mainHead = { seq: ev.seq, hash: ev.hash };
    this.lanes.sawMain(ev.hash);
  }

  /** Read the lane objects `keys` (bounded parallel GETs) into the lane set. */
  private async readLaneObjects(keys: ListedLaneKey[], concurrency = 16): Promise<void> {
    const got = await mapPool(keys, concurrency, async (k) => ({
      k,
      obj: await getBytes(this.account, this.bucket, k.key),
    }));
    for (const g of got) {
      if (!g.ok) throw g.error;
      const { k, obj } = g.value;
      if (obj) this.lanes.addObject(k.lane, k.first, obj.body);
    }
    this.lanes.order();
    if (this.laneProblem) this.broken ??= this.laneProblem;
  }

  /** Before adopting another writer's checkpoint: read the lane objects it commits that this writer has not seen. */
  private async loadLanesOf(ev: CustodyEvent): Promise<void> {
    if (ev.action !== CHECKPOINT_ACTION) return;
    for (const h of checkpointHeads(ev) ?? []) {
      if (this.lanes.has(h.lane, h.seq) || !LANE_ID_PATTERN.test(h.lane)) continue;
      const listed = await listCustodyKeys(
        this.account,
        this.bucket,
        this.caseId,
        `${lanesPrefix(this.caseId)}${h.lane}/`,
      );
      const known = this.lanes.head(h.lane)?.seq ?? 0;
      await this.readLaneObjects(listed.lanes.filter((k) => k.lane === h.lane && k.first > known));
    }
  }

  /** Load the case's events (list + bounded parallel GETs) and the manifest. */
  async load(concurrency: number): Promise<void> {
    const listed = await listCustodyKeys(this.account, this.bucket, this.caseId);
    const keys = listed.events;
    if (listed.lanes.length) await this.readLaneObjects(listed.lanes, concurrency);
    const got = await mapPool(keys, concurrency, async (k) => ({
      seq: k.seq,
      obj: await getBytes(this.account, this.bucket, k.key),
    }));
    const failed = got.find((g) => !g.ok);
    if (failed && !failed.ok) throw failed.error;
    let prev: ChainHead = { seq: 0, hash: GENESIS_PREV_HASH };
    for (const g of got) {
      if (!g.ok) continue;
      const { seq, obj } = g.value;
      if (this.broken) break;
      if (!obj) {
        this.broken = `event ${seq} was listed but cannot be read`;
        break;
      }
      if (seq !== prev.seq + 1) {
        this.broken = `events ${prev.seq + 1}–${seq - 1} are missing`;
        break;
      }
      try {
        const ev = parseLinked(this.caseId, seq, obj.body, prev);
        await this.loadLanesOf(ev);
        this.adopt(ev);
        prev = { seq: ev.seq, hash: ev.hash };
      } catch (e) {
        this.broken = (e as Error).message;
      }
    }
    if (this.laneProblem) this.broken ??= this.laneProblem;
    // Lane events no checkpoint committed yet (a writer still running, or one that died before
    // sealing): found by their idempotency keys, committed by the next seal.
    for (const le of this.lanes.uncommittedEvents()) this.keep(le);
    const m = await getBytes(this.account, this.bucket, manifestKey(this.caseId));
    if (m) {
      try {
        const manifest = JSON.parse(m.body.toString('utf8')) as CaseManifest;
        this.manifestCurrent = manifest.head?.seq === prev.seq && manifest.head?.hash === prev.hash;
      } catch {
        this.manifestCurrent = false;
      }
    }
    this.reporter.debug(
      `custody ${this.caseId}: ${this.list.length} event(s) loaded from s3://${this.bucket}; manifest ${m ? (this.manifestCurrent ? 'current' : 'behind the record') : 'absent'}`,
    );
  }

  private refuseIfBroken(): void {
    if (this.broken) {
      throw new VerificationFailedError(
        'CUSTODY_INVALID',
        `The custody record of case ${this.caseId} in s3://${this.bucket} fails its chain check (${this.broken}), so nothing more is appended to it. Investigate with \`cleanroom custody verify --case ${this.caseId}\`.`,
        { caseId: this.caseId, bucket: this.bucket },
      );
    }
  }

  find(idempotencyKey: string): RecordedEvent | undefined {
    return this.byKey.get(idempotencyKey);
  }

  get chainProblem(): string | undefined {
    return this.broken;
  }

  events(): readonly RecordedEvent[] {
    return this.lanes.size > 0 ? [...this.list, ...this.lanes.uncommittedEvents()] : this.list;
  }

  /**
   * Before an append: a lease whose expiry has passed by our clock (the process stalled past its
   * heartbeats) is renewed first — which fails, and stops the append, when someone took it over.
   */
  private async leaseStillHeld(): Promise<void> {
    const l = this.lease;
    if (!l || l.released) return;
    l.assertHeld();
    if (this.now().getTime() >= Date.parse(l.document.expiresAt)) await l.renew();
  }

  /** The event an entry becomes at `at` (main chain, or a lane position when `lane` is given), with its hash. */
  private event(
    entry: CustodyEntry,
    at: { seq: number; prevHash: string },
    now: Date,
    actor: string,
    lane?: string,
  ): CustodyEvent {
    const body: Omit<CustodyEvent, 'hash'> = {
      schema: EVENT_SCHEMA_ID,
      case: this.caseId,
      seq: at.seq,
      ...(lane !== undefined ? { lane } : {}),
      time: now.toISOString(),
      actor,
      ...(this.via ? { via: { ...this.via } } : {}),
      action: entry.action,
      resources: entry.resources,
      ...(entry.inputs !== undefined ? { inputs: entry.inputs } : {}),
      outcome: entry.outcome,
      ...(entry.idempotencyKey !== undefined ? { idempotencyKey: entry.idempotencyKey } : {}),
      prevHash: at.prevHash,
    };
    return { ...body, hash: eventHash(body) } as CustodyEvent;
  }

  /**
   * A leased main-chain writer at open — the previous holder is gone (released, expired or dead):
   * commit the group-lane objects an earlier main-chain writer left uncommitted (it died between a
   * batch's lane object and the checkpoint committing it) with one checkpoint, before anything new
   * is appended, so that they keep their place in the record (before this writer's events) and the
   * next seal signs them. The checkpoint says so (`details.recovered`): one event, so a kill cannot
   * separate the commit from its record. Killed before that checkpoint is written, the next open
   * recovers again; killed after it was written (its answer lost), the next open reads it and finds
   * nothing to recover. A record that fails its check (an object that does not verify) is refused
   * (CUSTODY_INVALID, exit 3): nothing is committed, nothing skipped. Returns how many events it
   * committed.
   */
  async recoverGroupLanes(): Promise<number> {
    const orphaned = () => this.lanes.uncommittedHeads().filter((h) => h.lane.startsWith(`${GROUP_LANE_PREFIX}-`));
    const count = () =>
      this.lanes.uncommittedEvents().filter((e) => e.lane?.startsWith(`${GROUP_LANE_PREFIX}-`)).length;
    if (!orphaned().length) return 0;
    this.refuseIfBroken();
    let events = 0;
    const ev = await this.appendMain(() => {
      const heads = orphaned();
      if (!heads.length) return undefined;
      events = count();
      return {
        action: 'custody.checkpoint',
        resources: [],
        outcome: {
          status: 'succeeded',
          details: { lanes: heads, recovered: { reason: 'uncommitted-at-open', events } },
        },
      };
    });
    if (!ev) return 0;
    this.reporter.warn(
      `The custody record of case ${this.caseId} held ${events} event(s) that an interrupted command wrote but did not commit; they are committed now, in their place (checkpoint #${ev.seq}).`,
    );
    return events;
  }

  /** The checkpoint committing the lane heads not committed yet; undefined when there are none. */
  private checkpointEntry(): CustodyEntry | undefined {
    const heads = this.lanes.uncommittedHeads();
    if (!heads.length) return undefined;
    return {
      action: 'custody.checkpoint',
      resources: [],
      outcome: { status: 'succeeded', details: { lanes: heads } },
    };
  }

  /**
   * Append to this writer's lane: queued, and written by one PUT per batch — appends made while a
   * PUT is in flight go into the next object (group commit). Acknowledged once that PUT succeeded.
   */
  private recordInLane(entry: CustodyEntry): Promise<RecordedEvent> {
    const key = entry.idempotencyKey;
    if (key) {
      const existing = this.byKey.get(key) ?? this.laneInFlight.get(key);
      if (existing) return Promise.resolve(existing);
    }
    if (this.laneFailed) return Promise.reject(this.laneFailed);
    const p = new Promise<RecordedEvent>((done, fail) => {
      this.lanePending.push({ entry, done, fail });
    });
    if (key) {
      this.laneInFlight.set(key, p);
      void p.then(
        () => this.laneInFlight.delete(key),
        () => this.laneInFlight.delete(key),
      );
    }
    this.laneFlush ??= this.flushLane();
    return p;
  }

  private async flushLane(): Promise<void> {
    // Let appends made in the same tick join the first object.
    await Promise.resolve();
    try {
      while (this.lanePending.length) {
        const batch = this.lanePending.splice(0, MAX_LANE_BATCH);
        try {
          const evs = await this.putLaneBatch(batch.map((b) => b.entry));
          for (const [i, b] of batch.entries()) b.done(evs[i]!);
        } catch (e) {
          // A lane whose last write is uncertain is not written again: the next object's number
          // depends on it. The writer's step fails; a new writer opens a new lane.
          this.laneFailed = e;
          for (const b of [...batch, ...this.lanePending.splice(0)]) b.fail(e);
        }
      }
    } finally {
      this.laneFlush = undefined;
    }
  }

  /** One lane object: the entries as events after the lane's head (the first after the main head this writer saw). */
  private async putLaneBatch(entries: CustodyEntry[], lane = this.ownLane!): Promise<CustodyEvent[]> {
    await this.leaseStillHeld();
    this.refuseIfBroken();
    this.actor ??= this.account.callerArn();
    const actor = await this.actor;
    const last = this.lanes.head(lane);
    const first = (last?.seq ?? 0) + 1;
    let prevHash = last?.hash ?? this.head().hash;
    const now = this.now();
    const events = entries.map((entry, i) => {
      const ev = this.event(entry, { seq: first + i, prevHash }, now, actor, lane);
      prevHash = ev.hash;
      return ev;
    });
    const bytes = canonicalBytes(events);
    const stored = JSON.parse(bytes.toString('utf8')) as CustodyEvent[];
    for (const ev of stored) {
      const invalid = eventSchemaErrors(ev);
      if (invalid.length)
        throw new UsageError(
          'CUSTODY_EVENT_INVALID',
          `The custody event ${ev.action} does not match the custody event schema (${invalid.join('; ')}); nothing was recorded.`,
          { details: { caseId: this.caseId, action: ev.action } },
        );
    }
    const key = laneKey(this.caseId, lane, first);
    try {
      await putLocked(this.account, this.vault, key, bytes, now, { create: true });
    } catch (e) {
      if (!isAwsCode(e, 'PreconditionFailed', 'ConditionalRequestConflict')) {
        // A group object whose answer was lost may have landed: read it back, so that this
        // writer's retry of the same unit is not written again into a new group lane.
        if (lane === this.ownLane) throw e;
        const landed = await getBytes(this.account, this.bucket, key).catch(() => undefined);
        if (!landed?.body.equals(bytes)) throw e;
      } else {
        // Nobody else writes this lane: the key can only hold this writer's own earlier attempt
        // whose answer was lost — the same bytes, or the lane is not this writer's alone.
        const there = await getBytes(this.account, this.bucket, key);
        if (!there?.body.equals(bytes))
          throw new CleanroomError(
            'CUSTODY_CONTENTION',
            `Could not append to lane ${lane} of the custody record of case ${this.caseId}: another writer wrote its next object. Run the step again (it reads its lane again, or opens a new one).`,
            { details: { caseId: this.caseId } },
          );
      }
    }
    this.lanes.addObject(lane, first, bytes);
    this.lanes.order();
    for (const ev of stored) this.keep(ev);
    this.appended += stored.length;
    this.reporter.debug(`custody ${this.caseId} lane ${lane} #${first}–${first + stored.length - 1}`);
    return stored;
  }

  async releaseLease(): Promise<void> {
    await this.queue;
    await Promise.all(this.locks.map((l) => l.release()));
    await this.lease?.release();
  }

  async withLocks<T>(scopes: readonly string[], fn: () => Promise<T>): Promise<T> {
    const base = this.lockBase;
    if (!base || !scopes.length) return fn();
    const held = new Set(this.locks.map((l) => l.document.scope));
    // With the case's lease, only the vault-wide locks: the lease covers the case's own.
    const more = await (this.lease ? acquireVaultLocks : acquireCaseLocks)(
      base,
      scopes.filter((s) => !held.has(s)),
    );
    this.locks.push(...more);
    try {
      await recordTakeovers(this, more);
      return await fn();
    } finally {
      this.locks = this.locks.filter((l) => !more.includes(l));
      await Promise.all(more.map((l) => l.release().catch(() => undefined)));
    }
  }

  record(entry: CustodyEntry): Promise<RecordedEvent> {
    // A holder whose lease (or a lock it holds) was taken stops changing the case (and recording as if it still could).
    const lost = this.lease?.lostError ?? this.locks.find((l) => l.lostError)?.lostError;
    if (lost) return Promise.reject(lost);
    if (this.ownLane) return this.recordInLane(entry);
    return this.recordGrouped(entry);
  }

  /**
   * Append to the main chain with group commit: an append made while none is being written goes
   * out at once, as one main-chain event (one conditional PUT, as before); the appends made while a
   * write is in flight are written together by the next one — as one lane object of this writer's
   * group lane (one conditional PUT) and a `custody.checkpoint` committing it (one main-chain
   * append) — so N concurrent appends cost two PUTs, not N. Each resolves only when its batch is
   * committed (both written); a failed batch fails every append in it, and the next batch goes on.
   * The record's order is the order of the calls: batches are written one after the other, and a
   * checkpoint puts its batch right before itself.
   */
  private recordGrouped(entry: CustodyEntry): Promise<RecordedEvent> {
    const key = entry.idempotencyKey;
    if (key) {
      const existing = this.byKey.get(key) ?? this.mainInFlight.get(key);
      if (existing) return Promise.resolve(existing);
    }
    const p = new Promise<RecordedEvent>((done, fail) => {
      this.mainPending.push({ entry, done, fail });
    });
    if (key) {
      this.mainInFlight.set(key, p);
      const forget = () => this.mainInFlight.delete(key);
      void p.then(forget, forget);
    }
    if (!this.mainFlush) {
      const run = this.queue.then(() => this.flushMain());
      this.mainFlush = run;
      this.queue = run.catch(() => undefined);
    }
    return p;
  }

  private async flushMain(): Promise<void> {
    // Appends made in the same tick as the first go out with it.
    await Promise.resolve();
    try {
      while (this.mainPending.length) {
        const batch = this.mainPending.splice(0, this.groupCommit ? MAX_LANE_BATCH : 1);
        try {
          await this.leaseStillHeld();
          if (batch.length === 1) {
            batch[0]!.done(await this.append(batch[0]!.entry));
            continue;
          }
          const evs = await this.putGroup(batch.map((b) => b.entry));
          for (const [i, b] of batch.entries()) b.done(evs[i]!);
        } catch (e) {
          for (const b of batch) b.fail(e);
        }
      }
    } finally {
      this.mainFlush = undefined;
    }
  }

  /** One group commit: the entries as one object of the group lane, then the checkpoint committing it. */
  private async putGroup(entries: CustodyEntry[]): Promise<RecordedEvent[]> {
    // An entry recorded meanwhile (an earlier batch, another writer's checkpoint) is not written again.
    const known = (e: CustodyEntry) => (e.idempotencyKey ? this.byKey.get(e.idempotencyKey) : undefined);
    const fresh = entries.filter((e) => !known(e));
    let stored: CustodyEvent[] = [];
    if (fresh.length) {
      this.groupLane ??= `${GROUP_LANE_PREFIX}-${crypto.randomBytes(8).toString('hex')}`;
      try {
        stored = await this.putLaneBatch(fresh, this.groupLane);
      } catch (e) {
        // Not written, or not readable back: whether the object landed is unknown, so the next
        // batch starts a new group lane (an object that did land is found uncommitted by the next
        // reader, and committed by the next leased open or seal).
        this.groupLane = undefined;
        throw e;
      }
      await this.appendMain(() => this.checkpointEntry());
    }
    let k = 0;
    return entries.map((e) => known(e) ?? stored[k++]!);
  }

  private async append(entry: CustodyEntry): Promise<RecordedEvent> {
    return (await this.appendMain(() => entry))!;
  }

  /**
   * Append to the main chain what `make` gives at each attempt (a checkpoint is built again after
   * catching up, so that it never names a lane head another writer's checkpoint already passed);
   * undefined when `make` gives nothing to append.
   */
  private async appendMain(make: () => CustodyEntry | undefined): Promise<RecordedEvent | undefined> {
    const first = make();
    if (!first) return undefined;
    if (first.idempotencyKey) {
      const existing = this.byKey.get(first.idempotencyKey);
      if (existing) return existing;
    }
    this.refuseIfBroken();
    this.actor ??= this.account.callerArn();
    const actor = await this.actor;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const entry = attempt === 0 ? first : make();
      if (!entry) return undefined;
      const head = this.head();
      const now = this.now();
      const ev = this.event(entry, { seq: head.seq + 1, prevHash: head.hash }, now, actor);
      const bytes = canonicalBytes(ev);
      // Never write an event the verifier would reject: a bad entry is a bug in the caller.
      const invalid = eventSchemaErrors(JSON.parse(bytes.toString('utf8')));
      if (invalid.length) {
        throw new UsageError(
          'CUSTODY_EVENT_INVALID',
          `The custody event ${entry.action} does not match the custody event schema (${invalid.join('; ')}); nothing was recorded.`,
          { details: { caseId: this.caseId, action: entry.action } },
        );
      }
      const key = eventKey(this.caseId, ev.seq);
      try {
        await putLocked(this.account, this.vault, key, bytes, now, { create: true });
        const stored = JSON.parse(bytes.toString('utf8')) as CustodyEvent;
        this.adopt(stored);
        this.appended++;
        this.reporter.debug(`custody ${this.caseId} #${ev.seq} ${ev.action}`);
        return stored;
      } catch (e) {
        // 412: the key exists (another writer won this number). 409: a concurrent conditional
        // write to the same key is in flight (S3 conditional writes, "ConditionalRequestConflict").
        if (!isAwsCode(e, 'PreconditionFailed', 'ConditionalRequestConflict')) throw e;
      }
      // Lost the race: wait a little (more after each loss, so many writers take turns rather
      // than collide again), then catch up with what the others wrote and try the next number.
      await this.sleep(appendBackoffMs(attempt, this.random));
      const mine = await this.catchUp(first.idempotencyKey);
      if (mine) return mine;
    }
    throw new CleanroomError(
      'CUSTODY_CONTENTION',
      `Could not append to the custody record of case ${this.caseId}: other writers took every sequence number this one tried, ${MAX_APPEND_ATTEMPTS} times. Run the command again.`,
      { details: { caseId: this.caseId } },
    );
  }

  /**
   * Read the events other writers appended after our head, in order, until a number is free; each
   * must link onto the one before (else the record is broken: refuse). Returns the event of
   * `idempotencyKey` if another writer (or an earlier attempt of ours whose answer was lost)
   * recorded it meanwhile. A number whose conditional write is still in flight (409) reads as free.
   */
  private async catchUp(idempotencyKey: string | undefined): Promise<RecordedEvent | undefined> {
    for (;;) {
      const head = this.head();
      const theirs = await getBytes(this.account, this.bucket, eventKey(this.caseId, head.seq + 1));
      if (!theirs) return undefined;
      let other: CustodyEvent;
      try {
        other = parseLinked(this.caseId, head.seq + 1, theirs.body, head);
      } catch (err) {
        this.broken = `another writer's event ${head.seq + 1}: ${(err as Error).message}`;
        this.refuseIfBroken();
        throw err;
      }
      await this.loadLanesOf(other);
      this.refuseIfBroken();
      this.adopt(other);
      this.reporter.debug(`custody ${this.caseId}: #${other.seq} was written by ${other.actor}; appending after it`);
      if (idempotencyKey && other.idempotencyKey === idempotencyKey) return other;
    }
  }

  async sealManifest(): Promise<CaseManifest> {
    // Seal after pending appends, never in the middle of one.
    await this.queue;
    while (this.laneFlush) await this.laneFlush;
    // Seal the record's newest head, not only this writer's: other writers may have appended
    // since (one GET when none did).
    if (!this.broken) await this.catchUp(undefined);
    this.refuseIfBroken();
    // Commit every lane head this writer knows (its own, and any found uncommitted at open: a
    // writer that died is swept up) — built again at each attempt, after catching up.
    if (this.lanes.size > 0) {
      const run = this.queue.then(() => this.appendMain(() => this.checkpointEntry()));
      this.queue = run.catch(() => undefined);
      await run;
    }
    this.actor ??= this.account.callerArn();
    const head = this.head();
    const now = this.now();
    const signed: SignedManifest = {
      schema: MANIFEST_SCHEMA_ID,
      case: this.caseId,
      bucket: this.bucket,
      events: head.seq,
      head,
      evidence: projectEvidence([...foldEvidence(this.list).values()]),
      sealedAt: now.toISOString(),
      sealedBy: await this.actor,
    };
    const { digest, message } = manifestStatement(signed);
    const sig = await this.account.kms.sign({
      KeyId: this.vault.signingKeyArn,
      Message: message,
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    const manifest: CaseManifest = {
      ...signed,
      signature: {
        keyId: sig.KeyId ?? this.vault.signingKeyArn,
        algorithm: 'ECDSA_SHA_256',
        messageType: 'RAW',
        digest,
        value: Buffer.from(sig.Signature!).toString('base64'),
      },
    };
    const invalid = manifestSchemaErrors(manifest);
    if (invalid.length)
      throw new CleanroomError(
        'MANIFEST_INVALID',
        `The manifest of case ${this.caseId} does not match the case manifest schema (${invalid.join('; ')}); it was not written.`,
        { details: { caseId: this.caseId } },
      );
    await putLocked(this.account, this.vault, manifestKey(this.caseId), canonicalBytes(manifest), now, {
      create: false,
    });
    this.appended = 0;
    this.manifestCurrent = true;
    this.reporter.debug(`custody ${this.caseId}: manifest sealed at #${head.seq}`);
    return manifest;
  }
}

/** An actor context as the event schema takes it (refused, exit 2, before anything is read). */
function checkActorContext(a: ActorContext): ActorContext {
  const ok =
    typeof a.execution === 'string' &&
    a.execution.length > 0 &&
    typeof a.function === 'string' &&
    a.function.length > 0 &&
    typeof a.codeSha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(a.codeSha256);
  if (!ok)
    throw new UsageError(
      'INVALID_VALUE',
      'actorContext needs an execution ARN, a function name and the code SHA-256 (64 lower-case hex digits).',
      { details: { actorContext: a } },
    );
  return { execution: a.execution, function: a.function, codeSha256: a.codeSha256 };
}

/**
 * Open the custody record of a case for writing. Audits the vault first (once), and refuses with
 * exit 2 when there is no vault, exit 3 when it fails the audit; with `mustExist`, exit 2
 * (UNKNOWN_CASE) when the case has no record; with `lease`, exit 1 (CASE_BUSY) when another
 * holder has the case. The lease is taken before the record is read, so what the holder reads is
 * what the previous holder left.
 */
export async function openCaseCustody(account: AwsAccount, opts: OpenCustodyOptions): Promise<CaseCustody> {
  assertCaseId(opts.caseId);
  const bucket = await resolveVaultBucket(account, opts.bucket);
  const vault = await requireCompliantVault(account, bucket, opts.audit);
  if (opts.mustExist) await requireExistingCase(account, bucket, opts.caseId);
  const now = opts.now ?? (() => new Date());
  const c = new S3CaseCustody(
    account,
    opts.caseId,
    vault,
    opts.reporter ?? silentReporter,
    now,
    opts.sleep,
    opts.random,
    opts.lane,
    opts.actorContext ? checkActorContext(opts.actorContext) : undefined,
    opts.groupCommit !== false,
  );
  if (opts.lease) {
    const l = opts.lease;
    c.lease = await acquireCaseLease({
      account,
      bucket,
      vaultKeyArn: vault.vaultKeyArn,
      caseId: opts.caseId,
      owner: l.owner,
      command: l.command,
      actor: await account.callerArn(),
      ...(l.host ? { host: l.host } : {}),
      ...(l.pid ? { pid: l.pid } : {}),
      ...(l.bootedAt ? { bootedAt: l.bootedAt } : {}),
      ...(l.ttlMs ? { ttlMs: l.ttlMs } : {}),
      ...(l.holderGone ? { holderGone: l.holderGone } : {}),
      now,
    });
  }
  /** Who takes locks: the lease's holder (only vault-wide locks, briefly) or the step's `locks`. */
  const lockBase = (holder: { owner: string; command: string; ttlMs?: number }): LeaseOptions => ({
    account,
    bucket,
    vaultKeyArn: vault.vaultKeyArn,
    caseId: opts.caseId,
    owner: holder.owner,
    command: holder.command,
    ...(holder.ttlMs ? { ttlMs: holder.ttlMs } : {}),
    now,
  });
  try {
    if (c.lease) {
      const holder = { owner: c.lease.owner, command: c.lease.document.command };
      await refuseWhileLocked(c.lease, lockBase(holder));
      const actor = c.lease.document.actor;
      // Where the holder runs, as its lease says: a rerun on this machine takes over the vault-wide
      // locks of a command that died holding them (killed mid-isolate), as it takes its lease over.
      const l = opts.lease!;
      c.lockBase = {
        ...lockBase(holder),
        ...(actor ? { actor } : {}),
        ...(l.host ? { host: l.host } : {}),
        ...(l.pid ? { pid: l.pid } : {}),
        ...(l.bootedAt ? { bootedAt: l.bootedAt } : {}),
        ...(l.holderGone ? { holderGone: l.holderGone } : {}),
      };
    } else if (opts.locks) {
      c.lockBase = { ...lockBase(opts.locks), actor: await account.callerArn() };
      c.locks = await acquireCaseLocks(c.lockBase, opts.locks.scopes);
    }
  } catch (e) {
    c.lease = undefined;
    throw e;
  }
  try {
    await c.load(opts.concurrency ?? 16);
    // The case is this writer's now: what an earlier main-chain writer left uncommitted is committed first.
    if (c.lease && opts.lane === undefined) await c.recoverGroupLanes();
    await recordTakeovers(c, c.locks);
    const t = c.lease?.takeover;
    if (t) {
      const p = t.previous;
      await c.record({
        action: 'case.lease.takeover',
        resources: [resourceRef('s3:object', leaseKey(opts.caseId))],
        inputs: { command: opts.lease!.command },
        outcome: {
          status: 'succeeded',
          details: {
            reason: t.reason,
            ...previousHolder(p),
            generation: c.lease!.document.generation,
          },
        },
        idempotencyKey: idempotencyKeys.leaseTakeover(p.owner, p.generation),
      });
    }
  } catch (e) {
    await c.releaseLease().catch(() => undefined);
    throw e;
  }
  return c;
}

/** Who held a lease or lock before it was taken over, as a take-over event records it. */
function previousHolder(p: LeaseTakeover['previous']) {
  return {
    previousOwner: p.owner,
    previousCommand: p.command,
    previousActor: p.actor ?? null,
    previousAcquiredAt: p.acquiredAt,
    previousExpiresAt: p.expiresAt,
    previousGeneration: p.generation,
  };
}

/** Record the take-over of each lock that was taken from a holder that had not given it back. */
async function recordTakeovers(c: CaseCustody, locks: readonly CaseLease[]): Promise<void> {
  for (const l of locks) {
    const t = l.takeover;
    const scope = l.document.scope;
    if (!t || !scope) continue;
    const p = t.previous;
    await c.record({
      action: 'case.lease.takeover',
      resources: [resourceRef('s3:object', l.key)],
      inputs: { command: l.document.command, scope },
      outcome: {
        status: 'succeeded',
        details: {
          reason: t.reason,
          scope,
          ...(l.vaultWide ? { vaultWide: true, previousCase: p.case } : {}),
          ...previousHolder(p),
          generation: l.document.generation,
        },
      },
      idempotencyKey: (l.vaultWide ? idempotencyKeys.vaultLockTakeover : idempotencyKeys.lockTakeover)(
        scope,
        p.owner,
        p.generation,
      ),
    });
  }
}
