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
export type { AwsAccount } from './aws/ports.js';

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
export { ERROR_CODES, OUTCOME_CODES, NAMED_ERROR_CODES, isErrorCode, type ErrorCode, type NamedErrorCode, type AwsErrorCode, type OutcomeCode, type RecordedErrorCode } from './domain/error-codes.js';
export { assertCaseId, roomStackName, caseTags } from './domain/case-id.js';
export { defaultVaultBucket, casePrefix } from './domain/vault-name.js';
export { foldEvidence, evidenceJson, type EvidenceItem, type EvidenceState } from './domain/evidence.js';
export type { RoomInfo, AuditResult, AuditCheck } from './domain/room.js';
export { silentReporter, type Reporter, type ProgressEvent } from './domain/reporter.js';
export { approveAll, requireApproval, type Approve, type ApprovalRequest, type ApprovalAction } from './domain/approval.js';
export { InterruptedError, isInterrupted } from './domain/abort.js';

// Workflows: vault
export { initVault, type VaultInitOptions, type VaultInitResult } from './workflows/vault/init.js';
export { auditVault, VAULT_CHECK_IDS, type VaultAuditResult, type VaultCheckId } from './workflows/vault/audit.js';
export { requireCompliantVault } from './workflows/vault/gate.js';

// Workflows: room
export { roomUp, roomTemplateBody, ROOM_TEMPLATE, type RoomUpDeps, type RoomUpOptions, type RoomUpResult } from './workflows/room/up.js';
export { builtInGuestTools, bundleDigest, type GuestToolFile } from './workflows/room/guest-tools.js';
export { auditRoom, ROOM_CHECK_IDS, type RoomAudit, type RoomCheckId } from './workflows/room/audit.js';
export { roomGate } from './workflows/room/gate.js';
export { roomStatus, listRooms, type RoomStatus, type RoomListEntry } from './workflows/room/status.js';
export { roomDown, type RoomDownDeps, type RoomDownOptions, type RoomDownResult } from './workflows/room/down.js';

// Workflows: containment, acquisition, evidence
export { isolateInstance, type IsolateDeps, type IsolateOptions, type IsolateResult } from './workflows/isolate/index.js';
export { acquireEvidence, type AcquireDeps, type AcquireOptions, type AcquireResult } from './workflows/acquire/acquire.js';
export { attachEvidence, detachEvidence, type EvidenceDeps, type AttachResult, type DetachResult } from './workflows/evidence/attach.js';
export { listEvidence, type EvidenceList } from './workflows/evidence/list.js';
export { evidenceBudgets, DEFAULT_EVIDENCE_BUDGETS, type EvidenceBudgets, type EvidenceBudgetOverrides } from './workflows/evidence/budgets.js';
export { DEFAULT_ROOM_BUDGETS, type RoomBudgets } from './workflows/room/up.js';

// Workflows: close
export { closeCase, closePlanText, type CloseDeps, type CloseOptions, type CloseResult } from './workflows/close.js';

// Custody
export { openCaseCustody, type CaseCustody, type OpenCustodyOptions, type CustodyLeaseRequest } from './custody/case-custody.js';
export { acquireCaseLease, CaseLease, CaseBusyError, LeaseLostError, leaseKey, localHolderGone, processOwnerId, DEFAULT_LEASE_TTL_MS, DEFAULT_LEASE_RENEW_MS, type LeaseDocument, type LeaseOptions, type LeaseTakeover } from './custody/lease.js';
export { caseExists, requireExistingCase } from './custody/case-exists.js';
export { verifyCaseInVault, type VaultVerifyOptions, type VaultVerifyResult } from './custody/verify-vault.js';
export { exportBundle, verifyBundle, type ExportResult, type BundleVerifyResult } from './custody/bundle.js';
export { readCaseLog, type LogEntry } from './custody/log.js';
export { canonicalize } from './custody/canonical.js';
export { eventHash, type CustodyEvent, type CaseManifest } from './custody/event.js';
export { eventSchemaErrors, manifestSchemaErrors, isCustodyEvent, isCaseManifest } from './custody/schema.js';
export type { CustodyRecorder, RecordedEvent } from './custody/recorder.js';
export { sealRecord, type SealState, type CustodySource } from './custody/session.js';
