/**
 * `cleanroom automation run`: the response over a fleet of instances (workflows/automation run):
 * the list into the vault, the fleet execution started, `--wait` for its end and each instance's outcome.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import type { HostIo } from '../../host.js';
import type { GlobalArgs } from '../../context.js';
import { handle, numberOption, withBucket, withCase } from '../common.js';
import { UsageError } from '../../../domain/errors.js';
import { runFleet, type RunResult } from '../../../workflows/automation/index.js';
import { outcomeTable } from './status.js';

interface RunArgs extends GlobalArgs {
  case: string;
  bucket?: string;
  instance?: string[];
  instancesFile?: string;
  tag?: string;
  maxConcurrency?: number;
  toleratedFailurePercent?: number;
  pollSeconds?: number;
  runId?: string;
  stackName?: string;
  wait: boolean;
}

export function runSubcommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'run',
    "respond to a fleet: write the instances' list into the vault and start the fleet state machine (a Distributed Map running the response once per instance, at a concurrency AWS's limits allow)",
    (c) =>
      withBucket(withCase(c))
        .option('instance', { type: 'string', array: true, describe: 'an instance (i-...); repeat for more' })
        .option('instances-file', {
          type: 'string',
          describe: 'a file of instance ids: one per line (# comments), or a JSON array',
        })
        .option('tag', { type: 'string', describe: 'every instance, not terminated, with this tag: KEY=VALUE' })
        .option(
          'max-concurrency',
          numberOption(
            { flag: '--max-concurrency', unit: 'instances', integer: true, min: 1, max: 10000 },
            'instances handled at once (default: from AWS limits — 20 concurrent snapshot copies per region and the EC2 request-rate bucket, ÷ the most volumes of a listed instance)',
          ),
        )
        .option(
          'tolerated-failure-percent',
          numberOption(
            { flag: '--tolerated-failure-percent', unit: 'percent', integer: true, min: 0, max: 100 },
            'failed instances (percent) the run tolerates before it stops starting more (default 25, and always at least one instance)',
          ),
        )
        .option(
          'poll-seconds',
          numberOption(
            { flag: '--poll-seconds', unit: 'seconds', integer: true, min: 1, max: 3600 },
            "seconds between the response's polls of snapshots, copies and stacks (default: the stack's PollSeconds)",
          ),
        )
        .option('run-id', {
          type: 'string',
          describe: 'run the same list again as a new execution (default: from the list)',
        })
        .option('stack-name', { type: 'string', describe: 'the automation stack (default cleanroom-automation)' })
        .option('wait', {
          type: 'boolean',
          default: false,
          describe: "wait for the run to end and print each instance's outcome",
        }),
    handle<RunArgs, Omit<RunResult, 'seal'>>(io, async (ctx, a) => {
      const sources = [
        a.instance?.length ? '--instance' : '',
        a.instancesFile !== undefined ? '--instances-file' : '',
        a.tag !== undefined ? '--tag' : '',
      ].filter(Boolean);
      if (sources.length > 1)
        throw new UsageError('CONFLICTING_OPTIONS', `Give the instances one way: ${sources.join(' or ')}, not both.`, {
          details: { options: sources },
        });
      const instances = [
        ...(a.instance ?? []),
        ...(a.instancesFile !== undefined ? readInstancesFile(a.instancesFile) : []),
      ];
      const tag = a.tag !== undefined ? parseTag(a.tag) : undefined;
      if (!instances.length && !tag)
        throw new UsageError(
          'NO_INSTANCES',
          'Name the instances: --instance I (repeatable), --instances-file F or --tag KEY=VALUE.',
        );
      const account = await ctx.forensicAccount();
      const r = await runFleet(
        {
          account,
          custody: () => ctx.custody(a.case, a.bucket, { use: 'append', command: 'automation run', mayStart: true }),
          reporter: ctx.reporter,
          clock: ctx.clock,
        },
        {
          caseId: a.case,
          ...(instances.length ? { instances } : {}),
          ...(tag ? { tag } : {}),
          ...(a.maxConcurrency !== undefined ? { maxConcurrency: a.maxConcurrency } : {}),
          ...(a.toleratedFailurePercent !== undefined ? { toleratedFailurePercentage: a.toleratedFailurePercent } : {}),
          ...(a.pollSeconds !== undefined ? { pollSeconds: a.pollSeconds } : {}),
          ...(a.runId !== undefined ? { runId: a.runId } : {}),
          ...(a.stackName !== undefined ? { stackName: a.stackName } : {}),
          wait: a.wait,
          signal: ctx.abort.signal,
        },
      );
      const { seal: _seal, ...data } = r;
      return { data, text: runText(r) };
    }),
  );
}

/** The human rendering of a run. */
export function runText(r: Omit<RunResult, 'seal'>): string {
  const l = r.limits;
  const lines = [
    `${r.started ? 'Started' : 'Already ran'} fleet run ${r.runId} for case ${r.case}: ${r.items.count} instance(s).`,
    `  execution    ${r.executionArn}`,
    `  item list    s3://${r.items.bucket}/${r.items.key} (SHA-256 ${r.items.sha256})  [custody #${r.seq}]`,
    `  concurrency  ${r.maxConcurrency} at once (limits: ${l.byCopies} by 20 snapshot copies ÷ ${l.volumesPerInstance} volume(s), ${l.byRequestRate} by the CopySnapshot/AttachVolume bucket); tolerated failures ${r.toleratedFailurePercentage}%`,
  ];
  if (r.summary) {
    lines.push(`Ended ${r.status}.`, outcomeTable(r.summary.instances));
  } else {
    lines.push(`Follow it: cleanroom automation status --case ${r.case} --execution ${r.executionArn}`);
  }
  return lines.join('\n');
}

/** `--tag KEY=VALUE`. */
export function parseTag(raw: string): { key: string; value: string } {
  const i = raw.indexOf('=');
  const key = i > 0 ? raw.slice(0, i).trim() : '';
  if (!key || key.length > 128 || raw.slice(i + 1).length > 256)
    throw new UsageError(
      'INVALID_TAG_FILTER',
      `--tag ${JSON.stringify(raw)} is not KEY=VALUE (for example --tag incident=IR-2026-0142).`,
      {
        details: { tag: raw },
      },
    );
  return { key, value: raw.slice(i + 1) };
}

/** `--instances-file`: one id per line (blank lines and # comments skipped), or a JSON array of ids or `{instanceId}`. */
export function readInstancesFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError('INSTANCES_FILE_INVALID', `--instances-file ${file} cannot be read: ${(e as Error).message}`, {
      details: { file },
    });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new UsageError(
        'INSTANCES_FILE_INVALID',
        `--instances-file ${file} starts like JSON but is not: ${(e as Error).message}`,
        {
          details: { file },
        },
      );
    }
    const ids = (parsed as unknown[]).map((x) =>
      typeof x === 'string' ? x : x && typeof x === 'object' ? (x as { instanceId?: unknown }).instanceId : undefined,
    );
    if (ids.some((x) => typeof x !== 'string'))
      throw new UsageError(
        'INSTANCES_FILE_INVALID',
        `--instances-file ${file}: every entry must be an instance id or {"instanceId": …}.`,
        {
          details: { file },
        },
      );
    return ids as string[];
  }
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  if (!ids.length)
    throw new UsageError('INSTANCES_FILE_INVALID', `--instances-file ${file} lists no instance.`, {
      details: { file },
    });
  return ids;
}
