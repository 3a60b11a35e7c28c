/**
 * cleanroom as a library: the same workflows the CLI runs, for responders who script a case.
 *
 *   import { openAccount, initVault, roomUp, acquireEvidence, closeCase } from 'cleanroom';
 *
 * Every workflow takes its AWS account(s) as ports (`openAccount`), its custody recorder and an
 * optional progress reporter, and throws the typed errors below, whose `exitCode` is the CLI's.
 * The guarantees the CLI has are the library's: a workflow seals the custody manifest over what it
 * recorded (result `seal`, or `details.sealed` on an error), waits within library default budgets
 * a caller may override, asks one typed `approve` before a destructive step, and stops at a step
 * boundary when its `signal` (AbortSignal) fires (INTERRUPTED).
 */

// AWS adapters
export { openAccount, resolveRegion, DEFAULT_TIMEOUTS, type AccountOptions, type IoTimeouts } from './aws/account.js';
export { checkRegionName } from './aws/region.js';
export type { AwsAccount, AccountCalls, AccountWith } from './aws/ports.js';

// Domain
export {
  type ExitCode,
  CleanroomError,
  UsageError,
  AwsError,
  TimeoutError,
  VerificationFailedError,
  PartialFailureError,
} from './domain/errors.js';
export {
  ERROR_CODES,
  OUTCOME_CODES,
  NAMED_ERROR_CODES,
  isErrorCode,
  type ErrorCode,
  type NamedErrorCode,
  type AwsErrorCode,
  type OutcomeCode,
  type RecordedErrorCode,
} from './domain/error-codes.js';
export { assertCaseId, roomStackName, caseTags } from './domain/case-id.js';
export { defaultVaultBucket, casePrefix } from './domain/vault-name.js';
export { foldEvidence, evidenceJson, type EvidenceItem, type EvidenceState } from './domain/evidence.js';
export type { RoomInfo, AuditResult, AuditCheck } from './domain/room.js';
export { silentReporter, type Reporter, type ProgressEvent } from './domain/reporter.js';
export {
  approveAll,
  requireApproval,
  type Approve,
  type ApprovalRequest,
  type ApprovalAction,
} from './domain/approval.js';
export { InterruptedError, isInterrupted } from './domain/abort.js';
export {
  WaitHandedOffError,
  isWaitHandedOff,
  combineHandOffs,
  type WaitMode,
  type HandOff,
} from './domain/hand-off.js';

// Workflows: vault
export { initVault, type VaultInitOptions, type VaultInitResult } from './workflows/vault/index.js';
export { auditVault, VAULT_CHECK_IDS, type VaultAuditResult, type VaultCheckId } from './workflows/vault/index.js';
export { requireCompliantVault } from './custody/vault/gate.js';

// Workflows: room
export {
  roomUp,
  roomTemplateBody,
  ROOM_TEMPLATE,
  roomDown,
  roomStatus,
  roomSessions,
  listRooms,
  auditRoom,
  ROOM_CHECK_IDS,
  roomGate,
  builtInGuestTools,
  bundleDigest,
  roomShell,
  parsePortForward,
  transcriptKey,
  SESSION_PLUGIN_DOCS,
  SESSION_PLUGIN_ENV,
  DEFAULT_SHELL_BUDGETS,
  type RoomShellDeps,
  type RoomShellOptions,
  type RoomShellResult,
  type SessionPlugin,
  type PluginInvocation,
  type SessionRecord,
  type SessionTranscript,
  type RoomUpDeps,
  type RoomUpOptions,
  type RoomUpResult,
  type RoomDownDeps,
  type RoomDownOptions,
  type RoomDownResult,
  type RoomStatus,
  type RoomListEntry,
  type RoomSessionsDeps,
  type RoomSessionsOptions,
  type RoomSessionsResult,
  type RoomAudit,
  type RoomCheckId,
  type GuestToolFile,
} from './workflows/room/index.js';

// Workflows: containment, acquisition, evidence
export {
  isolateInstance,
  type IsolateDeps,
  type IsolateOptions,
  type IsolateResult,
  type IsolateBudgets,
  DEFAULT_BUDGETS as DEFAULT_ISOLATE_BUDGETS,
  releaseInstance,
  type ReleaseDeps,
  type ReleaseOptions,
  type ReleaseResult,
} from './workflows/isolate/index.js';
export {
  acquireEvidence,
  type AcquireDeps,
  type AcquireOptions,
  type AcquireResult,
} from './workflows/acquire/index.js';
export {
  attachEvidence,
  detachEvidence,
  listEvidence,
  type EvidenceDeps,
  type AttachResult,
  type DetachResult,
  type EvidenceList,
  hashEvidence,
  type EvidenceHashDeps,
  type EvidenceHashOptions,
  type EvidenceHashResult,
  type HashCheck,
} from './workflows/evidence/index.js';
export {
  evidenceBudgets,
  DEFAULT_EVIDENCE_BUDGETS,
  type EvidenceBudgets,
  type EvidenceBudgetOverrides,
} from './evidence/budgets.js';
export { DEFAULT_ROOM_BUDGETS, type RoomBudgets } from './workflows/room/index.js';

// The forensic toolkit: build and publish (room tools), read, list and copy into a case
export {
  roomTools,
  type RoomToolsDeps,
  type RoomToolsOptions,
  type RoomToolsResult,
  type PublishedToolkitFile,
  type ProcessRunner,
  type ProcessResult,
  // the room's toolkit: what room up resolved, copied and heard from the room
  TOOLKIT_STATUS_FILE,
  resolveRoomToolkit,
  type RoomToolkit,
  type RoomToolkitPlan,
  type ToolkitInRoom,
} from './workflows/room/index.js';
export {
  readToolkit,
  listToolkits,
  copyToolkitToCase,
  type ToolkitRef,
  type ToolkitVault,
  type ToolkitListEntry,
  type CaseToolkitCopy,
  type CopiedToolkitFile,
} from './resources/toolkit.js';
export {
  DEFAULT_TOOLKIT_PACKAGES,
  TOOLKIT_SCHEMA,
  TOOLKIT_POINTER_SCHEMA,
  DEFAULT_TOOLKIT_KEY,
  toolkitPrefix,
  caseToolkitPrefix,
  toolkitId,
  type ToolkitManifest,
  type ToolkitPointer,
  type ToolkitArch,
} from './domain/toolkit.js';

// Automation: the acquisition hash a time budget at a time (state carried between invocations)
export {
  hashEvidenceStep,
  type HashEvidenceStepDeps,
  type HashEvidenceStepOptions,
  type HashEvidenceStepResult,
} from './workflows/evidence/index.js';
export {
  hashSnapshotResumable,
  checkHashResume,
  type HashResume,
  type ResumableHashOptions,
  type ResumableHashResult,
} from './evidence/resumable-hash.js';

// Workflows: close
export {
  closeCase,
  closePlanText,
  type CloseDeps,
  type CloseOptions,
  type CloseResult,
  type CloseBudgets,
  DEFAULT_BUDGETS as DEFAULT_CLOSE_BUDGETS,
} from './workflows/close/index.js';

// Automation (issue 14): the stack the automated response runs on
export {
  deployAutomation,
  removeAutomation,
  buildLambdaBundle,
  AUTOMATION_STACK_NAME,
  DEFAULT_AUTOMATION_BUDGETS,
  type AutomationDeployDeps,
  type AutomationDeployOptions,
  type AutomationDeployResult,
  type AutomationRemoveDeps,
  type AutomationRemoveOptions,
  type AutomationRemoveResult,
  type IsolationPolicy,
  type LambdaBundle,
} from './workflows/automation/index.js';

// Custody
export {
  openCaseCustody,
  type CaseCustody,
  type OpenCustodyOptions,
  type CustodyLeaseRequest,
  type CustodyLocksRequest,
} from './custody/case-custody.js';
export {
  acquireCaseLease,
  CaseLease,
  CaseBusyError,
  LeaseLostError,
  leaseKey,
  lockKey,
  vaultLockKey,
  acquireCaseLocks,
  acquireVaultLocks,
  heldLocks,
  heldOnCase,
  refuseWhileLocked,
  localHolderGone,
  processOwnerId,
  DEFAULT_LEASE_TTL_MS,
  DEFAULT_LEASE_RENEW_MS,
  type LeaseDocument,
  type LeaseOptions,
  type LeaseTakeover,
} from './custody/lease.js';
export {
  lockScopes,
  lockScope,
  vaultWideScope,
  type Exclusive,
  type LockKind,
  type LockWhere,
} from './domain/exclusive.js';
export { caseExists, requireExistingCase } from './custody/case-exists.js';
export { verifyCaseInVault, type VaultVerifyOptions, type VaultVerifyResult } from './custody/verify-vault.js';
export { exportBundle, verifyBundle, type ExportResult, type BundleVerifyResult } from './custody/bundle.js';
export { readCaseLog, type LogEntry } from './custody/log.js';
export {
  sessionOfEvent,
  sessionLine,
  transcriptFile,
  type RecordedSession,
  // The transcript as the record holds it (the contract room shell's SessionTranscript writes).
  type SessionTranscript as RecordedSessionTranscript,
} from './custody/room-sessions.js';
export type { TranscriptCheck } from './custody/verify.js';
export { canonicalize } from './custody/canonical.js';
export { eventHash, type CustodyEvent, type CaseManifest } from './custody/event.js';
export { eventSchemaErrors, manifestSchemaErrors, isCustodyEvent, isCaseManifest } from './custody/schema.js';
export type { CustodyRecorder, RecordedEvent, ActorContext } from './domain/recorder.js';
export {
  idempotencyKeys,
  parseIdempotencyKey,
  formatIdempotencyKey,
  KEY_FAMILIES,
  type IdempotencyKey,
  type KeyFamily,
  type KeyMark,
  type ParsedKey,
} from './domain/idempotency-keys.js';
export { sealRecord, type SealState, type CustodySource } from './custody/session.js';
