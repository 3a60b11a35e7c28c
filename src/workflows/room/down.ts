/**
 * `room down`: take a case's room away and keep the evidence.
 *
 * 1. Refuse (exit 2, nothing changed) while evidence volumes are attached to the forensic
 *    instance, unless told to detach them; ask for confirmation (the caller decides how).
 * 2. Detach the evidence volumes (wait `available`), each a custody event.
 * 3. Delete the room stack through the one stack deletion (`delete.ts`), waiting for
 *    DELETE_COMPLETE; a DELETE_FAILED names what would not go and why.
 * 4. Report what is left by name with the reason: the evidence volumes, the flow-log group the
 *    stack keeps on purpose, and anything tagged with the case that the stack did not delete.
 *
 * Safe to run again: with no stack it only reports what is left.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { checkRegion } from '../../aws/region.js';
import type { CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { withCustodySession, type CustodySession, type CustodySource, type SealState } from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import { requireApproval, type Approve } from '../../domain/approval.js';
import { assertCaseId, roomStackName } from '../../domain/case-id.js';
import { CleanroomError, UsageError, asError } from '../../domain/errors.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { detachAndWait } from '../../evidence/detach.js';
import { detachKeyIn } from '../../evidence/volume.js';
import { deleteStackAndWait, StackDeleteFailedError } from '../../resources/stack-delete.js';
import { attachedEvidence, findLeftovers, type Leftover } from './leftovers.js';
import { readRoomStack, type RoomStack } from '../../resources/stacks.js';
import { DEFAULT_ROOM_BUDGETS, type RoomBudgets } from './up.js';
import { idempotencyKeys, markKey } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';

export interface RoomDownPlan {
  case: string;
  region: string;
  stackName: string;
  stackStatus: string;
  instanceId?: string;
  /** Evidence volumes attached to the instance (detached first). */
  evidence: Array<{ volumeId: string; evidenceId?: string; device?: string }>;
  flowLogGroupName?: string;
}

export interface RoomDownDeps {
  account: AwsAccount;
  custody: CustodySource;
  reporter?: Reporter;
  clock?: Clock;
  /** Approve the deletion (the request's plan is the {@link RoomDownPlan}); without it room down is refused (CONFIRMATION_REQUIRED), nothing changed. */
  approve?: Approve;
}

export interface RoomDownOptions {
  caseId: string;
  /** Detach attached evidence volumes first (otherwise room down refuses while any is attached). */
  detachEvidence?: boolean;
  budgets?: Partial<Pick<RoomBudgets, 'deleteMs'>> & { detachMs?: number };
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
}

export interface RoomDownResult {
  case: string;
  stackName: string;
  /** The stack is gone (deleted now, or there was none). */
  deleted: boolean;
  /** There was no stack to delete. */
  alreadyGone: boolean;
  detached: Array<{ volumeId: string; evidenceId?: string }>;
  leftovers: Leftover[];
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/** The confirmation text. */
export function roomDownPlanText(p: RoomDownPlan): string {
  const lines = [
    `Take down the room of case ${p.case} in ${p.region}: DELETE stack ${p.stackName} (${p.stackStatus}) — the forensic instance${p.instanceId ? ` ${p.instanceId}` : ''}, its VPC, endpoints and security groups.`,
  ];
  for (const e of p.evidence)
    lines.push(
      `  - detach evidence volume ${e.volumeId}${e.evidenceId ? ` (${e.evidenceId})` : ''}${e.device ? ` from ${e.device}` : ''} first; the volume and its snapshot are kept`,
    );
  if (p.flowLogGroupName) lines.push(`  - the flow-log group ${p.flowLogGroupName} is kept`);
  return lines.join('\n');
}

/** Take the room of a case down (see the module comment). */
export async function roomDown(deps: RoomDownDeps, o: RoomDownOptions): Promise<RoomDownResult> {
  const caseId = assertCaseId(o.caseId);
  return withCustodySession(deps.custody, o.signal, (session) =>
    takeDown({ ...deps, clock: abortableClock(deps.clock ?? systemClock, o.signal) }, o, caseId, session),
  );
}

async function takeDown(
  deps: RoomDownDeps & { clock: Clock },
  o: RoomDownOptions,
  caseId: string,
  session: CustodySession,
): Promise<Omit<RoomDownResult, 'seal'>> {
  const { account } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const deleteMs = o.budgets?.deleteMs ?? DEFAULT_ROOM_BUDGETS.deleteMs;
  const detachMs = o.budgets?.detachMs ?? 10 * 60_000;
  const stackName = roomStackName(caseId);
  await checkRegion(account);

  const stack = await readRoomStack(account, caseId);
  if (!stack) {
    reporter.progress({
      kind: 'step',
      message: `case ${caseId} has no room stack ${stackName} in ${account.region}: nothing to take down`,
    });
    return {
      case: caseId,
      stackName,
      deleted: true,
      alreadyGone: true,
      detached: [],
      leftovers: await findLeftovers(account, caseId, { stackGone: true }),
    };
  }
  const instanceId = stack.outputs['InstanceId'];
  const evidence = instanceId ? await attachedEvidence(account, instanceId) : [];
  if (evidence.length && !o.detachEvidence) {
    throw new UsageError(
      'EVIDENCE_ATTACHED',
      `The forensic instance ${instanceId} of case ${caseId} has evidence attached: ${evidence.map((e) => `${e.volumeId}${e.evidenceId ? ` (${e.evidenceId})` : ''}`).join(', ')}. room down refuses to pull it out from under an analyst: detach it (\`cleanroom evidence detach\`) or run room down again with --detach-evidence. Nothing was changed.`,
      { details: { caseId, instanceId, volumes: evidence.map((e) => e.volumeId) } },
    );
  }
  const plan: RoomDownPlan = {
    case: caseId,
    region: account.region,
    stackName,
    stackStatus: stack.status,
    ...(instanceId ? { instanceId } : {}),
    evidence,
    ...(stack.outputs['FlowLogGroupName'] ? { flowLogGroupName: stack.outputs['FlowLogGroupName'] } : {}),
  };
  await requireApproval(deps.approve, { action: 'room.down', caseId, question: roomDownPlanText(plan), plan });

  // Opening the record takes the case's lease (the CLI's): another command may have changed the
  // room between the look above and now, so look again before deleting anything.
  const custody = await session.open();
  if (instanceId && !o.detachEvidence) {
    const now = await attachedEvidence(account, instanceId);
    if (now.length) {
      throw new UsageError(
        'EVIDENCE_ATTACHED',
        `Evidence was attached to the forensic instance ${instanceId} of case ${caseId} while room down was starting: ${now.map((e) => `${e.volumeId}${e.evidenceId ? ` (${e.evidenceId})` : ''}`).join(', ')}. Nothing was changed: detach it (\`cleanroom evidence detach\`) or run room down again with --detach-evidence.`,
        { details: { caseId, instanceId, volumes: now.map((e) => e.volumeId) } },
      );
    }
  }
  const accountId = await account.accountId();
  const ref = (type: string, id: string, arn?: string): ResourceRef =>
    resourceRef(type, id, accountId, account.region, arn);

  const step: DownStep = { account, custody, session, ref, reporter, clock: deps.clock };
  const detached = await detachRoomEvidence(step, evidence, instanceId, detachMs);
  const leftovers = await deleteRoomStack(step, caseId, stack, plan, detached, deleteMs);
  return { case: caseId, stackName, deleted: true, alreadyGone: false, detached, leftovers };
}

/** What the steps of {@link roomDown} share. */
interface DownStep {
  account: AwsAccount;
  custody: CustodyRecorder;
  session: CustodySession;
  ref: (type: string, id: string, arn?: string) => ResourceRef;
  reporter: Reporter;
  clock?: Clock;
}

type Evidence = Awaited<ReturnType<typeof attachedEvidence>>;

/** Detach the evidence, each volume recorded (a failure recorded, then the room is left standing). */
async function detachRoomEvidence(
  step: DownStep,
  evidence: Evidence,
  instanceId: string | undefined,
  detachMs: number,
): Promise<RoomDownResult['detached']> {
  const { account, custody, ref, reporter } = step;
  const rec = new StepRecorder(custody, reporter);
  const detached: RoomDownResult['detached'] = [];
  for (const e of evidence) {
    step.session.checkpoint(`detaching ${e.volumeId}`);
    // An evidence volume's detach ends its attach cycle (the key `evidence detach` and close use too).
    const key = e.evidenceId
      ? detachKeyIn(custody.events(), e.evidenceId, e.volumeId).key
      : idempotencyKeys.room.detachUnknown(e.volumeId, `${e.attachTime ?? ''}`);
    try {
      await detachAndWait(
        account,
        e.volumeId,
        [{ instanceId: instanceId!, ...(e.device ? { device: e.device } : {}) }],
        {
          item: e.evidenceId ?? e.volumeId,
          budgetMs: detachMs,
          ...(step.clock ? { clock: step.clock } : {}),
          reporter,
        },
      );
    } catch (err) {
      const x = asError(err);
      if (isInterrupted(x)) throw x;
      await rec.record(
        markKey(key, 'failed'),
        'room.down.detach',
        [ref('ec2:volume', e.volumeId), ref('ec2:instance', instanceId!)],
        {
          status: 'failed',
          error: { code: x instanceof CleanroomError ? x.code : 'INTERNAL', message: x.message },
        },
      );
      throw new CleanroomError(
        'DETACH_FAILED',
        `Could not detach evidence volume ${e.volumeId} from ${instanceId}: ${x.message}. The room was not deleted; ${detached.length ? `${detached.map((d) => d.volumeId).join(', ')} were detached; ` : ''}run room down again.`,
        { cause: x, details: { volumeId: e.volumeId, instanceId } },
      );
    }
    await rec.record(key, 'room.down.detach', [ref('ec2:volume', e.volumeId), ref('ec2:instance', instanceId!)], {
      status: 'succeeded',
      details: {
        volumeId: e.volumeId,
        instanceId,
        ...(e.evidenceId ? { evidence: { evidenceId: e.evidenceId, state: 'detached' } } : {}),
      },
    });
    detached.push({ volumeId: e.volumeId, ...(e.evidenceId ? { evidenceId: e.evidenceId } : {}) });
  }

  return detached;
}

/** Delete the stack (a failure recorded with what CloudFormation could not delete); the leftovers after it. */
async function deleteRoomStack(
  step: DownStep,
  caseId: string,
  stack: RoomStack,
  plan: RoomDownPlan,
  detached: RoomDownResult['detached'],
  deleteMs: number,
): Promise<Leftover[]> {
  const { account, custody, ref, reporter } = step;
  const stackName = plan.stackName;
  step.session.checkpoint(`deleting room stack ${stackName}`);
  reporter.progress({ kind: 'step', message: `deleting room stack ${stackName} (${stack.status})` });
  const stackRef = ref('cloudformation:stack', stackName, stack.stackId);
  try {
    await deleteStackAndWait(account, stack, {
      budgetMs: deleteMs,
      ...(step.clock ? { clock: step.clock } : {}),
      reporter,
      retryHint: `run \`cleanroom room down --case ${caseId}\` again`,
    });
  } catch (err) {
    const x = asError(err);
    if (isInterrupted(x)) throw x;
    await custody.record({
      action: 'room.down',
      resources: [stackRef],
      outcome: {
        status: 'failed',
        error: { code: x instanceof CleanroomError ? x.code : 'INTERNAL', message: x.message },
        details: {
          stackName,
          stackId: stack.stackId,
          detached: detached.map((d) => d.volumeId),
          ...(x instanceof StackDeleteFailedError ? { failedResources: x.failedResources } : {}),
        },
      },
    });
    throw err;
  }
  const leftovers = await findLeftovers(account, caseId, {
    stackGone: true,
    ...(plan.flowLogGroupName ? { flowLogGroupName: plan.flowLogGroupName } : {}),
  });
  await new StepRecorder(custody, reporter).record(idempotencyKeys.room.down(stack.stackId), 'room.down', [stackRef], {
    status: 'succeeded',
    details: {
      stackName,
      stackId: stack.stackId,
      statusBefore: stack.status,
      detached: detached.map((d) => d.volumeId),
      leftovers: leftovers.map((l) => ({ kind: l.kind, id: l.id })),
    },
  });
  return leftovers;
}
