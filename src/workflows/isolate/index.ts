/**
 * `isolate`: contain a compromised EC2 instance without destroying what is on it, as AWS's incident
 * response guidance describes, every step a custody event (see `steps.ts` for the order and why).
 *
 * 0. Refuse bad input before anything changes: a malformed id, an instance EC2 does not know here
 *    (and, when it can, say in which region it is), a clean room's own forensic instance (by its
 *    room tags or its room stack, in whichever account it is), a terminated one, one quarantined for another
 *    case, an Auto Scaling group that would go below its minimum. Ask before what reaches beyond
 *    the instance (`--nacl` on a shared subnet) or loses memory (`--stop`).
 * 1. Record the instance's state (groups per interface, profile, Auto Scaling group, target groups,
 *    tags, volumes) before changing anything: the response can be explained and undone.
 * 2. Run the steps in order. Each plans its calls from what AWS says now, makes them, reads AWS
 *    again to confirm, and is recorded. A step already in place is not repeated (nor recorded
 *    twice); a step that fails is recorded as failed, the steps before it stay in place, and the
 *    error lists what is left to do (PartialFailureError, exit 1).
 * 3. Record completion — each isolation its own: one begun after a release is keyed by its first
 *    event. Isolating an isolated instance changes nothing, records nothing, says so.
 *
 * `dryRun` plans every step against the live state and returns the calls, in order, without
 * making any change and without opening the custody record (nothing happened, so there is nothing
 * to record; and a plan can be read before the vault exists).
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder, RecordedEvent, ResourceRef } from '../../domain/recorder.js';
import {
  withCustodySession,
  withInstanceLocks,
  type CustodySession,
  type CustodySource,
  type SealState,
} from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import { checkWaitMode, isWaitHandedOff, type WaitMode } from '../../domain/hand-off.js';
import { requireApproval, type Approve } from '../../domain/approval.js';
import { CleanroomError, PartialFailureError, UsageError, asError } from '../../domain/errors.js';
import { assertCaseId } from '../../domain/case-id.js';
import { forensicRoomOf } from '../../domain/room.js';
import { mapPool } from '../../domain/pool.js';
import type { Exclusive } from '../../domain/exclusive.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { handOffClock, systemClock, type Clock } from '../../domain/waiter.js';
import {
  StepCallError,
  describeCalls,
  execute,
  recordFoundInPlace,
  recordStepFailure,
  type CallRecord,
} from './calls.js';
import {
  describeInstance,
  findCaseAcl,
  findCaseGroups,
  neighbours,
  profileUsers,
  readAssociation,
  readInstance,
  type InstanceState,
} from './discover.js';
import { INSTANCE_ID_PATTERN, isolationUndone, keys, lastReleaseSeq, quarantineName, stepEvents } from './names.js';
import { TAG_CASE, TAG_QUARANTINE } from '../../domain/tags.js';
import { resourceRef } from '../../resources/refs.js';
import {
  DEFAULT_BUDGETS,
  stepsFor,
  type IsolateBudgets,
  type Step,
  type StepContext,
  type StepId,
  type StepPlan,
} from './steps.js';

export { DEFAULT_BUDGETS, type IsolateBudgets, type StepId } from './steps.js';
export type { InstanceState } from './discover.js';
export type { CallRecord } from './calls.js';
export {
  releaseInstance,
  RELEASE_STEPS,
  type ReleaseBudgets,
  type ReleaseDeps,
  type ReleaseOptions,
  type ReleaseResult,
  type ReleaseStepId,
  type ReleaseStepReport,
  type ReleaseStepStatus,
} from './release.js';

export { INSTANCE_ID_PATTERN } from './names.js';

/** What to isolate, and how. */
export interface IsolateOptions {
  caseId: string;
  instanceId: string;
  /** Plan only: no change, nothing recorded. */
  dryRun?: boolean;
  /** Also associate a deny-all network ACL with the instance's subnets (cuts everything in them). */
  nacl?: boolean;
  /** Stop the instance at the end (hibernate when configured). Memory is lost otherwise. */
  stop?: boolean;
  /** Detach from the Auto Scaling group without lowering its desired capacity (it launches a replacement). */
  asgReplace?: boolean;
  budgets?: Partial<IsolateBudgets>;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
  /**
   * How waits wait (domain/hand-off.ts): `block` (default, the CLI) sleeps until done; `hand-off`
   * throws WaitHandedOffError (code WAIT_HANDED_OFF: what it waits for, retryAfterSeconds) where it
   * would sleep, after recording and sealing what it did; the same call again resumes.
   */
  waits?: WaitMode;
  /**
   * Run before any change to the instance — after the checks and approvals, with the record open,
   * only when no isolation of the instance has begun yet (isolation cuts the SSM agent's path):
   * the CLI's `--capture-memory` passes a memory capture here. When it fails, isolate stops with its
   * error, unless `approve` (action `isolate.without-memory`) says go on without it.
   */
  beforeChange?: { what: string; run: () => Promise<unknown> };
}

/** What `isolateInstance` works with (ports, record, reporter, clock, prompts). */
export interface IsolateDeps {
  /** The source account, in the instance's region. */
  account: AwsAccount;
  /** The case's custody record (the forensic account's vault), or how to open it: opened only for a real run, after the checks. */
  custody?: CustodySource;
  reporter?: Reporter;
  clock?: Clock;
  /**
   * Approve what reaches beyond the instance (`--nacl` on a shared subnet) or loses its memory
   * (`stop`); without it those are refused (CONFIRMATION_REQUIRED), nothing changed yet.
   */
  approve?: Approve;
  /** The source account in another region (to say where an instance not found here is). */
  accountInRegion?: (region: string) => Promise<AwsAccount>;
  /**
   * Hold the case's locks of what a step changes that the case's instances share (its groups of a
   * VPC, its quarantine profile, a shared role or Auto Scaling group: `Step.exclusive`) while that
   * step runs — for a caller that lets instances of one case be isolated at once (the automation's
   * steps hold the instance's lock only). A busy lock stops the run there (CASE_BUSY), before the
   * step: the same call again goes on. The CLI holds the case's lease instead, and passes none: the
   * record's own `withLocks` then takes the vault-wide locks of those steps (an ACL's subnets, a
   * role, an Auto Scaling group, which another case's writers may change too).
   */
  exclusive?: Exclusive;
}

/** A step's outcome in the result: done now, in place already, not applicable, failed, not reached, or planned (dry run). */
export type StepStatus = 'done' | 'already' | 'skipped' | 'failed' | 'not-run' | 'planned';

/** One step in the result document. */
export interface StepReport {
  step: StepId | 'record-state';
  title: string;
  status: StepStatus;
  detail: string;
  /** The calls made (a run) or to make (a dry run), in order. */
  calls: CallRecord[];
  /** The custody event of the step, when one was appended by this run. */
  seq?: number;
}

/** The result document (`--json`). */
export interface IsolateResult {
  case: string;
  instanceId: string;
  sourceAccount: string;
  region: string;
  dryRun: boolean;
  /** The instance was isolated before this run: nothing changed, nothing was recorded. */
  alreadyIsolated: boolean;
  steps: StepReport[];
  /** The isolation group per VPC (no rule in either direction). */
  isolationGroupIds: Record<string, string>;
  /** The allow-all transit group per VPC (flows become untracked before the isolation group cuts them). */
  transitGroupIds: Record<string, string>;
  /** The deny-all network ACL per VPC (--nacl). */
  networkAclIds: Record<string, string>;
  quarantineProfileArn?: string;
  /** Sessions of the old role issued before this time are denied. */
  sessionsRevokedBefore?: string;
  /** The instance as it was before isolation (from the record on a rerun). */
  previousState: InstanceState;
  warnings: string[];
  /** When this isolation (the latest of the instance) was first recorded complete. */
  isolatedAt?: string;
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

const STATE_TITLE = 'Record the state of the instance';

/** Isolate one instance; see the module comment. Seals the record on the way out. */
export async function isolateInstance(deps: IsolateDeps, options: IsolateOptions): Promise<IsolateResult> {
  const caseId = assertCaseId(options.caseId);
  const instanceId = options.instanceId;
  if (typeof instanceId !== 'string' || !INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new UsageError(
      'INVALID_INSTANCE_ID',
      `${JSON.stringify(instanceId)} is not an EC2 instance id (i- followed by 8 or 17 hexadecimal digits, for example i-0abc1234def567890).`,
      { details: { instanceId } },
    );
  }
  return withCustodySession(deps.custody, options.signal, async (session) => {
    const run = await startIsolation(deps, caseId, instanceId, session, checkWaitMode(options.waits));
    // 0. Checks before any change.
    const current = await refuseBadTarget(run, options);
    const aclQuestion = await warnBeforeChange(run, options, current);
    const budgets = { ...DEFAULT_BUDGETS, ...options.budgets };
    const steps = stepsFor(options);
    if (options.dryRun)
      return dryRun(deps, {
        caseId,
        instanceId,
        accountId: run.accountId,
        current,
        steps,
        budgets,
        warnings: run.warnings,
        clock: run.clock,
        asgReplace: options.asgReplace ?? false,
      });
    await approveBeyondInstance(run, deps, options, current, aclQuestion);
    if (!deps.custody)
      throw new CleanroomError(
        'NO_CUSTODY',
        'isolate needs the case custody record for a real run (only --dry-run works without it).',
      );
    const custody = await session.open();
    // The instance's own lock, vault-wide, from here to the end: another case's writer on it waits.
    const where = { account: run.accountId, region: run.account.region };
    const { beforeChange } = options;
    return withInstanceLocks(custody, [instanceId], where, async () => {
      if (beforeChange) await runBeforeChange(run, deps, beforeChange, custody);
      // 1. The state before anything changes.
      const state = await recordState(run, custody, current, options);
      const ctx: StepContext = {
        account: run.account,
        accountId: run.accountId,
        caseId,
        instanceId,
        before: state.before,
        startedAt: state.event.time,
        asgReplace: options.asgReplace ?? false,
        budgets,
        clock: run.clock,
        ...recordedRevocation(custody, instanceId),
      };
      // 2. The steps, in order; stop at the first failure.
      // The caller's locks, else the record's: with the case's lease, the vault-wide ones only.
      const exclusive = deps.exclusive ?? (custody.withLocks ? custody.withLocks.bind(custody) : undefined);
      const changed = (await runSteps(run, session, custody, ctx, steps, state.reports, exclusive)) || state.changed;
      // 3. Completion.
      return complete(run, custody, ctx, options, { reports: state.reports, changed, stateEvent: state.event });
    });
  });
}

/** What every part of one isolation shares. */
interface IsolationRun {
  account: AwsAccount;
  accountId: string;
  caseId: string;
  instanceId: string;
  reporter: Reporter;
  clock: Clock;
  warnings: string[];
  warn: (m: string) => void;
  instanceRef: ResourceRef;
}

async function startIsolation(
  deps: IsolateDeps,
  caseId: string,
  instanceId: string,
  session: CustodySession,
  waits: WaitMode,
): Promise<IsolationRun & { deps: IsolateDeps }> {
  const reporter = deps.reporter ?? silentReporter;
  const { account } = deps;
  const warnings: string[] = [];
  const accountId = await account.accountId();
  return {
    deps,
    account,
    accountId,
    caseId,
    instanceId,
    reporter,
    clock: handOffClock(abortableClock(deps.clock ?? systemClock, session.signal), waits),
    warnings,
    warn: (m) => {
      warnings.push(m);
      reporter.warn(m);
    },
    instanceRef: resourceRef('ec2:instance', instanceId, accountId, account.region),
  };
}

/** Step 0: refuse an instance that is not there, the room's own, terminated, another case's, or whose group is at its minimum. */
async function refuseBadTarget(
  run: IsolationRun & { deps: IsolateDeps },
  options: IsolateOptions,
): Promise<InstanceState> {
  const { account, accountId, instanceId, caseId } = run;
  run.reporter.progress({ kind: 'step', message: `reading ${instanceId} in account ${accountId}, ${account.region}` });
  const current = await readInstance(account, instanceId);
  if (!current) throw await notFound(run.deps, instanceId, accountId);
  const room = forensicRoomOf(current.tags);
  if (room) {
    const where = [
      room.caseId ? `case ${room.caseId}` : undefined,
      room.stackName ? `room stack ${room.stackName}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    throw new UsageError(
      'INSTANCE_IS_FORENSIC',
      `Instance ${instanceId} (account ${accountId}, ${account.region}) is the clean room's own forensic instance (${where}), not a compromised one: isolate refuses it — its deny-all profile, revoked sessions and isolation groups would break the room. Check the instance id (\`cleanroom room status --case ${room.caseId ?? '<case>'}\` shows the room's instance); to get rid of the room, use \`cleanroom room down\`. Nothing was changed.`,
      {
        details: {
          instanceId,
          account: accountId,
          region: account.region,
          ...(room.caseId ? { roomCase: room.caseId } : {}),
          ...(room.stackName ? { stackName: room.stackName } : {}),
        },
      },
    );
  }
  if (current.state === 'terminated' || current.state === 'shutting-down') {
    throw new UsageError(
      'INSTANCE_TERMINATED',
      `Instance ${instanceId} is ${current.state}: there is nothing left to contain, and its memory is gone. Volumes kept after termination (DeleteOnTermination off) can still be acquired with \`cleanroom acquire --volume\`.`,
      { details: { instanceId, state: current.state } },
    );
  }
  const otherCase = current.tags[TAG_CASE];
  if (current.tags[TAG_QUARANTINE] && otherCase && otherCase !== caseId) {
    throw new UsageError(
      'ISOLATED_FOR_ANOTHER_CASE',
      `Instance ${instanceId} was isolated for case ${otherCase} (${TAG_QUARANTINE}=${current.tags[TAG_QUARANTINE]}); continue under that case (cleanroom isolate --case ${otherCase} --instance ${instanceId}) so its record stays in one place. Nothing was changed.`,
      { details: { instanceId, caseId: otherCase } },
    );
  }
  if (current.asg && !options.asgReplace && current.asg.desiredCapacity - 1 < current.asg.minSize) {
    const g = current.asg;
    throw new UsageError(
      'ASG_AT_MINIMUM',
      `Auto Scaling group ${g.name} has min-size=${g.minSize} and desired-size=${g.desiredCapacity}: detaching ${instanceId} without a replacement would take it below its minimum, which AWS refuses. Run again with --asg-replace (the group launches a replacement from its launch template — the same image that was compromised, so watch it) or lower the group's minimum size first. Nothing was changed.`,
      { details: { instanceId, autoScalingGroup: g.name, minSize: g.minSize, desiredCapacity: g.desiredCapacity } },
    );
  }
  return current;
}

/** Step 0 (cont.): warn about what isolation reaches beyond the instance; returns the --nacl question, if any. */
async function warnBeforeChange(
  run: IsolationRun,
  options: IsolateOptions,
  current: InstanceState,
): Promise<string | undefined> {
  const { account, instanceId } = run;
  if (current.state === 'stopped' || current.state === 'stopping') {
    run.warn(
      `Instance ${instanceId} is ${current.state}: its memory is already gone. Isolation goes on: the next start would find it contained.`,
    );
  }
  if (current.profile) {
    const others = await profileUsers(account, current.profile.arn, instanceId);
    if (others.length && current.profile.roles.length) {
      run.warn(
        `Revoking the sessions of role ${current.profile.roles.map((r) => r.name).join(', ')} also cuts ${others.slice(0, 10).join(', ')}${others.length > 10 ? ` and ${others.length - 10} more` : ''} (same instance profile ${current.profile.name}) until EC2 gives them fresh credentials, and any other holder of the role's credentials.`,
      );
    }
  }
  const aclQuestion = options.nacl ? await aclCollateral(account, current) : undefined;
  if (aclQuestion) run.warn(aclQuestion);
  return aclQuestion;
}

/** Step 0 (end): the approvals — a deny-all ACL that cuts neighbours, a stop that loses memory. */
async function approveBeyondInstance(
  run: IsolationRun,
  deps: IsolateDeps,
  options: IsolateOptions,
  current: InstanceState,
  aclQuestion: string | undefined,
): Promise<void> {
  const { caseId, instanceId } = run;
  const subnets = [...new Set(current.interfaces.map((n) => n.subnetId))].sort();
  if (aclQuestion)
    await requireApproval(deps.approve, {
      action: 'isolate.nacl',
      caseId,
      question: `${aclQuestion}\nAssociate the deny-all network ACL anyway?`,
      plan: { instanceId, subnets },
    });
  if (options.stop) {
    const memory = current.hibernationConfigured
      ? `${instanceId} will hibernate: its memory is written to its root volume (a new piece of evidence) and the running processes end.`
      : `Stopping ${instanceId} LOSES ITS MEMORY for good (running processes, network connections, keys in RAM): capture memory first if the case needs it.`;
    run.warn(memory);
    await requireApproval(deps.approve, {
      action: 'isolate.stop',
      caseId,
      question: `${memory}\nStop ${instanceId} at the end of the isolation?`,
      plan: { instanceId, hibernate: current.hibernationConfigured },
    });
  }
}

/** Step 0 (last): the caller's work before any change (a memory capture); its failure stops isolate unless approved. */
async function runBeforeChange(
  run: IsolationRun,
  deps: IsolateDeps,
  hook: NonNullable<IsolateOptions['beforeChange']>,
  custody: CustodyRecorder,
): Promise<void> {
  const { caseId, instanceId } = run;
  const begun = custody.find(keys.step(instanceId, 'state'));
  if (begun) {
    run.warn(
      `${hook.what} skipped: the isolation of ${instanceId} began at ${begun.time} (custody seq ${begun.seq}), so its network may be cut already.`,
    );
    return;
  }
  try {
    await hook.run();
  } catch (e) {
    if (isInterrupted(e)) throw e;
    const err = asError(e);
    const code = err instanceof CleanroomError ? err.code : 'INTERNAL';
    try {
      await requireApproval(deps.approve, {
        action: 'isolate.without-memory',
        caseId,
        question: `${hook.what} failed (${code}): ${err.message}\nIsolating ${instanceId} now cuts the path a later capture would take. Isolate without it?`,
        plan: { instanceId, failed: hook.what, code },
      });
    } catch {
      err.message += `\nIsolate stopped before any change to ${instanceId}. To isolate it without its memory, answer yes (the CLI: --yes).`;
      throw err;
    }
    run.warn(`${hook.what} failed (${code}); isolation went on as approved: ${err.message}`);
  }
}

/** Step 1: the state before anything changes, recorded once; a rerun uses the recorded one. */
async function recordState(
  run: IsolationRun,
  custody: CustodyRecorder,
  current: InstanceState,
  options: IsolateOptions,
): Promise<{ event: RecordedEvent; before: InstanceState; reports: StepReport[]; changed: boolean }> {
  const { caseId, instanceId } = run;
  const stateKey = keys.step(instanceId, 'state');
  const found = custody.find(stateKey);
  if (found) {
    return {
      event: found,
      before: previousState(found) ?? current,
      changed: false,
      reports: [
        {
          step: 'record-state',
          title: STATE_TITLE,
          status: 'already',
          detail: `recorded at ${found.time} (seq ${found.seq})`,
          calls: [],
        },
      ],
    };
  }
  run.reporter.progress({ kind: 'step', message: STATE_TITLE });
  const event = await custody.record({
    action: 'isolate.record-state',
    resources: [run.instanceRef],
    inputs: {
      caseId,
      instanceId,
      nacl: options.nacl ?? false,
      stop: options.stop ?? false,
      asgReplace: options.asgReplace ?? false,
    },
    outcome: { status: 'succeeded', details: { previousState: current as unknown as Record<string, unknown> } },
    idempotencyKey: stateKey,
  });
  return {
    event,
    before: previousState(event) ?? current,
    changed: true,
    reports: [
      {
        step: 'record-state',
        title: STATE_TITLE,
        status: 'done',
        detail: stateSummary(current),
        calls: [],
        seq: event.seq,
      },
    ],
  };
}

/** Step 2: every step in order, each planned, made, verified and recorded; the signal is checked between them. Returns whether anything changed. */
async function runSteps(
  run: IsolationRun,
  session: CustodySession,
  custody: CustodyRecorder,
  ctx: StepContext,
  steps: Step[],
  reports: StepReport[],
  exclusive?: Exclusive,
): Promise<boolean> {
  let changed = false;
  for (const [i, step] of steps.entries()) {
    session.checkpoint(step.title);
    run.reporter.progress({ kind: 'step', message: step.title });
    const scopes = exclusive && step.exclusive ? step.exclusive(ctx) : [];
    const one = () => runStep(run, custody, ctx, steps, i, reports);
    if (await (scopes.length && exclusive ? exclusive(scopes, one) : one())) changed = true;
  }
  return changed;
}

/** One step: plan it, then make its calls and verify them, or record what was in place. True when it recorded something. */
async function runStep(
  run: IsolationRun,
  custody: CustodyRecorder,
  ctx: StepContext,
  steps: Step[],
  i: number,
  reports: StepReport[],
): Promise<boolean> {
  const step = steps[i]!;
  const key = keys.step(run.instanceId, step.id);
  // The step's latest event (of this isolation or an earlier one): a redoing is keyed by it.
  const events = custody.events();
  const priorOk = stepEvents(events, run.instanceId, step.id).at(-1);
  // Of an earlier isolation, released since: this one records the step even when it finds it in place.
  const earlier = priorOk !== undefined && priorOk.seq < (lastReleaseSeq(events, run.instanceId) ?? 0);
  let plan: StepPlan;
  try {
    plan = await step.plan(ctx);
  } catch (e) {
    return failStep(custody, ctx, { steps, index: i, reports, priorSeq: priorOk?.seq }, asError(e), []);
  }
  for (const w of plan.warnings ?? []) run.warn(w);
  if (plan.status !== 'to-do') {
    const seq =
      priorOk && !earlier
        ? undefined
        : (
            await recordFoundInPlace(
              custody,
              step.action,
              plan,
              priorOk ? keys.redone(run.instanceId, step.id, priorOk.seq) : key,
            )
          ).seq;
    reports.push({
      step: step.id,
      title: step.title,
      status: plan.status === 'skipped' ? 'skipped' : 'already',
      detail: plan.detail,
      calls: [],
      ...(seq ? { seq } : {}),
    });
    return Boolean(seq);
  }
  if (priorOk && !earlier)
    run.warn(
      `Step ${step.id} was done (custody seq ${priorOk.seq}) but is no longer in place; doing it again: ${plan.detail}.`,
    );
  reports.push(await doStep(run, custody, ctx, { steps, index: i, reports }, plan, priorOk));
  return true;
}

/** Make one step's calls, verify them against AWS, record the step. */
async function doStep(
  run: IsolationRun,
  custody: CustodyRecorder,
  ctx: StepContext,
  at: { steps: Step[]; index: number; reports: StepReport[] },
  plan: StepPlan,
  priorOk: RecordedEvent | undefined,
): Promise<StepReport> {
  const step = at.steps[at.index]!;
  const refs = new Map(plan.refs ?? []);
  refs.set('now', new Date(run.clock.now()).toISOString());
  let calls: CallRecord[];
  try {
    calls = await execute(run.account, plan.calls, {
      refs,
      clock: run.clock,
      onCall: (c) =>
        run.reporter.progress({ kind: 'item', item: run.instanceId, phase: step.id, message: `${c.call} — ${c.why}` }),
    });
  } catch (e) {
    const err = e instanceof StepCallError ? e : undefined;
    return failStep(
      custody,
      ctx,
      { ...at, priorSeq: priorOk?.seq },
      err ? err.error : asError(e),
      err ? [...err.done, { ...err.failedCall }] : [],
    );
  }
  let verified: Record<string, unknown>;
  try {
    verified = await step.verify(ctx, plan, refs);
  } catch (e) {
    return failStep(custody, ctx, { ...at, priorSeq: priorOk?.seq }, asError(e), calls);
  }
  // Done again: keyed by the event it redoes, so a later isolation making the same calls as an
  // earlier one records its own event (and a rerun after a crash finds this one by its key).
  const recordKey = priorOk ? keys.redone(run.instanceId, step.id, priorOk.seq) : keys.step(run.instanceId, step.id);
  const resources = [...plan.resources];
  for (const r of step.created?.(ctx, refs, verified) ?? [])
    if (!resources.some((x) => x.type === r.type && x.id === r.id)) resources.push(r);
  const ev = await custody.record({
    action: step.action,
    resources,
    inputs: { calls: calls.map((c) => ({ call: c.call, input: c.input, outcome: c.outcome })) },
    outcome: {
      status: 'succeeded',
      details: {
        ...plan.details,
        ...verified,
        detail: plan.detail,
        ...(priorOk ? { reappliedAfterSeq: priorOk.seq } : {}),
      },
    },
    idempotencyKey: recordKey,
  });
  if (step.id === 'revoke-sessions' && !ctx.recordedRevocation)
    ctx.recordedRevocation = verified['revokedBefore'] as string;
  return { step: step.id, title: step.title, status: 'done', detail: plan.detail, calls, seq: ev.seq };
}

/** Step 3: record this isolation's completion (once) and build the result. */
async function complete(
  run: IsolationRun,
  custody: CustodyRecorder,
  ctx: StepContext,
  options: IsolateOptions,
  r: { reports: StepReport[]; changed: boolean; stateEvent: RecordedEvent },
): Promise<Omit<IsolateResult, 'seal'>> {
  const { account, caseId, instanceId } = run;
  const summary = await summarize(account, caseId, instanceId, ctx.before, options);
  // This isolation's own completion: a later one (begun after a release) is keyed by its first event.
  const completeKey = keys.complete(instanceId, isolationUndone(custody.events(), instanceId));
  const alreadyIsolated = !r.changed && Boolean(custody.find(completeKey));
  if (!custody.find(completeKey)) {
    await custody.record({
      action: 'isolate.complete',
      resources: [run.instanceRef],
      outcome: {
        status: 'succeeded',
        details: { ...summary, steps: r.reports.map((x) => ({ step: x.step, status: x.status })) } as Record<
          string,
          unknown
        >,
      },
      idempotencyKey: completeKey,
    });
  }
  const revokedBefore = ctx.recordedRevocation;
  return {
    case: caseId,
    instanceId,
    sourceAccount: run.accountId,
    region: account.region,
    dryRun: false,
    alreadyIsolated,
    steps: r.reports,
    ...summary,
    ...(revokedBefore ? { sessionsRevokedBefore: revokedBefore } : {}),
    previousState: ctx.before,
    warnings: run.warnings,
    isolatedAt: custody.find(completeKey)?.time ?? r.stateEvent.time,
  };
}

/** An instance id EC2 does not know in this account and region: say where it is, if anywhere. */
async function notFound(deps: IsolateDeps, instanceId: string, accountId: string): Promise<UsageError> {
  const { account } = deps;
  let elsewhere: string[] = [];
  if (deps.accountInRegion) {
    try {
      const regions = ((await account.ec2.describeRegions({})).Regions ?? [])
        .map((r) => r.RegionName ?? '')
        .filter((r) => r && r !== account.region);
      const found = await mapPool(regions, 8, async (r) =>
        (await describeInstance(await deps.accountInRegion!(r), instanceId)) ? r : undefined,
      );
      elsewhere = found.flatMap((s) => (s.ok && s.value ? [s.value] : []));
    } catch {
      // The search is a courtesy; the answer below stands without it.
    }
  }
  const where = `account ${accountId}, region ${account.region}`;
  if (elsewhere.length) {
    return new UsageError(
      'INSTANCE_IN_ANOTHER_REGION',
      `Instance ${instanceId} is not in ${where}; it is in ${elsewhere.join(', ')}: run again with --source-region ${elsewhere[0]}. Nothing was changed.`,
      {
        details: { instanceId, account: accountId, region: account.region, foundIn: elsewhere },
      },
    );
  }
  return new UsageError(
    'INSTANCE_NOT_FOUND',
    `Instance ${instanceId} does not exist in ${where}. Check the id, the region (--source-region) and the account (--source-profile / --source-role-arn). Nothing was changed.`,
    { details: { instanceId, account: accountId, region: account.region } },
  );
}

/** The warning (and question) of --nacl when the instance's subnets hold other interfaces. */
async function aclCollateral(account: AwsAccount, s: InstanceState): Promise<string | undefined> {
  const own = new Set(s.interfaces.map((n) => n.networkInterfaceId));
  const parts: string[] = [];
  for (const subnet of [...new Set(s.interfaces.map((n) => n.subnetId))].sort()) {
    const others = await neighbours(account, subnet, own);
    if (others.length)
      parts.push(
        `${subnet} also holds ${others.slice(0, 10).join(', ')}${others.length > 10 ? ` and ${others.length - 10} more` : ''}`,
      );
  }
  return parts.length
    ? `--nacl cuts ALL traffic of the whole subnet, not only ${s.instanceId}: ${parts.join('; ')}. They lose their network too.`
    : undefined;
}

async function dryRun(
  deps: IsolateDeps,
  a: {
    caseId: string;
    instanceId: string;
    accountId: string;
    current: InstanceState;
    steps: Step[];
    budgets: IsolateBudgets;
    warnings: string[];
    clock: Clock;
    asgReplace: boolean;
  },
): Promise<Omit<IsolateResult, 'seal'>> {
  const ctx: StepContext = {
    account: deps.account,
    accountId: a.accountId,
    caseId: a.caseId,
    instanceId: a.instanceId,
    before: a.current,
    startedAt: '{{time of the state event}}',
    asgReplace: a.asgReplace,
    budgets: a.budgets,
    clock: a.clock,
  };
  const reports: StepReport[] = [
    { step: 'record-state', title: STATE_TITLE, status: 'planned', detail: stateSummary(a.current), calls: [] },
  ];
  for (const step of a.steps) {
    const plan = await step.plan(ctx);
    for (const w of plan.warnings ?? []) a.warnings.push(w);
    reports.push({
      step: step.id,
      title: step.title,
      status: plan.status === 'to-do' ? 'planned' : plan.status === 'skipped' ? 'skipped' : 'already',
      detail: plan.detail,
      calls: describeCalls(plan.calls, plan.refs ?? new Map()),
    });
  }
  const summary = await summarize(deps.account, a.caseId, a.instanceId, a.current, {});
  return {
    case: a.caseId,
    instanceId: a.instanceId,
    sourceAccount: a.accountId,
    region: deps.account.region,
    dryRun: true,
    alreadyIsolated:
      reports.every((r) => r.step === 'record-state' || r.status !== 'planned') &&
      a.current.tags[TAG_CASE] === a.caseId &&
      Boolean(a.current.tags[TAG_QUARANTINE]),
    steps: reports,
    ...summary,
    previousState: a.current,
    warnings: a.warnings,
  };
}

/** What isolate made for the case around this instance, read from AWS. */
async function summarize(
  account: AwsAccount,
  caseId: string,
  instanceId: string,
  s: InstanceState,
  options: { nacl?: boolean },
) {
  const isolationGroupIds: Record<string, string> = {};
  const transitGroupIds: Record<string, string> = {};
  const networkAclIds: Record<string, string> = {};
  for (const vpc of [...new Set(s.interfaces.map((n) => n.vpcId))].sort()) {
    const g = await findCaseGroups(account, caseId, vpc);
    if (g.isolation) isolationGroupIds[vpc] = g.isolation.groupId;
    if (g.transit) transitGroupIds[vpc] = g.transit.groupId;
    if (options.nacl) {
      const acl = await findCaseAcl(account, caseId, vpc);
      if (acl) networkAclIds[vpc] = acl;
    }
  }
  const a = await readAssociation(account, instanceId);
  const quarantine = a?.arn.endsWith(`/${quarantineName(caseId)}`) ? a.arn : undefined;
  return {
    isolationGroupIds,
    transitGroupIds,
    networkAclIds,
    ...(quarantine ? { quarantineProfileArn: quarantine } : {}),
  };
}

/** Record a failed step, then throw: what was done stays, and the error says what is left. */
async function failStep(
  custody: CustodyRecorder,
  ctx: StepContext,
  at: { steps: Step[]; index: number; reports: StepReport[]; priorSeq: number | undefined },
  err: Error,
  calls: CallRecord[],
): Promise<never> {
  const { steps, index, reports } = at;
  // A step stopped by the signal, or whose wait was handed to the caller (waits 'hand-off'), did not
  // fail: nothing half-done is recorded; a rerun plans it again from what is in place.
  if (isInterrupted(err) || isWaitHandedOff(err)) throw err;
  const step = steps[index]!;
  const { message, recorded } = await recordStepFailure(
    custody,
    {
      key: (code) => keys.failed(ctx.instanceId, step.id, code, at.priorSeq),
      action: step.action,
      resource: resourceRef('ec2:instance', ctx.instanceId, ctx.accountId, ctx.account.region),
    },
    err,
    calls,
  );
  reports.push({ step: step.id, title: step.title, status: 'failed', detail: message, calls });
  const left = steps.slice(index);
  for (const s of steps.slice(index + 1))
    reports.push({ step: s.id, title: s.title, status: 'not-run', detail: s.byHand(ctx), calls: [] });
  const done = reports.filter((r) => r.status === 'done' || r.status === 'already').map((r) => r.step);
  const partly = calls.filter((c) => c.outcome === 'done' || c.outcome === 'already');
  const remaining = left.map((s) => `${s.id}: ${s.byHand(ctx)}`);
  throw new PartialFailureError(
    `Isolation of ${ctx.instanceId} (case ${ctx.caseId}) stopped at step ${step.id} (${step.title.toLowerCase()}): ${message}${recorded}\n` +
      `Done and recorded: ${done.join(', ') || 'nothing'}${partly.length ? `; within ${step.id}: ${partly.map((c) => `${c.call} ${JSON.stringify(c.input)}`).join(', ')}` : ''}.\n` +
      `Left to do — fix the cause and run the same command again (what is done is not repeated), or by hand:\n${remaining.map((r) => `  - ${r}`).join('\n')}`,
    [{ item: step.id, error: err }],
    { caseId: ctx.caseId, instanceId: ctx.instanceId, failedStep: step.id, done, remaining, steps: reports },
  );
}

function previousState(e: RecordedEvent): InstanceState | undefined {
  const s = e.outcome.details?.['previousState'] as InstanceState | undefined;
  return s && Array.isArray(s.interfaces) ? s : undefined;
}

/**
 * The revocation time this isolation recorded first, if it did: a rerun re-applies it. An earlier
 * isolation's (released since) is not this one's — isolated again, the role's sessions issued up to
 * now are revoked, not only those before the first isolation.
 */
function recordedRevocation(custody: CustodyRecorder, instanceId: string): { recordedRevocation?: string } {
  const events = custody.events();
  const since = lastReleaseSeq(events, instanceId) ?? 0;
  const t = stepEvents(events, instanceId, 'revoke-sessions')
    .filter((e) => e.seq > since)
    .map((e) => e.outcome.details?.['revokedBefore'])
    .find((x) => typeof x === 'string');
  return typeof t === 'string' ? { recordedRevocation: t } : {};
}

function stateSummary(s: InstanceState): string {
  return [
    `${s.state}`,
    `${s.interfaces.length} interface(s) (${s.interfaces.map((n) => `${n.networkInterfaceId}: ${n.groupIds.join('+') || 'no group'}`).join('; ')})`,
    s.profile ? `profile ${s.profile.name}` : 'no instance profile',
    s.asg ? `Auto Scaling group ${s.asg.name}` : 'no Auto Scaling group',
    `${s.registrations.length} target group registration(s)`,
    `${s.volumes.length} volume(s)`,
  ].join(', ');
}
