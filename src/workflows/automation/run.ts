/**
 * `automation run`: the response over a fleet. Resolves the instances (ids, or a tag), refuses the
 * ones EC2 does not have or that are terminated before anything starts, writes the item list into
 * the vault (`cases/<case>/automation/runs/<runId>/items.json`: SSE-KMS, SHA-256 checksum, Object
 * Lock — the Distributed Map's ItemReader source), starts the fleet state machine's execution
 * `run-<runId>` and records `automation.run` (the list's key and SHA-256, the instance count, the
 * execution). With `wait`, polls the execution until it ends and returns each instance's outcome.
 *
 * Safe to run again: the run id is the first 16 hex digits of the item list's SHA-256, so the same
 * list starts the same execution name — Step Functions answers a StartExecution of a running
 * execution with the same name and input with that execution, and a closed one with
 * ExecutionAlreadyExists, which is reported as the run that already happened (`started: false`).
 * The item list is written once (If-None-Match) and the event keyed by the run id.
 *
 * MaxConcurrency, unless given, comes from AWS's limits (docs/automation.md, "Fleet limits").
 */
import { createHash } from 'node:crypto';
import type { AccountCalls } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { withCustodySession, type SealState } from '../../custody/session.js';
import { getBytes, putLocked, type VaultTarget } from '../../custody/store.js';
import type { CustodyRecorder, RecordedEvent } from '../../domain/recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import { assertCaseId } from '../../domain/case-id.js';
import { CleanroomError, UsageError } from '../../domain/errors.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { abortableClock } from '../../domain/abort.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { AWS_LIMITS } from '../../evidence/limits.js';
import { deployedAutomation, executionArnOf } from './deployed.js';
import { automationStatus, type AutomationStatus, type ExecutionStatus } from './status.js';

/** EC2 instance ids: `i-` and 8 or 17 hex digits. */
/** An EC2 instance id (8 or 17 hex digits). */
export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** One entry of the item list (the Distributed Map's item; the response flow's `item`). */
export interface FleetItem {
  caseId: string;
  instanceId: string;
  region: string;
}

/** The fleet execution's input (the contract fleet.asl.json reads). */
export interface FleetInput {
  caseId: string;
  runId: string;
  items: { bucket: string; key: string };
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  pollSeconds?: number;
}

export interface RunOptions {
  caseId: string;
  /** The instances, by id (`--instance`, `--instances-file`). */
  instances?: readonly string[];
  /** Or every non-terminated instance with this tag (`--tag K=V`). */
  tag?: { key: string; value: string };
  /** Children at once (default: from AWS's limits, see {@link fleetLimits}). */
  maxConcurrency?: number;
  /** Failed children (percent) the map tolerates before it stops starting more (default: see {@link fleetLimits}). */
  toleratedFailurePercentage?: number;
  /** Seconds between the response flow's polls of snapshots, copies and stacks (the template's default when unset). */
  pollSeconds?: number;
  /** Override the run id (to run the same list again as a new execution). */
  runId?: string;
  stackName?: string;
  /** Poll the execution until it ends, and return each instance's outcome. */
  wait?: boolean;
  /** Between polls while waiting (default 5 s). */
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

/** The case's record, as automation run writes into it: events, and the vault it lives in. */
export type RunCustody = CustodyRecorder & { readonly vaultTarget: VaultTarget };

export interface RunDeps {
  /** The forensic account, where the automation and the instances are. */
  account: AccountCalls<{
    ec2: 'describeInstances';
    cfn: 'describeStacks';
    sfn: 'startExecution' | 'describeExecution' | 'listExecutions' | 'getExecutionHistory';
    s3: 'putObject' | 'getObject';
  }> & { readonly region: string; accountId(): Promise<string> };
  /** Open the case's record (it may start the case). */
  custody: () => Promise<RunCustody>;
  reporter?: Reporter;
  clock?: Clock;
}

export interface RunResult {
  case: string;
  runId: string;
  executionArn: string;
  /** False when the execution already existed (a rerun of the same list). */
  started: boolean;
  items: { bucket: string; key: string; sha256: string; count: number };
  instances: FleetItem[];
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  /** How the defaults were derived (docs/automation.md). */
  limits: FleetLimits;
  /** The `automation.run` event. */
  seq: number;
  /** The execution's end status (with `wait`). */
  status?: ExecutionStatus;
  /** Each instance's outcome, from the record (with `wait`). */
  summary?: AutomationStatus;
  seal: SealState;
}

/** The concurrency and failure tolerance a fleet gets from AWS's limits, with the arithmetic. */
export interface FleetLimits {
  /** The most EBS volumes any listed instance has. */
  volumesPerInstance: number;
  /** 20 concurrent snapshot copies per destination Region ÷ volumes per instance. */
  byCopies: number;
  /** CopySnapshot/AttachVolume bucket (50 tokens) ÷ (3 calls per volume × volumes per instance). */
  byRequestRate: number;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
}

/** Calls of the CopySnapshot/AttachVolume token bucket per volume: the sharing copy, the forensic copy, the attach. */
const BUCKET_CALLS_PER_VOLUME = 3;
/** The most the fleet tolerates failing, in percent, unless one instance is more than that. */
const TOLERATED_FAILURE_PERCENT = 25;

/** MaxConcurrency and the tolerated failure percentage from AWS's limits (docs/automation.md, "Fleet limits"). */
export function fleetLimits(instances: number, volumesPerInstance: number): FleetLimits {
  const v = Math.max(1, volumesPerInstance);
  const byCopies = Math.max(1, Math.floor(AWS_LIMITS.copiesPerRegion / v));
  const byRequestRate = Math.max(1, Math.floor(AWS_LIMITS.copyAttach.burst / (BUCKET_CALLS_PER_VOLUME * v)));
  return {
    volumesPerInstance: v,
    byCopies,
    byRequestRate,
    maxConcurrency: Math.max(1, Math.min(byCopies, byRequestRate, instances)),
    // One failed instance never stops the others; more than a quarter failing is systemic
    // (permissions, quotas, the deployment) and stops the map from starting more.
    toleratedFailurePercentage: Math.min(
      100,
      Math.max(TOLERATED_FAILURE_PERCENT, Math.ceil(100 / Math.max(1, instances))),
    ),
  };
}

/** The vault key of a run's item list. */
export function itemsKey(caseId: string, runId: string): string {
  return `cases/${caseId}/automation/runs/${runId}/items.json`;
}

/** The item list's bytes: a JSON array, sorted by instance id (the same list gives the same bytes). */
export function itemsBody(items: readonly FleetItem[]): Buffer {
  const sorted = [...items].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  return Buffer.from(
    `${JSON.stringify(sorted.map((i) => ({ caseId: i.caseId, instanceId: i.instanceId, region: i.region })))}\n`,
  );
}

/** See the module comment. */
export async function runFleet(deps: RunDeps, o: RunOptions): Promise<RunResult> {
  const caseId = assertCaseId(o.caseId);
  checkNumbers(o);
  const { account } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const region = account.region;
  // 1. The instances, checked before anything is written or started.
  const found = await resolveInstances(account, o, reporter);
  const items: FleetItem[] = found.map((i) => ({ caseId, instanceId: i.instanceId, region }));
  const body = itemsBody(items);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const runId = o.runId ?? sha256.slice(0, 16);
  if (!/^[A-Za-z0-9-]{1,64}$/.test(runId))
    throw new UsageError(
      'INVALID_VALUE',
      `--run-id ${JSON.stringify(runId)} must be 1 to 64 letters, digits or hyphens.`,
      {
        details: { option: '--run-id', value: runId },
      },
    );
  const limits = fleetLimits(items.length, Math.max(...found.map((i) => i.volumes)));
  const maxConcurrency = o.maxConcurrency ?? limits.maxConcurrency;
  const toleratedFailurePercentage = o.toleratedFailurePercentage ?? limits.toleratedFailurePercentage;
  // 2. The automation must be deployed.
  const deployed = await deployedAutomation(account, o.stackName);
  const name = `run-${runId}`;
  const executionArn = executionArnOf(deployed.fleetStateMachineArn, name);
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const custody = (await session.open()) as RunCustody;
    const key = itemsKey(caseId, runId);
    const bucket = custody.vaultTarget.bucket;
    // 3. The item list, written once.
    reporter.progress({
      kind: 'step',
      message: `writing the item list of ${items.length} instance(s) to s3://${bucket}/${key}`,
    });
    await writeItems(account, custody.vaultTarget, key, body, sha256, deps.clock ?? systemClock);
    session.checkpoint('starting the fleet execution');
    // 4. The execution.
    const input: FleetInput = {
      caseId,
      runId,
      items: { bucket, key },
      maxConcurrency,
      toleratedFailurePercentage,
      ...(o.pollSeconds !== undefined ? { pollSeconds: o.pollSeconds } : {}),
    };
    reporter.progress({ kind: 'step', message: `starting ${name} (at most ${maxConcurrency} instance(s) at once)` });
    let started = true;
    let startDate: Date | undefined;
    try {
      const r = await account.sfn.startExecution({
        stateMachineArn: deployed.fleetStateMachineArn,
        name,
        input: JSON.stringify(input),
      });
      startDate = r.startDate;
    } catch (e) {
      if (!isAwsCode(e, 'ExecutionAlreadyExists')) throw e;
      started = false;
      reporter.warn(
        `${name} already exists (this list ran before): showing that run. To run the same list again as a new execution, pass --run-id.`,
      );
    }
    // 5. The record.
    const event = await recordRun(custody, {
      caseId,
      runId,
      executionArn,
      stateMachineArn: deployed.fleetStateMachineArn,
      bucket,
      key,
      sha256,
      count: items.length,
      instanceIds: items.map((i) => i.instanceId).sort(),
      maxConcurrency,
      toleratedFailurePercentage,
      limits,
      started,
      ...(startDate ? { startDate: new Date(startDate).toISOString() } : {}),
      account: await account.accountId(),
      region,
    });
    const result: Omit<RunResult, 'seal'> = {
      case: caseId,
      runId,
      executionArn,
      started,
      items: { bucket, key, sha256, count: items.length },
      instances: items,
      maxConcurrency,
      toleratedFailurePercentage,
      limits,
      seq: event.seq,
    };
    if (!o.wait) return result;
    // 6. Wait for the end, then each instance's outcome from the record.
    const clock = abortableClock(deps.clock ?? systemClock, o.signal);
    const status = await waitForExecution(account, executionArn, clock, o.pollIntervalMs ?? 5000, reporter);
    const summary = await automationStatus(
      { account, custody: async () => custody },
      { caseId, execution: executionArn },
    );
    const done = { ...result, status, summary };
    if (status !== 'SUCCEEDED') {
      const bad = summary.instances.filter((i) => i.outcome !== 'done');
      throw new CleanroomError(
        'RUN_FAILED',
        `Fleet run ${runId} (case ${caseId}) ended ${status}: ${bad.length} of ${items.length} instance(s) not done (${bad
          .slice(0, 10)
          .map((i) => `${i.instanceId}: ${i.error ? `${i.error.code} at ${i.error.action}` : i.outcome}`)
          .join(
            '; ',
          )}${bad.length > 10 ? '; …' : ''}). \`cleanroom automation status --case ${caseId}\` shows each instance.`,
        { details: { ...done } },
      );
    }
    return done;
  });
}

function checkNumbers(o: RunOptions): void {
  const whole = (v: number | undefined, flag: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      throw new UsageError(
        'INVALID_VALUE',
        `${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}.`,
        {
          details: { option: flag, value: v },
        },
      );
  };
  // Distributed Map: MaxConcurrency up to 10,000 child executions; a percentage 0–100.
  whole(o.maxConcurrency, '--max-concurrency', 1, 10_000);
  whole(o.toleratedFailurePercentage, '--tolerated-failure-percent', 0, 100);
  whole(o.pollSeconds, '--poll-seconds', 1, 3600);
}

/** An instance of the fleet as EC2 describes it. */
interface FoundInstance {
  instanceId: string;
  state: string;
  volumes: number;
}

/** The listed instances (all must exist and not be terminated), or those with the tag. */
async function resolveInstances(
  account: RunDeps['account'],
  o: RunOptions,
  reporter: Reporter,
): Promise<FoundInstance[]> {
  const ids = [...new Set((o.instances ?? []).map((i) => i.trim()).filter(Boolean))];
  if (ids.length && o.tag)
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      'Give the instances either by id (--instance, --instances-file) or by --tag, not both.',
    );
  if (!ids.length && !o.tag)
    throw new UsageError(
      'NO_INSTANCES',
      'Name the instances: --instance I (repeatable), --instances-file F or --tag KEY=VALUE.',
    );
  const bad = ids.filter((i) => !INSTANCE_ID.test(i));
  if (bad.length)
    throw new UsageError(
      'INVALID_INSTANCE_ID',
      `Not EC2 instance ids (i- followed by 8 or 17 hexadecimal digits): ${bad.map((b) => JSON.stringify(b)).join(', ')}. Nothing was started.`,
      { details: { instanceIds: bad } },
    );
  const where = `account ${await account.accountId()}, ${account.region}`;
  reporter.progress({
    kind: 'step',
    message: o.tag
      ? `finding the instances tagged ${o.tag.key}=${o.tag.value} in ${where}`
      : `checking ${ids.length} instance(s) in ${where}`,
  });
  const found = new Map<string, FoundInstance>();
  const filterSets = o.tag
    ? [[{ Name: `tag:${o.tag.key}`, Values: [o.tag.value] }]]
    : chunks(ids, 200).map((c) => [{ Name: 'instance-id', Values: c }]);
  for (const Filters of filterSets) {
    let token: string | undefined;
    do {
      const r = await account.ec2.describeInstances({ Filters, ...(token ? { NextToken: token } : {}) });
      for (const res of r.Reservations ?? [])
        for (const i of res.Instances ?? []) {
          if (!i.InstanceId) continue;
          found.set(i.InstanceId, {
            instanceId: i.InstanceId,
            state: i.State?.Name ?? 'unknown',
            volumes: (i.BlockDeviceMappings ?? []).filter((b) => b.Ebs?.VolumeId).length,
          });
        }
      token = r.NextToken;
    } while (token);
  }
  const gone = (s: string) => s === 'terminated' || s === 'shutting-down';
  if (o.tag) {
    const live = [...found.values()].filter((i) => !gone(i.state));
    if (!live.length)
      throw new UsageError(
        'NO_INSTANCES',
        `No instance in ${where} that is not terminated has the tag ${o.tag.key}=${o.tag.value}. Nothing was started.`,
        { details: { tag: o.tag } },
      );
    return live.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  }
  const missing = ids.filter((i) => !found.has(i));
  const terminated = ids.filter((i) => found.has(i) && gone(found.get(i)!.state));
  if (missing.length || terminated.length)
    throw new UsageError(
      'INSTANCES_UNAVAILABLE',
      [
        missing.length ? `not in ${where}: ${missing.join(', ')}` : '',
        terminated.length
          ? `terminated (nothing left to contain; acquire kept volumes with \`cleanroom acquire --volume\`): ${terminated.join(', ')}`
          : '',
      ]
        .filter(Boolean)
        .join('; ')
        .replace(/^/, 'Instances of the list cannot be responded to — ') +
        '. Nothing was started: correct the list and run again.',
      { details: { missing, terminated } },
    );
  return ids.map((i) => found.get(i)!);
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Write the item list once; an existing object must be the same list (a rerun), else refuse. */
async function writeItems(
  account: RunDeps['account'],
  vault: VaultTarget,
  key: string,
  body: Buffer,
  sha256: string,
  clock: Clock,
): Promise<void> {
  try {
    await putLocked(account, vault, key, body, new Date(clock.now()), { create: true });
  } catch (e) {
    if (!isAwsCode(e, 'PreconditionFailed')) throw e;
    const got = await getBytes(account, vault.bucket, key);
    const theirs = got ? createHash('sha256').update(got.body).digest('hex') : undefined;
    if (theirs !== sha256)
      throw new UsageError(
        'INVALID_VALUE',
        `s3://${vault.bucket}/${key} already holds another item list (SHA-256 ${theirs ?? 'unreadable'}): this run id was used for other instances; give another --run-id.`,
        { details: { option: '--run-id', key, sha256: theirs } },
      );
  }
}

async function recordRun(
  custody: RunCustody,
  r: {
    caseId: string;
    runId: string;
    executionArn: string;
    stateMachineArn: string;
    bucket: string;
    key: string;
    sha256: string;
    count: number;
    instanceIds: string[];
    maxConcurrency: number;
    toleratedFailurePercentage: number;
    limits: FleetLimits;
    started: boolean;
    startDate?: string;
    account: string;
    region: string;
  },
): Promise<RecordedEvent> {
  return custody.record({
    action: 'automation.run',
    idempotencyKey: idempotencyKeys.automation.run(r.runId),
    resources: [
      resourceRef('s3:object', `${r.bucket}/${r.key}`, r.account, r.region),
      resourceRef('states:execution', r.executionArn, r.account, r.region, r.executionArn),
      resourceRef('states:stateMachine', r.stateMachineArn, r.account, r.region, r.stateMachineArn),
    ],
    inputs: {
      runId: r.runId,
      items: { bucket: r.bucket, key: r.key, sha256: r.sha256, count: r.count },
      instanceIds: r.instanceIds,
      maxConcurrency: r.maxConcurrency,
      toleratedFailurePercentage: r.toleratedFailurePercentage,
      limits: { ...r.limits },
    },
    outcome: {
      status: 'succeeded',
      details: {
        execution: r.executionArn,
        started: r.started,
        ...(r.startDate ? { startDate: r.startDate } : {}),
      },
    },
  });
}

/** Poll DescribeExecution until the execution leaves RUNNING; progress on every change. */
async function waitForExecution(
  account: RunDeps['account'],
  executionArn: string,
  clock: Clock,
  intervalMs: number,
  reporter: Reporter,
): Promise<ExecutionStatus> {
  const start = clock.now();
  for (;;) {
    const d = await account.sfn.describeExecution({ executionArn });
    const status = (d.status ?? 'UNKNOWN') as ExecutionStatus;
    const seconds = Math.round((clock.now() - start) / 1000);
    reporter.progress({ kind: 'item', item: executionArn.split(':').at(-1)!, phase: status, message: `${seconds}s` });
    if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') return status;
    await clock.sleep(intervalMs);
  }
}
