/**
 * Read-only, confirmed from inside: the EC2 API has no read-only attachment, so the room's instance
 * enforces it (udev rule + `blockdev --setro`, installed by the room's user data from
 * scripts/guest/). This asks the instance, through SSM Run Command, to run
 * `cleanroom-evidence-status` (one JSON line per evidence disk: device, volumeId, readOnly,
 * partitions) and reads the answer for each attached volume.
 *
 * The answer is recorded as it is: `confirmed` only when the guest named the volume and said
 * read-only for it and every partition; `writable` when it said otherwise; `not-confirmed` for
 * everything else — no answer, an empty answer (SSM "Success" with no output is NOT a
 * confirmation), a volume the guest did not list, SSM unreachable.
 */
import { CleanroomError, asError } from '../domain/errors.js';
import { handOffClock, waitFor, type PollResult } from '../domain/waiter.js';
import { isInterrupted } from '../domain/abort.js';
import { isWaitHandedOff } from '../domain/hand-off.js';
import type { EvidenceRun } from './run.js';
import { volumeKeys } from './volume.js';
import { jsonLines, runGuestCommand } from './guest-command.js';

/** Where the room's user data installs the status tool (scripts/guest/install.sh). */
export const STATUS_TOOL = '/usr/local/sbin/cleanroom-evidence-status';

export interface ReadOnlyAnswer {
  volumeId: string;
  status: 'confirmed' | 'writable' | 'not-confirmed';
  detail: string;
  /** The kernel's name for the disk, when the guest reported it. */
  guestDevice?: string;
}

interface StatusLine {
  device?: string;
  volumeId?: string | null;
  readOnly?: boolean;
  partitions?: Array<{ device?: string; readOnly?: boolean }>;
}

/** Ask the forensic instance about these volumes; waits (within the budget) for each to appear. */
export async function confirmReadOnly(
  run: EvidenceRun,
  instanceId: string,
  volumeIds: readonly string[],
): Promise<Map<string, ReadOnlyAnswer>> {
  const answers = new Map<string, ReadOnlyAnswer>();
  const unanswered = (why: string) => {
    for (const v of volumeIds)
      if (!answers.has(v) || answers.get(v)!.status === 'not-confirmed')
        answers.set(v, { volumeId: v, status: 'not-confirmed', detail: why });
  };
  if (volumeIds.length === 0) return answers;
  run.step(`confirming read-only inside ${instanceId} through SSM (${STATUS_TOOL})`);
  let last = 'no answer yet';
  try {
    await waitFor(
      async (): Promise<PollResult<true>> => {
        const r = await askOnce(run, instanceId);
        if (r.kind === 'unreachable')
          return { state: 'failed', error: new CleanroomError('SSM_UNREACHABLE', r.detail) };
        const seen = new Map<string, StatusLine>();
        for (const l of r.lines) if (l.volumeId) seen.set(l.volumeId, l);
        for (const v of volumeIds) {
          const l = seen.get(v);
          if (!l) continue;
          const parts = l.partitions ?? [];
          const ro = l.readOnly === true && parts.every((p) => p.readOnly === true);
          const writable = [
            ...(l.readOnly === true ? [] : [l.device ?? v]),
            ...parts.filter((p) => p.readOnly !== true).map((p) => p.device ?? '?'),
          ];
          answers.set(v, {
            volumeId: v,
            status: ro ? 'confirmed' : 'writable',
            detail: ro
              ? `${l.device} and ${parts.length} partition(s) read-only (blockdev --getro), reported by ${instanceId}`
              : `${writable.join(', ')} NOT read-only on ${instanceId}: the guest's udev rule did not mark it; do not mount it`,
            ...(l.device ? { guestDevice: l.device } : {}),
          });
        }
        const missing = volumeIds.filter((v) => !answers.has(v));
        if (missing.length === 0) return { state: 'done', value: true };
        last =
          r.lines.length === 0
            ? `${r.detail}: the status tool printed no disk at all`
            : `${r.detail}: the guest does not list ${missing.join(', ')} (yet)`;
        return { state: 'pending', detail: last };
      },
      {
        description: `${instanceId} to report its evidence disks`,
        budgetMs: run.budgets.readOnlyCheckMs,
        intervalMs: 5000,
        maxIntervalMs: 15_000,
        // Awaited in-process also in hand-off mode, as the SSM command itself (guest-command.ts): a
        // call that came back later would ask anew with a fresh budget, so a guest that never lists
        // the disk would loop forever. The budget (readOnlyCheckMs) bounds it within one call.
        clock: handOffClock(run.clock, 'block'),
      },
    );
  } catch (e) {
    // Stopped by the workflow's signal: no answer to record; the rerun asks again.
    if (isInterrupted(e) || isWaitHandedOff(e)) throw e;
    const err = asError(e);
    // The guest's last answer if there was one; else why no answer came (unreachable, no invocation).
    unanswered(
      (err instanceof CleanroomError && err.code === 'SSM_UNREACHABLE') || last === 'no answer yet'
        ? err.message
        : last,
    );
  }
  return answers;
}

type Asked = { kind: 'answered'; lines: StatusLine[]; detail: string } | { kind: 'unreachable'; detail: string };

async function askOnce(run: EvidenceRun, instanceId: string): Promise<Asked> {
  const a = await runGuestCommand(run, instanceId, {
    command: STATUS_TOOL,
    comment: `cleanroom ${run.caseId}: read-only status of evidence disks`,
    budgetMs: 120_000,
    what: 'the status tool',
  });
  return a.kind === 'unreachable' ? a : { kind: 'answered', lines: jsonLines<StatusLine>(a.stdout), detail: a.detail };
}

/**
 * Ask once for every volume just attached, and record each answer (keyed by the answer, so asking
 * again with the same answer adds nothing, and a later, different answer is a new event).
 */
export async function confirmAndRecord(
  run: EvidenceRun,
  instanceId: string,
  attached: ReadonlyArray<{ evidenceId: string; volumeId: string; cycle: number }>,
): Promise<Map<string, ReadOnlyAnswer>> {
  const answers = await confirmReadOnly(
    run,
    instanceId,
    attached.map((a) => a.volumeId),
  );
  const out = new Map<string, ReadOnlyAnswer>();
  const accountId = await run.forensic.accountId();
  const region = run.forensic.region;
  for (const a of attached) {
    const ans = answers.get(a.volumeId) ?? {
      volumeId: a.volumeId,
      status: 'not-confirmed' as const,
      detail: 'no answer',
    };
    out.set(a.evidenceId, ans);
    if (ans.status === 'writable') {
      run.warn(
        `EVIDENCE ${a.evidenceId} (${a.volumeId}) IS WRITABLE inside ${instanceId}: ${ans.detail}. The evidence snapshot is unaffected; do not mount the disk, and detach it (\`cleanroom evidence detach --case ${run.caseId} --evidence ${a.evidenceId}\`).`,
      );
    } else if (ans.status === 'not-confirmed') {
      run.warn(
        `read-only of ${a.evidenceId} (${a.volumeId}) is NOT confirmed: ${ans.detail}. The guest's udev rule should have marked it; check inside the instance with \`cleanroom-evidence-status\` before mounting, or run \`cleanroom evidence attach --case ${run.caseId} --evidence ${a.evidenceId}\` again to ask again.`,
      );
    }
    await run.record(
      volumeKeys.readOnly(a.evidenceId, a.volumeId, a.cycle, ans.status),
      'evidence.readonly-check',
      [run.ref('ec2:volume', a.volumeId, accountId, region), run.ref('ec2:instance', instanceId, accountId, region)],
      {
        status: ans.status === 'confirmed' ? 'succeeded' : ans.status === 'writable' ? 'failed' : 'skipped',
        ...(ans.status === 'writable' ? { error: { code: 'EVIDENCE_WRITABLE', message: ans.detail } } : {}),
        details: {
          method: `SSM AWS-RunShellScript ${STATUS_TOOL}`,
          ...(ans.guestDevice ? { kernelDevice: ans.guestDevice } : {}),
          evidence: { evidenceId: a.evidenceId, readOnly: ans.status, readOnlyDetail: ans.detail },
        },
      },
    );
  }
  return out;
}
