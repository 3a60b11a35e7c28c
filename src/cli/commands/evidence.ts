/**
 * `cleanroom evidence list|attach|detach`: the evidence items of a case, from its custody record
 * checked against AWS; attach one to the room (read-only confirmed inside) or detach it.
 */
import type { Argv } from 'yargs';
import type { CommandResult, HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { budgetsFrom, handle, withBucket, withBudgets, withCase } from './common.js';
import { evidenceTable, memoryTable } from '../render.js';
import { evidenceJson } from '../../domain/evidence.js';
import { UsageError } from '../../domain/errors.js';
import { checkOutFile } from '../../custody/out-path.js';
import {
  attachEvidence,
  checkEvidenceHashOptions,
  checkEvidenceId,
  hashEvidence,
  detachEvidence,
  exportEvidence,
  listEvidence,
  type EvidenceDeps,
  type EvidenceOptions,
} from '../../workflows/evidence/index.js';
import { roomGate } from '../../workflows/room/index.js';

interface ListArgs extends GlobalArgs {
  case: string;
  bucket?: string;
}

interface HashArgs extends ListArgs {
  evidence?: string;
  all?: boolean;
  budgetMinutes?: number;
  budgetMinutesPerGib?: number;
}

interface ItemArgs extends ListArgs {
  evidence: string;
  budgetMinutes?: number;
  budgetMinutesPerGib?: number;
  readonlyCheckSeconds?: number;
}

interface ExportArgs extends ListArgs {
  evidence: string;
  toVault?: boolean;
  out?: string;
  force?: boolean;
}

/** `evidence export`: the target checked before any AWS call (an existing --out file without --force: exit 2). */
function onExport(io: HostIo) {
  return handle<ExportArgs, unknown>(io, async (ctx, a) => {
    checkEvidenceId(a.case, a.evidence);
    if (a.force && a.out === undefined)
      throw new UsageError('CONFLICTING_OPTIONS', '--force is for --out FILE (it replaces an existing file).', {
        details: { options: ['--force', '--to-vault'] },
      });
    if (a.out !== undefined) checkOutFile(a.out, '--out', { force: a.force === true });
    const forensic = await ctx.forensicAccount();
    const custody = await ctx.custody(a.case, a.bucket, { use: 'change', command: 'evidence export' });
    const r = await exportEvidence(
      { forensic, custody, vault: custody.vaultTarget, reporter: ctx.reporter },
      {
        caseId: a.case,
        evidenceId: a.evidence,
        target: a.out !== undefined ? { kind: 'file', path: a.out, force: a.force === true } : { kind: 'vault' },
        signal: ctx.abort.signal,
      },
    );
    const x = r.export;
    const text = [
      `Exported ${r.evidenceId} to ${x.location}`,
      `  SHA-256   ${x.sha256} (equal to the acquisition hash in the record)`,
      `  size      ${x.sizeBytes} bytes${x.partSize ? ` in parts of ${x.partSize} bytes` : ''}`,
      ...(x.versionId ? [`  version   ${x.versionId}`] : []),
      ...(x.retainUntil ? [`  retained  until ${x.retainUntil} (Object Lock)`] : []),
      ...(r.resumed
        ? [
            r.resumed.foundCompleted
              ? '  an earlier run had completed the upload; it was checked against the snapshot and recorded now'
              : `  taken up from an earlier run: ${r.resumed.partsKept} part(s) kept after checking their SHA-256`,
          ]
        : []),
    ].join('\n');
    return {
      data: { case: r.case, evidenceId: r.evidenceId, export: x, resumed: r.resumed ?? null, warnings: r.warnings },
      text,
    };
  });
}

/** The handler of `evidence attach|detach`: input checked before any AWS call, then the workflow. */
function onItem(
  io: HostIo,
  command: string,
  run: (deps: Omit<EvidenceDeps, 'room'>, o: EvidenceOptions) => Promise<CommandResult<unknown>>,
) {
  return handle<ItemArgs, unknown>(io, async (ctx, a) => {
    checkEvidenceId(a.case, a.evidence);
    const budgets = budgetsFrom(a);
    const forensic = await ctx.forensicAccount();
    const custody = await ctx.custody(a.case, a.bucket, { use: 'change', command });
    return run(
      { forensic, custody, reporter: ctx.reporter, clock: ctx.clock },
      { caseId: a.case, evidenceId: a.evidence, budgets, signal: ctx.abort.signal },
    );
  });
}

export function evidenceCommands(y: Argv, io: HostIo): Argv {
  const item = <T>(c: Argv<T>) =>
    withBudgets(withBucket(withCase(c))).option('evidence', {
      type: 'string',
      demandOption: true,
      describe: 'evidence id (see evidence list)',
    });
  return y.command('evidence', 'the evidence items of a case', (v) =>
    v
      .command(
        'list',
        'list the evidence of a case (custody record, checked against AWS)',
        (c) => withBucket(withCase(c)),
        handle<ListArgs, unknown>(io, async (ctx, a) => {
          const forensic = await ctx.forensicAccount();
          const custody = await ctx.custody(a.case, a.bucket, { use: 'read' });
          const r = await listEvidence({ forensic, custody }, { caseId: a.case });
          const disks = r.evidence.filter((e) => e.kind !== 'memory');
          const memory = r.evidence.filter((e) => e.kind === 'memory');
          const text =
            memory.length === 0
              ? evidenceTable(r.evidence)
              : `${disks.length ? `${evidenceTable(disks)}\n\n` : ''}Memory images:\n${memoryTable(memory)}`;
          return { data: { case: r.case, evidence: r.evidence.map(evidenceJson) }, text };
        }),
      )
      .command(
        'attach',
        'attach an evidence item to the forensic instance (a working volume from its forensic snapshot; read-only confirmed inside)',
        item,
        onItem(io, 'evidence attach', async (deps, o) => {
          const r = await attachEvidence({ ...deps, room: roomGate(deps.forensic) }, o);
          const text = `${evidenceTable([r.evidence])}\n\nRead-only inside ${r.evidence.instanceId}: ${r.readOnly.status.toUpperCase()} — ${r.readOnly.detail}\nSHA-256 inside ${r.evidence.instanceId}: ${r.roomHash.status.toUpperCase()} — ${r.roomHash.detail}`;
          return {
            data: {
              case: r.case,
              evidence: [evidenceJson(r.evidence)],
              readOnly: r.readOnly,
              roomHash: r.roomHash,
              warnings: r.warnings,
            },
            text,
            ...(r.readOnly.status === 'writable' || r.roomHash.status === 'MISMATCH' ? { exitCode: 3 } : {}),
          };
        }),
      )
      .command(
        'detach',
        'detach an evidence item from the forensic instance (unmount it inside first); the evidence snapshot is unaffected',
        item,
        onItem(io, 'evidence detach', async (deps, o) => {
          const r = await detachEvidence(deps, o);
          const text = `${evidenceTable([r.evidence])}\n\n${r.detached ? `Detached ${r.evidence.volumeId}.` : `${r.evidence.volumeId} was not attached: nothing changed.`}`;
          return {
            data: { case: r.case, evidence: [evidenceJson(r.evidence)], detached: r.detached, warnings: r.warnings },
            text,
          };
        }),
      )
      .command(
        'hash',
        'recompute the content hash (SHA-256, Merkle root) of evidence from its forensic snapshot and compare it with the acquisition hash in the record (exit 3 when different)',
        (c) =>
          withBudgets(withBucket(withCase(c)))
            .option('evidence', { type: 'string', describe: 'evidence id (see evidence list)' })
            .option('all', { type: 'boolean', describe: 'every preserved evidence item of the case' }),
        handle<HashArgs, unknown>(io, async (ctx, a) => {
          const options = {
            caseId: a.case,
            ...(a.evidence !== undefined ? { evidenceId: a.evidence } : {}),
            ...(a.all ? { all: true } : {}),
            budgets: budgetsFrom(a),
          };
          checkEvidenceHashOptions(options);
          if (a.evidence !== undefined) checkEvidenceId(a.case, a.evidence);
          const forensic = await ctx.forensicAccount();
          const custody = await ctx.custody(a.case, a.bucket, { use: 'change', command: 'evidence hash' });
          const r = await hashEvidence(
            { forensic, custody, reporter: ctx.reporter, clock: ctx.clock },
            { ...options, signal: ctx.abort.signal },
          );
          const text = r.checks
            .map((c) =>
              [
                `${c.evidenceId}  ${c.snapshotId}  ${c.result === 'equal' ? 'EQUAL to the acquisition hash' : c.result === 'different' ? 'DIFFERENT from the acquisition hash' : 'no acquisition hash recorded'}`,
                `  sha256      ${c.computed.sha256}${c.recorded ? `  (recorded ${c.recorded.sha256}${c.recorded.hashedAt ? ` at ${c.recorded.hashedAt}` : ''})` : ''}`,
                `  merkleRoot  ${c.computed.merkleRoot}`,
                `  ${c.computed.sizeBytes} bytes, ${c.computed.blocksRead} block(s) read, hashed at ${c.computed.hashedAt} by ${c.computed.hashTool.name} ${c.computed.hashTool.version} (${c.computed.hashTool.method})`,
              ].join('\n'),
            )
            .join('\n');
          return {
            data: {
              case: r.case,
              ok: r.ok,
              evidence: r.checks.map((c) => ({
                evidenceId: c.evidenceId,
                result: c.result,
                ...c.computed,
                recorded: c.recorded,
              })),
              warnings: r.warnings,
            },
            text,
            ...(r.ok ? {} : { exitCode: 3 }),
          };
        }),
      )
      .command(
        'export',
        "export an evidence item's raw disk image into the vault (--to-vault) or a local sparse file (--out FILE); its SHA-256 must equal the acquisition hash",
        (c) =>
          withBucket(withCase(c))
            .option('evidence', { type: 'string', demandOption: true, describe: 'evidence id (see evidence list)' })
            .option('to-vault', {
              type: 'boolean',
              describe: 'into the vault as cases/<case>/images/<evidence>.raw (multipart, resumable, Object Lock)',
            })
            .option('out', { type: 'string', describe: 'into this local file (sparse; refused if it exists)' })
            .option('force', { type: 'boolean', describe: 'with --out: replace an existing file' })
            .conflicts('to-vault', 'out')
            .check((v) => {
              if (!v.toVault && v.out === undefined) throw new Error('Give --to-vault or --out FILE.');
              return true;
            }),
        onExport(io),
      )
      .demandCommand(1, 'Name an evidence command: list, attach, detach, hash or export.'),
  );
}
