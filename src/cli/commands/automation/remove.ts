/** `cleanroom automation remove`: delete the automation stack (the code stays in the vault). */
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import type { GlobalArgs } from '../../context.js';
import { handle } from '../common.js';
import { removeAutomation, type AutomationRemoveResult } from '../../../workflows/automation/index.js';
import { withStackName } from './deploy.js';

interface RemoveArgs extends GlobalArgs {
  stackName?: string;
}

export function automationRemoveCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'remove',
    'delete the automation stack (asks first; --yes); the code and definitions stay in the vault',
    (c) => withStackName(c),
    handle<RemoveArgs, AutomationRemoveResult>(io, async (ctx, a) => {
      const account = await ctx.forensicAccount();
      const r = await removeAutomation(
        { account, reporter: ctx.reporter, clock: ctx.clock },
        {
          ...(a.stackName !== undefined ? { stackName: a.stackName } : {}),
          approve: ctx.approve,
          signal: ctx.abort.signal,
        },
      );
      return {
        data: r,
        text: r.removed
          ? `Automation stack ${r.stackName} deleted (DELETE_COMPLETE). Its code stays in the vault under automation/.`
          : `There is no automation stack ${r.stackName}: nothing to remove.`,
      };
    }),
  );
}
