/**
 * `cleanroom automation …`: the automated response (docs/automation.md). Each subcommand is a
 * module of its own; this file gathers them under the group.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import { runSubcommand } from './run.js';
import { statusSubcommand } from './status.js';
import { approveSubcommands } from './approve.js';

/** A subcommand module adds its subcommands to the `automation` group. */
export type AutomationSubcommand = (y: Argv, io: HostIo) => Argv;

export const automationSubcommands: AutomationSubcommand[] = [runSubcommand, statusSubcommand, approveSubcommands];

export function automationCommands(y: Argv, io: HostIo): Argv {
  return y.command(
    'automation',
    'the automated response on Step Functions: fleet runs, their status, approvals',
    (v) => {
      let g = v;
      for (const m of automationSubcommands) g = m(g, io);
      return g.demandCommand(1, 'Name an automation command: run, status, approve or reject.');
    },
  );
}
