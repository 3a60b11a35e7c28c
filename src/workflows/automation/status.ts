/**
 * `automation status`: the executions of a case (fleet runs and single responses) and each
 * instance's outcome.
 *
 * Source of truth: the case's custody record. What each instance went through — isolated, which
 * evidence, hashed, attached, notified, or the error it stopped at — is read from the record's
 * events, the one account of the response that cannot be edited afterwards (hash-chained, signed,
 * under Object Lock) and that outlives Step Functions' history (kept 90 days after an execution
 * closes). Step Functions adds what only it knows: whether an execution is still running, and how
 * it ended (status, error, cause); an execution it no longer knows is reported from the record
 * alone (`status: "UNKNOWN"`).
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import { heldOnCase, type LeaseDocument } from '../../custody/lease.js';
import { resolveVaultBucket } from '../../custody/vault/bucket.js';
import { isAwsCode } from '../../aws/errors.js';
import type { CustodyRecorder, RecordedEvent } from '../../domain/recorder.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';
import { assertCaseId } from '../../domain/case-id.js';
import { UsageError } from '../../domain/errors.js';
import { deployedAutomation, executionNotFound, parseExecutionArn, type DeployedAutomation } from './deployed.js';

/** How an execution stands: Step Functions' status, or UNKNOWN when it no longer knows it. */
export type ExecutionStatus =
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'ABORTED'
  | 'PENDING_REDRIVE'
  | 'UNKNOWN';

/** One execution of the automation. */
export interface ExecutionSummary {
  executionArn: string;
  /** `fleet` (automation run's Distributed Map) or `response` (one instance). */
  kind: 'fleet' | 'response';
  status: ExecutionStatus;
  caseId?: string;
  startDate?: string;
  stopDate?: string;
  /** How it failed (Step Functions' error and cause). */
  error?: string;
  cause?: string;
  /** The instances it handles (from the record or its input). */
  instanceIds: string[];
  /** A fleet run: its id and item list in the vault. */
  runId?: string;
  items?: { bucket: string; key: string; sha256?: string; count?: number };
  /** Its output (parsed JSON), once it ended. */
  output?: unknown;
}

/** What became of one instance, from the custody record. */
export interface InstanceOutcome {
  instanceId: string;
  /**
   * `done`: isolated, every evidence item preserved, hashed and attached; `failed`: a step failed
   * (error says which) or its execution ended without finishing; `running`: its execution is still
   * working; `incomplete`: neither, and nothing runs (the record says how far it got).
   */
  outcome: 'done' | 'failed' | 'running' | 'incomplete';
  /** Isolated now: the latest isolation of the instance completed and was not released since. */
  isolated: boolean;
  /** When that isolation was recorded complete (when isolated). */
  isolatedAt?: string;
  evidence: Array<Pick<EvidencePatch, 'evidenceId' | 'state' | 'sha256' | 'sourceVolumeId' | 'forensicSnapshotId'>>;
  hashed: number;
  attached: number;
  notified: boolean;
  error?: { code: string; message: string; action: string; seq: number };
  executions: string[];
}

export interface AutomationStatus {
  case: string | null;
  executions: ExecutionSummary[];
  instances: InstanceOutcome[];
  /** The record's head when it was read (what the outcomes are read from). */
  head?: { seq: number; hash: string };
  /**
   * What holds the case now (with `StatusDeps.held`): the case's lease (`scope` null: a command) and
   * each lock a running step of the case holds (`instance:i-…@<account>.<region>`, `room:…`;
   * docs/custody.md, "Locks finer than the lease").
   */
  held?: Array<{ scope: string | null; command: string; holder: string; since: string; until: string }>;
}

export interface StatusDeps {
  account: AccountCalls<{
    sfn: 'describeExecution' | 'listExecutions' | 'getExecutionHistory';
    cfn: 'describeStacks';
  }> & {
    readonly region: string;
  };
  /** The record of a case (read only). */
  custody?: (caseId: string) => Promise<Pick<CustodyRecorder, 'events'>>;
  /** What holds the case now: its lease and its locks (see {@link caseHolders}). */
  held?: (caseId: string) => Promise<LeaseDocument[]>;
}

/** {@link StatusDeps.held} over the vault (`bucket`, or the account's default vault). */
export function caseHolders(
  account: Pick<AwsAccount, 's3' | 'accountId' | 'region'>,
  bucket: string | undefined,
): (caseId: string) => Promise<LeaseDocument[]> {
  return async (caseId) => heldOnCase({ account, bucket: await resolveVaultBucket(account, bucket), caseId });
}

export interface StatusOptions {
  caseId?: string;
  execution?: string;
  stackName?: string;
  /** Without a case or an execution: how many recent executions of each state machine to list. */
  limit?: number;
}

const EXECUTION_ARN_IN_TEXT = /arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:"\s]+:[^:"\s]+/g;
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** See the module comment. */
export async function automationStatus(deps: StatusDeps, o: StatusOptions): Promise<AutomationStatus> {
  let caseId = o.caseId === undefined ? undefined : assertCaseId(o.caseId);
  const wanted = o.execution === undefined ? undefined : parseExecutionArn(o.execution).arn;
  const described = new Map<string, ExecutionSummary>();
  if (wanted) {
    const one = await describe(deps, wanted, undefined);
    if (one.status === 'UNKNOWN' && !caseId) throw executionNotFound(wanted);
    // Started by EventBridge, its input is the raw finding: the case is in its steps' history.
    if (!caseId && !one.caseId) {
      const found = await caseOfExecution(deps.account, wanted, undefined, undefined).catch(() => undefined);
      if (found) one.caseId = found;
    }
    described.set(wanted, one);
    caseId ??= one.caseId;
  }
  if (!caseId) {
    // No case: the recent executions of both state machines, as Step Functions lists them.
    const deployed = await deployedAutomation(deps.account, o.stackName);
    const listed = wanted ? [...described.values()] : await listRecent(deps, deployed, o.limit ?? 20);
    return { case: null, executions: listed, instances: [] };
  }
  if (!deps.custody) return { case: caseId, executions: [...described.values()], instances: [] };
  const events = (await deps.custody(caseId)).events();
  const fromRecord = executionsInRecord(events);
  const executions: ExecutionSummary[] = [];
  for (const [arn, seen] of fromRecord) {
    if (wanted && arn !== wanted) continue;
    const live = described.get(arn) ?? (await describe(deps, arn, caseId));
    executions.push({
      ...live,
      caseId,
      instanceIds: [...new Set([...seen.instanceIds, ...live.instanceIds])].sort(),
      ...(seen.runId ? { runId: seen.runId } : {}),
      ...(seen.items ? { items: seen.items } : {}),
    });
  }
  for (const [arn, d] of described) if (!fromRecord.has(arn)) executions.push({ ...d, caseId });
  const instances = outcomes(
    events,
    executions,
    wanted ? new Set(executions.flatMap((e) => e.instanceIds)) : undefined,
  );
  // The main chain's head (what the manifest signs); events still in uncommitted lanes follow it.
  const last = events.filter((e) => e.lane === undefined).at(-1);
  const held = deps.held ? await deps.held(caseId) : undefined;
  return {
    case: caseId,
    executions,
    instances,
    ...(last ? { head: { seq: last.seq, hash: last.hash } } : {}),
    ...(held
      ? {
          held: held.map((d) => ({
            scope: d.scope ?? null,
            command: d.command,
            holder: d.actor ?? d.owner,
            since: d.acquiredAt,
            until: d.expiresAt,
          })),
        }
      : {}),
  };
}

/** What the record says about each execution it names. */
interface RecordedExecution {
  instanceIds: Set<string>;
  runId?: string;
  items?: ExecutionSummary['items'];
}

/** Every execution an `automation.*` event names, with the instances and fleet run it goes with. */
export function executionsInRecord(events: readonly RecordedEvent[]): Map<string, RecordedExecution> {
  const out = new Map<string, RecordedExecution>();
  for (const e of events) {
    if (!e.action.startsWith('automation.')) continue;
    const text = JSON.stringify({ inputs: e.inputs ?? {}, details: e.outcome.details ?? {}, resources: e.resources });
    for (const arn of new Set(text.match(EXECUTION_ARN_IN_TEXT) ?? [])) {
      const x = out.get(arn) ?? { instanceIds: new Set<string>() };
      for (const i of instancesOf(e)) x.instanceIds.add(i);
      if (e.action === 'automation.run') {
        const runId = e.inputs?.['runId'];
        const items = e.inputs?.['items'] as ExecutionSummary['items'] | undefined;
        if (typeof runId === 'string') x.runId = runId;
        if (items && typeof items === 'object') x.items = items;
      }
      out.set(arn, x);
    }
  }
  return out;
}

/** The instances an event is about: its `ec2:instance` resources and instance ids among its inputs. */
function instancesOf(e: Pick<RecordedEvent, 'resources' | 'inputs'>): string[] {
  const ids = new Set<string>();
  for (const r of e.resources) if (r.type === 'ec2:instance' && INSTANCE_ID.test(r.id)) ids.add(r.id);
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (INSTANCE_ID.test(v)) ids.add(v);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(e.inputs);
  return [...ids];
}

/** Each instance's outcome, from the record (the instances of `only`, or every one automation handled). */
export function outcomes(
  events: readonly RecordedEvent[],
  executions: readonly ExecutionSummary[],
  only?: ReadonlySet<string>,
): InstanceOutcome[] {
  const ids = new Set<string>(only ?? executions.flatMap((x) => x.instanceIds));
  const evidence = [...foldEvidence(events).values()];
  const summaries = fleetSummaries(events);
  const out: InstanceOutcome[] = [];
  for (const instanceId of [...ids].sort()) {
    const mine = events.filter((e) => instancesOf(e).includes(instanceId));
    const items = evidence.filter((x) => x.sourceInstanceId === instanceId);
    // Isolated now: its latest isolation completed and no release completed after it.
    const ends = mine.filter(
      (e) => (e.action === 'isolate.complete' || e.action === 'isolate.release') && e.outcome.status === 'succeeded',
    );
    const latest = ends.at(-1);
    const isolated = latest?.action === 'isolate.complete';
    const lastFailure = mine.filter((e) => failureOf(e)).at(-1);
    // A failure that a later success of the same action made good does not count.
    const standing =
      lastFailure &&
      // (Later in the record's order: a lane event's seq counts within its lane, not the record.)
      !mine.slice(mine.indexOf(lastFailure) + 1).some((e) => madeGood(lastFailure, e))
        ? { ...failureOf(lastFailure)!, action: lastFailure.action, seq: lastFailure.seq }
        : undefined;
    // What the latest fleet summary naming the instance said of it: a child that failed before
    // anything of its own was recorded is named there.
    const summarized = summaries.filter((x) => x.instanceId === instanceId).at(-1);
    const error = standing ?? (summarized?.outcome === 'failed' ? summarized.error : undefined);
    const hashed = items.filter((x) => typeof x.sha256 === 'string').length;
    const attached = items.filter((x) => x.state === 'attached').length;
    const runs = executions.filter((x) => x.instanceIds.includes(instanceId));
    const running = runs.some((x) => x.status === 'RUNNING');
    // The response isolated it (a release since, by the responders, does not undo that the response finished).
    const responded = ends.some((e) => e.action === 'isolate.complete');
    const complete = responded && items.length > 0 && hashed === items.length && attached === items.length;
    const ended = runs.length > 0 && runs.every((x) => x.status !== 'RUNNING' && x.status !== 'UNKNOWN');
    const outcome: InstanceOutcome['outcome'] = complete
      ? 'done'
      : standing || summarized?.outcome === 'failed' || (ended && runs.some((x) => x.status !== 'SUCCEEDED'))
        ? running
          ? 'running'
          : 'failed'
        : running
          ? 'running'
          : 'incomplete';
    out.push({
      instanceId,
      outcome,
      isolated,
      ...(isolated && latest ? { isolatedAt: latest.time } : {}),
      evidence: items.map((x) => ({
        evidenceId: x.evidenceId,
        ...(x.state ? { state: x.state } : {}),
        ...(x.sha256 ? { sha256: x.sha256 } : {}),
        ...(x.sourceVolumeId ? { sourceVolumeId: x.sourceVolumeId } : {}),
        ...(x.forensicSnapshotId ? { forensicSnapshotId: x.forensicSnapshotId } : {}),
      })),
      hashed,
      attached,
      notified: mine.some((e) => e.action === 'automation.notify'),
      ...(error ? { error } : {}),
      executions: runs.map((x) => x.executionArn),
    });
  }
  return out;
}

type Failure = { code: string; message: string };

/**
 * The failure an event records: a failed step (its error), or the responders told of a failure
 * (`automation.notify` with outcome failed or expired: the error code the state machine caught).
 */
function failureOf(e: RecordedEvent): Failure | undefined {
  if (e.outcome.status === 'failed' && e.outcome.error)
    return { code: e.outcome.error.code, message: e.outcome.error.message };
  const d = e.outcome.details ?? {};
  if (e.action === 'automation.notify' && (d['outcome'] === 'failed' || d['outcome'] === 'expired'))
    return {
      code: typeof d['error'] === 'string' ? d['error'] : 'unknown',
      message: typeof d['errorMessage'] === 'string' ? d['errorMessage'] : '',
    };
  return undefined;
}

/** Does `later` make good the failure `failed` records (the same step succeeded; a response notified done)? */
function madeGood(failed: RecordedEvent, later: RecordedEvent): boolean {
  if (failed.action !== later.action) return false;
  if (later.action === 'automation.notify') return later.outcome.details?.['outcome'] === 'succeeded';
  return later.outcome.status === 'succeeded';
}

/** One instance as a fleet run's summary reports it. */
export interface SummarizedInstance {
  instanceId: string;
  outcome: string;
  seq: number;
  /** The error it names as `CODE: message` (none when the map gave no result for the item). */
  error?: Failure & { action: string; seq: number };
}

/** Each instance the fleet runs' summaries (`automation.notify`, outcome `summary`) report, in record order. */
export function fleetSummaries(events: readonly RecordedEvent[]): SummarizedInstance[] {
  const out: SummarizedInstance[] = [];
  for (const e of events) {
    const d = e.outcome.details ?? {};
    if (e.action !== 'automation.notify' || d['outcome'] !== 'summary' || !Array.isArray(d['instances'])) continue;
    for (const x of d['instances'] as Array<Record<string, unknown>>) {
      if (typeof x?.['instanceId'] !== 'string' || typeof x['outcome'] !== 'string') continue;
      const m = typeof x['error'] === 'string' ? /^([A-Za-z][\w.]*): ?([\s\S]*)$/.exec(x['error']) : null;
      out.push({
        instanceId: x['instanceId'],
        outcome: x['outcome'],
        seq: e.seq,
        ...(m ? { error: { code: m[1]!, message: m[2]!, action: e.action, seq: e.seq } } : {}),
      });
    }
  }
  return out;
}

/** One execution as Step Functions describes it (UNKNOWN when it no longer knows it). */
async function describe(deps: StatusDeps, arn: string, caseId: string | undefined): Promise<ExecutionSummary> {
  const kind = /:run-[^:]+$/.test(arn) ? 'fleet' : 'response';
  try {
    const d = await deps.account.sfn.describeExecution({ executionArn: arn });
    const input = parseJson(d.input);
    const output = parseJson(d.output);
    const foundCase = caseId ?? firstString(input, 'caseId') ?? firstString(output, 'caseId');
    const instances = new Set<string>();
    collectInstances(input, instances);
    return {
      executionArn: arn,
      kind: d.stateMachineArn && /fleet/i.test(d.stateMachineArn) ? 'fleet' : kind,
      status: (d.status ?? 'UNKNOWN') as ExecutionStatus,
      ...(foundCase ? { caseId: foundCase } : {}),
      ...(d.startDate ? { startDate: new Date(d.startDate).toISOString() } : {}),
      ...(d.stopDate ? { stopDate: new Date(d.stopDate).toISOString() } : {}),
      ...(d.error ? { error: d.error } : {}),
      ...(d.cause ? { cause: d.cause } : {}),
      instanceIds: [...instances].sort(),
      ...(output !== undefined ? { output } : {}),
    };
  } catch (e) {
    if (isAwsCode(e, 'ExecutionDoesNotExist', 'StateMachineDoesNotExist'))
      return { executionArn: arn, kind, status: 'UNKNOWN', instanceIds: [] };
    throw e;
  }
}

/** The latest executions of both state machines (no case given). */
async function listRecent(deps: StatusDeps, d: DeployedAutomation, limit: number): Promise<ExecutionSummary[]> {
  const out: ExecutionSummary[] = [];
  for (const [kind, machine] of [
    ['fleet', d.fleetStateMachineArn],
    ['response', d.responseStateMachineArn],
  ] as const) {
    const r = await deps.account.sfn.listExecutions({ stateMachineArn: machine, maxResults: limit });
    for (const x of r.executions ?? []) {
      if (!x.executionArn) continue;
      out.push({
        executionArn: x.executionArn,
        kind,
        status: (x.status ?? 'UNKNOWN') as ExecutionStatus,
        ...(x.startDate ? { startDate: new Date(x.startDate).toISOString() } : {}),
        ...(x.stopDate ? { stopDate: new Date(x.stopDate).toISOString() } : {}),
        instanceIds: [],
      });
    }
  }
  return out.sort((a, b) => (b.startDate ?? '').localeCompare(a.startDate ?? ''));
}

function parseJson(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** The first string under `key` anywhere in a JSON value (breadth first). */
export function firstString(v: unknown, key: string): string | undefined {
  const queue: unknown[] = [v];
  while (queue.length) {
    const x = queue.shift();
    if (!x || typeof x !== 'object') continue;
    if (!Array.isArray(x) && typeof (x as Record<string, unknown>)[key] === 'string')
      return (x as Record<string, string>)[key];
    queue.push(...Object.values(x));
  }
  return undefined;
}

function collectInstances(v: unknown, into: Set<string>): void {
  if (typeof v === 'string') {
    if (INSTANCE_ID.test(v)) into.add(v);
  } else if (Array.isArray(v)) for (const x of v) collectInstances(x, into);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collectInstances(x, into);
}

/**
 * The case of an execution: from its input (a fleet child's item, a fleet's input), its output,
 * or — for one started by EventBridge, whose input is the raw finding — the case its steps
 * carried (the latest state input or output in its history that names one).
 */
export async function caseOfExecution(
  account: AccountCalls<{ sfn: 'getExecutionHistory' }>,
  arn: string,
  input: string | undefined,
  output: string | undefined,
): Promise<string> {
  for (const s of [input, output]) {
    const found = s ? firstString(safeJson(s), 'caseId') : undefined;
    if (found) return found;
  }
  let token: string | undefined;
  let pages = 0;
  do {
    const h = await account.sfn.getExecutionHistory({
      executionArn: arn,
      reverseOrder: true,
      maxResults: 200,
      ...(token ? { nextToken: token } : {}),
    });
    for (const e of h.events ?? []) {
      for (const s of [
        e.stateEnteredEventDetails?.input,
        e.stateExitedEventDetails?.output,
        e.taskScheduledEventDetails?.parameters,
        e.lambdaFunctionScheduledEventDetails?.input,
      ]) {
        const found = s ? firstString(safeJson(s), 'caseId') : undefined;
        if (found) return found;
      }
    }
    token = h.nextToken;
    pages += 1;
  } while (token && pages < 5);
  throw new UsageError(
    'INVALID_VALUE',
    `Execution ${arn} does not say which case it is for (no caseId in its input, output or recent history): pass --case.`,
    { details: { execution: arn, option: '--case' } },
  );
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}
