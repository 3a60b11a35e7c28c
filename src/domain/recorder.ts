import type { CustodyAction } from './custody-actions.js';
import type { RecordedErrorCode } from './errors.js';

/**
 * The custody seam: the one interface through which every mutating workflow (room, acquisition,
 * isolation, close) appends chain-of-custody events. Workflows record what they did as they do it,
 * including failures and partial results, so a command that fails partway still leaves a record.
 */

/** A resource an action touched. */
export interface ResourceRef {
  /** e.g. `ec2:snapshot`, `ec2:volume`, `ec2:instance`, `kms:key`, `cloudformation:stack`, `s3:object`. */
  type: string;
  id: string;
  arn?: string;
  account?: string;
  region?: string;
}

/**
 * The one builder of a {@link ResourceRef}: `type` as in the record (`ec2:snapshot`, `kms:key`,
 * `cloudformation:stack`, ...), the id, and where it is. A field left out stays out of the record
 * (no `undefined` keys in the hashed JSON).
 */
export function resourceRef(type: string, id: string, account?: string, region?: string, arn?: string): ResourceRef {
  return {
    type,
    id,
    ...(account !== undefined ? { account } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(arn ? { arn } : {}),
  };
}

export type OutcomeStatus = 'succeeded' | 'failed' | 'partial' | 'skipped';

/**
 * What came of an action. `C` is the error code's type: what a workflow records now is a declared
 * code ({@link RecordedErrorCode}); what a stored event holds is any string, since a record written
 * by an earlier version keeps the codes of its day and must still verify.
 */
export interface Outcome<C extends string = string> {
  status: OutcomeStatus;
  /** For failures: the project's error code and message. */
  error?: { code: C; message: string };
  /** Anything else worth keeping (new ids, counts, audit results). JSON values only. */
  details?: Record<string, unknown>;
}

/** What a workflow hands to the recorder; the recorder adds seq, time, actor and the hashes. */
export interface CustodyEntry {
  /** Dotted verb from the closed vocabulary (domain/custody-actions.ts), e.g. `evidence.snapshot`, `case.close`. */
  action: CustodyAction;
  resources: ResourceRef[];
  inputs?: Record<string, unknown>;
  outcome: Outcome<RecordedErrorCode>;
  /**
   * Makes the append idempotent: if an event with this key is already in the record, the recorder
   * returns it instead of appending again. Reruns after a crash rely on this to never duplicate
   * events. Build it with `idempotencyKeys` (domain/idempotency-keys.ts), which names every unit
   * of work, e.g. `acquire:snapshot:<evidenceId>:<snapshotId>`.
   */
  idempotencyKey?: string;
}

/**
 * Who appended through automation (a Step Functions execution's Lambda step), besides the STS
 * caller `actor` (the function's role session): the execution, the function and the deployed
 * code's SHA-256. Stored as the event's optional `via` (additive: events without it verify as before).
 */
export interface ActorContext {
  /** The Step Functions execution ARN. */
  execution: string;
  /** The Lambda function name (or ARN). */
  function: string;
  /** SHA-256 (hex) of the deployed code bundle (automation/code/<sha256>.zip). */
  codeSha256: string;
}

/** An event as appended (the stored form has more; see `event.ts`). */
export interface RecordedEvent {
  /** Position in the chain — or, for an event of a writer's own lane (`lane` set), in that lane. */
  seq: number;
  /** Set only on a lane event: the lane of the writer that appended it (docs/custody.md, "Many writers on one case"). */
  lane?: string;
  time: string;
  actor: string;
  action: string;
  hash: string;
  prevHash: string;
  idempotencyKey?: string;
  outcome: Outcome;
  resources: ResourceRef[];
  inputs?: Record<string, unknown>;
  /** Automation's context of the append (absent for the CLI and for every event before automation). */
  via?: ActorContext;
}

export interface CustodyRecorder {
  /** Append one event (or return the existing one with the same idempotency key). */
  record(entry: CustodyEntry): Promise<RecordedEvent>;
  /** The event already recorded under this key, if any. */
  find(idempotencyKey: string): RecordedEvent | undefined;
  /** Every event recorded so far, in order (as loaded at open plus those appended since). */
  events(): readonly RecordedEvent[];
  /**
   * Why the record as loaded fails its chain check (a missing, unreadable or unlinked event), if it
   * does; undefined when it verifies (or the recorder keeps no chain). A reader that acts on what
   * the record says (isolate release) refuses a record that says this.
   */
  readonly chainProblem?: string | undefined;
  /**
   * Hold the locks of `scopes` (src/domain/exclusive.ts) while `fn` runs, when the record takes
   * locks: a record opened with the case's lease takes only the vault-wide ones (what another
   * case's writers may change too); CASE_BUSY, naming the holder, when one is held.
   */
  withLocks?<T>(scopes: readonly string[], fn: () => Promise<T>): Promise<T>;
}

/** In-memory recorder for unit tests and dry runs; same idempotency semantics, no storage. */
export class MemoryRecorder implements CustodyRecorder {
  private readonly list: RecordedEvent[] = [];
  constructor(
    private readonly actor = 'arn:aws:sts::000000000000:assumed-role/test/unit',
    private readonly now: () => Date = () => new Date(),
  ) {}
  async record(entry: CustodyEntry): Promise<RecordedEvent> {
    const existing = entry.idempotencyKey ? this.find(entry.idempotencyKey) : undefined;
    if (existing) return existing;
    const seq = this.list.length + 1;
    const ev: RecordedEvent = {
      seq,
      time: this.now().toISOString(),
      actor: this.actor,
      action: entry.action,
      hash: `mem-${seq}`,
      prevHash: seq === 1 ? 'genesis' : `mem-${seq - 1}`,
      outcome: entry.outcome,
      resources: entry.resources,
      ...(entry.inputs ? { inputs: entry.inputs } : {}),
      ...(entry.idempotencyKey ? { idempotencyKey: entry.idempotencyKey } : {}),
    };
    this.list.push(ev);
    return ev;
  }
  find(key: string): RecordedEvent | undefined {
    return this.list.find((e) => e.idempotencyKey === key);
  }
  events(): readonly RecordedEvent[] {
    return this.list;
  }
}
