/**
 * The room's forensic toolkit (`room up --toolkit default|none|<toolkitId or prefix>`).
 *
 * 1. {@link resolveRoomToolkit} — before anything changes: `none`; `default`, the vault's default
 *    pointer (none published: the room comes up without tools, with a warning naming
 *    `cleanroom room tools --publish`); or an explicit toolkit, which must exist (TOOLKIT_NOT_FOUND,
 *    exit 2, nothing created).
 * 2. {@link copyRoomToolkit} — next to the guest tooling: the toolkit copied server-side into
 *    `cases/<case>/tools/toolkit/` (every file's SHA-256 checked against the manifest), recorded as
 *    `room.toolkit` with its id, manifest hash, tools and versions and the copied keys (or
 *    `{ toolkit: 'none', reason }`). Recorded when it differs from the last `room.toolkit` of the
 *    case, so a rerun that changes nothing appends nothing, and a change back is recorded too.
 * 3. {@link readToolkitInRoom} / {@link verifyRoomToolkit} — after the instance is up: the status
 *    file the room's installer writes, read over SSM, recorded as `room.toolkit.verify`: installed,
 *    mismatch, failed (the install did not complete) or not-confirmed (no answer, with why).
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder, RecordedEvent } from '../../domain/recorder.js';
import { CleanroomError, TimeoutError, asError } from '../../domain/errors.js';
import type { Reporter } from '../../domain/reporter.js';
import type { Clock } from '../../domain/waiter.js';
import { waitFor } from '../../domain/waiter.js';
import { DEFAULT_TOOLKIT_KEY, caseToolkitPrefix, type ToolkitTool } from '../../domain/toolkit.js';
import {
  copyToolkitToCase,
  readToolkit,
  toolkitIdOf,
  type CaseToolkitCopy,
  type ToolkitRef,
  type ToolkitVault,
} from '../../resources/toolkit.js';
import { resourceRef } from '../../resources/refs.js';
import { jsonLines, runGuestCommand, type GuestCommandRun } from '../../evidence/guest-command.js';

/** Where the room's installer (and its user data, until then) writes the toolkit's status. */
export const TOOLKIT_STATUS_FILE = '/var/lib/cleanroom/toolkit-status.json';

/** `--toolkit`: `default`, `none`, a toolkit id (`tk-…`) or its prefix `tools/toolkits/<id>/`. */
export type ToolkitChoice = string;

/** What `--toolkit` resolved to: a toolkit read from the vault, or none and why. */
export type RoomToolkitPlan =
  | { kind: 'toolkit'; spec: string; toolkit: ToolkitRef }
  | { kind: 'none'; spec: string; reason: string };

/** Check a `--toolkit` value's form (no AWS call): INVALID_VALUE names the forms. */
export function checkToolkitChoice(spec: unknown): asserts spec is ToolkitChoice {
  if (spec !== 'none') toolkitIdOf(String(spec));
}

/**
 * Resolve `--toolkit` against the vault (read-only). `default` with nothing published is no
 * toolkit, with the reason; a default pointer that names a missing toolkit, or an explicit
 * toolkit that is not there, is TOOLKIT_NOT_FOUND (exit 2).
 */
export async function resolveRoomToolkit(
  account: AccountCalls<{ s3: 'getObject' }>,
  bucket: string,
  spec: ToolkitChoice,
  reporter?: Reporter,
): Promise<RoomToolkitPlan> {
  checkToolkitChoice(spec);
  if (spec === 'none') return { kind: 'none', spec, reason: '--toolkit none: the room installs no toolkit' };
  try {
    return { kind: 'toolkit', spec, toolkit: await readToolkit(account, bucket, spec) };
  } catch (e) {
    const noPointer =
      spec === 'default' &&
      e instanceof CleanroomError &&
      e.code === 'TOOLKIT_NOT_FOUND' &&
      e.details['key'] === DEFAULT_TOOLKIT_KEY &&
      e.details['toolkitId'] === undefined;
    if (!noPointer) throw e;
    const reason = `the vault ${bucket} has no default toolkit (s3://${bucket}/${DEFAULT_TOOLKIT_KEY}): the room comes up without forensic tools. Publish one with \`cleanroom room tools --publish\`, then run \`room up --toolkit default\` again.`;
    reporter?.warn(reason);
    return { kind: 'none', spec, reason };
  }
}

/** The toolkit of a room as room up reports it. */
export interface RoomToolkit {
  /** The toolkit id, or undefined for none. */
  toolkitId?: string;
  manifestSha256?: string;
  name?: string;
  tools: ToolkitTool[];
  /** The case's copy: `cases/<case>/tools/toolkit/`. */
  prefix?: string;
  files?: CaseToolkitCopy['files'];
  /** How many files this run copied (0: the case already held them). */
  copied: number;
  /** Why there is none. */
  reason?: string;
  /** What the room's installer said (after the instance is up). */
  inRoom?: ToolkitInRoom;
}

/** The last `room.toolkit` event of the record. */
function lastEvent(custody: CustodyRecorder, action: string, match: (e: RecordedEvent) => boolean = () => true) {
  return [...custody.events()].reverse().find((e) => e.action === action && match(e));
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Copy the chosen toolkit into the case and record `room.toolkit` (with none: record that, and
 * why). A copy that fails is recorded as failed and thrown.
 */
export async function copyRoomToolkit(
  account: AccountCalls<{ s3: 'headObject' | 'copyObject' }> & Pick<AwsAccount, 'region' | 'accountId'>,
  o: { caseId: string; vault: ToolkitVault; plan: RoomToolkitPlan; custody: CustodyRecorder; reporter: Reporter },
): Promise<RoomToolkit> {
  const { caseId, vault, plan, custody } = o;
  const accountId = await account.accountId();
  const prefix = caseToolkitPrefix(caseId);
  const resources = [resourceRef('s3:prefix', `s3://${vault.bucket}/${prefix}`, accountId, account.region)];
  // The same toolkit in the same place (or none again, whatever the reason): nothing to record.
  const gist = (d: Record<string, unknown> | undefined) => [
    d?.['toolkit'],
    d?.['toolkitId'],
    d?.['manifestSha256'],
    d?.['prefix'],
    ((d?.['files'] as { name: string; sha256: string }[] | undefined) ?? []).map((f) => [f.name, f.sha256]),
  ];
  const record = async (outcome: Parameters<CustodyRecorder['record']>[0]['outcome']) => {
    const last = lastEvent(custody, 'room.toolkit');
    if (last && last.outcome.status === outcome.status && sameJson(gist(last.outcome.details), gist(outcome.details)))
      return;
    await custody.record({ action: 'room.toolkit', resources, inputs: { toolkit: plan.spec }, outcome });
  };
  if (plan.kind === 'none') {
    await record({ status: 'succeeded', details: { toolkit: 'none', reason: plan.reason } });
    return { tools: [], copied: 0, reason: plan.reason };
  }
  const t = plan.toolkit;
  o.reporter.progress({
    kind: 'step',
    message: `toolkit ${t.toolkitId} (${t.manifest.tools.map((x) => `${x.name} ${x.version}`).join(', ')}) → s3://${vault.bucket}/${prefix}`,
  });
  const about = {
    toolkitId: t.toolkitId,
    manifestSha256: t.manifestSha256,
    name: t.manifest.name,
    tools: t.manifest.tools,
    target: t.manifest.target,
    source: `s3://${vault.bucket}/${t.prefix}`,
  };
  let copy: CaseToolkitCopy;
  try {
    copy = await copyToolkitToCase(account, vault, t, caseId, {
      onFile: (name, copied) =>
        copied && o.reporter.progress({ kind: 'item', item: t.toolkitId, phase: 'copy', message: name }),
    });
  } catch (e) {
    await custody.record({
      action: 'room.toolkit',
      resources,
      inputs: { toolkit: plan.spec },
      outcome: {
        status: 'failed',
        error: { code: e instanceof CleanroomError ? e.code : 'INTERNAL', message: asError(e).message },
        details: about,
      },
    });
    throw e;
  }
  const files = copy.files.map(({ name, key, sha256, bytes, versionId }) => ({
    name,
    key,
    sha256,
    bytes,
    ...(versionId ? { versionId } : {}),
  }));
  await record({ status: 'succeeded', details: { ...about, bucket: vault.bucket, prefix: copy.prefix, files } });
  return {
    toolkitId: t.toolkitId,
    manifestSha256: t.manifestSha256,
    name: t.manifest.name,
    tools: t.manifest.tools,
    prefix: copy.prefix,
    files: copy.files,
    copied: copy.files.filter((f) => f.copied).length,
  };
}

/** What the room said about its toolkit. */
export interface ToolkitInRoom {
  status: 'installed' | 'mismatch' | 'failed' | 'not-confirmed';
  detail: string;
  /** When the answer was taken (ISO). */
  at: string;
  python?: string;
  tools?: ToolkitTool[];
  commandId?: string;
}

/** The status file's one JSON line (the installer's, or the user data's before and around it). */
interface StatusLine {
  toolkitId?: string;
  status?: string;
  detail?: string;
  python?: string;
  tools?: ToolkitTool[];
}

const CONCLUSIVE = new Set(['installed', 'mismatch', 'failed']);

/** Time budgets of the in-room read (milliseconds). */
export interface ToolkitReadBudgets {
  /** The whole wait for a conclusive answer (the install takes minutes after the instance starts). */
  waitMs: number;
  /** One SSM command. */
  commandMs: number;
}

/**
 * Ask the room for its toolkit status over SSM (AWS-RunShellScript: `cat` of the status file) until
 * it is conclusive or `waitMs` is spent. An instance SSM cannot reach yet, or a status still
 * `installing`, is asked again; an answer with no output, another toolkit's status, or the budget
 * spent is `not-confirmed` with why.
 */
export async function readToolkitInRoom(
  run: GuestCommandRun,
  instanceId: string,
  toolkitId: string,
  budgets: ToolkitReadBudgets,
): Promise<ToolkitInRoom> {
  const at = () => new Date(run.clock.now()).toISOString();
  let last = 'no answer yet';
  try {
    return await waitFor<ToolkitInRoom>(
      async () => {
        const a = await runGuestCommand(run, instanceId, {
          command: `cat ${TOOLKIT_STATUS_FILE} 2>/dev/null || echo '{"status":"absent"}'`,
          comment: `toolkit status of ${toolkitId} (cleanroom room up)`,
          executionTimeoutSeconds: 30,
          budgetMs: budgets.commandMs,
          what: 'the toolkit status read',
        });
        if (a.kind === 'unreachable') {
          last = a.detail;
          return { state: 'pending', detail: a.detail };
        }
        const line = jsonLines<StatusLine>(a.stdout).at(-1);
        if (!line) {
          const detail = `${a.detail}: SSM answered with no status line (an empty answer is no answer)`;
          return { state: 'done', value: { status: 'not-confirmed', detail, at: at(), commandId: a.commandId } };
        }
        if (line.toolkitId !== undefined && line.toolkitId !== toolkitId) {
          const detail = `the room's status file names toolkit ${line.toolkitId}, not ${toolkitId}`;
          return { state: 'done', value: { status: 'not-confirmed', detail, at: at(), commandId: a.commandId } };
        }
        if (line.status && CONCLUSIVE.has(line.status))
          return {
            state: 'done',
            value: {
              status: line.status as ToolkitInRoom['status'],
              detail: line.detail ?? `the room's installer says ${line.status}`,
              at: at(),
              commandId: a.commandId,
              ...(line.python ? { python: line.python } : {}),
              ...(Array.isArray(line.tools) ? { tools: line.tools } : {}),
            },
          };
        last =
          line.status === 'absent'
            ? `${TOOLKIT_STATUS_FILE} is not there yet (the user data has not reached the toolkit)`
            : `the room says ${line.status ?? 'nothing'}${line.detail ? `: ${line.detail}` : ''}`;
        return { state: 'pending', detail: last };
      },
      {
        description: `the toolkit ${toolkitId} on ${instanceId}`,
        budgetMs: budgets.waitMs,
        intervalMs: 10_000,
        maxIntervalMs: 30_000,
        clock: run.clock,
      },
    );
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    return {
      status: 'not-confirmed',
      detail: `${budgets.waitMs > 0 ? `no conclusive answer within ${Math.round(budgets.waitMs / 1000)}s; last: ` : 'not conclusive yet: '}${last}. \`cleanroom room status\` asks again; the instance logs to /var/log/cleanroom-userdata.log.`,
      at: at(),
    };
  }
}

/**
 * Read the room's toolkit status and record it (`room.toolkit.verify`), unless the record already
 * holds a conclusive answer for this instance and toolkit (it stands: nothing is asked again), or
 * the same not-confirmed answer was the last one recorded. Waits up to `budgets.waitMs` for the
 * install to finish — after an earlier not-confirmed, only when the instance is `fresh`.
 */
export async function verifyRoomToolkit(
  run: {
    forensic: AccountCalls<{ ssm: 'sendCommand' | 'getCommandInvocation' }> & Pick<AwsAccount, 'region' | 'accountId'>;
    clock: Clock;
    custody: CustodyRecorder;
    reporter: Reporter;
  },
  o: {
    instanceId: string;
    toolkitId: string;
    manifestSha256?: string;
    budgets: ToolkitReadBudgets;
    /** The instance was just created or replaced: wait for its install even if an earlier run asked in vain. */
    fresh?: boolean;
  },
): Promise<ToolkitInRoom> {
  const mine = (e: RecordedEvent) =>
    e.outcome.details?.['instanceId'] === o.instanceId && e.outcome.details?.['toolkitId'] === o.toolkitId;
  const previous = lastEvent(run.custody, 'room.toolkit.verify', mine);
  const prevResult = previous?.outcome.details?.['result'];
  if (typeof prevResult === 'string' && CONCLUSIVE.has(prevResult))
    return {
      status: prevResult as ToolkitInRoom['status'],
      detail: String(previous!.outcome.details?.['detail'] ?? ''),
      at: previous!.time,
    };
  run.reporter.progress({
    kind: 'step',
    message: `asking ${o.instanceId} whether toolkit ${o.toolkitId} is installed`,
  });
  // Asked before without an answer, and nothing changed since: one read, not another long wait.
  const budgets = prevResult === 'not-confirmed' && !o.fresh ? { ...o.budgets, waitMs: 0 } : o.budgets;
  const answer = await readToolkitInRoom(run, o.instanceId, o.toolkitId, budgets);
  if (answer.status === 'not-confirmed' && prevResult === 'not-confirmed') return answer;
  const accountId = await run.forensic.accountId();
  await run.custody.record({
    action: 'room.toolkit.verify',
    resources: [resourceRef('ec2:instance', o.instanceId, accountId, run.forensic.region)],
    outcome: {
      status: answer.status === 'installed' ? 'succeeded' : answer.status === 'not-confirmed' ? 'partial' : 'failed',
      ...(answer.status === 'mismatch' || answer.status === 'failed'
        ? { error: { code: 'TOOLKIT_NOT_INSTALLED', message: answer.detail } }
        : {}),
      details: {
        instanceId: o.instanceId,
        toolkitId: o.toolkitId,
        ...(o.manifestSha256 ? { manifestSha256: o.manifestSha256 } : {}),
        result: answer.status,
        detail: answer.detail,
        at: answer.at,
        ...(answer.python ? { python: answer.python } : {}),
        ...(answer.tools ? { tools: answer.tools } : {}),
        ...(answer.commandId ? { commandId: answer.commandId } : {}),
      },
    },
  });
  if (answer.status !== 'installed')
    run.reporter.warn(`toolkit ${o.toolkitId} in the room: ${answer.status}: ${answer.detail}`);
  return answer;
}
