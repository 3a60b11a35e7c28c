/** `cleanroom automation deploy`: create or update the automation stack (change set, stack events as progress). */
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import type { GlobalArgs } from '../../context.js';
import { handle, numberOption, withBucket } from '../common.js';
import {
  deployAutomation,
  ISOLATION_POLICIES,
  type AutomationDeployOptions,
  type AutomationDeployResult,
} from '../../../workflows/automation/index.js';

interface DeployArgs
  extends GlobalArgs,
    Pick<
      AutomationDeployOptions,
      | 'bucket'
      | 'stackName'
      | 'isolationPolicy'
      | 'minSeverity'
      | 'pollSeconds'
      | 'notifyEmail'
      | 'fleetMaxConcurrency'
      | 'fleetToleratedFailurePercentage'
    > {
  /** --readonly-check-seconds (the library's readOnlyCheckSeconds). */
  readonlyCheckSeconds?: number;
}

/** `--stack-name NAME` (default cleanroom-automation). */
export function withStackName<T>(y: Argv<T>) {
  return y.option('stack-name', {
    type: 'string',
    describe: 'the automation stack (default: cleanroom-automation, one per account and Region)',
  });
}

export function automationDeployCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'deploy',
    'deploy or update the automation stack: step functions, state machines, rules, topic (idempotent)',
    (c) =>
      withStackName(withBucket(c))
        .option('isolation-policy', {
          type: 'string',
          choices: ISOLATION_POLICIES as unknown as string[],
          describe: 'auto: isolate at once; approve: wait for `automation approve`; never (new stack: approve)',
        })
        .option(
          'min-severity',
          numberOption(
            { flag: '--min-severity', unit: 'GuardDuty severity points', min: 1, max: 8.9 },
            'lowest GuardDuty severity that starts a response (new stack: 7, High)',
          ),
        )
        .option(
          'poll-seconds',
          numberOption(
            { flag: '--poll-seconds', unit: 'seconds', integer: true, min: 1, max: 3600 },
            'how long a Wait state waits before asking a pending step again (new stack: 60)',
          ),
        )
        .option(
          'readonly-check-seconds',
          numberOption(
            { flag: '--readonly-check-seconds', unit: 'seconds', integer: true, min: 0, max: 600 },
            "how long attach gives the room's instance to report an evidence disk read-only (new stack: 60)",
          ),
        )
        .option('notify-email', {
          type: 'string',
          describe: "an address subscribed to the responders' topic ('' removes it)",
        })
        .option(
          'fleet-max-concurrency',
          numberOption(
            { flag: '--fleet-max-concurrency', unit: 'instances', integer: true, min: 1, max: 1000 },
            'instances a fleet run works on at once (new stack: 10)',
          ),
        )
        .option(
          'fleet-tolerated-failure-percentage',
          numberOption(
            { flag: '--fleet-tolerated-failure-percentage', unit: 'percent', min: 0, max: 100 },
            "share of a fleet's instances that may fail without failing the run (new stack: 10)",
          ),
        ),
    handle<DeployArgs, AutomationDeployResult>(io, async (ctx, a) => {
      const account = await ctx.forensicAccount();
      const r = await deployAutomation(
        { account, reporter: ctx.reporter, clock: ctx.clock },
        {
          ...(a.stackName !== undefined ? { stackName: a.stackName } : {}),
          ...(a.bucket !== undefined ? { bucket: a.bucket } : {}),
          ...(a.isolationPolicy !== undefined ? { isolationPolicy: a.isolationPolicy } : {}),
          ...(a.minSeverity !== undefined ? { minSeverity: a.minSeverity } : {}),
          ...(a.pollSeconds !== undefined ? { pollSeconds: a.pollSeconds } : {}),
          ...(a.readonlyCheckSeconds !== undefined ? { readOnlyCheckSeconds: a.readonlyCheckSeconds } : {}),
          ...(a.notifyEmail !== undefined ? { notifyEmail: a.notifyEmail } : {}),
          ...(a.fleetMaxConcurrency !== undefined ? { fleetMaxConcurrency: a.fleetMaxConcurrency } : {}),
          ...(a.fleetToleratedFailurePercentage !== undefined
            ? { fleetToleratedFailurePercentage: a.fleetToleratedFailurePercentage }
            : {}),
          signal: ctx.abort.signal,
        },
      );
      return { data: r, text: deployText(r) };
    }),
  );
}

function deployText(r: AutomationDeployResult): string {
  const head =
    r.change === 'unchanged'
      ? `Automation stack ${r.stackName} is up to date: no changes.`
      : `Automation stack ${r.stackName} ${r.change} (${r.stackStatus}).`;
  const uploaded = [r.code, ...r.definitions, r.template].filter((o) => o.uploaded).length;
  return [
    head,
    `  code          ${r.codeSha256} (s3://${r.bucket}/${r.code.key}${r.code.uploaded ? ', uploaded' : ''})`,
    `  uploaded      ${uploaded} object(s)`,
    `  policy        ${r.parameters['IsolationPolicy'] ?? 'approve'}, min severity ${r.parameters['MinSeverity'] ?? '7'}`,
    ...(r.outputs.ResponseStateMachineArn ? [`  response      ${r.outputs.ResponseStateMachineArn}`] : []),
    ...(r.outputs.FleetStateMachineArn ? [`  fleet         ${r.outputs.FleetStateMachineArn}`] : []),
    ...(r.outputs.TopicArn ? [`  topic         ${r.outputs.TopicArn}`] : []),
    ...(r.outputs.DeadLetterQueueUrl ? [`  dead letters  ${r.outputs.DeadLetterQueueUrl}`] : []),
  ].join('\n');
}
