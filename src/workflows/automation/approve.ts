/**
 * `automation approve | reject`: decide on an execution paused for approval (IsolationPolicy
 * `approve`). The paused step wrote `cases/<case>/automation/approvals/<execution name>/<instance>.json`
 * (`{ taskToken, executionArn, requestedAt, caseId, instanceId }`) into the vault — one per
 * instance, because the children of a fleet's Distributed Map may share an execution name (on the
 * local AWS they do). This finds the request (`instanceId`, or the one request of the execution, or
 * the one still undecided; several waiting and none named: APPROVAL_INSTANCE_REQUIRED, listing
 * them; a request a step deployed before wrote, `…/approvals/<execution name>.json`, is read too), reads it,
 * records the decision (`automation.approval`: approved or rejected, by the caller's ARN, the
 * reason; one per instance and execution), then hands it to Step Functions with the task token: SendTaskSuccess with
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
import {
  automationApprovalKey,
  automationApprovalPrefix,
  legacyAutomationApprovalKey,
} from '../../domain/vault-name.js';
import { executionNotFound, parseExecutionArn, type ExecutionArn } from './deployed.js';
import { INSTANCE_ID } from './run.js';
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

/** Where the paused step puts its approval request (one per instance of an execution). */
export const approvalKey = automationApprovalKey;

export type Decision = 'approved' | 'rejected';

export interface DecideOptions {
  execution: string;
  decision: Decision;
  reason?: string;
  /** The instance whose approval is decided (needed when several of the execution wait). */
  instanceId?: string;
  /** The case (found from the execution when not given). */
  caseId?: string;
  signal?: AbortSignal;
}

/** The case's record as approve writes into it, and the vault it lives in. */
export type DecideCustody = CustodyRecorder & { readonly bucket: string };

export interface DecideDeps {
  account: AccountCalls<{
    sfn: 'describeExecution' | 'getExecutionHistory' | 'sendTaskSuccess' | 'sendTaskFailure';
    s3: 'getObject' | 'listObjectsV2';
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
  if (o.instanceId !== undefined && (typeof o.instanceId !== 'string' || !INSTANCE_ID.test(o.instanceId)))
    throw new UsageError(
      'INVALID_INSTANCE_ID',
      `--instance ${JSON.stringify(o.instanceId)} is not an EC2 instance id.`,
      {
        details: { option: '--instance', value: String(o.instanceId) },
      },
    );
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
      const request = await findRequest(deps, c, { caseId, exec, instanceId: o.instanceId, notPending });
      const key = idempotencyKeys.automation.approvalOfInstance(request.instanceId, exec.arn);
      // A decision recorded before approvals were per instance (one per execution) still counts for its instance.
      const legacy = c.find(idempotencyKeys.automation.approval(exec.arn));
      const prior = c.find(key) ?? (legacy?.inputs?.['instanceId'] === request.instanceId ? legacy : undefined);
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

/**
 * The approval request to decide: the named instance's, else the execution's one request, else its
 * one request not yet decided; several and none named is APPROVAL_INSTANCE_REQUIRED (exit 2),
 * listing them. A request written by a step deployed before requests were per instance is found
 * at its old key.
 */
async function findRequest(
  deps: DecideDeps,
  c: DecideCustody,
  o: {
    caseId: string;
    exec: ExecutionArn;
    instanceId: string | undefined;
    notPending: (why: string, details?: Record<string, unknown>) => CleanroomError;
  },
): Promise<ApprovalRequestObject> {
  const { account } = deps;
  const prefix = automationApprovalPrefix(o.caseId, o.exec.name);
  const instances: string[] = [];
  let token: string | undefined;
  do {
    const r = await account.s3.listObjectsV2({
      Bucket: c.bucket,
      Prefix: prefix,
      ...(token ? { ContinuationToken: token } : {}),
    });
    for (const x of r.Contents ?? []) {
      const id = x.Key?.slice(prefix.length).replace(/\.json$/, '');
      if (id && INSTANCE_ID.test(id)) instances.push(id);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  const read = async (key: string) => {
    const got = await getBytes(account, c.bucket, key);
    return got ? parseRequest(got.body, o.exec.arn) : undefined;
  };
  const named = o.instanceId ? ` for instance ${o.instanceId}` : '';
  if (!instances.length) {
    const legacyKey = legacyAutomationApprovalKey(o.caseId, o.exec.name);
    const legacy = await read(legacyKey);
    if (legacy && (!o.instanceId || legacy.instanceId === o.instanceId)) return legacy;
    throw o.notPending(`no approval was requested${named || ' for it'} (nothing at s3://${c.bucket}/${prefix})`);
  }
  let chosen: string | undefined;
  if (o.instanceId) {
    chosen = instances.find((i) => i === o.instanceId);
    if (!chosen)
      throw o.notPending(`no approval was requested${named}; it waits for ${instances.join(', ')}`, { instances });
  } else if (instances.length === 1) chosen = instances[0];
  else {
    const undecided = instances.filter((i) => !c.find(idempotencyKeys.automation.approvalOfInstance(i, o.exec.arn)));
    if (undecided.length === 1) chosen = undecided[0];
    else
      throw new UsageError(
        'APPROVAL_INSTANCE_REQUIRED',
        `Execution ${o.exec.arn} (case ${o.caseId}) has approval requests for ${instances.length} instances — ${instances
          .map((i) => (undecided.includes(i) ? `${i} (waiting)` : `${i} (decided)`))
          .join(', ')}: name one with --instance (e.g. --instance ${undecided[0] ?? instances[0]}).`,
        { details: { execution: o.exec.arn, caseId: o.caseId, instances, waiting: undecided } },
      );
  }
  const key = automationApprovalKey(o.caseId, o.exec.name, chosen!);
  const request = await read(key);
  if (!request) throw o.notPending(`no approval was requested${named} (nothing at s3://${c.bucket}/${key})`);
  return { ...request, instanceId: request.instanceId || chosen! };
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
