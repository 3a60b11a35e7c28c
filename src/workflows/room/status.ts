/**
 * `room status` and `room list`: read-only views of rooms, from the stacks and their tags.
 */
import type { AwsAccount } from '../../aws/ports.js';
import { roomStackName } from '../../domain/case-id.js';
import { TAG_CASE, TAG_ROLE, ROLE, tagValue } from '../../domain/tags.js';
import type { RoomInfo } from '../../domain/room.js';
import { attachedEvidence, findLeftovers, type Leftover } from './leftovers.js';
import { readRoomStack, roomInfo, toRoomStack, type RoomStack } from '../../resources/stacks.js';
import { readToolkit } from '../../resources/toolkit.js';
import { asError } from '../../domain/errors.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import type { ToolkitTool } from '../../domain/toolkit.js';
import { readToolkitInRoom, type ToolkitInRoom } from './toolkit.js';

export interface RoomStatus {
  case: string;
  /** The room, or undefined when the case has no room stack. */
  room?: RoomInfo;
  instanceState?: string;
  instanceType?: string;
  imageId?: string;
  evidence: Array<{ volumeId: string; evidenceId?: string; device?: string }>;
  /** Without a room: what of one is still there. */
  leftovers: Leftover[];
  createdAt?: string;
  updatedAt?: string;
  /** The room's forensic toolkit: none (`toolkitId` absent), or what it is and what the room says. */
  toolkit?: RoomStatusToolkit;
}

/** The toolkit in `room status`. */
export interface RoomStatusToolkit {
  /** Absent: the room installs no toolkit. */
  toolkitId?: string;
  name?: string;
  manifestSha256?: string;
  tools: ToolkitTool[];
  /** What the room's installer says (asked once over SSM, not waited for). */
  inRoom?: ToolkitInRoom;
  /** Why the toolkit's manifest could not be read from the vault. */
  problem?: string;
}

export interface RoomStatusOptions {
  clock?: Clock;
  /** One SSM read of the toolkit status (default 30 s). */
  toolkitCommandMs?: number;
}

/** The status of one case's room. */
export async function roomStatus(
  account: AwsAccount,
  caseId: string,
  opts: RoomStatusOptions = {},
): Promise<RoomStatus> {
  const stack = await readRoomStack(account, caseId);
  if (!stack)
    return { case: caseId, evidence: [], leftovers: await findLeftovers(account, caseId, { stackGone: true }) };
  const room = roomInfo(caseId, stack);
  const out: RoomStatus = {
    case: caseId,
    room,
    evidence: [],
    leftovers: [],
    ...(stack.createdAt ? { createdAt: stack.createdAt.toISOString() } : {}),
    ...(stack.updatedAt ? { updatedAt: stack.updatedAt.toISOString() } : {}),
  };
  if (room.instanceId) {
    const inst = (await account.ec2.describeInstances({ InstanceIds: [room.instanceId] })).Reservations?.[0]
      ?.Instances?.[0];
    if (inst?.State?.Name) out.instanceState = inst.State.Name;
    if (inst?.InstanceType) out.instanceType = inst.InstanceType;
    if (inst?.ImageId) out.imageId = inst.ImageId;
    if (inst) out.evidence = await attachedEvidence(account, room.instanceId);
  }
  out.toolkit = await toolkitStatus(account, room, inState(out.instanceState), opts);
  return out;
}

const inState = (s: string | undefined) => s === 'running';

/** The toolkit of a room: from the stack's ToolkitId, the vault's manifest, and one read of the room's status file. */
async function toolkitStatus(
  account: AwsAccount,
  room: RoomInfo,
  running: boolean,
  opts: RoomStatusOptions,
): Promise<RoomStatusToolkit> {
  const toolkitId = room.toolkitId;
  if (!toolkitId) return { tools: [] };
  const out: RoomStatusToolkit = { toolkitId, tools: [] };
  if (room.vaultBucket) {
    try {
      const t = await readToolkit(account, room.vaultBucket, toolkitId);
      out.name = t.manifest.name;
      out.manifestSha256 = t.manifestSha256;
      out.tools = t.manifest.tools;
    } catch (e) {
      out.problem = asError(e).message;
    }
  }
  if (room.instanceId && running)
    out.inRoom = await readToolkitInRoom(
      { forensic: account, clock: opts.clock ?? systemClock },
      room.instanceId,
      toolkitId,
      {
        waitMs: 0,
        commandMs: opts.toolkitCommandMs ?? 30_000,
      },
    );
  return out;
}

/** One row of `room list`. */
export interface RoomListEntry {
  case: string;
  stackName: string | null;
  stackStatus: string;
  availabilityZone: string | null;
  instanceId: string | null;
  vpcId: string | null;
  createdAt: string | null;
}

/** A stack that is a room: tagged with a case, named after it. */
function caseOf(s: RoomStack): string | undefined {
  const c = s.tags[TAG_CASE] ?? s.parameters['CaseId'];
  return c && s.stackName === roomStackName(c) ? c : undefined;
}

/**
 * The rooms of every case in the account and region: the room stacks (by tag and name), plus a
 * `NO_STACK` row for each case whose room VPC is still there without a stack.
 */
export async function listRooms(account: AwsAccount): Promise<RoomListEntry[]> {
  const rows: RoomListEntry[] = [];
  let NextToken: string | undefined;
  do {
    const r = await account.cfn.describeStacks({ ...(NextToken ? { NextToken } : {}) });
    for (const raw of r.Stacks ?? []) {
      const s = toRoomStack(raw);
      const c = caseOf(s);
      if (!c || s.status === 'DELETE_COMPLETE') continue;
      const i = roomInfo(c, s);
      rows.push({
        case: c,
        stackName: s.stackName,
        stackStatus: s.status,
        availabilityZone: i.availabilityZone ?? null,
        instanceId: i.instanceId ?? null,
        vpcId: i.vpcId ?? null,
        createdAt: s.createdAt?.toISOString() ?? null,
      });
    }
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  const withStack = new Set(rows.map((x) => x.case));
  const vpcs =
    (
      await account.ec2.describeVpcs({
        Filters: [
          { Name: `tag:${TAG_ROLE}`, Values: [ROLE.roomVpc] },
          { Name: 'tag-key', Values: [TAG_CASE] },
        ],
      })
    ).Vpcs ?? [];
  for (const v of vpcs) {
    const c = tagValue(v.Tags, TAG_CASE);
    if (!c || withStack.has(c)) continue;
    rows.push({
      case: c,
      stackName: null,
      stackStatus: 'NO_STACK',
      availabilityZone: null,
      instanceId: null,
      vpcId: v.VpcId ?? null,
      createdAt: null,
    });
  }
  return rows.sort((a, b) => a.case.localeCompare(b.case) || String(a.stackName).localeCompare(String(b.stackName)));
}
