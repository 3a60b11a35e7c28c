/**
 * `cleanroom isolate`: contain a compromised EC2 instance (see `workflows/isolate`). The host opens
 * the source account (same account by default, or --source-profile / --source-role-arn, in
 * --source-region) and, for a real run, the case's custody record in the forensic account's vault.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs, SourceArgs } from '../context.js';
import { handle, withBucket, withCase, withSource } from './common.js';
import {
  isolateInstance,
  releaseInstance,
  type IsolateResult,
  type ReleaseResult,
} from '../../workflows/isolate/index.js';
import type { MemoryCaptureResult } from '../../workflows/memory/index.js';
import { captureText, runCapture } from './memory-capture.js';

interface IsolateArgs extends GlobalArgs, SourceArgs {
  case: string;
  instance: string;
  bucket?: string;
  dryRun: boolean;
  nacl: boolean;
  stop: boolean;
  asgReplace: boolean;
  captureMemory: boolean;
}

interface ReleaseArgs extends GlobalArgs, SourceArgs {
  case: string;
  instance: string;
  bucket?: string;
  dryRun: boolean;
  rejoinAsg: boolean;
  reregister: boolean;
  unprotect: boolean;
  skipMissing: boolean;
}

/** `isolate release`: give an isolated instance back as the case's record says it was. */
function releaseCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'release',
    "give an isolated instance back as it was before isolation, from the case's custody record: its groups on every interface, its instance profile, its attributes, optionally its Auto Scaling group and load balancers — each step a custody event",
    (c) =>
      withSource(withBucket(withCase(c)))
        .option('instance', { type: 'string', demandOption: true, describe: 'the isolated instance (i-...)' })
        .option('dry-run', {
          type: 'boolean',
          default: false,
          describe: 'print every call, in order; change nothing and record nothing',
        })
        .option('rejoin-asg', {
          type: 'boolean',
          default: false,
          describe: 'attach it to its Auto Scaling group again (the desired capacity grows by one)',
        })
        .option('reregister', {
          type: 'boolean',
          default: false,
          describe: 'register it again in its target groups (ports as recorded) and Classic Load Balancers',
        })
        .option('unprotect', {
          type: 'boolean',
          default: false,
          describe: 'turn termination protection off again, when it was off before isolation',
        })
        .option('skip-missing', {
          type: 'boolean',
          default: false,
          describe: 'go on when something recorded no longer exists (each skip is recorded)',
        }),
    handle<ReleaseArgs, Omit<ReleaseResult, 'seal'>>(io, async (ctx, a) => {
      const account = await ctx.sourceAccount({
        ...(a.sourceProfile ? { sourceProfile: a.sourceProfile } : {}),
        ...(a.sourceRoleArn ? { sourceRoleArn: a.sourceRoleArn } : {}),
        ...(a.sourceRegion ? { sourceRegion: a.sourceRegion } : {}),
      });
      const r = await releaseInstance(
        {
          account,
          custody: () =>
            ctx.custody(a.case, a.bucket, a.dryRun ? { use: 'read' } : { use: 'change', command: 'isolate release' }),
          reporter: ctx.reporter,
          clock: ctx.clock,
        },
        {
          caseId: a.case,
          instanceId: a.instance,
          dryRun: a.dryRun,
          rejoinAsg: a.rejoinAsg,
          reregister: a.reregister,
          unprotect: a.unprotect,
          skipMissing: a.skipMissing,
          signal: ctx.abort.signal,
        },
      );
      const { seal: _seal, ...data } = r;
      return { data, text: releaseText(r) };
    }),
  );
}

export function isolateCommands(y: Argv, io: HostIo): Argv {
  return y.command(
    'isolate',
    'contain a compromised EC2 instance: protect its evidence, take it out of its Auto Scaling and target groups, cut its network on every interface and its credentials, tag it — each step a custody event (`isolate release` gives it back)',
    (c) =>
      withSource(withBucket(withCase(releaseCommand(c, io))))
        .option('instance', { type: 'string', demandOption: true, describe: 'the compromised instance (i-...)' })
        .option('dry-run', {
          type: 'boolean',
          default: false,
          describe: 'print every call, in order; change nothing and record nothing',
        })
        .option('nacl', {
          type: 'boolean',
          default: false,
          // isolate's own: not carried into `isolate release`.
          global: false,
          describe:
            "also put a deny-all network ACL on the instance's subnets (cuts everything else in them too; asks first)",
        })
        .option('stop', {
          type: 'boolean',
          default: false,
          // isolate's own: not carried into `isolate release`.
          global: false,
          describe: 'stop the instance at the end (hibernate if it can); its memory is lost otherwise (asks first)',
        })
        .option('asg-replace', {
          type: 'boolean',
          default: false,
          // isolate's own: not carried into `isolate release`.
          global: false,
          describe: 'leave the Auto Scaling group without lowering its desired capacity: it launches a replacement',
        })
        .option('capture-memory', {
          type: 'boolean',
          default: false,
          describe:
            "capture the instance's memory (as `memory capture`) before any change to its network; if the capture fails, isolate stops unless you approve going on (--yes goes on)",
        }),
    handle<IsolateArgs, Omit<IsolateResult, 'seal'> & { memory?: MemoryCaptureResult }>(io, async (ctx, a) => {
      const source: SourceArgs = {
        ...(a.sourceProfile ? { sourceProfile: a.sourceProfile } : {}),
        ...(a.sourceRoleArn ? { sourceRoleArn: a.sourceRoleArn } : {}),
        ...(a.sourceRegion ? { sourceRegion: a.sourceRegion } : {}),
      };
      const account = await ctx.sourceAccount(source);
      let memory: MemoryCaptureResult | undefined;
      const capture = () => runCapture(ctx, { ...a, ...source, dryRun: a.dryRun }).then((m) => (memory = m));
      // A dry run plans the capture too (nothing made); a real run captures inside isolate, after its checks.
      if (a.captureMemory && a.dryRun) await capture();
      const r = await isolateInstance(
        {
          account,
          custody: () => ctx.custody(a.case, a.bucket, { use: 'start', command: 'isolate' }),
          reporter: ctx.reporter,
          clock: ctx.clock,
          approve: ctx.approve,
          accountInRegion: (region) => ctx.sourceAccount({ ...source, sourceRegion: region }),
        },
        {
          caseId: a.case,
          instanceId: a.instance,
          dryRun: a.dryRun,
          nacl: a.nacl,
          stop: a.stop,
          asgReplace: a.asgReplace,
          signal: ctx.abort.signal,
          ...(a.captureMemory && !a.dryRun ? { beforeChange: { what: 'The memory capture', run: capture } } : {}),
        },
      );
      const { seal: _seal, ...data } = r;
      const text = isolationText(r);
      return {
        data: { ...data, ...(memory ? { memory } : {}) },
        text: memory ? `${captureText(memory)}\n\n${text}` : text,
      };
    }),
  );
}

const MARK: Record<string, string> = {
  done: '✓',
  already: '=',
  skipped: '-',
  planned: '→',
  failed: '✗',
  'not-run': ' ',
};

/** The human rendering of an isolation (or of its plan). */
export function isolationText(r: IsolateResult): string {
  const where = `${r.instanceId} (account ${r.sourceAccount}, ${r.region})`;
  const lines: string[] = [];
  if (r.dryRun) {
    lines.push(`Plan to isolate ${where} for case ${r.case} — dry run: nothing is changed and nothing is recorded.`);
    r.steps.forEach((s, i) => {
      lines.push(
        `${String(i + 1).padStart(2)}. ${MARK[s.status]} ${s.step.padEnd(20)} ${s.status === 'planned' ? '' : `(${s.status}) `}${s.detail}`,
      );
      for (const c of s.calls) lines.push(`       ${c.call} ${JSON.stringify(c.input)}\n         — ${c.why}`);
    });
    return lines.join('\n');
  }
  if (r.alreadyIsolated) {
    lines.push(
      `${where} is already isolated for case ${r.case} (since ${r.isolatedAt}): nothing changed, nothing recorded.`,
    );
  } else {
    lines.push(`Isolated ${where} for case ${r.case}.`);
  }
  for (const s of r.steps)
    lines.push(
      `  ${MARK[s.status]} ${s.step.padEnd(20)} ${s.status.padEnd(8)} ${s.detail}${s.seq ? `  [custody #${s.seq}]` : ''}`,
    );
  for (const [vpc, sg] of Object.entries(r.isolationGroupIds))
    lines.push(`Isolation group in ${vpc}: ${sg} (no rule in either direction)`);
  for (const [vpc, acl] of Object.entries(r.networkAclIds)) lines.push(`Deny-all network ACL in ${vpc}: ${acl}`);
  if (r.quarantineProfileArn) lines.push(`Instance profile: ${r.quarantineProfileArn} (denies everything)`);
  if (r.sessionsRevokedBefore)
    lines.push(`Sessions of the old role issued before ${r.sessionsRevokedBefore} are revoked.`);
  const stopped = r.steps.some((s) => s.step === 'stop' && (s.status === 'done' || s.status === 'already'));
  lines.push(
    stopped
      ? 'The instance is stopped.'
      : 'The instance keeps running: its memory is intact (capture it now if the case needs it).',
  );
  lines.push(`Next: acquire its volumes (cleanroom acquire --case ${r.case} --instance ${r.instanceId}).`);
  return lines.join('\n');
}

/** The human rendering of a release (or of its plan). */
export function releaseText(r: ReleaseResult): string {
  const where = `${r.instanceId} (account ${r.sourceAccount}, ${r.region})`;
  const lines: string[] = [];
  if (r.dryRun) {
    lines.push(
      `Plan to release ${where} for case ${r.case} (isolated ${r.isolatedAt}) — dry run: nothing is changed and nothing is recorded.`,
    );
    r.steps.forEach((s, i) => {
      lines.push(
        `${String(i + 1).padStart(2)}. ${MARK[s.status]} ${s.step.padEnd(12)} ${s.status === 'planned' ? '' : `(${s.status}) `}${s.detail}`,
      );
      for (const c of s.calls) lines.push(`       ${c.call} ${JSON.stringify(c.input)}\n         — ${c.why}`);
    });
  } else {
    lines.push(
      r.alreadyReleased
        ? `${where} was already released for case ${r.case} (${r.releasedAt}): nothing changed, nothing recorded.`
        : `Released ${where} for case ${r.case} (isolated ${r.isolatedAt}).`,
    );
    for (const s of r.steps)
      lines.push(
        `  ${MARK[s.status]} ${s.step.padEnd(12)} ${s.status.padEnd(8)} ${s.detail}${s.seq ? `  [custody #${s.seq}]` : ''}`,
      );
  }
  for (const m of r.skippedMissing) lines.push(`Skipped (no longer exists): ${m}`);
  for (const k of r.kept) lines.push(`Kept: ${k}`);
  return lines.join('\n');
}
