import type { Argv } from 'yargs';
import { runCommand, type Handler, type HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';

/** Wire a yargs handler to the host: run, render, set the exit code. */
export function handle<A extends GlobalArgs, T>(io: HostIo, handler: Handler<A, T>) {
  return async (argv: unknown) => {
    process.exitCode = await runCommand(argv as A, handler, io);
  };
}

/** `--case ID` (required). */
export function withCase<T>(y: Argv<T>) {
  return y.option('case', { type: 'string', demandOption: true, describe: 'case id (letters, digits, hyphens)' });
}

/** `--bucket NAME` (the vault; default cleanroom-evidence-<account>-<region>). */
export function withBucket<T>(y: Argv<T>) {
  return y.option('bucket', { type: 'string', describe: 'evidence vault bucket (default: cleanroom-evidence-<account id>-<region>)' });
}

/** Source-account options of isolate and acquire. */
export function withSource<T>(y: Argv<T>) {
  return y
    .option('source-profile', { type: 'string', describe: 'profile for the source account of the compromised instance' })
    .option('source-role-arn', { type: 'string', describe: 'role to assume in the source account' })
    .option('source-region', { type: 'string', describe: 'region of the compromised instance (default: the forensic region)' })
    .conflicts('source-profile', 'source-role-arn');
}
