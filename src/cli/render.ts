/**
 * The CLI is the only thing that draws. This module renders workflow reporter events on stderr:
 * progress bars on a TTY (cli-progress), plain timestamped lines otherwise; results on stdout as
 * exactly one JSON document with --json, or as human text.
 */
import cliProgress from 'cli-progress';
import type { Reporter, ProgressEvent } from '../domain/reporter.js';
import { CleanroomError, PartialFailureError } from '../domain/errors.js';
import type { EvidencePatch } from '../domain/evidence.js';
import type { RoomInfo } from '../domain/room.js';

export interface RenderOptions {
  json: boolean;
  verbose: boolean;
  tty: boolean;
  stderr: NodeJS.WritableStream;
}

export class StderrReporter implements Reporter {
  private multibar: cliProgress.MultiBar | undefined;
  private bars = new Map<string, cliProgress.SingleBar>();
  constructor(private readonly opts: RenderOptions) {}

  private line(s: string): void {
    if (this.multibar) this.multibar.log(`${s}\n`);
    else this.opts.stderr.write(`${s}\n`);
  }

  /** The last step reported (what an interrupted run says it reached). */
  lastStep: string | undefined;

  progress(e: ProgressEvent): void {
    switch (e.kind) {
      case 'step':
        this.lastStep = e.message;
        this.line(`• ${e.message}`);
        return;
      case 'stack-event':
        this.line(
          `  ${e.time ? `${e.time.slice(11, 19)} ` : ''}${e.logicalId.padEnd(28)} ${e.status}${e.reason ? ` — ${e.reason}` : ''}`,
        );
        return;
      case 'item': {
        if (this.opts.tty && e.percent !== undefined) {
          this.multibar ??= new cliProgress.MultiBar(
            {
              format: ' {item} [{bar}] {percentage}% {phase}',
              hideCursor: true,
              clearOnComplete: false,
              stream: this.opts.stderr as NodeJS.WriteStream,
            },
            cliProgress.Presets.shades_classic,
          );
          let bar = this.bars.get(e.item);
          if (!bar) {
            bar = this.multibar.create(100, 0, { item: e.item.padEnd(22), phase: e.phase });
            this.bars.set(e.item, bar);
          }
          bar.update(Math.round(e.percent), { item: e.item.padEnd(22), phase: e.phase });
        } else {
          this.line(
            `  ${e.item}: ${e.phase}${e.percent !== undefined ? ` ${Math.round(e.percent)}%` : ''}${e.message ? ` — ${e.message}` : ''}`,
          );
        }
        return;
      }
    }
  }
  warn(message: string): void {
    this.line(`warning: ${message}`);
  }
  debug(message: string): void {
    if (this.opts.verbose) this.line(`  [debug] ${message}`);
  }
  /** Stop any progress bars before the final output. */
  close(): void {
    this.multibar?.stop();
    this.multibar = undefined;
    this.bars.clear();
  }
}

/** Render a failure for a person (stderr) or a script (--json: one document on stdout). */
export function renderError(e: unknown, opts: RenderOptions, stdout: NodeJS.WritableStream): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = err instanceof CleanroomError ? err.code : 'INTERNAL';
  const exitCode = err instanceof CleanroomError ? err.exitCode : 1;
  const message = err instanceof CleanroomError || err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
  const failures =
    err instanceof PartialFailureError
      ? err.failures.map((f) => ({ item: f.item, message: f.error.message, code: (f.error as CleanroomError).code }))
      : undefined;
  if (opts.json) {
    stdout.write(
      `${JSON.stringify({ error: { code, message, ...(err instanceof CleanroomError ? { details: err.details } : {}), ...(failures ? { failures } : {}) } }, null, 2)}\n`,
    );
  }
  opts.stderr.write(`error: ${message}\n`);
  if (failures) for (const f of failures) opts.stderr.write(`  - ${f.item}: ${f.message}\n`);
  if (opts.verbose && err.cause) opts.stderr.write(`  cause: ${(err.cause as Error)?.stack ?? String(err.cause)}\n`);
  if (!(err instanceof CleanroomError)) {
    // An unexpected error (a bug): one line for the user; the stack only with --verbose.
    if (opts.verbose) opts.stderr.write(`${err.stack ?? ''}\n`);
    else opts.stderr.write('This is a bug in cleanroom: run again with --verbose for the details to report.\n');
  }
  return exitCode;
}

/** A table for human output. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Human rendering of `{ok, checks:[{id, ok, detail}]}` audits. */
export function renderChecks(
  checks: ReadonlyArray<{ id: string; ok: boolean; detail: string; severity?: string }>,
): string {
  return checks
    .map((c) => `${c.ok ? 'PASS' : c.severity === 'warning' ? 'WARN' : 'FAIL'}  ${c.id.padEnd(34)} ${c.detail}`)
    .join('\n');
}

/** The acquisition SHA-256, short (16 hex digits), and how the source snapshot's compares. */
function shortHash(e: EvidencePatch): string {
  if (!e.sha256) return '-';
  const source = e.sourceHash?.status;
  const vs = source === 'different' ? 'DIFFERENT' : source === 'equal' ? '= source' : (source ?? '');
  return `${e.sha256.slice(0, 16)}…${vs ? ` (${vs})` : ''}`;
}

/** Human table of evidence items. */
export function evidenceTable(items: ReadonlyArray<EvidencePatch & { drift?: string }>): string {
  if (items.length === 0) return '(no evidence)';
  const rows = [
    [
      'EVIDENCE',
      'SOURCE',
      'FORENSIC SNAPSHOT',
      'SHA-256 (SOURCE)',
      'VOLUME',
      'DEVICE',
      'STATE',
      'READ-ONLY',
      'IN-ROOM SHA-256',
    ],
  ];
  for (const e of items) {
    rows.push([
      e.evidenceId,
      `${e.sourceAccount ?? '?'}/${e.sourceRegion ?? '?'} ${e.sourceVolumeId ?? '?'}${e.sourceInstanceId ? ` (${e.sourceInstanceId}${e.sourceDevice ? ` ${e.sourceDevice}` : ''})` : ''}`,
      e.forensicSnapshotId ?? '-',
      shortHash(e),
      e.volumeId ?? '-',
      e.device ? `${e.device}${e.guestDevice ? ` → ${e.guestDevice}` : ''}` : '-',
      `${e.state ?? '?'}${e.drift ? ` (! ${e.drift})` : ''}`,
      e.readOnly ?? '-',
      e.inRoomHash ?? '-',
    ]);
  }
  return table(rows);
}

/** The memory images of a case (`evidence list`): kind, size, the read-back SHA-256, where in the vault. */
export function memoryTable(items: ReadonlyArray<EvidencePatch>): string {
  const rows = [['EVIDENCE', 'KIND', 'SOURCE', 'SIZE (BYTES)', 'SHA-256 (READ BACK)', 'HOST SHA-256', 'KEY', 'STATE']];
  for (const e of items)
    rows.push([
      e.evidenceId,
      'memory',
      `${e.sourceAccount ?? '?'}/${e.sourceRegion ?? '?'} ${e.sourceInstanceId ?? '?'}`,
      String(e.memory?.sizeBytes ?? e.sizeBytes ?? '?'),
      e.memory?.sha256 ?? e.sha256 ?? '-',
      e.memory ? (e.memory.match ? 'equal' : `DIFFERENT (${e.memory.guestSha256 || 'none'})`) : '-',
      e.memory?.key ?? '-',
      e.state ?? '?',
    ]);
  return table(rows);
}

/** The contract's JSON for `room up` / `room status`: every contract field present (null when unknown). */
export function roomJson(info: Pick<RoomInfo, 'case' | 'stackName'> & Partial<RoomInfo>): Record<string, unknown> {
  const contract = [
    'case',
    'stackName',
    'stackStatus',
    'vpcId',
    'subnetId',
    'availabilityZone',
    'instanceId',
    'forensicsSecurityGroupId',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const f of contract) out[f] = info[f] ?? null;
  for (const [k, v] of Object.entries(info)) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
}
