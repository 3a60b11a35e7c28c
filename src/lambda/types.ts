/**
 * The contract between the state machines (templates/automation/*.asl.json) and the Lambda host:
 * what every step handler takes and returns.
 *
 * Every step takes `{ case: CaseRef, execution, ...step input }` (`execution` is the ASL's
 * `$$.Execution.Id`) and returns `{ status: 'done', ...result }` or `{ status: 'pending',
 * waitSeconds, waitingFor }`: a pending step loops in the ASL (Task → Choice → Wait → Task) and the
 * same step is called again with the same input, which resumes from the custody record. Failures
 * are thrown as errors whose `name` is the cleanroom error code, for the ASL's Retry and Catch.
 */

/** Where the finding that started a response came from. */
export type FindingSource = 'guardduty' | 'securityhub' | 'tag' | 'fleet';

/** The finding a response is about, as the custody record's `automation.start` names it. */
export interface Finding {
  id: string;
  type: string;
  /** GuardDuty's 0.1–8.9 scale (Security Hub's normalized 0–100 divided by 10); 0 when none. */
  severity: number;
  title: string;
  source: FindingSource;
}

/** How the response treats isolation: do it, ask first (task token), or never. */
export type IsolationPolicy = 'auto' | 'approve' | 'never';

/** One response: the case, the instance and where it is, the finding, the isolation policy. */
export interface CaseRef {
  caseId: string;
  instanceId: string;
  region: string;
  account: string;
  finding: Finding | null;
  policy: IsolationPolicy;
}

/** A step that finished; its result fields beside `status`. */
export type Done<R extends object = Record<string, unknown>> = { status: 'done' } & R;

/** A step that is not finished: call it again after `waitSeconds` (at least 1). */
export interface Pending {
  status: 'pending';
  waitSeconds: number;
  /** What it waits for, in words with the ids. */
  waitingFor: string;
}

export type StepResult<R extends object = Record<string, unknown>> = Done<R> | Pending;

/** What the host reads of the Lambda context (a narrow view of `aws-lambda`'s `Context`). */
export interface LambdaContext {
  functionName: string;
  awsRequestId?: string;
  getRemainingTimeInMillis(): number;
}

/** Who an automated custody event is by: the execution, the function, the deployed code. */
export interface ActorContext {
  execution: string;
  function: string;
  codeSha256: string;
}

/** The step handlers, by name (= the Lambda function `cleanroom-<name>`, CFN `<Name>Function`). */
export const HANDLER_NAMES = [
  'resolve',
  'isolate',
  'requestApproval',
  'acquire',
  'hash',
  'room',
  'attach',
  'notify',
  'summarize',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];
