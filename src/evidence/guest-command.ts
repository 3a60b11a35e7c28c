/**
 * One guest tool run on the forensic instance through SSM Run Command (AWS-RunShellScript) and
 * waited for: the read-only check (readonly.ts) and the in-room hash (room-hash.ts) ask the room
 * this way. SSM keeps the first 24,000 characters of stdout and 8,000 of stderr; the tools print
 * little. An instance SSM cannot reach is an answer too (`unreachable`), not an error.
 */
import { asError } from '../domain/errors.js';
import { handOffClock, waitFor } from '../domain/waiter.js';
import type { AccountCalls } from '../aws/ports.js';
import type { Clock } from '../domain/waiter.js';

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Cancelling']);

export interface GuestCommand {
  /** The shell command line (only validated tokens: tool paths, ids, hex, numbers). */
  command: string;
  /** SSM's comment on the command (cut to its 100 characters). */
  comment: string;
  /** How long the command may run on the instance (the document's executionTimeout), seconds. */
  executionTimeoutSeconds?: number;
  /** How long to wait for the invocation to end. */
  budgetMs: number;
  /** Longest pause between GetCommandInvocation polls. */
  maxIntervalMs?: number;
  /** Says what could not run it, for the `unreachable` detail ("the status tool"). */
  what: string;
  /** Called once SSM accepted the command, before the wait (memory capture records the command id then). */
  onSent?: (commandId: string) => Promise<void>;
  /** Called on each poll that finds the command still running (the invocation's status, time waited). */
  onPending?: (status: string | undefined, elapsedMs: number) => void;
}

/** What a guest command needs: the forensic account (where the room is) and a clock. An EvidenceRun is one. */
export interface GuestCommandRun {
  forensic: AccountCalls<{ ssm: 'sendCommand' | 'getCommandInvocation' }>;
  clock: Clock;
}

export type GuestAnswer =
  | {
      kind: 'answered';
      commandId: string;
      status: string;
      exitCode?: number;
      stdout: string;
      stderr: string;
      /** "SSM command <id> ended <status> (exit n), stderr: …" */
      detail: string;
    }
  | { kind: 'unreachable'; detail: string };

/** Send the command and wait (within its budget; past it a TimeoutError with the commandId in its details) for the invocation to end. */
export function runGuestCommand(run: GuestCommandRun, instanceId: string, c: GuestCommand): Promise<GuestAnswer> {
  return runShellCommand(run.forensic, run.clock, instanceId, c);
}

/**
 * {@link runGuestCommand} on an instance of any account: memory capture runs its script on the
 * compromised instance, in the SOURCE account, through this.
 */
export async function runShellCommand(
  account: AccountCalls<{ ssm: 'sendCommand' | 'getCommandInvocation' }>,
  clock: Clock,
  instanceId: string,
  c: GuestCommand,
): Promise<GuestAnswer> {
  let commandId: string | undefined;
  try {
    const sent = await account.ssm.sendCommand({
      InstanceIds: [instanceId],
      DocumentName: 'AWS-RunShellScript',
      Parameters: {
        commands: [c.command],
        ...(c.executionTimeoutSeconds !== undefined ? { executionTimeout: [String(c.executionTimeoutSeconds)] } : {}),
      },
      Comment: c.comment.slice(0, 100),
      TimeoutSeconds: 60,
    });
    commandId = sent.Command?.CommandId;
  } catch (e) {
    return {
      kind: 'unreachable',
      detail: `SSM could not run ${c.what} on ${instanceId} (${asError(e).message}); check that the instance is managed by SSM (its SSM endpoints and instance profile)`,
    };
  }
  if (!commandId) return { kind: 'unreachable', detail: `SSM SendCommand to ${instanceId} returned no command id` };
  const id = commandId;
  await c.onSent?.(id);
  const inv = await waitFor(
    async () => {
      try {
        const i = await account.ssm.getCommandInvocation({ CommandId: id, InstanceId: instanceId });
        return i.Status && TERMINAL.has(i.Status)
          ? { state: 'done' as const, value: i }
          : { state: 'pending' as const, detail: i.Status ?? 'unknown' };
      } catch (e) {
        // Just after SendCommand the invocation may not exist yet (InvocationDoesNotExist).
        return { state: 'pending' as const, detail: asError(e).message };
      }
    },
    {
      description: `SSM command ${id} on ${instanceId}`,
      budgetMs: c.budgetMs,
      intervalMs: 1000,
      maxIntervalMs: c.maxIntervalMs ?? 5000,
      // Awaited in-process also in hand-off mode (domain/hand-off.ts): a command sent is answered to
      // this call only, and a call that came back later would send it anew and wait again. The
      // command's own budget bounds the wait: a Lambda host passes budgets that fit its time.
      clock: handOffClock(clock, 'block'),
      details: { commandId: id, instanceId },
      ...(c.onPending
        ? { onPending: (d: string | undefined, _p: number | undefined, ms: number) => c.onPending!(d, ms) }
        : {}),
    },
  );
  const stderr = inv.StandardErrorContent ?? '';
  const exit = inv.ResponseCode;
  return {
    kind: 'answered',
    commandId: id,
    status: inv.Status ?? 'unknown',
    ...(exit !== undefined ? { exitCode: exit } : {}),
    stdout: inv.StandardOutputContent ?? '',
    stderr,
    detail: `SSM command ${id} ended ${inv.Status}${exit !== undefined ? ` (exit ${exit})` : ''}${stderr ? `, stderr: ${stderr.trim().slice(0, 200)}` : ''}`,
  };
}

/** The JSON objects among the output's lines (a line cut short by SSM's cap is skipped). */
export function jsonLines<T>(stdout: string): T[] {
  const out: T[] = [];
  for (const raw of stdout.split('\n')) {
    const s = raw.trim();
    if (!s.startsWith('{')) continue;
    try {
      out.push(JSON.parse(s) as T);
    } catch {
      // a truncated line (SSM keeps the first 24,000 characters): the caller counts it as no answer
    }
  }
  return out;
}
