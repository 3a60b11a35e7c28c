/**
 * `cleanroom automation status`: the executions of a case (or the latest ones) and each instance's
 * outcome, read from the case's custody record (workflows/automation status).
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import type { GlobalArgs } from '../../context.js';
import { handle, withBucket } from '../common.js';
import { table } from '../../render.js';
import {
  automationStatus,
  caseHolders,
  type AutomationStatus,
  type InstanceOutcome,
} from '../../../workflows/automation/index.js';

interface StatusArgs extends GlobalArgs {
  case?: string;
  execution?: string;
  bucket?: string;
  stackName?: string;
}

export function statusSubcommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'status',
    "the automation's executions — of a case (--case), one (--execution), or the latest — with each instance's outcome from the case's custody record",
    (c) =>
      withBucket(c)
        .option('case', { type: 'string', describe: 'case id' })
        .option('execution', { type: 'string', describe: 'one execution (its ARN)' })
        .option('stack-name', { type: 'string', describe: 'the automation stack (default cleanroom-automation)' }),
    handle<StatusArgs, AutomationStatus>(io, async (ctx, a) => {
      const account = await ctx.forensicAccount();
      const r = await automationStatus(
        {
          account,
          custody: (caseId) => ctx.custody(caseId, a.bucket, { use: 'read' }),
          held: caseHolders(account, a.bucket),
        },
        {
          ...(a.case !== undefined ? { caseId: a.case } : {}),
          ...(a.execution !== undefined ? { execution: a.execution } : {}),
          ...(a.stackName !== undefined ? { stackName: a.stackName } : {}),
        },
      );
      return { data: r, text: statusText(r) };
    }),
  );
}

export function statusText(r: AutomationStatus): string {
  const lines: string[] = [];
  lines.push(
    r.case ? `Case ${r.case}: ${r.executions.length} execution(s).` : `Latest executions (${r.executions.length}):`,
  );
  if (r.executions.length)
    lines.push(
      table([
        ['EXECUTION', 'KIND', 'STATUS', 'STARTED', 'INSTANCES', 'ERROR'],
        ...r.executions.map((x) => [
          x.executionArn,
          x.kind,
          x.status,
          x.startDate ?? '-',
          String(x.instanceIds.length || '-'),
          x.error ? `${x.error}${x.cause ? `: ${x.cause.slice(0, 80)}` : ''}` : '',
        ]),
      ]),
    );
  if (r.instances.length) lines.push('', outcomeTable(r.instances));
  if (r.head) lines.push('', `From the custody record up to #${r.head.seq} (${r.head.hash.slice(0, 16)}…).`);
  if (r.held?.length)
    lines.push(
      '',
      'Held now:',
      ...r.held.map(
        (h) =>
          `  ${h.scope ? `lock ${h.scope}` : 'the case lease'}: \`${h.command}\` (holder ${h.holder}) since ${h.since}, until ${h.until}`,
      ),
    );
  return lines.join('\n');
}

/** One line per instance: outcome, isolation, evidence, the error it stopped at. */
export function outcomeTable(instances: readonly InstanceOutcome[]): string {
  if (!instances.length) return '(no instance)';
  return table([
    ['INSTANCE', 'OUTCOME', 'ISOLATED', 'EVIDENCE', 'HASHED', 'ATTACHED', 'NOTIFIED', 'ERROR'],
    ...instances.map((i) => [
      i.instanceId,
      i.outcome,
      i.isolated ? 'yes' : 'no',
      String(i.evidence.length),
      String(i.hashed),
      String(i.attached),
      i.notified ? 'yes' : 'no',
      i.error ? `${i.error.code} (${i.error.action}, #${i.error.seq})` : '',
    ]),
  ]);
}
