/**
 * The room workflows: `room up` (up.ts), `room down` (down.ts), `room status` / `room list`
 * (status.ts), `room sessions` (sessions.ts), `room audit` (audit.ts), `room tools` (tools.ts: the
 * forensic toolkit) and the room gate that acquire and evidence attach pass first (gate.ts). The
 * rest of this folder is their steps.
 */
export {
  roomUp,
  roomTemplateBody,
  ROOM_TEMPLATE,
  DEFAULT_ROOM_BUDGETS,
  type RoomBudgets,
  type RoomUpDeps,
  type RoomUpOptions,
  type RoomUpResult,
} from './up.js';
export { roomDown, roomDownPlanText, type RoomDownDeps, type RoomDownOptions, type RoomDownResult } from './down.js';
export { roomStatus, listRooms, type RoomStatus, type RoomListEntry } from './status.js';
export {
  roomSessions,
  type ManagerSession,
  type RecordedRoomSession,
  type RoomSessionsAccount,
  type RoomSessionsDeps,
  type RoomSessionsOptions,
  type RoomSessionsResult,
} from './sessions.js';
export { auditRoom, ROOM_CHECK_IDS, type RoomAudit, type RoomCheckId } from './audit.js';
export { roomGate } from './gate.js';
export { checkFlags } from './inputs.js';
export { builtInGuestTools, bundleDigest, type GuestToolFile } from './guest-tools.js';
export {
  roomShell,
  parsePortForward,
  pluginMissingError,
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
} from './shell.js';
export {
  roomTools,
  spawnRunner,
  type ProcessRunner,
  type ProcessResult,
  type RoomToolsDeps,
  type RoomToolsOptions,
  type RoomToolsResult,
  type PublishedToolkitFile,
} from './tools.js';
export {
  TOOLKIT_STATUS_FILE,
  resolveRoomToolkit,
  type RoomToolkit,
  type RoomToolkitPlan,
  type ToolkitInRoom,
} from './toolkit.js';
