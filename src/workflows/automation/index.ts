/**
 * The automation (issue 14): the stack — `automation deploy` (deploy.ts: bundle, upload to the
 * vault, change set), `automation remove` (remove.ts), the Lambda bundle (bundle.ts) — and the
 * operator's side: `automation run` (run.ts: a fleet through the Distributed Map), `automation
 * status` (status.ts: executions and each instance's outcome, from the custody record),
 * `automation approve | reject` (approve.ts: a paused execution's decision).
 */
export {
  deployAutomation,
  checkDeployOptions,
  objectUrl,
  DEFAULT_AUTOMATION_BUDGETS,
  AUTOMATION_DEFAULTS,
  DEFINITION_FILES,
  ISOLATION_POLICIES,
  type AutomationBudgets,
  type AutomationDeployDeps,
  type AutomationDeployOptions,
  type AutomationDeployResult,
  type AutomationOutputs,
  type DeployedObject,
  type IsolationPolicy,
} from './deploy.js';
export {
  removeAutomation,
  type AutomationRemoveDeps,
  type AutomationRemoveOptions,
  type AutomationRemoveResult,
} from './remove.js';
export {
  buildLambdaBundle,
  BUNDLE_FILE,
  BUNDLE_TARGET,
  HANDLERS_ENTRY,
  type BundleOptions,
  type LambdaBundle,
} from './bundle.js';
export { AUTOMATION_STACK_NAME } from '../../domain/vault-name.js';
export {
  AUTOMATION_OUTPUTS,
  deployedAutomation,
  executionArnOf,
  type DeployedAutomation,
  parseExecutionArn,
  type ExecutionArn,
} from './deployed.js';
export {
  fleetLimits,
  itemsBody,
  itemsKey,
  runFleet,
  type FleetInput,
  type FleetItem,
  type FleetLimits,
  type RunCustody,
  type RunDeps,
  type RunOptions,
  type RunResult,
} from './run.js';
export {
  automationStatus,
  caseHolders,
  executionsInRecord,
  outcomes,
  type AutomationStatus,
  type ExecutionStatus,
  type ExecutionSummary,
  type InstanceOutcome,
  type StatusDeps,
  type StatusOptions,
} from './status.js';
export {
  APPROVAL_REJECTED,
  approvalKey,
  decideApproval,
  type ApprovalRequestObject,
  type Decision,
  type DecideCustody,
  type DecideDeps,
  type DecideOptions,
  type DecideResult,
} from './approve.js';
