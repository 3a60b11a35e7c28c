/**
 * `cleanroom memory capture`: the memory of a running Linux instance into the vault (see
 * `workflows/memory`). The host opens the source account (as isolate does) and the case's record in
 * the forensic account's vault; `--dry-run` reads the record but writes nothing.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { CliContext, GlobalArgs, SourceArgs } from '../context.js';
import { handle, withBucket, withCase, withSource } from './common.js';
import { captureMemory, type MemoryCaptureResult } from '../../workflows/memory/index.js';

interface CaptureArgs extends GlobalArgs, SourceArgs {
  case: string;
  instance: string;
  bucket?: string;
  dryRun: boolean;
}

/** The source options as given (none: the forensic account itself). */
export function sourceOf(a: SourceArgs): SourceArgs {
  return {
    ...(a.sourceProfile ? { sourceProfile: a.sourceProfile } : {}),
    ...(a.sourceRoleArn ? { sourceRoleArn: a.sourceRoleArn } : {}),
    ...(a.sourceRegion ? { sourceRegion: a.sourceRegion } : {}),
  };
}

/** Run a capture as the CLI does (also isolate --capture-memory's). */
export async function runCapture(
  ctx: CliContext,
  a: { case: string; instance: string; bucket?: string; dryRun: boolean } & SourceArgs,
): Promise<MemoryCaptureResult> {
  const source = await ctx.sourceAccount(sourceOf(a));
  const forensic = await ctx.forensicAccount();
  const r = await captureMemory(
    {
      source,
      forensic,
      // A dry run reads the vault's settings through the record and writes nothing: no lease, and a
      // case not started yet is fine (the plan may be the case's first look).
      custody: () =>
        ctx.custody(
          a.case,
          a.bucket,
          a.dryRun
            ? { use: 'append', command: 'memory capture --dry-run', mayStart: true }
            : { use: 'start', command: 'memory capture' },
        ),
      reporter: ctx.reporter,
      clock: ctx.clock,
    },
    { caseId: a.case, instanceId: a.instance, dryRun: a.dryRun, signal: ctx.abort.signal },
  );
  const { seal: _seal, ...data } = r;
  return data;
}

/** Add `capture` to the `memory` group. */
export function memoryCaptureCommand(m: Argv, io: HostIo): Argv {
  return m.command(
    'capture',
    "capture a running Linux instance's memory with AVML over SSM into the vault (presigned part URLs, no credential on the host); read back for the authoritative SHA-256 — each step a custody event",
    (c) =>
      withSource(withBucket(withCase(c)))
        .option('instance', { type: 'string', demandOption: true, describe: 'the instance (i-...)' })
        .option('dry-run', {
          type: 'boolean',
          default: false,
          describe: 'print every call, in order; make nothing and record nothing',
        }),
    handle<CaptureArgs, MemoryCaptureResult>(io, async (ctx, a) => {
      const data = await runCapture(ctx, { ...a, dryRun: a.dryRun });
      return { data, text: captureText(data) };
    }),
  );
}

/** The human rendering of a capture (or its plan). */
export function captureText(r: MemoryCaptureResult): string {
  const where = `${r.instanceId} (account ${r.sourceAccount}, ${r.region}, ${r.instanceType}, ${gib(r.memoryBytes)} of memory)`;
  const lines: string[] = [];
  const plan = `${r.partCount} part URLs of ${mib(r.partSize)}, ${r.budget.executionSeconds} s on the host (at ${mib(r.budget.assumedBytesPerSecond)}/s), URLs valid ${r.budget.urlSeconds} s`;
  if (r.dryRun) {
    lines.push(
      `Plan to capture the memory of ${where} for case ${r.case} — dry run: nothing is made and nothing is recorded.`,
    );
    lines.push(
      `  image ${r.key}`,
      `  tool  ${r.tool ? `AVML ${r.tool.version} (sha256 ${r.tool.sha256})` : 'none published yet: `cleanroom memory tools --avml FILE` first'}`,
      `  ${plan}`,
    );
    for (const w of r.warnings) lines.push(`  ! ${w}`);
    (r.calls ?? []).forEach((c, i) => {
      lines.push(`${String(i + 1).padStart(2)}. ${c.call} ${JSON.stringify(c.input)}\n      — ${c.why}`);
    });
    return lines.join('\n');
  }
  const img = r.image;
  lines.push(`Captured the memory of ${where} for case ${r.case}.`);
  for (const u of r.staleUploads) lines.push(`  aborted the stale upload ${u.uploadId} of ${u.key}`);
  if (img) {
    lines.push(
      `  evidence  ${r.evidenceId} (memory)`,
      `  key       ${img.key} (version ${img.versionId})`,
      `  size      ${img.sizeBytes} bytes`,
      `  sha256    ${img.sha256} (read back from the vault)`,
      `  host said ${img.guestSha256} — ${img.match ? 'equal' : 'DIFFERENT'}`,
      `  tool      ${img.tool} ${img.toolVersion}; kernel ${img.kernelRelease ?? '?'}; MemTotal ${img.memTotalKiB ?? '?'} KiB; SSM command ${img.commandId ?? '?'}`,
    );
  }
  lines.push(`Next: isolate it (cleanroom isolate --case ${r.case} --instance ${r.instanceId}).`);
  return lines.join('\n');
}

function mib(n: number): string {
  return `${Math.round(n / 2 ** 20)} MiB`;
}
function gib(n: number): string {
  return `${(n / 2 ** 30).toFixed(1)} GiB`;
}
