/**
 * The calls a step makes, as data. A step plans its calls (the port call, its input, why); the
 * dry run prints exactly that list and a real run executes exactly that list, in order — so the
 * plan a responder reads is, call for call, what the tool does. Each call is written as a port call
 * (`(a, i) => a.ec2.modifyInstanceAttribute(i)`), so it reads like every other call of the code
 * base (and the IAM policy check, which looks for `.<port>.<method>(`, sees it).
 *
 * Inputs may name values only known once an earlier call has answered (a new group's id, the rule
 * ids of its default egress): `{{name}}` is replaced by the value an earlier call bound to `name`
 * (a whole-string placeholder takes the value as it is, a list for instance; inside a longer string
 * it is interpolated).
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyAction } from '../../domain/custody-actions.js';
import type { CustodyRecorder, RecordedEvent, ResourceRef } from '../../domain/recorder.js';
import { iamAction, isAwsCode } from '../../aws/errors.js';
import { CleanroomError, asError, type ErrorCode } from '../../domain/errors.js';
import type { IdempotencyKey } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import { waitFor, type Clock } from '../../domain/waiter.js';
import { targetsOf, type Registration } from './discover.js';

/** One call a step makes (or, in a dry run, would make). */
export interface PlannedCall {
  /** The call through the account's ports: `(a, i) => a.ec2.modifyInstanceAttribute(i)`. */
  // biome-ignore lint/suspicious/noExplicitAny: each call takes its own SDK input type; a plan holds calls of every type.
  send: (account: AwsAccount, input: any) => Promise<unknown>;
  input: Record<string, unknown>;
  /** One line for the responder: what the call is for. */
  why: string;
  /** Name values of the answer for later calls. */
  // biome-ignore lint/suspicious/noExplicitAny: the answer is the SDK output type of this call (see `send`).
  bind?: (output: any) => Record<string, unknown>;
  /** Skip the call when this placeholder resolves to an empty list (nothing to revoke). */
  skipIfEmpty?: string;
  /** AWS error codes that mean "already so" (the call is then counted as done). */
  alreadyIf?: string[];
  /** Retry while AWS answers one of these codes (and the message matches), within a time budget (eventual consistency). */
  retryWhile?: { codes: string[]; message?: RegExp; budgetMs: number; what: string };
}

/** A call as made (or to be made), for the record, the plan and the JSON document. */
export interface CallRecord {
  /** `ec2:ModifyInstanceAttribute`. */
  call: string;
  input: Record<string, unknown>;
  why: string;
  outcome?: 'done' | 'already' | 'skipped';
}

/** IAM service prefix of each port. */
const SERVICE_PREFIX: Record<string, string> = {
  ec2: 'ec2',
  iam: 'iam',
  autoscaling: 'autoscaling',
  elb: 'elasticloadbalancing',
  clb: 'elasticloadbalancing',
};

/** Which port method a call's `send` uses: `send` run once against a recorder of property reads. */
function portMethod(c: PlannedCall): { port: string; method: string } {
  let seen: { port: string; method: string } | undefined;
  const recorder = new Proxy(
    {},
    {
      get: (_, port) =>
        new Proxy(
          {},
          {
            get: (__, method) => () => {
              seen = { port: String(port), method: String(method) };
              return Promise.resolve({});
            },
          },
        ),
    },
  );
  void c.send(recorder as AwsAccount, c.input);
  if (!seen) throw new CleanroomError('INTERNAL', 'a planned call does not call a port');
  return seen;
}

/** `ec2:ModifyInstanceAttribute` for a planned call (its IAM action). */
export function callName(c: PlannedCall): string {
  const { port, method } = portMethod(c);
  return iamAction(SERVICE_PREFIX[port] ?? port, method);
}

const PLACEHOLDER = /\{\{([^}]+)\}\}/g;

/** Replace placeholders with bound values; unbound ones are left as they are (the plan shows them). */
export function resolve<T>(value: T, refs: ReadonlyMap<string, unknown>): T {
  if (typeof value === 'string') {
    const whole = /^\{\{([^}]+)\}\}$/.exec(value);
    if (whole && refs.has(whole[1]!)) return refs.get(whole[1]!) as T;
    return value.replace(PLACEHOLDER, (m, name: string) => (refs.has(name) ? String(refs.get(name)) : m)) as T;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, refs)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, resolve(v, refs)]),
    ) as T;
  }
  return value;
}

function unresolved(value: unknown): string | undefined {
  return /\{\{([^}]+)\}\}/.exec(JSON.stringify(value))?.[1];
}

/** The calls of a plan as the responder reads them (placeholders left in). */
export function describeCalls(
  calls: readonly PlannedCall[],
  refs: ReadonlyMap<string, unknown> = new Map(),
): CallRecord[] {
  return calls.map((c) => ({ call: callName(c), input: resolve(c.input, refs), why: c.why }));
}

/**
 * Thrown when a call of a step fails; carries the calls made before it. It keeps the failed call's
 * code, exit code and details (INTERNAL for an error that is not a cleanroom error), so it reads
 * as that error wherever it ends up.
 */
export class StepCallError extends CleanroomError {
  constructor(
    readonly error: Error,
    readonly done: CallRecord[],
    readonly failedCall: CallRecord,
  ) {
    const inner = error instanceof CleanroomError ? error : undefined;
    super(inner?.code ?? 'INTERNAL', error.message, {
      cause: error,
      exitCode: inner?.exitCode ?? 1,
      details: { ...inner?.details, call: failedCall.call },
    });
  }
}

/** How {@link execute} runs a plan. */
export interface ExecuteOptions {
  clock?: Clock;
  /** Values known before the first call (`now`, group ids found earlier). */
  refs?: Map<string, unknown>;
  /** Called before each call (progress). */
  onCall?: (c: CallRecord) => void;
}

/**
 * Make the calls in order through the account's ports. Stops at the first failure (throws
 * {@link StepCallError} with what was done before it). Returns the calls as made.
 */
export async function execute(
  account: AwsAccount,
  calls: readonly PlannedCall[],
  opts: ExecuteOptions = {},
): Promise<CallRecord[]> {
  const refs = opts.refs ?? new Map<string, unknown>();
  const done: CallRecord[] = [];
  for (const c of calls) {
    const input = resolve(c.input, refs);
    const rec: CallRecord = { call: callName(c), input, why: c.why };
    if (c.skipIfEmpty !== undefined) {
      const v = refs.get(c.skipIfEmpty);
      if (Array.isArray(v) && v.length === 0) {
        done.push({ ...rec, outcome: 'skipped' });
        continue;
      }
    }
    const missing = unresolved(input);
    if (missing)
      throw new StepCallError(
        new CleanroomError('INTERNAL', `${rec.call} needs ${missing}, which no earlier call provided`),
        done,
        rec,
      );
    opts.onCall?.(rec);
    const send = (i: unknown) => c.send(account, i);
    try {
      let out: unknown;
      if (c.retryWhile) {
        const r = c.retryWhile;
        out = await waitFor(
          async () => {
            try {
              return { state: 'done' as const, value: await send(input) };
            } catch (e) {
              if (isAwsCode(e, ...r.codes) && (!r.message || r.message.test((e as Error).message)))
                return { state: 'pending' as const, detail: (e as Error).message };
              return { state: 'failed' as const, error: e as Error };
            }
          },
          {
            description: r.what,
            budgetMs: r.budgetMs,
            intervalMs: 2000,
            maxIntervalMs: 5000,
            ...(opts.clock ? { clock: opts.clock } : {}),
          },
        );
      } else {
        out = await send(input);
      }
      if (c.bind) for (const [k, v] of Object.entries(c.bind(out ?? {}))) refs.set(k, v);
      done.push({ ...rec, outcome: 'done' });
    } catch (e) {
      if (c.alreadyIf && isAwsCode(e, ...c.alreadyIf)) {
        done.push({ ...rec, outcome: 'already' });
        continue;
      }
      throw new StepCallError(e as Error, done, rec);
    }
  }
  return done;
}

/** What a step found when it had nothing to do: in place already, or not applying. */
export interface FoundPlan {
  status: string;
  resources: ResourceRef[];
  details: Record<string, unknown>;
  detail: string;
}

/** A step (of isolate or of release) with nothing to do records what it found, under its idempotency key. */
export function recordFoundInPlace(
  custody: CustodyRecorder,
  action: CustodyAction,
  plan: FoundPlan,
  key: string,
): Promise<RecordedEvent> {
  return custody.record({
    action,
    resources: plan.resources,
    outcome: {
      status: plan.status === 'skipped' ? 'skipped' : 'succeeded',
      details: { ...plan.details, detail: plan.detail, foundInPlace: plan.status === 'in-place' },
    },
    idempotencyKey: key,
  });
}

/**
 * One call per target group for these registrations (groups in the order they first appear), as
 * isolate deregisters and release registers again: `send` is the port call, `why` its line.
 */
export function perTargetGroup(
  rs: readonly Registration[],
  send: PlannedCall['send'],
  why: (groupName: string, rs: Registration[]) => string,
): { calls: PlannedCall[]; groupNames: string[] } {
  const byGroup = new Map<string, Registration[]>();
  for (const r of rs) byGroup.set(r.targetGroupArn, [...(byGroup.get(r.targetGroupArn) ?? []), r]);
  const groups = [...byGroup];
  return {
    calls: groups.map(([arn, g]) => ({
      send,
      input: { TargetGroupArn: arn, Targets: targetsOf(g) },
      why: why(g[0]!.targetGroupName, g),
    })),
    groupNames: groups.map(([, g]) => g[0]!.targetGroupName),
  };
}

/** What {@link recordStepFailure} recorded: the error's code and one-line message, and a note if recording failed. */
export interface RecordedFailure {
  code: ErrorCode;
  message: string;
  /** '' when recorded; else ` (the failure itself could not be recorded: …)`, for the error message. */
  recorded: string;
}

/**
 * A step (of isolate or of release) that failed records it — its error and the calls made before —
 * under the failure key for the error's code. Best effort: a failure that cannot be recorded is said
 * in `recorded`, never thrown over the step's own error.
 */
export async function recordStepFailure(
  custody: CustodyRecorder,
  failure: { key: (code: ErrorCode) => IdempotencyKey; action: CustodyAction; resource: ResourceRef },
  err: Error,
  calls: readonly CallRecord[],
): Promise<RecordedFailure> {
  const code: ErrorCode = err instanceof CleanroomError ? err.code : 'INTERNAL';
  const message = err.message.replace(/\s+/g, ' ').trim();
  try {
    await new StepRecorder(custody).record(
      failure.key(code),
      failure.action,
      [failure.resource],
      { status: 'failed', error: { code, message } },
      calls.length
        ? { calls: calls.map((c) => ({ call: c.call, input: c.input, outcome: c.outcome ?? 'failed' })) }
        : undefined,
    );
    return { code, message, recorded: '' };
  } catch (recErr) {
    return { code, message, recorded: ` (the failure itself could not be recorded: ${asError(recErr).message})` };
  }
}
