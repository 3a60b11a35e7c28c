/**
 * The Lambda host: what every step handler does around its one library call, as src/cli/host.ts
 * does for a command.
 *
 * 1. Check the input against the step's schema (INVALID_AUTOMATION_INPUT, exit 2: not retried).
 * 2. Give the step an AbortSignal that fires {@link DEADLINE_MARGIN_MS} before Lambda's own time
 *    limit, so a workflow stops at a step boundary (INTERRUPTED) with its record sealed, and the
 *    step returns `pending`: the state machine calls it again and it resumes.
 * 3. Map the outcome: a result is `{ status: 'done', … }`; a wait the workflow handed off
 *    (WAIT_HANDED_OFF, `waits: 'hand-off'`) is `{ status: 'pending', waitSeconds, waitingFor }`;
 *    any other failure is thrown as an Error whose `name` is the cleanroom error code, which is
 *    what the state machine's Retry and Catch match (Lambda reports `name` as the errorType).
 */
import { createHash } from 'node:crypto';
import { CleanroomError } from '../domain/errors.js';
import { isInterrupted } from '../domain/abort.js';
import { isWaitHandedOff } from '../domain/hand-off.js';
import type { CustodyRecorder } from '../domain/recorder.js';
import type { Exclusive } from '../domain/exclusive.js';
import type { AutomationEnv } from './env.js';
import { checkStepInput } from './schemas.js';
import type { ActorContext, CaseRef, HandlerName, LambdaContext, Pending, StepResult } from './types.js';

/** How long before Lambda's time limit a step stops (at a step boundary) and returns pending. */
export const DEADLINE_MARGIN_MS = 60_000;

/** A case's custody record as a step holds it: append, seal, hold locks, give them back. */
export interface CaseRecord extends CustodyRecorder {
  readonly caseId: string;
  readonly dirty: boolean;
  sealManifest(): Promise<unknown>;
  /** Give back the locks the record was opened with. */
  releaseLease(): Promise<void>;
  /** Hold more locks of the case while `fn` runs (see src/domain/exclusive.ts). */
  withLocks: Exclusive;
}

/** How a step opens a record: must it exist, which locks of the case it takes, who is writing. */
export interface OpenRecord {
  mustExist: boolean;
  /**
   * Take these locks of the case (steps that change the case's AWS state: isolate and acquire the
   * instance's, room and attach the room's; src/domain/exclusive.ts) for the invocation: they keep
   * two writers from changing the same resources at once. The record does not need them.
   */
  locks?: { owner: string; command: string; scopes: string[] };
  /**
   * The custody lane the step appends to (exact id, see {@link stepLane}): its events go there with
   * one conditional PUT per batch and no contention; the final step's seal commits every lane.
   */
  lane: string;
  actor: ActorContext;
}

/**
 * The custody lane of a step: named for its execution and function (and the unit it works on —
 * the instance, an evidence item — since a Map runs one function on several units at once), with
 * no random part, so a retried invocation of the same step in the same execution continues the
 * lane of the attempt before it (its head is read at open; what that attempt recorded is found by
 * idempotency key). `<execution name ≤ 40>.<function ≤ 30>.<12 hex of SHA-256(execution|function|unit)>`.
 */
export function stepLane(execution: string, functionName: string, unit = ''): string {
  const clean = (x: string, n: number) => x.replace(/[^A-Za-z0-9._-]/g, '-').slice(-n);
  const digest = createHash('sha256').update(`${execution}|${functionName}|${unit}`).digest('hex').slice(0, 12);
  const name = `${clean(executionName(execution), 40)}.${clean(functionName, 30)}.${digest}`;
  // A lane id starts with a letter or digit.
  return /^[A-Za-z0-9]/.test(name) ? name : `x${name}`;
}

/** One library call of a step: the response, its record, the stop signal. */
export interface WorkflowRun {
  ref: CaseRef;
  /** The step's record: appends to its lane; not sealed by the workflow (the final step commits). */
  record: CustodyRecorder;
  signal: AbortSignal;
  /** Hold more locks of the case while a part of the workflow runs (isolate's shared groups, profile). */
  exclusive?: Exclusive;
}

/** A recorded hash that is not finished: the state to carry to the next invocation. */
export interface HashProgress {
  done: false;
  /** JSON-safe resume state (a few hundred bytes), carried by the state machine. */
  state: Record<string, unknown>;
  waitingFor: string;
}

/**
 * The library workflows a step calls, each in hand-off mode with the actor of the execution. The
 * real ones are bound in `library.ts`; unit tests pass fakes.
 */
export interface Workflows {
  /** Refuse an instance the response cannot take, as isolate would (a dry run: nothing changed, nothing recorded). */
  checkInstance(ref: CaseRef, signal: AbortSignal): Promise<void>;
  isolate(r: WorkflowRun): Promise<{ alreadyIsolated: boolean; steps: Array<{ step: string; status: string }> }>;
  acquire(r: WorkflowRun): Promise<{
    evidence: Array<{ evidenceId: string; forensicSnapshotId?: string; sizeGiB?: number; sha256?: string }>;
  }>;
  hash(
    r: WorkflowRun & { evidenceId: string; resume: Record<string, unknown> | null; budgetMs: number },
  ): Promise<{ done: true; sha256: string } | HashProgress>;
  room(r: WorkflowRun): Promise<{ stackName: string; instanceId?: string }>;
  attach(r: WorkflowRun & { evidenceId: string }): Promise<{ volumeId?: string; readOnly?: string; roomHash?: string }>;
}

/** Everything a step works with (the real one: `library.ts`). */
export interface LambdaWorld {
  env: AutomationEnv;
  /** The account the functions run in (the forensic account). */
  accountId(): Promise<string>;
  openRecord(caseId: string, o: OpenRecord): Promise<CaseRecord>;
  workflows: Workflows;
  /** Publish to the responders' topic; returns the message id. */
  publish(subject: string, message: string): Promise<string>;
  /** Write an object into the vault beside the case's record (under its key and Object Lock). */
  writeVaultObject(record: CaseRecord, key: string, doc: unknown): Promise<void>;
  /** Read a JSON object of the vault (a fleet's item list); undefined when there is none. */
  readVaultJson(key: string): Promise<unknown>;
  now(): Date;
}

/** What a step body gets besides its input. */
export interface StepContext {
  world: LambdaWorld;
  signal: AbortSignal;
  actor: ActorContext;
  /** Milliseconds left before the step should return (the deadline signal fires then). */
  budgetMs: number;
  /** A unique holder name for the case's locks: the execution, the function, the invocation. */
  leaseOwner: string;
  /** The step's custody lane for a unit of work (see {@link stepLane}). */
  lane(unit?: string): string;
}

export type StepBody<I> = (input: I, x: StepContext) => Promise<StepResult<object>>;

/** A Lambda handler: the event and the context in, the step's result out. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<StepResult<object>>;

/** The error a step throws: `name` is the cleanroom code (ASL ErrorEquals), the message is the user's. */
export class StepError extends Error {
  constructor(
    code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
  }
}

/** The error the state machine sees for a failure: named by its code; anything unexpected is INTERNAL. */
export function stepError(e: unknown): StepError {
  if (e instanceof StepError) return e;
  if (e instanceof CleanroomError) return new StepError(e.code, e.message, { ...e.details, exitCode: e.exitCode });
  const err = e instanceof Error ? e : new Error(String(e));
  return new StepError('INTERNAL', `${err.name}: ${err.message}`);
}

/** A wait the workflow handed to the state machine, as a pending result; undefined for another error. */
export function handedOff(e: unknown): Pending | undefined {
  if (!isWaitHandedOff(e)) return undefined;
  return { status: 'pending', waitSeconds: Math.max(1, Math.ceil(e.retryAfterSeconds)), waitingFor: e.waitingFor };
}

/** The execution's name: the last part of its ARN (the approval document is named by it). */
export function executionName(executionArn: string): string {
  return executionArn.slice(executionArn.lastIndexOf(':') + 1);
}

/**
 * Wrap a step body as a Lambda handler (see the module comment). `world` is built on first use
 * (a cold start reads the environment once); `marginMs` is {@link DEADLINE_MARGIN_MS} but for tests.
 */
export function stepHandler<I extends { execution: string }>(
  name: HandlerName,
  world: () => LambdaWorld,
  body: StepBody<I>,
  marginMs = DEADLINE_MARGIN_MS,
): LambdaHandler {
  return async (event, context) => {
    let input: I;
    let w: LambdaWorld;
    try {
      w = world();
      input = checkStepInput<I>(name, event);
    } catch (e) {
      throw stepError(e);
    }
    const remaining = context.getRemainingTimeInMillis();
    // Never less than half the time left: a function deployed with a short timeout still works.
    const budgetMs = Math.max(remaining - marginMs, Math.floor(remaining / 2));
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`${name}: ${Math.round(marginMs / 1000)}s before the Lambda time limit`)),
      budgetMs,
    );
    const actor: ActorContext = {
      execution: input.execution,
      function: context.functionName,
      codeSha256: w.env.codeSha256,
    };
    try {
      return await body(input, {
        world: w,
        signal: deadline.signal,
        actor,
        budgetMs,
        leaseOwner: `${input.execution}|${context.functionName}|${context.awsRequestId ?? 'local'}`,
        lane: (unit) => stepLane(input.execution, context.functionName, unit),
      });
    } catch (e) {
      const pending = handedOff(e);
      if (pending) return pending;
      if (deadline.signal.aborted && isInterrupted(e))
        return {
          status: 'pending',
          waitSeconds: 1,
          waitingFor: `the next invocation of ${name}: this one stopped at a step boundary before the Lambda time limit`,
        };
      throw stepError(e);
    } finally {
      clearTimeout(timer);
    }
  };
}
