/**
 * `cleanroom case close`: tear the room down, keep the evidence, seal the record (see
 * `workflows/close/index.ts`). The command wires the forensic account, the case's custody record, the
 * record's verification and the vault audit, the source account (for the temporary sharing key
 * and sharing copies acquisition made there), and the confirmation that lists what will be deleted
 * and what kept.
 *
 * Exit codes: 0 closed (or already closed); 2 bad usage, an unknown case, no confirmation; 3 the
 * custody record or the vault fails verification (nothing changed), or a working volume was found
 * written to; 1 the close is incomplete (what is left is named) or an AWS call failed.
 */
import type { Argv } from 'yargs';
import type { CommandResult, HostIo } from '../host.js';
import type { CliContext, GlobalArgs, SourceArgs } from '../context.js';
import { handle, numberOption, withBucket, withCase, withSource } from './common.js';
import { table } from '../render.js';
import { PartialFailureError } from '../../domain/errors.js';
import { checkCloseOptions, closeCase, type CloseOptions, type CloseResult } from '../../workflows/close/index.js';
import { resolveVaultBucket } from '../../workflows/vault/index.js';
import { auditVault } from '../../custody/vault/audit.js';
import { verifyCaseInVault } from '../../custody/verify-vault.js';
import { checkRegion } from '../../aws/region.js';

interface CloseArgs extends GlobalArgs, SourceArgs {
  case: string;
  bucket?: string;
  snapshotLockDays?: number;
  snapshotLockMode?: 'governance' | 'compliance';
  keyDeletionWindowDays?: number;
  acceptWritten: boolean;
  acceptUnverified: boolean;
  waitMinutes?: number;
}

/** The JSON document: the contract's fields first, then the detail. */
export function closeJson(r: CloseResult) {
  return {
    case: r.case,
    roomDeleted: r.roomDeleted,
    volumesDeleted: r.volumesDeleted,
    evidenceRetained: r.evidenceRetained,
    head: r.head,
    closed: r.alreadyClosed || !r.incomplete,
    alreadyClosed: r.alreadyClosed,
    incomplete: r.incomplete,
    outstanding: r.outstanding,
    kept: r.kept,
    writtenChecks: r.writtenChecks,
    locks: r.locks,
    keys: r.keys,
    sharingCopies: r.sharingCopies,
    unreachable: r.unreachable,
    ...(r.stack ? { stack: r.stack } : {}),
    failures: r.failures,
    warnings: r.warnings,
  };
}

function headText(head: unknown): string {
  const h = head as { seq?: number; hash?: string } | null;
  return h && typeof h.seq === 'number' ? `#${h.seq} ${h.hash ?? ''}`.trim() : '-';
}

export function closeText(r: CloseResult): string {
  if (r.alreadyClosed) {
    return [
      `Case ${r.case} is already closed: nothing was done and nothing was appended. The record verifies, head ${headText(r.head)}.`,
      ...(r.kept.length ? ['Kept at close:', table(r.kept.map((k) => [k.kind, k.id]))] : []),
    ].join('\n');
  }
  const lines: string[] = [];
  lines.push(
    r.incomplete
      ? `Case ${r.case}: close INCOMPLETE — ${r.outstanding.length} thing(s) left; the case is not closed (no closing event). Run \`cleanroom case close --case ${r.case}\` again once they are dealt with:`
      : `Case ${r.case} closed. The record verifies, head ${headText(r.head)}.`,
  );
  if (r.incomplete) for (const o of r.outstanding) lines.push(`  - ${o}`);
  lines.push(
    `Room: ${r.stack?.alreadyGone ? 'already gone' : r.roomDeleted ? `stack ${r.stack?.stackName ?? ''} deleted (DELETE_COMPLETE)` : `stack ${r.stack?.stackName ?? ''} NOT deleted`}.`,
  );
  for (const f of r.stack?.failedResources ?? [])
    lines.push(
      `  would not delete: ${f.logicalId}${f.physicalId ? ` (${f.physicalId})` : ''}${f.type ? ` ${f.type}` : ''}${f.reason ? ` — ${f.reason}` : ''}`,
    );
  lines.push(`Working volumes deleted: ${r.volumesDeleted.length ? r.volumesDeleted.join(', ') : 'none'}.`);
  for (const c of r.writtenChecks) {
    const verdict =
      c.identical === true
        ? 'unchanged'
        : c.identical === false
          ? `WRITTEN TO (${c.changedBlocks ?? '?'} block(s) differ)`
          : `NOT VERIFIED (${c.reason ?? 'unavailable'})`;
    lines.push(
      `  written-to check of ${c.volumeId} (${c.evidenceId}) against ${c.evidenceSnapshotId ?? '?'}: ${verdict} [${c.method}]`,
    );
  }
  for (const k of r.keys)
    lines.push(
      `Temporary key ${k.arn}${k.aliases.length ? ` (${k.aliases.join(', ')})` : ''}: ${k.status === 'failed' ? 'NOT scheduled (see failures)' : `pending deletion${k.deletionDate ? ` on ${k.deletionDate}` : ''}`}.`,
    );
  for (const s of r.sharingCopies)
    lines.push(
      `Sharing copy ${s.snapshotId} (${s.evidenceId}) in account ${s.account}: ${s.status === 'deleted' ? 'deleted' : s.status === 'already-gone' ? 'already gone' : `KEPT — ${s.reason ?? ''}`}.`,
    );
  for (const u of r.unreachable)
    lines.push(`NOT REACHED: ${u.what} in account ${u.account ?? '?'}${u.region ? ` (${u.region})` : ''} — ${u.why}`);
  if (r.kept.length) {
    lines.push('Kept:');
    lines.push(table([['KIND', 'ID', 'WHERE', 'WHY'], ...r.kept.map((k) => [k.kind, k.id, k.where, k.why])]));
  }
  return lines.join('\n');
}

export function caseCommands(y: Argv, io: HostIo): Argv {
  return y.command('case', 'the life of a case: close', (c) =>
    c
      .command(
        'close',
        'close a case: detach and delete the working volumes (after proving they were not written to), retain the evidence snapshots, delete the room, retire temporary keys, seal the record',
        closeArgs,
        handle<CloseArgs, unknown>(io, runClose),
      )
      .demandCommand(1, 'Name a case command: close.'),
  );
}

/** The options of `case close`. */
function closeArgs(x: Argv) {
  return withSource(withBucket(withCase(x)))
    .option(
      'snapshot-lock-days',
      numberOption(
        {
          flag: '--snapshot-lock-days',
          unit: 'days',
          integer: true,
          min: 1,
          max: 36500,
          code: 'INVALID_LOCK_DAYS',
        },
        'also lock the evidence snapshots for this many days (EBS snapshot lock, 1–36500)',
      ),
    )
    .option('snapshot-lock-mode', {
      type: 'string',
      choices: ['governance', 'compliance'] as const,
      describe: 'EBS snapshot lock mode (default governance)',
    })
    .option(
      'key-deletion-window-days',
      numberOption(
        {
          flag: '--key-deletion-window-days',
          unit: 'days',
          integer: true,
          min: 7,
          max: 30,
          code: 'INVALID_KEY_WINDOW',
        },
        'KMS pending window for the temporary keys, 7–30 (default 30)',
      ),
    )
    .option('accept-written', {
      type: 'boolean',
      default: false,
      describe: 'delete a working volume even though it was found written to (it is kept otherwise)',
    })
    .option('accept-unverified', {
      type: 'boolean',
      default: false,
      describe: 'delete a working volume even though the written-to check could not run (it is kept otherwise)',
    })
    .option(
      'wait-minutes',
      numberOption(
        { flag: '--wait-minutes', unit: 'minutes', min: 0, code: 'INVALID_BUDGET' },
        'time budget of each wait: detach, volume deletion, stack deletion (default: 10, 10, 60); a check snapshot waits up to 6 hours unless this is set',
      ),
    )
    .example(
      '$0 case close --case IR-2026-0142 --source-role-arn arn:aws:iam::111111111111:role/IncidentResponder --yes',
      'close a case whose evidence came from another account',
    );
}

/** `case close`: the library's close, its result printed as the contract says (exit 1 incomplete, 3 written to). */
async function runClose(ctx: CliContext, a: CloseArgs): Promise<CommandResult<unknown>> {
  // Bad input is refused before any AWS call (checkCloseOptions: the library's own checks).
  const caseId = a.case;
  const options: CloseOptions = {
    caseId,
    acceptWritten: a.acceptWritten,
    acceptUnverified: a.acceptUnverified,
    ...(a.snapshotLockDays !== undefined ? { snapshotLockDays: a.snapshotLockDays } : {}),
    ...(a.snapshotLockMode ? { snapshotLockMode: a.snapshotLockMode } : {}),
    ...(a.keyDeletionWindowDays !== undefined ? { keyDeletionWindowDays: a.keyDeletionWindowDays } : {}),
    ...(a.waitMinutes !== undefined ? { budgets: waitBudgets(a.waitMinutes) } : {}),
    signal: ctx.abort.signal,
  };
  checkCloseOptions(options);
  const account = await ctx.forensicAccount();
  await checkRegion(account);
  const bucket = await resolveVaultBucket(account, a.bucket);
  // Opening the record audits the vault (exit 2 without one, 3 when it fails the audit).
  const custody = await ctx.custody(caseId, bucket, { use: 'change', command: 'case close' });
  const source = await ctx.sourceAccount(a);
  const r = await closeCase(
    {
      account,
      ...(source !== account ? { sourceAccounts: [source] } : {}),
      custody,
      verifyCustody: () => verifyCaseInVault(account, { caseId, bucket, reporter: ctx.reporter }),
      auditVault: () => auditVault(account, bucket),
      approve: (request) => {
        if (ctx.args.yes && !ctx.args.json)
          ctx.reporter.progress({ kind: 'step', message: `${request.question}\n(--yes: going ahead)` });
        return ctx.approve(request);
      },
      reporter: ctx.reporter,
      clock: ctx.clock,
    },
    options,
  ).catch((e: unknown) => {
    // An incomplete close: the contract prints its result, exit 1 (3 when a volume was written to).
    if (e instanceof PartialFailureError && e.result) return e.result as CloseResult;
    throw e;
  });
  const written = r.writtenChecks.some((w) => w.identical === false) && r.incomplete;
  return {
    data: closeJson(r),
    text: closeText(r),
    ...(written ? { exitCode: 3 } : r.incomplete ? { exitCode: 1 } : {}),
  };
}

function waitBudgets(minutes: number) {
  const ms = minutes * 60_000;
  return { detachMs: ms, deleteVolumeMs: ms, stackMs: ms, snapshotMs: ms };
}
