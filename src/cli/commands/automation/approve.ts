/**
 * `cleanroom automation approve | reject --execution ARN [--instance I]`: decide on an execution paused for
 * approval (workflows/automation approve): recorded, then handed to Step Functions.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import type { GlobalArgs } from '../../context.js';
import { handle, withBucket } from '../common.js';
import { decideApproval, type Decision, type DecideResult } from '../../../workflows/automation/index.js';

interface DecideArgs extends GlobalArgs {
  execution: string;
  instance?: string;
  reason?: string;
  case?: string;
  bucket?: string;
}

export function approveSubcommands(y: Argv, io: HostIo): Argv {
  const one = (name: 'approve' | 'reject', decision: Decision, describe: string) => (g: Argv) =>
    g.command(
      name,
      describe,
      (c) =>
        withBucket(c)
          .option('execution', { type: 'string', demandOption: true, describe: 'the paused execution (its ARN)' })
          .option('instance', {
            type: 'string',
            describe: 'the instance whose approval is decided (needed when several wait in the execution)',
          })
          .option('reason', { type: 'string', describe: 'why (recorded in the custody record)' })
          .option('case', {
            type: 'string',
            describe: "the execution's case (found from the execution when not given)",
          }),
      handle<DecideArgs, Omit<DecideResult, 'seal'>>(io, async (ctx, a) => {
        const account = await ctx.forensicAccount();
        const r = await decideApproval(
          {
            account,
            custody: (caseId) => ctx.custody(caseId, a.bucket, { use: 'append', command: `automation ${name}` }),
          },
          {
            execution: a.execution,
            decision,
            ...(a.instance !== undefined ? { instanceId: a.instance } : {}),
            ...(a.reason !== undefined ? { reason: a.reason } : {}),
            ...(a.case !== undefined ? { caseId: a.case } : {}),
            signal: ctx.abort.signal,
          },
        );
        const { seal: _seal, ...data } = r;
        return {
          data,
          text: `${decision === 'approved' ? 'Approved' : 'Rejected'} ${r.instanceId} (case ${r.case}) in ${r.executionArn}, by ${r.by}${r.reason ? `: ${r.reason}` : ''}  [custody #${r.seq}${r.recorded ? '' : ', recorded earlier; sent again'}]\n${decision === 'approved' ? 'The execution goes on: isolate, acquire, hash, room, attach, notify.' : 'The execution stops without changing the instance.'}`,
        };
      }),
    );
  const approve = one(
    'approve',
    'approved',
    'approve an execution paused for approval (IsolationPolicy approve): it goes on to isolate and acquire',
  );
  const reject = one(
    'reject',
    'rejected',
    'reject an execution paused for approval: it stops without changing the instance',
  );
  return reject(approve(y));
}
