/**
 * The `cleanroom` binary. Parses arguments (yargs) and hands each command to the host.
 * See docs/commands.md (the CLI reference, and the contract it keeps stable).
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commandModules } from './commands/index.js';
import type { HostIo } from './host.js';
import { processIo } from './host.js';
import { renderError } from './render.js';
import { usageError, wantsJson } from './usage.js';
import type { CleanroomError } from '../domain/errors.js';

export function buildParser(argv: string[], io: HostIo = processIo()): Argv {
  let y: Argv = yargs(argv)
    .scriptName('cleanroom')
    .usage('$0 <command> [options]\n\nForensic clean rooms in AWS with a signed, hash-chained chain of custody.')
    .option('region', { type: 'string', describe: 'AWS region of the forensic account', global: true })
    .option('profile', { type: 'string', describe: 'shared-config profile for the forensic account', global: true })
    .option('role-arn', { type: 'string', describe: 'role to assume in the forensic account', global: true })
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'print exactly one JSON document on stdout',
      global: true,
    })
    .option('yes', { type: 'boolean', default: false, describe: 'answer yes to confirmations', global: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'more detail on stderr', global: true })
    .option('request-timeout-seconds', {
      type: 'number',
      describe:
        'the most one AWS call may take, retries included (default 120; each attempt also gets at most 20 s, and 12 s without a byte)',
      global: true,
    })
    .strict()
    .demandCommand(1, 'Name a command: vault, room, isolate, acquire, evidence, custody, case or automation.')
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Bad usage (yargs validation, unknown flags, missing options, a bad value): exit 2, one
      // line (or, with --json, the one JSON document), rendered like every other failure.
      throw new UsageExit(usageError(msg ?? undefined, err ?? undefined, argv));
    });
  for (const m of commandModules) y = m(y, io);
  return y;
}

/** Thrown by the fail handler so parsing stops after a usage error. */
class UsageExit extends Error {
  constructor(readonly error: CleanroomError) {
    super(error.message);
  }
}

/** `--help` / `--version`: text on stdout, or with --json the one document `{help}` / `{version}`. */
async function helpOrVersion(argv: string[], io: HostIo): Promise<number | undefined> {
  const words = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined);
  const help = words.some((a) => a === '--help' || a === '-h') || words[0] === 'help';
  // `--version V` (a value after it) is a command's own option (memory tools), not the global flag.
  const version = words.some(
    (a, i) => a === '--version' && (words[i + 1] === undefined || words[i + 1]!.startsWith('-')),
  );
  if (!help && !version) return undefined;
  if (!wantsJson(argv)) return undefined; // yargs prints them itself
  let output = '';
  await new Promise<void>((resolve) => {
    buildParser(argv, io).parse(argv, {}, (_err: unknown, _a: unknown, out: string) => {
      output = out;
      resolve();
    });
  });
  io.stdout.write(`${JSON.stringify(version && !help ? { version: output.trim() } : { help: output }, null, 2)}\n`);
  return 0;
}

export async function main(argv: string[] = hideBin(process.argv), io: HostIo = processIo()): Promise<number> {
  process.exitCode = 0;
  const json = wantsJson(argv);
  const verbose = argv.includes('--verbose');
  try {
    const shown = await helpOrVersion(argv, io);
    if (shown !== undefined) return shown;
    await buildParser(argv, io).parseAsync();
  } catch (e) {
    // A usage error (exit 2), or — last resort — an unexpected error: exit 1, one line (the
    // stack only with --verbose), and with --json the one document {"error": {code: INTERNAL}}.
    const err = e instanceof UsageExit ? e.error : e;
    return renderError(err, { json, verbose, tty: io.isTTY, stderr: io.stderr }, io.stdout);
  }
  return Number(process.exitCode ?? 0);
}
