/**
 * The closed vocabulary of error codes: every `code` a cleanroom error can carry, with the exit
 * code of the CLI contract it goes with (1 operation failed, 2 bad usage or input, 3 a
 * verification found a problem) and what it means, in one line.
 *
 * {@link ErrorCode} is derived from this table, and every error class of src/domain/errors.ts
 * takes an `ErrorCode`, so the compiler rejects a code that is not declared here. AWS error codes
 * are open-ended: they form the `AWS_<AwsErrorCode>` family ({@link AwsErrorCode}). The table of
 * docs/errors.md is checked against this one by test/domain/error-codes.test.ts.
 */
export type ExitCode = 1 | 2 | 3;

export interface ErrorCodeEntry {
  /** The exit code of the CLI contract a failure with this code ends in. */
  readonly exit: ExitCode;
  /** What the code means, in one line. */
  readonly meaning: string;
}

export const ERROR_CODES = {
  // ── The CLI and its host
  USAGE: { exit: 2, meaning: 'The command line is not valid (a parser complaint with no more specific code).' },
  UNKNOWN_COMMAND: { exit: 2, meaning: 'The command is not one cleanroom has.' },
  MISSING_COMMAND: { exit: 2, meaning: 'A command group was given without its subcommand.' },
  UNKNOWN_OPTION: { exit: 2, meaning: 'An option the command does not take.' },
  UNEXPECTED_ARGUMENT: { exit: 2, meaning: 'A positional argument the command does not take.' },
  MISSING_OPTION: { exit: 2, meaning: 'A required option is missing.' },
  MISSING_VALUE: { exit: 2, meaning: 'An option was given without its value.' },
  INVALID_VALUE: {
    exit: 2,
    meaning: 'An option value is not one the option accepts (choice, number, range, repeated).',
  },
  CONFLICTING_OPTIONS: { exit: 2, meaning: 'Two mutually exclusive options were given.' },
  CONFIRMATION_REQUIRED: {
    exit: 2,
    meaning:
      'A destructive command needs --yes when there is no terminal to confirm on (a library caller: an `approve` input).',
  },
  ABORTED: { exit: 2, meaning: 'The user answered no at the confirmation prompt; nothing was changed.' },
  INTERRUPTED: {
    exit: 1,
    meaning:
      'The command was stopped by Ctrl-C (the process exits 130), or a workflow by its AbortSignal, at a step boundary.',
  },
  INTERNAL: { exit: 1, meaning: 'A bug: an unexpected error inside cleanroom (report it).' },
  PARTIAL_FAILURE: {
    exit: 1,
    meaning:
      'Part of the work failed or is left to do (acquire, isolate, an incomplete close); what succeeded is kept.',
  },
  TIMEOUT: { exit: 1, meaning: 'A wait ran out of its time budget.' },
  HASH_WORKER_FAILED: {
    exit: 1,
    meaning:
      'A worker thread computing the SHA-256 of a disk failed (its message says why); run the command again: the hash is made anew.',
  },
  HASH_STATE_INVALID: {
    exit: 2,
    meaning:
      'A resumable hash state handed back is not valid: of another snapshot or disk geometry, another format, or damaged (start the hash anew).',
  },
  WAIT_HANDED_OFF: {
    exit: 1,
    meaning:
      "Not done yet: a workflow run with waits 'hand-off' (automation) stopped where it would wait; call it again with the same inputs after retryAfterSeconds.",
  },
  INVALID_TIMEOUT: { exit: 2, meaning: 'A time limit is not a positive number.' },
  INVALID_BUDGET: { exit: 2, meaning: 'A wait budget (minutes or seconds) is not a number ≥ 0.' },
  // ── Accounts, credentials, regions
  NO_CREDENTIALS: { exit: 2, meaning: 'No AWS credentials were found.' },
  NO_REGION: { exit: 2, meaning: 'No AWS region is set (--region, AWS_REGION or the profile).' },
  UNKNOWN_REGION: { exit: 2, meaning: 'The region is not an AWS region name, or not one this build knows.' },
  REGION_NOT_ENABLED: { exit: 2, meaning: 'The region is not enabled (opted in) for the account.' },
  PROFILE_NOT_FOUND: { exit: 2, meaning: 'The named AWS profile is not in the config or credentials file.' },
  INVALID_ROLE_ARN: { exit: 2, meaning: 'The role to assume is not an IAM role ARN.' },
  CONFLICTING_SOURCE: { exit: 2, meaning: '--source-profile and --source-role-arn were both given.' },
  // ── AWS calls (besides the AWS_<code> family)
  ENDPOINT_TIMEOUT: { exit: 1, meaning: 'The AWS endpoint did not answer in time, retries included.' },
  // ── Case ids, vault, custody record
  INVALID_CASE_ID: { exit: 2, meaning: 'The case id is not valid (2 to 63 letters, digits, hyphens).' },
  UNKNOWN_CASE: { exit: 2, meaning: 'The vault has no custody record for the case.' },
  INVALID_BUCKET: { exit: 2, meaning: 'The bucket name is not an S3 bucket name.' },
  INVALID_RETENTION: { exit: 2, meaning: '--retention-days is not a whole number from 1 to 36500.' },
  INVALID_LOCK_MODE: { exit: 2, meaning: '--lock-mode is not COMPLIANCE or GOVERNANCE.' },
  NO_VAULT: { exit: 2, meaning: 'The evidence vault bucket does not exist (run vault init).' },
  VAULT_WEAKENING_REFUSED: {
    exit: 2,
    meaning: 'vault init refuses to weaken a vault (COMPLIANCE to GOVERNANCE, shorter retention).',
  },
  VAULT_KEY_MISMATCH: { exit: 3, meaning: 'The vault key alias points at a key of the wrong spec or usage.' },
  VAULT_NOT_LOCKABLE: { exit: 3, meaning: 'The bucket exists without Object Lock, so it cannot hold evidence.' },
  VAULT_AUDIT_FAILED: { exit: 3, meaning: 'The evidence vault fails its audit.' },
  CASE_BUSY: {
    exit: 1,
    meaning:
      "Another writer holds the case's lease or a lock it needs (the case's, or a vault-wide one another case holds).",
  },
  CASE_LEASE_LOST: { exit: 1, meaning: 'This command lost the lease of the case to another one.' },
  LEASE_CONTENTION: { exit: 1, meaning: 'The lease of the case kept changing while it was being written.' },
  CUSTODY_CONTENTION: { exit: 1, meaning: 'Too many other events were appended while this one was written.' },
  CUSTODY_EVENT_INVALID: {
    exit: 2,
    meaning: 'A custody event does not match the custody event schema; nothing was recorded.',
  },
  CUSTODY_INVALID: { exit: 3, meaning: 'The custody record of the case does not verify.' },
  MANIFEST_INVALID: { exit: 1, meaning: 'The case manifest does not match its schema; it was not written.' },
  CANONICALIZATION_FAILED: {
    exit: 2,
    meaning: 'A value cannot be canonicalized as RFC 8785 JSON (non-finite number, unsupported type).',
  },
  INSTALLATION_INCOMPLETE: {
    exit: 1,
    meaning:
      'A file cleanroom ships with (evidence schemas, guest tooling) is missing or not the one this build expects: reinstall cleanroom.',
  },
  SIGNING_KEY_NOT_FOUND: { exit: 2, meaning: 'The vault has no signing key to trust.' },
  // ── Custody bundles
  NOT_A_BUNDLE: { exit: 2, meaning: 'The folder is not a custody bundle.' },
  OUT_INVALID: { exit: 2, meaning: 'The output folder cannot be used (not writable, a file, a link, a special disk).' },
  OUT_NOT_EMPTY: { exit: 2, meaning: 'The output folder exists and is not empty.' },
  OUT_EXISTS: { exit: 2, meaning: 'The output file exists (evidence export --out): give a new name or --force.' },
  ANCHOR_WITHOUT_BUNDLE: {
    exit: 2,
    meaning: '--key-fingerprint, --public-key or --trust-vault given without --bundle.',
  },
  ANCHOR_CONFLICT: { exit: 2, meaning: 'More than one trusted key was given (--public-key and --trust-vault).' },
  BUCKET_WITH_BUNDLE: { exit: 2, meaning: '--bucket given with --bundle alone, where it has no meaning.' },
  BAD_KEY_FINGERPRINT: { exit: 2, meaning: '--key-fingerprint is not 64 hex characters.' },
  BAD_EXPECTED_HEAD: { exit: 2, meaning: '--expect-head is not 64 hex characters.' },
  EXPECT_WITHOUT_BUNDLE: { exit: 2, meaning: '--expect-case or --expect-head given without --bundle.' },
  BAD_PUBLIC_KEY: { exit: 2, meaning: '--public-key is not a PEM public key.' },
  PUBLIC_KEY_UNREADABLE: { exit: 2, meaning: 'The --public-key file cannot be read.' },
  // ── Room
  INVALID_AMI: { exit: 2, meaning: '--ami is not an AMI id.' },
  UNKNOWN_AMI: { exit: 2, meaning: 'The AMI does not exist in the region or is not shared with the account.' },
  AMI_UNAVAILABLE: { exit: 2, meaning: 'The AMI is not in state available.' },
  INVALID_AZ: { exit: 2, meaning: '--az is not an Availability Zone name.' },
  UNKNOWN_AZ: { exit: 2, meaning: 'The Availability Zone does not exist in the region.' },
  AZ_UNAVAILABLE: { exit: 2, meaning: 'The Availability Zone is not available.' },
  INVALID_INSTANCE_TYPE: { exit: 2, meaning: '--instance-type is not an EC2 instance type.' },
  UNKNOWN_INSTANCE_TYPE: { exit: 2, meaning: 'The instance type is not offered in any zone of the region.' },
  INSTANCE_TYPE_NOT_IN_AZ: { exit: 2, meaning: 'The instance type is not offered in the chosen zone.' },
  NO_S3_PREFIX_LIST: { exit: 1, meaning: "The region has no managed S3 prefix list for the room's gateway endpoint." },
  TEMPLATE_TOO_LARGE: { exit: 1, meaning: "The room template exceeds CloudFormation's TemplateBody limit." },
  CHANGE_SET_FAILED: {
    exit: 1,
    meaning: "CloudFormation refused a stack's change set (the room's, the automation's).",
  },
  ROOM_STACK_FAILED: { exit: 1, meaning: 'A room stack operation ended in a FAILED or ROLLBACK status.' },
  ROOM_STACK_ROLLED_BACK: { exit: 1, meaning: 'The room stack rolled back its creation; it must be taken down first.' },
  ROOM_STACK_GONE: { exit: 1, meaning: 'The room stack disappeared while cleanroom waited for it.' },
  ROOM_STACK_STATE: { exit: 1, meaning: 'The room stack is in a status room up cannot continue from.' },
  ROOM_AZ_CHANGE: { exit: 2, meaning: 'room up with another --az would replace the room; take it down first.' },
  ROOM_OUTPUTS_MISSING: { exit: 1, meaning: 'The room stack does not report the outputs its guard rails need.' },
  ROOM_INSTANCE_GONE: { exit: 1, meaning: "The room's forensic instance is terminated or gone." },
  ROOM_NOT_UP: { exit: 2, meaning: 'The room of the case is not up, so there is no forensic instance.' },
  // ── Automation (the automation stack: automation deploy | remove)
  AUTOMATION_NOT_DEPLOYED: {
    exit: 2,
    meaning: 'The automation stack is not deployed in this account and Region: run `cleanroom automation deploy`.',
  },
  AUTOMATION_STACK_FAILED: {
    exit: 1,
    meaning: 'An automation stack operation ended in a FAILED or ROLLBACK status (the failing resources are named).',
  },
  AUTOMATION_STACK_STATE: {
    exit: 1,
    meaning:
      'The automation stack is in a status deploy cannot continue from (ROLLBACK_COMPLETE or FAILED: `automation remove`, then deploy).',
  },
  AUTOMATION_STACK_GONE: { exit: 1, meaning: 'The automation stack disappeared while cleanroom waited for it.' },
  SESSION_PLUGIN_MISSING: {
    exit: 2,
    meaning: 'room shell needs the Session Manager plugin (session-manager-plugin) and it is not installed.',
  },
  SESSION_FAILED: {
    exit: 1,
    meaning: 'A room shell session failed (the plugin, or its transcript never reached the vault); it is recorded.',
  },
  ROOM_AUDIT_FAILED: { exit: 3, meaning: 'The clean room fails its audit, so no evidence is attached to it.' },
  STACK_DELETE_FAILED: { exit: 1, meaning: 'Deleting the room stack failed.' },
  EVIDENCE_ATTACHED: { exit: 2, meaning: 'The forensic instance still has evidence attached.' },
  DETACH_FAILED: { exit: 1, meaning: 'An evidence volume could not be detached; the room was not deleted.' },
  // ── Acquire
  NOTHING_TO_ACQUIRE: { exit: 2, meaning: 'Neither --instance nor --volume was given.' },
  INSTANCE_AND_VOLUME: { exit: 2, meaning: '--instance and --volume were both given.' },
  INVALID_ID: { exit: 2, meaning: 'An id is not an EC2 instance or volume id.' },
  INVALID_CONCURRENCY: { exit: 2, meaning: '--concurrency is not a whole number from 1 to 500.' },
  INVALID_SOURCE_KEY: { exit: 2, meaning: '--source-kms-key is not a KMS key or alias ARN.' },
  INSTANCE_NOT_FOUND: { exit: 2, meaning: 'The instance does not exist in the account and region.' },
  INSTANCE_IN_ANOTHER_REGION: { exit: 2, meaning: 'The instance is in another region of the account.' },
  INSTANCE_TERMINATED: { exit: 2, meaning: 'The instance is terminated or shutting down.' },
  VOLUME_NOT_FOUND: { exit: 2, meaning: 'The volume does not exist in the account and region.' },
  NO_EBS_VOLUMES: { exit: 2, meaning: 'The instance has no EBS volumes to acquire.' },
  FORENSIC_INSTANCE_AS_SOURCE: { exit: 2, meaning: "The instance named is the case's own forensic instance." },
  VOLUME_ON_FORENSIC_INSTANCE: { exit: 2, meaning: "The volume named is attached to the case's forensic instance." },
  SOURCE_KEY_ELSEWHERE: { exit: 2, meaning: '--source-kms-key is in another account or region than the snapshots.' },
  SOURCE_KEY_NOT_FOUND: { exit: 2, meaning: '--source-kms-key does not exist.' },
  SOURCE_KEY_AWS_MANAGED: { exit: 2, meaning: '--source-kms-key is AWS managed, so it cannot be shared.' },
  SOURCE_KEY_NOT_ENABLED: { exit: 2, meaning: '--source-kms-key is not enabled.' },
  SOURCE_KEY_NOT_SYMMETRIC: { exit: 2, meaning: '--source-kms-key is not a symmetric encryption key.' },
  SOURCE_KEY_NOT_SHARED: {
    exit: 2,
    meaning: 'Neither the key policy nor a grant of --source-kms-key lets the forensic account use it.',
  },
  SHARE_KEY_DISABLED: { exit: 2, meaning: 'The temporary sharing key of the source account is disabled.' },
  SNAPSHOT_ERROR: { exit: 1, meaning: 'A snapshot ended in state error.' },
  SNAPSHOT_GONE: { exit: 1, meaning: 'A snapshot being waited for is no longer visible.' },
  // ── Evidence
  INVALID_EVIDENCE_ID: { exit: 2, meaning: 'The evidence id is not valid.' },
  UNKNOWN_EVIDENCE: { exit: 2, meaning: 'The case has no such evidence.' },
  NOT_PRESERVED: { exit: 2, meaning: 'The evidence has no forensic snapshot yet (finish acquire first).' },
  NO_CASE_KEY: { exit: 2, meaning: 'The case has no case key (bring the room up first).' },
  NO_WORKING_VOLUME: { exit: 2, meaning: 'The evidence has no working volume to detach.' },
  WORKING_VOLUME_GONE: { exit: 2, meaning: "The evidence's working volume no longer exists." },
  VOLUME_ATTACHED_ELSEWHERE: { exit: 2, meaning: 'The working volume is attached to another instance.' },
  AZ_MISMATCH: { exit: 2, meaning: 'The forensic instance and the room disagree on the Availability Zone.' },
  FORENSIC_INSTANCE_GONE: { exit: 2, meaning: 'The forensic instance is terminated or gone; the room needs repair.' },
  ATTACHMENT_LIMIT: { exit: 1, meaning: 'The forensic instance has no free EBS attachment left.' },
  NO_DEVICE_NAME: { exit: 1, meaning: 'No free device name is left on the forensic instance.' },
  VOLUME_ERROR: { exit: 1, meaning: 'A volume is in state error.' },
  VOLUME_GONE: { exit: 1, meaning: 'A volume disappeared while it was being waited for.' },
  SSM_UNREACHABLE: { exit: 1, meaning: 'The forensic instance cannot be reached through SSM.' },
  BLOCK_READ_FAILED: { exit: 1, meaning: 'Reading snapshot blocks (EBS direct APIs) failed.' },
  BLOCK_CHECKSUM_MISMATCH: { exit: 1, meaning: 'A snapshot block does not match the checksum EBS sent with it.' },
  EVIDENCE_HASH_MISMATCH: {
    exit: 3,
    meaning:
      "An evidence item's content hashes differ: the source snapshot's and the forensic copy's, or a recomputation and the record.",
  },
  EVIDENCE_NOT_HASHED: {
    exit: 2,
    meaning: 'The evidence has no acquisition hash in the record yet (run `evidence hash` or finish acquire).',
  },
  EXPORT_TOO_LARGE: {
    exit: 2,
    meaning: 'The image is larger than one S3 object can be (10,000 parts of 5 GiB): export it to a file.',
  },
  // ── Memory capture: the tool in the vault and the upload (docs/memory.md)
  MEMORY_TOOL_INVALID: {
    exit: 2,
    meaning: 'memory tools --avml: the file is not an ELF executable for x86-64 or aarch64 Linux (or cannot be read).',
  },
  MEMORY_TOOL_MISSING: {
    exit: 2,
    meaning:
      'The vault holds no memory capture tool (tools/memory/avml.json), or the pointer names a binary that is not there: run `cleanroom memory tools --avml FILE`.',
  },
  MEMORY_UPLOAD_INCOMPLETE: {
    exit: 1,
    meaning:
      'A memory image upload cannot be completed: the vault holds no part of it, or a part is missing between two others (the upload is aborted; capture again).',
  },
  EXPORT_HASH_MISMATCH: {
    exit: 3,
    meaning: "The exported image's SHA-256 differs from the acquisition hash in the record (nothing was kept).",
  },
  DISK_FULL: { exit: 1, meaning: 'The disk of the output file is full (the error names the space the image needs).' },
  // ── Isolate
  INVALID_INSTANCE_ID: { exit: 2, meaning: 'The instance id is not an EC2 instance id.' },
  INSTANCE_IS_FORENSIC: { exit: 2, meaning: "The instance is the clean room's own forensic instance." },
  ISOLATED_FOR_ANOTHER_CASE: { exit: 2, meaning: 'The instance was isolated for another case.' },
  ASG_AT_MINIMUM: { exit: 2, meaning: 'Detaching the instance would take its Auto Scaling group below its minimum.' },
  NO_CUSTODY: { exit: 1, meaning: 'isolate was run without the case custody record (only --dry-run works without).' },
  INSTANCE_GONE: { exit: 1, meaning: 'The instance is no longer visible.' },
  GROUP_NAME_TAKEN: { exit: 1, meaning: 'A security group not made by isolate has the name isolate uses.' },
  QUARANTINE_NAME_TAKEN: { exit: 1, meaning: 'An IAM role or profile not made by isolate has the quarantine name.' },
  NO_ACL_ASSOCIATION: { exit: 1, meaning: 'The subnet has no network ACL association to replace.' },
  ISOLATION_NOT_CONFIRMED: {
    exit: 1,
    meaning: 'After a step, the instance is not in the state the step should have left it.',
  },
  STOP_FAILED: { exit: 1, meaning: 'The instance did not stop.' },
  // ── Isolate release
  NOT_ISOLATED: {
    exit: 2,
    meaning: "isolate release: the case's custody record has no isolation of this instance (nothing to release).",
  },
  RELEASE_STATE_INVALID: {
    exit: 3,
    meaning:
      "isolate release: the case's custody record fails its chain check, or its recorded state of the instance is missing or malformed.",
  },
  RELEASE_TARGET_MISSING: {
    exit: 1,
    meaning:
      'isolate release: something the isolation recorded no longer exists (a group, profile, target group, load balancer, Auto Scaling group); --skip-missing goes on without it.',
  },
  // ── Memory capture (memory capture, isolate --capture-memory)
  MEMORY_PLATFORM_UNSUPPORTED: {
    exit: 2,
    meaning: 'The instance is not Linux (Windows): cleanroom captures Linux memory only (AVML).',
  },
  MEMORY_INSTANCE_NOT_RUNNING: {
    exit: 2,
    meaning: 'The instance is not running (stopped, stopping, pending): there is no memory to capture.',
  },
  MEMORY_CAPTURE_FAILED: {
    exit: 1,
    meaning:
      'The capture on the instance failed or could not run (SSM, the tool, disk space, the deadline); the upload was aborted and the failure recorded.',
  },
  MEMORY_HASH_MISMATCH: {
    exit: 3,
    meaning:
      'The memory image read back from the vault has another SHA-256 than the instance reported (both recorded).',
  },
  // ── Case close
  INVALID_KEY_WINDOW: { exit: 2, meaning: '--key-deletion-window-days is not a whole number from 7 to 30.' },
  INVALID_LOCK_DAYS: { exit: 2, meaning: '--snapshot-lock-days is not a whole number from 1 to 36500.' },
  // ── The forensic toolkit
  TOOLKIT_NOT_FOUND: {
    exit: 2,
    meaning: 'The vault has no such toolkit, or no default toolkit (publish one with cleanroom room tools --publish).',
  },
  TOOLKIT_BUILD_FAILED: {
    exit: 1,
    meaning: "room tools: pip could not build the wheelhouse (the error names the package and pip's last lines).",
  },
  PYTHON_NOT_FOUND: {
    exit: 2,
    meaning: 'room tools: no local Python with pip at --python (default python3) to build the wheelhouse with.',
  },
  TOOLKIT_INVALID: {
    exit: 3,
    meaning:
      "A toolkit in the vault does not verify: its manifest's schema or id, or a file's SHA-256 against the manifest.",
  },
  // ── Automation: the operator's commands (automation run | status | approve | reject)
  NO_INSTANCES: {
    exit: 2,
    meaning: 'automation run was given no instance (--instance, --instances-file or --tag), or the tag matched none.',
  },
  INSTANCES_FILE_INVALID: {
    exit: 2,
    meaning: '--instances-file cannot be read, or is neither one instance id per line nor a JSON array of them.',
  },
  INVALID_TAG_FILTER: { exit: 2, meaning: '--tag is not KEY=VALUE.' },
  INSTANCES_UNAVAILABLE: {
    exit: 2,
    meaning: 'automation run: instances of the list do not exist in the region or are terminated; nothing was started.',
  },
  INVALID_EXECUTION_ARN: { exit: 2, meaning: '--execution is not a Step Functions execution ARN.' },
  EXECUTION_NOT_FOUND: { exit: 2, meaning: 'Step Functions knows no such execution (wrong ARN, region or account).' },
  APPROVAL_NOT_PENDING: {
    exit: 2,
    meaning:
      'automation approve or reject: the execution is not waiting for an approval (none requested, already decided, or it ended).',
  },
  APPROVAL_INSTANCE_REQUIRED: {
    exit: 2,
    meaning:
      'automation approve or reject: approvals of several instances wait in the execution and none was named: name one with --instance (the message lists them).',
  },
  RUN_FAILED: {
    exit: 1,
    meaning:
      'automation run --wait: the fleet execution ended failed, timed out or aborted (the summary says which instances).',
  },
  // ── Automated response (the Lambda host)
  INVALID_AUTOMATION_INPUT: {
    exit: 2,
    meaning:
      'A step of the automated response got input that does not match its schema (the error names the step and the field).',
  },
  UNSUPPORTED_EVENT: {
    exit: 2,
    meaning:
      'The event that started the response is none it handles: a GuardDuty finding on an EC2 instance, a Security Hub custom action naming one, a cleanroom:respond tag on an instance, or a fleet item.',
  },
  AUTOMATION_ENV_INVALID: {
    exit: 2,
    meaning:
      'A Lambda function of the automation lacks an environment variable it needs, or has an invalid one (redeploy with cleanroom automation deploy).',
  },
} as const satisfies Record<string, ErrorCodeEntry>;

/** A code of the table. */
export type NamedErrorCode = keyof typeof ERROR_CODES;
/**
 * The AWS error code, prefixed: an AWS call that failed with no more specific code of its own
 * (`AWS_AccessDenied`, `AWS_NetworkError`, `AWS_UnreadableResponse`, …). Exit 1, or 2 when AWS
 * refused the input (NotFound, Malformed, InvalidParameter, ValidationError, …).
 */
export type AwsErrorCode = `AWS_${string}`;
/** Every code a cleanroom error can carry. */
export type ErrorCode = NamedErrorCode | AwsErrorCode;

/**
 * Codes that are never thrown but recorded: the `outcome.error.code` of a custody event that
 * records a failed check or step the command itself carries on from (the event's status says
 * failed; the command's exit code does not come from it).
 */
export const OUTCOME_CODES = {
  GUARD_RAIL_FAILED: 'A room guard rail (security group, route, endpoint policy) was found open and put back.',
  EVIDENCE_WRITABLE: 'An evidence volume was found attached writable inside the room.',
  IN_ROOM_HASH_MISMATCH:
    "An evidence disk's SHA-256, read inside the room, differs from its acquisition hash (or its size from the recorded size).",
  SNAPSHOT_LOCK_UNSUPPORTED:
    'case close could not lock a snapshot: the region or account does not support EBS snapshot lock.',
  VOLUME_WRITTEN: 'case close found blocks of a working volume that differ from its evidence snapshot.',
  TOOLKIT_NOT_INSTALLED:
    "The room's forensic toolkit did not install: a file differed from its manifest (mismatch) or the install failed.",
} as const satisfies Record<string, string>;

/** A code of {@link OUTCOME_CODES}. */
export type OutcomeCode = keyof typeof OUTCOME_CODES;
/** What the `outcome.error.code` of a custody event can be. */
export type RecordedErrorCode = ErrorCode | OutcomeCode;

/** The codes of the table, in its order. */
export const NAMED_ERROR_CODES = Object.keys(ERROR_CODES) as readonly NamedErrorCode[];

/** True when `code` is a declared error code (a table entry or an AWS_ code). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) || /^AWS_[A-Za-z0-9.]+$/.test(code);
}
