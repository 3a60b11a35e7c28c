/**
 * The `cleanroom` binary. Parses arguments (yargs) and hands each command to the host.
 * See docs: README "CLI reference" and ../shared/docs/cli-contract.md.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commandModules } from './commands/index.js';
import type { HostIo } from './host.js';
import { processIo } from './host.js';

export function buildParser(argv: string[], io: HostIo = processIo()): Argv {
  let y: Argv = yargs(argv)
    .scriptName('cleanroom')
    .usage('$0 <command> [options]\n\nForensic clean rooms in AWS with a signed, hash-chained chain of custody.')
    .option('region', { type: 'string', describe: 'AWS region of the forensic account', global: true })
    .option('profile', { type: 'string', describe: 'shared-config profile for the forensic account', global: true })
    .option('role-arn', { type: 'string', describe: 'role to assume in the forensic account', global: true })
    .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON document on stdout', global: true })
    .option('yes', { type: 'boolean', default: false, describe: 'answer yes to confirmations', global: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'more detail on stderr', global: true })
    .option('request-timeout-seconds', { type: 'number', describe: 'the most one AWS call may take, retries included (default 120; each attempt also gets at most 20 s, and 12 s without a byte)', global: true })
    .strict()
    .demandCommand(1, 'Name a command: see cleanroom --help.')
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Bad usage: exit 2 with the message (yargs validation, unknown flags, missing options).
      if (err) throw err;
      io.stderr.write(`error: ${msg}\nRun with --help for usage.\n`);
      process.exitCode = 2;
      throw new UsageExit();
    });
  for (const m of commandModules) y = m(y, io);
  return y;
}

/** Thrown by the fail handler so parsing stops after a usage error. */
class UsageExit extends Error {}

export async function main(argv: string[] = hideBin(process.argv), io: HostIo = processIo()): Promise<number> {
  process.exitCode = 0;
  try {
    await buildParser(argv, io).parseAsync();
  } catch (e) {
    if (e instanceof UsageExit) return 2;
    io.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  return Number(process.exitCode ?? 0);
}

