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

export const processIo = (): HostIo => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTTY: Boolean(process.stderr.isTTY && process.stdin.isTTY) });

export async function runCommand<A extends GlobalArgs, T>(args: A, handler: Handler<A, T>, io: HostIo = processIo()): Promise<number> {
  const ctx = new CliContext(args, io);
  let exit = 0;
  try {
    // The case id is checked before any AWS call, whatever the command.
    const maybeCase = (args as { case?: unknown }).case;
    if (maybeCase !== undefined) assertCaseId(maybeCase);
    const result = await handler(ctx, args);
    await sealTouched(ctx);
    await ctx.releaseLeases();
    ctx.reporter.close();
    io.stdout.write(args.json ? `${JSON.stringify(result.data, null, 2)}\n` : result.text.endsWith('\n') || result.text === '' ? result.text : `${result.text}\n`);
    exit = result.exitCode ?? 0;
  } catch (e) {
    try {
      await sealTouched(ctx);
    } catch (sealErr) {
      ctx.reporter.warn(`could not re-sign the custody manifest after the failure: ${(sealErr as Error).message}`);
    }
    await ctx.releaseLeases();
    ctx.reporter.close();
    exit = renderError(e, { json: args.json, verbose: args.verbose, tty: io.isTTY, stderr: io.stderr }, io.stdout);
  }
  if (args.verbose && ctx.calls.size) {
    io.stderr.write(`API calls: ${[...ctx.calls].map(([k, n]) => `${k}×${n}`).join(', ')}\n`);
  }
  return exit;
}

async function sealTouched(ctx: CliContext): Promise<void> {
  for (const c of await ctx.openedCustodies()) if (c.dirty) await c.sealManifest();
}
