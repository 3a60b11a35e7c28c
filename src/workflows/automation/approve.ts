/**
 * `automation approve | reject`: decide on an execution paused for approval (IsolationPolicy
 * `approve`). The paused step wrote `cases/<case>/automation/approvals/<execution name>.json`
 * (`{ taskToken, executionArn, requestedAt, caseId, instanceId }`) into the vault; this reads it,
 * records the decision (`automation.approval`: approved or rejected, by the caller's ARN, the
 * reason), then hands it to Step Functions with the task token: SendTaskSuccess with
 * `{ approved: true, decision: "approved", by, reason }`, or SendTaskFailure with error `Rejected`
 * (what the state machine's RequestApproval catches) and the reason as the cause.
 *
 * The decision is recorded before it is sent: a responder's decision is a fact of the case even
 * if delivering it fails, and a rerun delivers the recorded decision again (the same token).
 * APPROVAL_NOT_PENDING (exit 2) when no approval was requested for the execution, when it has
 * ended, when the record already holds another decision, or when Step Functions says the token is
 * no longer waiting (decided, or timed out).
 */
import type { AccountCalls } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { getBytes } from '../../custody/store.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { assertCaseId } from '../../domain/case-id.js';
import { CleanroomError, UsageError } from '../../domain/errors.js';
import { executionNotFound, parseExecutionArn } from './deployed.js';
import { caseOfExecution } from './status.js';

/** The object the paused step writes (its vault key: {@link approvalKey}). */
export interface ApprovalRequestObject {
  taskToken: string;
  executionArn: string;
  requestedAt: string;
  caseId: string;
  instanceId: string;
}

/** The error a rejection fails the paused task with (response.asl.json's RequestApproval catches it). */
export const APPROVAL_REJECTED = 'Rejected';

/** Where the paused step puts its approval request. */
export function approvalKey(caseId: string, executionName: string): string {
  return `cases/${caseId}/automation/approvals/${executionName}.json`;
}

export type Decision = 'approved' | 'rejected';

export interface DecideOptions {
  execution: string;
  decision: Decision;
  reason?: string;
  /** The case (found from the execution when not given). */
  caseId?: string;
  signal?: AbortSignal;
}

/** The case's record as approve writes into it, and the vault it lives in. */
export type DecideCustody = CustodyRecorder & { readonly bucket: string };

export interface DecideDeps {
  account: AccountCalls<{
    sfn: 'describeExecution' | 'getExecutionHistory' | 'sendTaskSuccess' | 'sendTaskFailure';
    s3: 'getObject';
  }> & { readonly region: string; accountId(): Promise<string>; callerArn(): Promise<string> };
  /** Open the record of the case (it must exist). */
  custody: (caseId: string) => Promise<DecideCustody>;
}

export interface DecideResult {
  case: string;
  executionArn: string;
  instanceId: string;
  decision: Decision;
  by: string;
  reason: string | null;
  requestedAt: string;
  /** The `automation.approval` event. */
  seq: number;
  /** False when the record already held this decision (a rerun delivered it again). */
  recorded: boolean;
  seal: SealState;
}

/** See the module comment. */
export async function decideApproval(deps: DecideDeps, o: DecideOptions): Promise<DecideResult> {
  const exec = parseExecutionArn(o.execution);
  const { account } = deps;
  if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 1000))
    throw new UsageError('INVALID_VALUE', '--reason must be text of at most 1000 characters.', {
      details: { option: '--reason' },
    });
  const described = await account.sfn.describeExecution({ executionArn: exec.arn }).catch((e: unknown) => {
    if (isAwsCode(e, 'ExecutionDoesNotExist', 'InvalidArn')) throw executionNotFound(exec.arn, e);
    throw e;
  });
  const caseId = assertCaseId(
    o.caseId ?? (await caseOfExecution(account, exec.arn, described.input, described.output)),
  );
  const notPending = (why: string, details: Record<string, unknown> = {}) =>
    new UsageError(
      'APPROVAL_NOT_PENDING',
      `Execution ${exec.arn} (case ${caseId}) is not waiting for an approval: ${why}.`,
      {
        details: { execution: exec.arn, caseId, ...details },
      },
    );
  let custody: DecideCustody | undefined;
  return withCustodySession(
    async () => (custody = await deps.custody(caseId)),
    o.signal,
    async (session) => {
      await session.open();
      const c = custody!;
      const got = await getBytes(account, c.bucket, approvalKey(caseId, exec.name));
      if (!got)
        throw notPending(
          `no approval was requested for it (nothing at s3://${c.bucket}/${approvalKey(caseId, exec.name)})`,
        );
      const request = parseRequest(got.body, exec.arn);
      const key = idempotencyKeys.automation.approval(exec.arn);
      const prior = c.find(key);
      const priorDecision = prior?.outcome.details?.['decision'];
      if (prior && priorDecision !== o.decision)
        throw notPending(
          `it was already ${String(priorDecision)} by ${String(prior.outcome.details?.['by'])} at ${prior.time} (custody #${prior.seq})`,
          {
            decision: priorDecision,
            seq: prior.seq,
          },
        );
      if (described.status !== 'RUNNING')
        throw notPending(
          prior
            ? `it was ${String(priorDecision)} at ${prior.time} (custody #${prior.seq}) and has ended ${described.status}`
            : `it has ended (${described.status})`,
          { status: described.status },
        );
      const by = await account.callerArn();
      const reason = o.reason ?? null;
      const accountId = await account.accountId();
      const event = await c.record({
        action: 'automation.approval',
        idempotencyKey: key,
        resources: [
          resourceRef('states:execution', exec.arn, accountId, exec.region, exec.arn),
          resourceRef('ec2:instance', request.instanceId, accountId, exec.region),
        ],
        inputs: { execution: exec.arn, instanceId: request.instanceId, requestedAt: request.requestedAt },
        outcome: { status: 'succeeded', details: { decision: o.decision, by, reason } },
      });
      session.checkpoint('sending the decision to Step Functions');
      try {
        if (o.decision === 'approved') {
          await account.sfn.sendTaskSuccess({
            taskToken: request.taskToken,
            output: JSON.stringify({ approved: true, decision: 'approved', by, reason }),
          });
        } else {
          await account.sfn.sendTaskFailure({
            taskToken: request.taskToken,
            error: APPROVAL_REJECTED,
            cause: reason ?? `rejected by ${by}`,
          });
        }
      } catch (e) {
        if (isAwsCode(e, 'TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'))
          throw notPending(
            prior
              ? `it was already ${String(priorDecision)} (custody #${prior.seq}) and Step Functions has taken the decision`
              : 'Step Functions says its task is no longer waiting (decided elsewhere, or timed out)',
            { awsCode: (e as { awsCode?: string }).awsCode },
          );
        throw e;
      }
      return {
        case: caseId,
        executionArn: exec.arn,
        instanceId: request.instanceId,
        decision: o.decision,
        by,
        reason,
        requestedAt: request.requestedAt,
        seq: event.seq,
        recorded: !prior,
      };
    },
  );
}

function parseRequest(body: Buffer, executionArn: string): ApprovalRequestObject {
  let x: Partial<ApprovalRequestObject>;
  try {
    x = JSON.parse(body.toString('utf8')) as Partial<ApprovalRequestObject>;
  } catch (e) {
    throw new CleanroomError('APPROVAL_NOT_PENDING', `The approval request of ${executionArn} is not JSON.`, {
      exitCode: 2,
      cause: e,
      details: { execution: executionArn },
    });
  }
  if (typeof x.taskToken !== 'string' || !x.taskToken)
    throw new CleanroomError('APPROVAL_NOT_PENDING', `The approval request of ${executionArn} has no task token.`, {
      exitCode: 2,
      details: { execution: executionArn },
    });
  return {
    taskToken: x.taskToken,
    executionArn: x.executionArn ?? executionArn,
    requestedAt: x.requestedAt ?? '',
    caseId: x.caseId ?? '',
    instanceId: x.instanceId ?? '',
  };
}
