/**
 * `cleanroom automation …`: the automated response (issue 14). One file per subcommand under
 * ./automation/, listed here: deploy and remove (the stack); run, status, approve and reject join
 * the same list.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import { automationDeployCommand } from './automation/deploy.js';
import { automationRemoveCommand } from './automation/remove.js';
import { runSubcommand } from './automation/run.js';
import { statusSubcommand } from './automation/status.js';
import { approveSubcommands } from './automation/approve.js';

/** A subcommand of `cleanroom automation`. */
export type AutomationSubcommand = (y: Argv, io: HostIo) => Argv;

export const automationSubcommands: AutomationSubcommand[] = [
  automationDeployCommand,
  automationRemoveCommand,
  runSubcommand,
  statusSubcommand,
  approveSubcommands,
];

export function automationCommands(y: Argv, io: HostIo): Argv {
  return y.command(
    'automation',
    'the automated response: a Step Functions workflow per finding, and the fleet (deploy, remove, run, status, approve, reject)',
    (a) =>
      automationSubcommands
        .reduce((acc, sub) => sub(acc, io), a)
        .demandCommand(
          1,
          `Name an automation command: ${['deploy', 'remove', 'run', 'status', 'approve', 'reject'].join(', ')}.`,
        ),
  );
}
