/**
 * What the rest of cleanroom needs to know about a case's clean room: where it is (the stack's
 * outputs) and whether it holds its invariants (the live audit). Produced by the room workflows
 * (`src/workflows/room/`), consumed by acquisition (evidence goes only into a room that passes
 * its audit), evidence attach/detach and close.
 */

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
  /** The case key the room was built with. */
  caseKeyArn?: string;
  vaultBucket?: string;
}

/** How bad a failed check is: critical fails `room verify` (exit 3); warning only with --strict. */
export type CheckSeverity = 'critical' | 'warning';

/** One named check of an audit (`room verify`, `vault verify`): the contract's `{id, ok, detail}`. */
export interface AuditCheck {
  id: string;
  ok: boolean;
  detail: string;
  severity?: CheckSeverity;
}

/** The result of an audit: `ok` is false when any check that counts failed. */
export interface AuditResult {
  ok: boolean;
  checks: AuditCheck[];
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
