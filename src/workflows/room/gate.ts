/**
 * The room as other workflows see it ({@link RoomGate}): acquisition and evidence attach take one
 * to refuse a room that is not up or fails its live audit, and to read the room's Availability
 * Zone and instance id.
 */
import type { RoomGate } from '../../domain/room.js';
import { describeRoom } from '../../resources/stacks.js';
import { auditRoom, type RoomAuditAccount } from './audit.js';

/** The {@link RoomGate} of an account: `describe` from the stack's outputs, `audit` the live audit (read-only, warnings do not fail it). */
export function roomGate(account: RoomAuditAccount): RoomGate {
  return {
    describe: (caseId) => describeRoom(account, caseId),
    audit: async (caseId) => {
      const { ok, checks } = await auditRoom(account, caseId);
      return { ok, checks };
    },
  };
}
