/**
 * What the rest of cleanroom needs to know about a case's clean room: where it is (the stack's
 * outputs) and whether it holds its invariants (the live audit). Produced by the room workflows
 * (`src/workflows/room/`), consumed by acquisition (evidence goes only into a room that passes
 * its audit), evidence attach/detach and close.
 */
import { CASE_ID_PATTERN, ROOM_STACK_PREFIX, roomStackName } from './case-id.js';
import { ROLE, TAG_CASE, TAG_ROLE } from './tags.js';

/** The contract's `room up` / `room status` JSON, plus the other outputs of the room stack. */
export interface RoomInfo {
  case: string;
  stackName: string;
  stackStatus: string;
  stackId?: string;
  vpcId?: string;
  subnetId?: string;
  availabilityZone?: string;
  instanceId?: string;
  forensicsSecurityGroupId?: string;
  accessSecurityGroupId?: string;
  endpointSecurityGroupId?: string;
  networkAclId?: string;
  routeTableId?: string;
  flowLogGroupName?: string;
  instanceProfileName?: string;
  instanceRoleArn?: string;
  launchTemplateId?: string;
  /** The Session Manager document of the analyst's shell (room shell; transcripts to the vault). */
  shellDocumentName?: string;
  /** The Session Manager document for port forwarding (room shell --port-forward). */
  portForwardDocumentName?: string;
  /** The case key the room was built with. */
  caseKeyArn?: string;
  vaultBucket?: string;
  /** The forensic toolkit the room installs (stack parameter ToolkitId); absent: none. */
  toolkitId?: string;
}

/** How bad a failed check is: critical fails `room verify` (exit 3); warning only with --strict. */
export type CheckSeverity = 'critical' | 'warning';

/** One named check of an audit (`room verify`, `vault verify`): the contract's `{id, ok, detail}`. */
export interface AuditCheck<Id extends string = string> {
  id: Id;
  ok: boolean;
  detail: string;
  severity?: CheckSeverity;
}

/** The result of an audit: `ok` is false when any check that counts failed. */
export interface AuditResult<Id extends string = string> {
  ok: boolean;
  checks: AuditCheck<Id>[];
}

/**
 * The room as another workflow sees it. Acquisition takes one of these as a dependency (the CLI
 * builds it from the room workflows; unit tests hand-write a fake).
 */
export interface RoomGate {
  /** The room of the case, or undefined when there is no stack. */
  describe(caseId: string): Promise<RoomInfo | undefined>;
  /** The live audit (read-only). */
  audit(caseId: string): Promise<AuditResult>;
}

/** The logical id of the forensic instance in the room template (templates/room.yaml). */
export const FORENSIC_INSTANCE_LOGICAL_ID = 'ForensicInstance';

/** Tags CloudFormation puts on every resource of a stack. */
const CFN_STACK_NAME = 'aws:cloudformation:stack-name';
const CFN_LOGICAL_ID = 'aws:cloudformation:logical-id';

/**
 * Is an instance (by its tags) a clean room's own forensic instance? Two independent signs, either
 * enough: the room's tags (`cleanroom:role=forensic-instance`, from the room's launch template), or
 * CloudFormation's tags naming a room stack (`cleanroom-<case id>`) with the instance being the
 * template's forensic instance or carrying that case's `cleanroom:case` tag (room up tags its
 * stack, and CloudFormation passes stack tags on to the instance). Returns the case and stack, or
 * undefined for any other instance — including one `isolate` tagged with `cleanroom:case`.
 */
export function forensicRoomOf(
  tags: Readonly<Record<string, string | undefined>>,
): { caseId?: string; stackName?: string } | undefined {
  const stack = tags[CFN_STACK_NAME];
  const stackCase = stack?.startsWith(ROOM_STACK_PREFIX) ? stack.slice(ROOM_STACK_PREFIX.length) : undefined;
  const roomStack =
    stackCase !== undefined && CASE_ID_PATTERN.test(stackCase) ? { caseId: stackCase, stackName: stack! } : undefined;
  if (tags[TAG_ROLE] === ROLE.forensicInstance) {
    const caseId = tags[TAG_CASE] ?? roomStack?.caseId;
    const stackName = roomStack?.stackName ?? (caseId ? roomStackName(caseId) : undefined);
    return { ...(caseId ? { caseId } : {}), ...(stackName ? { stackName } : {}) };
  }
  if (roomStack && (tags[CFN_LOGICAL_ID] === FORENSIC_INSTANCE_LOGICAL_ID || tags[TAG_CASE] === roomStack.caseId))
    return roomStack;
  return undefined;
}
