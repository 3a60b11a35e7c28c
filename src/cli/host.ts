/**
 * The thin host: turns a parsed command into a workflow call and renders the result.
 * Every command handler goes through {@link runCommand}: it builds the context, runs the handler,
 * re-signs the manifest of any case whose record grew (also when the command failed, so the record
 * of a partial run is sealed too), prints exactly one JSON document with --json, and sets the
 * contract's exit code.
 */
import { CliContext, type GlobalArgs } from './context.js';
import { renderError } from './render.js';
import { assertCaseId } from '../domain/case-id.js';
import { sealRecord } from '../custody/session.js';
import { InterruptedError } from '../domain/abort.js';
import { checkRegionName } from '../aws/region.js';
import { checkProfileExists } from '../aws/account.js';

export interface CommandResult<T> {
  /** The JSON document (--json). */
  data: T;
  /** Human text for stdout. */
  text: string;
  /** Non-zero exit with a result still printed (verifications that found problems: 3). */
  exitCode?: number;
}

export type Handler<A, T> = (ctx: CliContext, args: A) => Promise<CommandResult<T>>;

export interface HostIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  isTTY: boolean;
}

export const processIo = (): HostIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  isTTY: Boolean(process.stderr.isTTY && process.stdin.isTTY),
});

/** Ctrl-C (SIGINT) stopped the command: exit 130, what was done is reported, a rerun resumes. */
export { InterruptedError };

/** The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/**
 * How long an interrupted command waits for its workflow to stop at a step boundary and seal what
 * it recorded, and then for the host's own check that every record it opened is sealed.
 */
const SEAL_ON_INTERRUPT_MS = 10_000;

/** The name of the command as typed (`custody export`), from yargs' parsed positionals. */
function commandName(args: GlobalArgs): string {
  const pos = (args as { _?: unknown[] })._;
  return Array.isArray(pos) && pos.length ? pos.map(String).join(' ') : 'the command';
}

/**
 * Inputs every command shares, checked before the handler and so before any AWS call: the case id,
 * region names (--region, --source-region) against the SDK's partition data, and named profiles.
 */
async function checkSharedInputs(args: GlobalArgs): Promise<void> {
  const a = args as GlobalArgs & { case?: unknown; sourceRegion?: string; sourceProfile?: string };
  if (a.case !== undefined) assertCaseId(a.case);
  if (a.region !== undefined) checkRegionName(a.region, '--region');
  if (a.sourceRegion !== undefined) checkRegionName(a.sourceRegion, '--source-region');
  if (a.profile !== undefined) await checkProfileExists(a.profile, '--profile');
  if (a.sourceProfile !== undefined) await checkProfileExists(a.sourceProfile, '--source-profile');
}

export async function runCommand<A extends GlobalArgs, T>(
  args: A,
  handler: Handler<A, T>,
  io: HostIo = processIo(),
): Promise<number> {
  const ctx = new CliContext(args, io);
  let exit = 0;
  const ctrlC = onCtrlC(ctx, io);
  let work: Promise<CommandResult<T>> | undefined;
  process.on('SIGINT', ctrlC.listener);
  try {
    await checkSharedInputs(args);
    work = handler(ctx, args);
    work.catch(() => undefined);
    exit = await finishSucceeded(ctx, args, io, await Promise.race([work, ctrlC.interruption]));
  } catch (e) {
    exit = await finishFailed(ctx, args, io, e, ctrlC.interrupted(), work);
  } finally {
    process.removeListener('SIGINT', ctrlC.listener);
  }
  if (args.verbose && ctx.calls.size) {
    io.stderr.write(`API calls: ${[...ctx.calls].map(([k, n]) => `${k}×${n}`).join(', ')}\n`);
  }
  return exit;
}

/**
 * Ctrl-C: the first stops the command (its custody manifests are re-sealed, what it did is
 * reported, exit 130); a second exits at once. `interruption` rejects on the first.
 */
function onCtrlC(
  ctx: CliContext,
  io: HostIo,
): { listener: () => void; interruption: Promise<never>; interrupted: () => boolean } {
  let interrupted = false;
  let listener: () => void = () => undefined;
  const interruption = new Promise<never>((_, reject) => {
    listener = () => {
      if (ctx.childHasTerminal) return;
      if (interrupted) {
        io.stderr.write(
          '\nInterrupted again: exiting now, without re-sealing the custody manifest (`cleanroom custody seal` does it later).\n',
        );
        process.exit(EXIT_INTERRUPTED);
      }
      interrupted = true;
      io.stderr.write('\nInterrupted: stopping (press Ctrl-C again to exit at once)…\n');
      ctx.abort.abort(new Error('interrupted'));
      reject(new Error('interrupted'));
    };
  });
  interruption.catch(() => undefined);
  return { listener, interruption, interrupted: () => interrupted };
}

/** The command ran: seal, release the leases, print its result; its exit code. */
async function finishSucceeded<T>(
  ctx: CliContext,
  args: GlobalArgs,
  io: HostIo,
  result: CommandResult<T>,
): Promise<number> {
  // The workflows seal what they recorded; this seals a record the command opened but no
  // workflow ran on (a lease take-over recorded at open, then a failure before the workflow).
  await sealTouched(ctx);
  // A lease lost while the command ran: another command took the case in between, so this
  // one's result cannot be reported as a success (exit 1, CASE_LEASE_LOST, naming the taker).
  const lost = await ctx.releaseLeases();
  if (lost) throw lost;
  ctx.reporter.close();
  io.stdout.write(
    args.json
      ? `${JSON.stringify(result.data, null, 2)}\n`
      : result.text.endsWith('\n') || result.text === ''
        ? result.text
        : `${result.text}\n`,
  );
  return result.exitCode ?? 0;
}

/** The command failed or was interrupted: seal what was recorded, release the leases, render the error; its exit code. */
async function finishFailed(
  ctx: CliContext,
  args: GlobalArgs,
  io: HostIo,
  e: unknown,
  interrupted: boolean,
  work: Promise<unknown> | undefined,
): Promise<number> {
  // Ctrl-C aborted the workflow's signal: it stops at its next step boundary and seals what it
  // recorded (waited for only when the command opened a record: otherwise there is nothing to seal).
  if (interrupted && work && (await ctx.openedCustodies()).length) await settledWithin(work, SEAL_ON_INTERRUPT_MS);
  let sealed = true;
  try {
    await (interrupted ? withTimeout(sealTouched(ctx), SEAL_ON_INTERRUPT_MS) : sealTouched(ctx));
  } catch (sealErr) {
    sealed = false;
    ctx.reporter.warn(
      `could not re-sign the custody manifest after the ${interrupted ? 'interruption' : 'failure'}: ${(sealErr as Error).message}`,
    );
  }
  await ctx.releaseLeases();
  ctx.reporter.close();
  const err = interrupted ? await interruptedError(ctx, args, sealed) : e;
  const exit = renderError(
    err,
    { json: args.json, verbose: args.verbose, tty: io.isTTY, stderr: io.stderr },
    io.stdout,
  );
  return interrupted ? EXIT_INTERRUPTED : exit;
}

/** Every record the command opened is sealed (a no-op for those its workflow sealed). */
async function sealTouched(ctx: CliContext): Promise<void> {
  for (const c of await ctx.openedCustodies()) {
    const s = await sealRecord(c);
    if (!s.sealed) throw new Error(s.reason);
  }
}

/** Wait for `p` to settle, at most `ms` (the timer keeps the process alive meanwhile). */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    late,
  ]).finally(() => clearTimeout(timer));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms / 1000}s`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** What an interrupted command tells the user: what it recorded, the stage reached, how to resume. */
async function interruptedError(ctx: CliContext, args: GlobalArgs, sealed: boolean): Promise<InterruptedError> {
  const recorded = await ctx.recordedThisRun().catch(() => []);
  const stage = ctx.reporter.lastStep;
  const name = commandName(args);
  const done = recorded.length
    ? `This run recorded ${recorded.length} custody event(s): ${recorded.map((r) => `${r.lane ? `${r.lane}#` : '#'}${r.seq} ${r.action}`).join(', ')}${sealed ? ' (the manifest is re-sealed)' : ' (the manifest is NOT re-sealed: run `cleanroom custody seal`)'}.`
    : 'This run recorded no custody event.';
  return new InterruptedError(
    `Interrupted (Ctrl-C) during \`cleanroom ${name}\`${stage ? `, at: ${stage}` : ''}. ${done} Run the same command again to resume; nothing already done is repeated.`,
    { command: name, ...(stage ? { stage } : {}), recorded, sealed },
  );
}
