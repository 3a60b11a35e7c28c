/**
 * Verified inside the room: once the guest has confirmed an attached evidence disk read-only, the
 * room's `cleanroom-evidence-hash` (scripts/guest/, installed by the room's user data) reads the
 * whole disk read-only through SSM Run Command and compares its SHA-256 with the acquisition hash
 * in the custody record (the item's `sha256`, the forensic snapshot's, hashed through the EBS
 * direct APIs). Two independent paths to the same bytes: the EBS direct APIs at acquisition, the
 * attached block device in the room.
 *
 * Recorded per attach cycle as `evidence.room-hash`, the item's `inRoomHash`:
 * - `verified`: the device's SHA-256 equals the record's;
 * - `MISMATCH`: it differs, or the disk's size differs from the recorded size (a verification
 *   problem: the command ends with exit 3, as for a writable disk);
 * - `not-confirmed`: not compared, and the detail says why — read-only not confirmed, no hash in
 *   the record yet, SSM unreachable, an empty answer (SSM "Success" with no output is not an
 *   answer), the tool could not read the disk, or no answer within the budget.
 *
 * A whole-disk read takes time: the command's executionTimeout and the wait are scaled to the disk
 * (`roomHashBaseMs` + `roomHashPerGiBMs` per GiB, 5 min + 1 min/GiB by default, capped at SSM's
 * 48 hours). Each disk is asked on its own, in parallel, and recorded as soon as its answer comes,
 * so one large disk does not hold up another's answer. A conclusive answer (verified, MISMATCH)
 * stands for its attach cycle: asking again re-reads nothing.
 */
import { asError, TimeoutError } from '../domain/errors.js';
import { foldEvidence, type EvidenceItem, type EvidencePatch } from '../domain/evidence.js';
import { isInterrupted } from '../domain/abort.js';
import { isWaitHandedOff } from '../domain/hand-off.js';
import type { EvidenceRun } from './run.js';
import type { ReadOnlyAnswer } from './readonly.js';
import { volumeKeys } from './volume.js';
import { jsonLines, runGuestCommand } from './guest-command.js';

/** Where the room's user data installs the hash tool (scripts/guest/install.sh). */
export const EVIDENCE_HASH_TOOL = '/usr/local/sbin/cleanroom-evidence-hash';

/** SSM's longest executionTimeout for AWS-RunShellScript (48 hours). */
export const SSM_MAX_EXECUTION_SECONDS = 172_800;

/** Beyond the command's own timeout, for delivery and the polls. */
const WAIT_GRACE_MS = 2 * 60_000;

export type InRoomHash = NonNullable<EvidenceItem['inRoomHash']>;

export interface RoomHashAnswer {
  volumeId: string;
  status: InRoomHash;
  detail: string;
  /** When the answer was taken (ISO). */
  at: string;
  /** The device's SHA-256 as the guest reported it. */
  sha256?: string;
  /** The recorded acquisition hash it was compared with. */
  expected?: string;
  commandId?: string;
  /** How long the guest's read took. */
  seconds?: number;
}

/** The guest tool's one JSON line. */
interface HashLine {
  device?: string;
  volumeId?: string | null;
  sizeBytes?: number;
  sha256?: string | null;
  expected?: string;
  result?: string;
  seconds?: number;
  reason?: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const GiB = 2 ** 30;

/** The command's executionTimeout (seconds) and the wait (ms) for a disk of this many bytes. */
export function roomHashTimeouts(
  run: Pick<EvidenceRun, 'budgets'>,
  sizeBytes: number | undefined,
): { executionTimeoutSeconds: number; waitMs: number } {
  const ms = run.budgets.roomHashBaseMs + run.budgets.roomHashPerGiBMs * ((sizeBytes ?? 0) / GiB);
  const executionTimeoutSeconds = Math.min(SSM_MAX_EXECUTION_SECONDS, Math.max(30, Math.ceil(ms / 1000)));
  return { executionTimeoutSeconds, waitMs: executionTimeoutSeconds * 1000 + WAIT_GRACE_MS };
}

/** The acquisition hash and size the record holds for an item (fields of the shared evidence contract). */
function recordedHash(item: EvidencePatch | undefined): { sha256?: string; sizeBytes?: number } {
  const { sha256, sizeBytes } = (item ?? {}) as { sha256?: unknown; sizeBytes?: unknown };
  return {
    ...(typeof sha256 === 'string' ? { sha256 } : {}),
    ...(typeof sizeBytes === 'number' && Number.isSafeInteger(sizeBytes) ? { sizeBytes } : {}),
  };
}

/** A conclusive answer already recorded for this attach cycle, if any. */
function recordedAnswer(run: EvidenceRun, eid: string, vid: string, cycle: number): RoomHashAnswer | undefined {
  for (const result of ['verified', 'MISMATCH'] as const) {
    const key = volumeKeys.roomHash(eid, vid, cycle, result);
    const ev = run.custody.events().find((e) => e.idempotencyKey === key);
    const item = ev?.outcome.details?.['evidence'] as EvidencePatch | undefined;
    if (ev && item?.inRoomHashDetail)
      return { volumeId: vid, status: result, detail: item.inRoomHashDetail, at: item.inRoomHashAt ?? ev.time };
  }
  return undefined;
}

/** Run the hash tool for one disk and read its answer. */
async function askHash(
  run: EvidenceRun,
  instanceId: string,
  evidenceId: string,
  volumeId: string,
  expected: string,
  sizeBytes: number | undefined,
): Promise<Omit<RoomHashAnswer, 'at'>> {
  const { executionTimeoutSeconds, waitMs } = roomHashTimeouts(run, sizeBytes);
  const notConfirmed = (detail: string) => ({ volumeId, status: 'not-confirmed' as const, detail, expected });
  let a: Awaited<ReturnType<typeof runGuestCommand>>;
  try {
    a = await runGuestCommand(run, instanceId, {
      command: `${EVIDENCE_HASH_TOOL} --by-volume-id ${volumeId} --expected ${expected}${sizeBytes !== undefined ? ` --size ${sizeBytes}` : ''}`,
      comment: `cleanroom ${run.caseId}: in-room SHA-256 of ${evidenceId}`,
      executionTimeoutSeconds,
      budgetMs: waitMs,
      maxIntervalMs: 30_000,
      what: 'the hash tool',
    });
  } catch (e) {
    if (isInterrupted(e) || isWaitHandedOff(e)) throw e;
    if (!(e instanceof TimeoutError)) return notConfirmed(asError(e).message);
    const commandId = String(e.details['commandId']);
    return {
      ...notConfirmed(
        `no answer from SSM command ${commandId} within ${Math.round(waitMs / 1000)}s: the hash of the whole disk may still be running inside ${instanceId} (its executionTimeout is ${executionTimeoutSeconds}s; see \`aws ssm get-command-invocation --command-id ${commandId} --instance-id ${instanceId}\`)`,
      ),
      commandId,
    };
  }
  if (a.kind === 'unreachable') return notConfirmed(a.detail);
  const line = jsonLines<HashLine>(a.stdout).find((l) => typeof l.result === 'string');
  const where = `${line?.device ?? volumeId} inside ${instanceId}`;
  const ids = { commandId: a.commandId, ...(typeof line?.seconds === 'number' ? { seconds: line.seconds } : {}) };
  if (!line) return { ...notConfirmed(`${a.detail}: the hash tool gave no answer`), ...ids };
  if ((line.volumeId && line.volumeId !== volumeId) || line.expected !== expected)
    return {
      ...notConfirmed(
        `${a.detail}: the answer is about ${line.volumeId ?? line.device} and ${line.expected}, not this disk and hash`,
      ),
      ...ids,
    };
  const size = line.sizeBytes !== undefined ? ` (${line.sizeBytes} bytes` : ' (';
  if (typeof line.sha256 === 'string' && SHA256_HEX.test(line.sha256)) {
    const read = `${size} read in ${line.seconds ?? '?'} s; SSM command ${a.commandId})`;
    return line.sha256 === expected
      ? {
          volumeId,
          status: 'verified',
          detail: `SHA-256 of ${where} is the recorded ${expected}${read}`,
          sha256: line.sha256,
          expected,
          ...ids,
        }
      : {
          volumeId,
          status: 'MISMATCH',
          detail: `SHA-256 of ${where} is ${line.sha256}, the record says ${expected}${read}`,
          sha256: line.sha256,
          expected,
          ...ids,
        };
  }
  if (line.result === 'MISMATCH' && line.reason)
    return {
      volumeId,
      status: 'MISMATCH',
      detail: `${where}: ${line.reason} (SSM command ${a.commandId})`,
      expected,
      ...ids,
    };
  return { ...notConfirmed(`${a.detail}: the hash tool answered ${line.result} without a hash`), ...ids };
}

/** Why there is nothing to compare, or the hash and size to compare with. */
function precondition(
  run: EvidenceRun,
  evidenceId: string,
  readOnly: ReadOnlyAnswer | undefined,
): { why: string } | { sha256: string; sizeBytes?: number } {
  if (readOnly?.status !== 'confirmed')
    return {
      why: `not run: read-only is ${readOnly?.status ?? 'not known'} inside the room, and the hash tool reads only a disk the guest holds read-only`,
    };
  const { sha256, sizeBytes } = recordedHash(foldEvidence(run.custody.events()).get(evidenceId));
  if (!sha256 || !SHA256_HEX.test(sha256))
    return {
      why: `not run: the custody record holds no acquisition SHA-256 for ${evidenceId}${sha256 ? ` (it holds "${sha256.slice(0, 80)}")` : ''}, so there is nothing to compare with`,
    };
  return { sha256, ...(sizeBytes !== undefined ? { sizeBytes } : {}) };
}

/**
 * Hash every disk just attached inside the room (those confirmed read-only) and record each
 * answer as `evidence.room-hash`; returns the answers by evidence id.
 */
export async function verifyAndRecord(
  run: EvidenceRun,
  instanceId: string,
  attached: ReadonlyArray<{ evidenceId: string; volumeId: string; cycle: number }>,
  readOnly: ReadonlyMap<string, ReadOnlyAnswer>,
): Promise<Map<string, RoomHashAnswer>> {
  if (attached.length === 0) return new Map();
  run.step(
    `verifying ${attached.length} evidence disk(s) inside ${instanceId} by their SHA-256 (${EVIDENCE_HASH_TOOL})`,
  );
  const accountId = await run.forensic.accountId();
  const region = run.forensic.region;
  // Settled, not Promise.all: when the run is stopped, every disk's record call has ended before
  // the stop goes up and the session seals.
  const settled = await Promise.allSettled(
    attached.map(async (a): Promise<[string, RoomHashAnswer]> => {
      const before = recordedAnswer(run, a.evidenceId, a.volumeId, a.cycle);
      if (before) return [a.evidenceId, before];
      const pre = precondition(run, a.evidenceId, readOnly.get(a.evidenceId));
      const asked =
        'why' in pre
          ? { volumeId: a.volumeId, status: 'not-confirmed' as const, detail: pre.why }
          : await askHash(run, instanceId, a.evidenceId, a.volumeId, pre.sha256, pre.sizeBytes);
      const ans: RoomHashAnswer = { ...asked, at: new Date(run.clock.now()).toISOString() };
      if (ans.status === 'MISMATCH')
        run.warn(
          `EVIDENCE ${a.evidenceId} (${a.volumeId}) DOES NOT MATCH its acquisition hash inside ${instanceId}: ${ans.detail}. The forensic snapshot remains the evidence of record; do not analyse this disk: detach it (\`cleanroom evidence detach --case ${run.caseId} --evidence ${a.evidenceId}\`) and check the snapshot with \`cleanroom evidence hash\`.`,
        );
      else if (ans.status === 'not-confirmed' && !('why' in pre))
        run.warn(
          `the in-room hash of ${a.evidenceId} (${a.volumeId}) is NOT confirmed: ${ans.detail}. Inside the instance: \`sudo cleanroom-evidence-hash --by-volume-id ${a.volumeId} --expected ${pre.sha256}\`.`,
        );
      await record(run, instanceId, a, ans, accountId, region);
      return [a.evidenceId, ans];
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return new Map(settled.map((r) => (r as PromiseFulfilledResult<[string, RoomHashAnswer]>).value));
}

async function record(
  run: EvidenceRun,
  instanceId: string,
  a: { evidenceId: string; volumeId: string; cycle: number },
  ans: RoomHashAnswer,
  accountId: string,
  region: string,
): Promise<void> {
  await run.record(
    volumeKeys.roomHash(a.evidenceId, a.volumeId, a.cycle, ans.status),
    'evidence.room-hash',
    [run.ref('ec2:volume', a.volumeId, accountId, region), run.ref('ec2:instance', instanceId, accountId, region)],
    {
      status: ans.status === 'verified' ? 'succeeded' : ans.status === 'MISMATCH' ? 'failed' : 'skipped',
      ...(ans.status === 'MISMATCH' ? { error: { code: 'IN_ROOM_HASH_MISMATCH', message: ans.detail } } : {}),
      details: {
        method: `SSM AWS-RunShellScript ${EVIDENCE_HASH_TOOL}`,
        volumeId: a.volumeId,
        cycle: a.cycle,
        ...(ans.commandId ? { commandId: ans.commandId } : {}),
        ...(ans.expected ? { expected: ans.expected } : {}),
        ...(ans.sha256 ? { deviceSha256: ans.sha256 } : {}),
        ...(ans.seconds !== undefined ? { seconds: ans.seconds } : {}),
        evidence: {
          evidenceId: a.evidenceId,
          inRoomHash: ans.status,
          inRoomHashDetail: ans.detail,
          inRoomHashAt: ans.at,
        },
      },
    },
  );
}
