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
  manifestKey,
  manifestStatement,
  type CaseManifest,
  type ChainHead,
  type CustodyEvent,
  type SignedManifest,
} from './event.js';
import type { ActorContext, CustodyEntry, CustodyRecorder, RecordedEvent } from '../domain/recorder.js';
import { getBytes, listEventKeys, putLocked } from './store.js';
import { eventSchemaErrors, manifestSchemaErrors } from './schema.js';
import { projectEvidence } from './verify.js';
import { requireExistingCase } from './case-exists.js';
import { acquireCaseLease, leaseKey, type CaseLease, type LeaseOptions } from './lease.js';
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
  /** Give the lease back (no-op without one, or when it was lost). */
  releaseLease(): Promise<void>;
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
   * Take the case's lease (one writer per case) before the record is read; refuse with CASE_BUSY
   * (exit 1) when another holder has it. A take-over of an expired lease is recorded as a
   * `case.lease.takeover` event. Appends refuse once a renewal found the lease lost.
   */
  lease?: CustodyLeaseRequest;
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

class S3CaseCustody implements CaseCustody {
  private readonly list: CustodyEvent[] = [];
  private readonly byKey = new Map<string, CustodyEvent>();
  private appended = 0;
  private manifestCurrent = false;
  /** Why the loaded record cannot be appended to (it fails the chain check). */
  private broken: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private actor: Promise<string> | undefined;
  lease: CaseLease | undefined;

  constructor(
    private readonly account: AwsAccount,
    readonly caseId: string,
    private readonly vault: CompliantVault,
    private readonly reporter: Reporter,
    private readonly now: () => Date,
    private readonly sleep: (ms: number) => Promise<void> = timerSleep,
    private readonly random: () => number = Math.random,
    private readonly via?: ActorContext,
  ) {}

  get bucket(): string {
    return this.vault.bucket;
  }

  get vaultTarget(): CaseCustody['vaultTarget'] {
    const v = this.vault;
    return { bucket: v.bucket, vaultKeyArn: v.vaultKeyArn, lockMode: v.lockMode, retentionDays: v.retentionDays };
  }

  get dirty(): boolean {
    return this.appended > 0 || (!this.manifestCurrent && this.list.length > 0);
  }

  private head(): ChainHead {
    const last = this.list[this.list.length - 1];
    return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_PREV_HASH };
  }

  private adopt(ev: CustodyEvent): void {
    this.list.push(ev);
    if (ev.idempotencyKey && !this.byKey.has(ev.idempotencyKey)) this.byKey.set(ev.idempotencyKey, ev);
  }

  /** Load the case's events (list + bounded parallel GETs) and the manifest. */
  async load(concurrency: number): Promise<void> {
    const keys = await listEventKeys(this.account, this.bucket, this.caseId);
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
        this.adopt(ev);
        prev = { seq: ev.seq, hash: ev.hash };
      } catch (e) {
        this.broken = (e as Error).message;
      }
    }
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

  events(): readonly RecordedEvent[] {
    return this.list;
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

  async releaseLease(): Promise<void> {
    await this.queue;
    await this.lease?.release();
  }

  record(entry: CustodyEntry): Promise<RecordedEvent> {
    // A holder whose lease was taken stops changing the case (and recording as if it still could).
    const lost = this.lease?.lostError;
    if (lost) return Promise.reject(lost);
    const run = this.queue.then(async () => {
      await this.leaseStillHeld();
      return this.append(entry);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async append(entry: CustodyEntry): Promise<RecordedEvent> {
    if (entry.idempotencyKey) {
      const existing = this.byKey.get(entry.idempotencyKey);
      if (existing) return existing;
    }
    this.refuseIfBroken();
    this.actor ??= this.account.callerArn();
    const actor = await this.actor;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const head = this.head();
      const now = this.now();
      const body: Omit<CustodyEvent, 'hash'> = {
        schema: EVENT_SCHEMA_ID,
        case: this.caseId,
        seq: head.seq + 1,
        time: now.toISOString(),
        actor,
        ...(this.via ? { via: { ...this.via } } : {}),
        action: entry.action,
        resources: entry.resources,
        ...(entry.inputs !== undefined ? { inputs: entry.inputs } : {}),
        outcome: entry.outcome,
        ...(entry.idempotencyKey !== undefined ? { idempotencyKey: entry.idempotencyKey } : {}),
        prevHash: head.hash,
      };
      const ev = { ...body, hash: eventHash(body) } as CustodyEvent;
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
        this.adopt(JSON.parse(bytes.toString('utf8')) as CustodyEvent);
        this.appended++;
        this.reporter.debug(`custody ${this.caseId} #${ev.seq} ${ev.action}`);
        return this.list[this.list.length - 1]!;
      } catch (e) {
        // 412: the key exists (another writer won this number). 409: a concurrent conditional
        // write to the same key is in flight (S3 conditional writes, "ConditionalRequestConflict").
        if (!isAwsCode(e, 'PreconditionFailed', 'ConditionalRequestConflict')) throw e;
      }
      // Lost the race: wait a little (more after each loss, so many writers take turns rather
      // than collide again), then catch up with what the others wrote and try the next number.
      await this.sleep(appendBackoffMs(attempt, this.random));
      const mine = await this.catchUp(entry.idempotencyKey);
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
      this.adopt(other);
      this.reporter.debug(`custody ${this.caseId}: #${other.seq} was written by ${other.actor}; appending after it`);
      if (idempotencyKey && other.idempotencyKey === idempotencyKey) return other;
    }
  }

  async sealManifest(): Promise<CaseManifest> {
    // Seal after pending appends, never in the middle of one.
    await this.queue;
    // Seal the record's newest head, not only this writer's: other writers may have appended
    // since (one GET when none did).
    if (!this.broken) await this.catchUp(undefined);
    this.refuseIfBroken();
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
    opts.actorContext ? checkActorContext(opts.actorContext) : undefined,
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
  try {
    await c.load(opts.concurrency ?? 16);
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
            previousOwner: p.owner,
            previousCommand: p.command,
            previousActor: p.actor ?? null,
            previousAcquiredAt: p.acquiredAt,
            previousExpiresAt: p.expiresAt,
            previousGeneration: p.generation,
            generation: c.lease!.document.generation,
          },
        },
        idempotencyKey: idempotencyKeys.leaseTakeover(p.owner, p.generation),
      });
    }
  } catch (e) {
    await c.lease?.release().catch(() => undefined);
    throw e;
  }
  return c;
}
