/**
 * The automated response, as its operator drives it: `automation run` (a fleet through the
 * Distributed Map), `automation status` (executions and each instance's outcome, from the custody
 * record), `automation approve | reject` (a paused execution's decision). The deployed state
 * machines and their Lambda handlers run the same workflows the CLI runs (docs/automation.md).
 */
export {
  AUTOMATION_OUTPUTS,
  AUTOMATION_STACK_NAME,
  deployedAutomation,
  executionArnOf,
  parseExecutionArn,
  type DeployedAutomation,
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
