/**
 * `cleanroom automation …`: the automated response (issue 14). One file per subcommand under
 * ./automation/, listed here: deploy and remove (the stack); run, status, approve and reject join
 * the same list.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import { automationDeployCommand } from './automation/deploy.js';
import { automationRemoveCommand } from './automation/remove.js';

/** A subcommand of `cleanroom automation`. */
export type AutomationSubcommand = (y: Argv, io: HostIo) => Argv;

export const automationSubcommands: AutomationSubcommand[] = [automationDeployCommand, automationRemoveCommand];

export function automationCommands(y: Argv, io: HostIo): Argv {
  return y.command(
    'automation',
    'the automated response: a Step Functions workflow per finding, and the fleet (deploy, remove)',
    (a) =>
      automationSubcommands
        .reduce((acc, sub) => sub(acc, io), a)
        .demandCommand(1, `Name an automation command: ${['deploy', 'remove'].join(', ')}.`),
  );
}
