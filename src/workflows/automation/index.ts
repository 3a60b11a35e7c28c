/**
 * The automation stack (issue 14): `automation deploy` (deploy.ts: bundle, upload to the vault,
 * change set), `automation remove` (remove.ts), and the Lambda bundle (bundle.ts).
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
export { requireAutomation, type DeployedAutomation } from './stack.js';
export { AUTOMATION_STACK_NAME } from '../../domain/vault-name.js';
