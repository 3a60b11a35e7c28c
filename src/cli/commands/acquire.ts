/**
 * `cleanroom acquire`: evidence from a compromised instance (or named volumes) in a source account,
 * preserved under the case key in the forensic account and attached read-only to the room.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs, SourceArgs } from '../context.js';
import { budgetsFrom, handle, numberOption, withBucket, withBudgets, withCase, withSource } from './common.js';
import { acquireEvidence, checkAcquireOptions } from '../../workflows/acquire/index.js';
import { roomGate } from '../../workflows/room/index.js';
import { evidenceJson, type EvidencePatch } from '../../domain/evidence.js';
import { evidenceTable } from '../render.js';

interface AcquireArgs extends GlobalArgs, SourceArgs {
  case: string;
  bucket?: string;
  instance?: string[];
  volume?: string[];
  attach: boolean;
  sourceKmsKey?: string;
  sourceHash: boolean;
  concurrency?: number;
  budgetMinutes?: number;
  budgetMinutesPerGib?: number;
  readonlyCheckSeconds?: number;
}

export function acquireCommands(y: Argv, io: HostIo): Argv {
  return y.command(
    'acquire',
    'snapshot a compromised instance (or volumes), copy the evidence into the forensic account under the case key, and attach it read-only to the room',
    (c) =>
      withBudgets(withSource(withBucket(withCase(c))))
        .option('instance', {
          type: 'string',
          array: true,
          describe: 'instance whose volumes to take, all at once (crash-consistent); repeatable',
        })
        .option('volume', { type: 'string', array: true, describe: 'volume to take; repeatable' })
        .option('attach', {
          type: 'boolean',
          default: true,
          describe:
            'attach to the forensic instance (--no-attach: stop at the working volume, or at the snapshot when the room is not up)',
        })
        .option('source-kms-key', {
          type: 'string',
          describe:
            'customer managed key (ARN) in the source account the forensic account may use, instead of a temporary sharing key',
        })
        .option('source-hash', {
          type: 'boolean',
          default: true,
          describe:
            'hash the source snapshot in the source account too and compare it with the forensic copy (--no-source-hash: hash only the forensic copy)',
        })
        .option(
          'concurrency',
          numberOption(
            {
              flag: '--concurrency',
              unit: 'volumes in flight',
              integer: true,
              min: 1,
              max: 500,
              code: 'INVALID_CONCURRENCY',
            },
            'volumes in flight at once (default 32)',
          ),
        )
        .example(
          '$0 acquire --case IR-2026-0142 --instance i-0abc… --source-role-arn arn:aws:iam::111111111111:role/IncidentResponder',
          'take every volume of a compromised instance from another account',
        ),
    handle<AcquireArgs, unknown>(io, async (ctx, a) => {
      // Bad input is refused before any AWS call (opening the custody record audits the vault).
      const options = {
        caseId: a.case,
        instanceIds: a.instance ?? [],
        volumeIds: a.volume ?? [],
        attach: a.attach,
        ...(a.sourceKmsKey ? { sourceKmsKeyArn: a.sourceKmsKey } : {}),
        sourceHash: a.sourceHash,
        ...(a.concurrency !== undefined ? { concurrency: a.concurrency } : {}),
        budgets: budgetsFrom(a),
      };
      checkAcquireOptions(options);
      const forensic = await ctx.forensicAccount();
      const source = await ctx.sourceAccount(a);
      const custody = await ctx.custody(a.case, a.bucket, { use: 'start', command: 'acquire' });
      const r = await acquireEvidence(
        {
          forensic,
          source,
          custody,
          room: roomGate(forensic),
          reporter: ctx.reporter,
          clock: ctx.clock,
          sourceInRegion: (region) => ctx.sourceAccount({ ...a, sourceRegion: region }),
        },
        { ...options, signal: ctx.abort.signal },
      );
      const writable = r.readOnly.filter((x) => x.status === 'writable');
      const notConfirmed = r.readOnly.filter((x) => x.status === 'not-confirmed');
      const mismatched = r.roomHash.filter((x) => x.status === 'MISMATCH');
      const verified = r.roomHash.filter((x) => x.status === 'verified');
      const text = [
        evidenceTable(r.evidence),
        '',
        `${r.evidence.length} evidence item(s) of case ${r.case} preserved under the case key${r.readOnly.length ? `; read-only inside the room: ${r.readOnly.length - writable.length - notConfirmed.length} confirmed, ${notConfirmed.length} NOT confirmed, ${writable.length} WRITABLE` : ''}.`,
        hashSummary(r.evidence),
        ...(r.roomHash.length
          ? [
              `SHA-256 read inside the room against the acquisition hash: ${verified.length} verified, ${r.roomHash.length - verified.length - mismatched.length} NOT confirmed, ${mismatched.length} MISMATCH.`,
            ]
          : []),
        ...(r.sharing
          ? [
              `Sharing key ${r.sharing.keyArn}: ${r.sharing.owner === 'responder' ? 'yours, left as it is' : r.sharing.retired ? 'retired (scheduled for deletion in 7 days)' : 'kept for now (see the warning above)'}.`,
            ]
          : []),
        'On the forensic instance, evidence disks are NVMe devices found by volume id: mount with `sudo cleanroom-mount-evidence --by-volume-id <volume id> <dir>` (read-only, noload/norecovery).',
      ].join('\n');
      return {
        data: {
          case: r.case,
          evidence: r.evidence.map(evidenceJson),
          readOnly: r.readOnly,
          roomHash: r.roomHash,
          ...(r.sharing ? { sharing: r.sharing } : {}),
          warnings: r.warnings,
        },
        text,
        ...(writable.length || mismatched.length ? { exitCode: 3 } : {}),
      };
    }),
  );
}

/** One line on the acquisition hashes: how many are recorded, and how the source snapshots compare. */
function hashSummary(items: readonly EvidencePatch[]): string {
  const hashed = items.filter((e) => e.sha256);
  const by = (s: string) => hashed.filter((e) => e.sourceHash?.status === s).length;
  const parts = [
    ['equal', by('equal')],
    ['DIFFERENT', by('different')],
    ['unavailable', by('unavailable')],
    ['not hashed (--no-source-hash)', by('skipped')],
  ].filter(([, n]) => n);
  return `Content hashes (SHA-256 of the whole disk, EBS direct) recorded for ${hashed.length} of ${items.length} item(s)${parts.length ? `; source snapshot ${parts.map(([w, n]) => `${w}: ${n}`).join(', ')}` : ''}. Recompute any time: \`cleanroom evidence hash --case <case> --all\`.`;
}
