/**
 * The steps of the response, one per Lambda handler: each parses its input (host.ts), calls ONE
 * library workflow (through `world.workflows`, in hand-off mode) or writes one record of its own,
 * and returns done or pending. Pure of AWS: everything reaches AWS through the world.
 */
import { createHash } from 'node:crypto';
import { foldEvidence } from '../domain/evidence.js';
import { idempotencyKeys } from '../domain/idempotency-keys.js';
import { automationApprovalKey } from '../domain/vault-name.js';
import { resourceRef } from '../resources/refs.js';
import { sealRecord } from '../custody/session.js';
import type { CustodyRecorder } from '../domain/recorder.js';
import { lockScopes, type Exclusive } from '../domain/exclusive.js';
import { digest16 } from './case-id.js';
import { readTrigger } from './events.js';
import { executionName, type CaseRecord, type StepBody, type StepContext } from './host.js';
import type { CaseRef, HandlerName } from './types.js';

interface StepInput {
  case: CaseRef;
  execution: string;
}
export type ResolveInput = { input: unknown; execution: string };
export type ApprovalInput = StepInput & { taskToken: string };
export type ItemInput = StepInput & { item: { evidenceId: string } };
export type HashInput = ItemInput & { resume?: Record<string, unknown> | null };
export type NotifyInput = {
  case?: CaseRef | null;
  /** A fleet item that failed before its case was resolved: the failure is recorded in the item's case. */
  item?: { caseId: string; instanceId: string; region: string };
  execution: string;
  outcome: 'succeeded' | 'failed' | 'rejected' | 'expired';
  error?: { Error?: string; Cause?: string };
};
export type SummarizeInput = {
  fleet: { caseId: string; runId: string };
  execution: string;
  /** The Map's output: one entry per item, in the item list's order (null for an item that failed). */
  results: unknown[];
  /** The item list in the vault (to name the instance of an item that failed). */
  items?: { bucket: string; key: string };
  /** Why the Map itself failed (too many items failed). */
  error?: { Error?: string; Cause?: string };
};

/**
 * The record as a step's workflow gets it: appends go to the step's lane, but the workflow's own
 * seal on the way out does nothing (a seal appends a contended checkpoint to the main chain): the
 * final step of the execution (notify, summarize) commits every lane once.
 */
function appendOnly(record: CaseRecord): CustodyRecorder {
  return {
    record: (entry) => record.record(entry),
    find: (key) => record.find(key),
    events: () => record.events(),
  };
}

/**
 * Open a case's record for one step that changes the case's AWS state: its events in the step's
 * lane (`unit`: what it works on), the locks of what it changes (`scopes`: src/domain/exclusive.ts)
 * held for the invocation so that no other writer changes the same resources meanwhile — instances
 * of one case go on in parallel — given back after. The record itself needs no lock.
 */
async function withLocks<T>(
  x: StepContext,
  ref: CaseRef,
  command: string,
  unit: string,
  scopes: string[],
  fn: (r: CustodyRecorder, exclusive: Exclusive) => Promise<T>,
) {
  const record = await x.world.openRecord(ref.caseId, {
    mustExist: true,
    locks: { owner: x.leaseOwner, command: `automation ${command}`, scopes },
    lane: x.lane(unit),
    actor: x.actor,
  });
  try {
    return await fn(appendOnly(record), (more, f) => record.withLocks(more, f));
  } finally {
    await record.releaseLease().catch(() => undefined);
  }
}

/** The account and Region of the case's instance: where its vault-wide lock is. */
const where = (ref: CaseRef) => ({ account: ref.account, region: ref.region });

/** The key of the approval document of an execution's instance. */
export function approvalKey(caseId: string, executionArn: string, instanceId: string): string {
  return automationApprovalKey(caseId, executionName(executionArn), instanceId);
}

const resolve: StepBody<ResolveInput> = async (input, x) => {
  const { env } = x.world;
  const t = readTrigger(input.input, env.minSeverity);
  if ('ignored' in t) return { status: 'done', ignored: true, duplicate: false, reason: t.ignored };
  const ref: CaseRef = {
    caseId: t.caseId,
    instanceId: t.instanceId,
    region: t.region,
    account: t.account || (await x.world.accountId()),
    finding: t.finding,
    policy: env.isolationPolicy,
  };
  await x.world.workflows.checkInstance(ref, x.signal);
  const record = await x.world.openRecord(ref.caseId, {
    mustExist: false,
    lane: x.lane(ref.instanceId),
    actor: x.actor,
  });
  const key = idempotencyKeys.automation.start(t.finding.source, digest16(t.finding.id), ref.instanceId);
  const earlier = record.find(key);
  const firstExecution = earlier?.inputs?.['execution'];
  if (earlier && firstExecution !== input.execution)
    return { status: 'done', ignored: false, duplicate: true, case: ref, firstExecution, startedAt: earlier.time };
  const event = await record.record({
    action: 'automation.start',
    resources: [resourceRef('ec2:instance', ref.instanceId, ref.account, ref.region)],
    inputs: {
      finding: t.finding,
      instance: ref.instanceId,
      region: ref.region,
      account: ref.account,
      policy: ref.policy,
      execution: input.execution,
      ...(t.others.length ? { others: t.others } : {}),
    },
    outcome: { status: 'succeeded' },
    idempotencyKey: key,
  });
  // Not sealed here: the event waits in the step's lane for the final step's checkpoint.
  return { status: 'done', ignored: false, duplicate: false, case: ref, seq: event.seq };
};

const isolate: StepBody<StepInput> = async (input, x) => {
  const ref = input.case;
  if (ref.policy === 'never')
    return { status: 'done', skipped: true, reason: 'isolation policy never: the instance is not isolated' };
  // The instance's lock; the steps that change what instances share take theirs briefly (exclusive).
  return withLocks(
    x,
    ref,
    'isolate',
    ref.instanceId,
    [lockScopes.instance(ref.instanceId, where(ref))],
    async (record, exclusive) => {
      const r = await x.world.workflows.isolate({ ref, record, signal: x.signal, exclusive });
      return { status: 'done', skipped: false, alreadyIsolated: r.alreadyIsolated, steps: r.steps };
    },
  );
};

const acquire: StepBody<StepInput> = async (input, x) =>
  withLocks(
    x,
    input.case,
    'acquire',
    input.case.instanceId,
    [lockScopes.instance(input.case.instanceId, where(input.case))],
    async (record) => {
      const r = await x.world.workflows.acquire({ ref: input.case, record, signal: x.signal });
      return {
        status: 'done',
        evidence: r.evidence.map((e) => ({
          evidenceId: e.evidenceId,
          ...(e.forensicSnapshotId ? { snapshotId: e.forensicSnapshotId } : {}),
          ...(e.sizeGiB !== undefined ? { sizeGiB: e.sizeGiB } : {}),
        })),
      };
    },
  );

/** The hash appends its own event at the end (as `evidence hash` does): no lease, many items at once. */
const hash: StepBody<HashInput> = async (input, x) => {
  const record = await x.world.openRecord(input.case.caseId, {
    mustExist: true,
    lane: x.lane(input.item.evidenceId),
    actor: x.actor,
  });
  const r = await x.world.workflows.hash({
    ref: input.case,
    record: appendOnly(record),
    signal: x.signal,
    evidenceId: input.item.evidenceId,
    resume: input.resume ?? null,
    budgetMs: x.budgetMs,
  });
  if (r.done) return { status: 'done', evidenceId: input.item.evidenceId, sha256: r.sha256 };
  // Pending with the state to carry: the state machine passes `resume` back in on the next call.
  return { status: 'pending', waitSeconds: 1, waitingFor: r.waitingFor, resume: r.state };
};

const room: StepBody<StepInput> = async (input, x) =>
  withLocks(x, input.case, 'room', input.case.instanceId, [lockScopes.room(input.case.caseId)], async (record) => {
    const r = await x.world.workflows.room({ ref: input.case, record, signal: x.signal });
    return { status: 'done', stackName: r.stackName, ...(r.instanceId ? { instanceId: r.instanceId } : {}) };
  });

const attach: StepBody<ItemInput> = async (input, x) =>
  withLocks(x, input.case, 'attach', input.item.evidenceId, [lockScopes.room(input.case.caseId)], async (record) => {
    const r = await x.world.workflows.attach({
      ref: input.case,
      record,
      signal: x.signal,
      evidenceId: input.item.evidenceId,
    });
    return { status: 'done', evidenceId: input.item.evidenceId, ...r };
  });

const requestApproval: StepBody<ApprovalInput> = async (input, x) => {
  const ref = input.case;
  const record = await x.world.openRecord(ref.caseId, {
    mustExist: true,
    lane: x.lane(ref.instanceId),
    actor: x.actor,
  });
  const key = approvalKey(ref.caseId, input.execution, ref.instanceId);
  const requestedAt = x.world.now().toISOString();
  // Written again on a retry: a retried task has a new token, and the newest version is the one to use.
  await x.world.writeVaultObject(record, key, {
    taskToken: input.taskToken,
    executionArn: input.execution,
    requestedAt,
    caseId: ref.caseId,
    instanceId: ref.instanceId,
  });
  await record.record({
    action: 'automation.approval.request',
    resources: [resourceRef('ec2:instance', ref.instanceId, ref.account, ref.region), resourceRef('s3:object', key)],
    inputs: { execution: input.execution, instance: ref.instanceId, finding: ref.finding, approvalKey: key },
    outcome: { status: 'succeeded' },
    idempotencyKey: idempotencyKeys.automation.approvalRequest(ref.instanceId, input.execution),
  });
  // Sealed here (a checkpoint committing the run's lanes so far): the execution may wait days for
  // a decision, and the record should verify meanwhile.
  await sealRecord(record);
  await x.world.publish(
    `[cleanroom] approve isolation of ${ref.instanceId} (case ${ref.caseId})?`,
    [
      `The automated response for case ${ref.caseId} waits for approval to isolate instance ${ref.instanceId} (account ${ref.account}, ${ref.region}).`,
      ref.finding
        ? `Finding: ${ref.finding.title || ref.finding.type} (${ref.finding.source} ${ref.finding.id}, severity ${ref.finding.severity}).`
        : '',
      '',
      `Approve:  cleanroom automation approve --execution ${input.execution} --instance ${ref.instanceId}`,
      `Reject:   cleanroom automation reject --execution ${input.execution} --instance ${ref.instanceId}`,
      '',
      'Rejecting stops the response: nothing is isolated or acquired.',
    ]
      .filter((l, i) => l !== '' || i > 1)
      .join('\n'),
  );
  return { status: 'done', approvalKey: key, requestedAt };
};

/**
 * The final step's seal: one `custody.checkpoint` committing every lane this record knows — the
 * execution's steps' lanes (and any other writer's left uncommitted) — then the signed manifest.
 * A failure is the step's failure (the state machine retries it): a finished execution leaves
 * nothing uncommitted.
 */
async function commitLanes(record: CaseRecord): Promise<void> {
  if (record.dirty) await record.sealManifest();
}

/** The custody head of a record: the last event's sequence number and hash. */
function headOf(record: CaseRecord): { seq: number; hash: string } | undefined {
  // The main chain's head (what the manifest signs), not an uncommitted lane event.
  const events = record.events().filter((e) => e.lane === undefined);
  const last = events[events.length - 1];
  return last ? { seq: last.seq, hash: last.hash } : undefined;
}

const notify: StepBody<NotifyInput> = async (input, x) => {
  const ref = input.case ?? undefined;
  // The instance and case the notice is about: the resolved case, or a fleet item that failed before it.
  const about = ref ?? (input.item ? { ...input.item, account: await x.world.accountId() } : undefined);
  const record = about
    ? await x.world.openRecord(about.caseId, {
        mustExist: Boolean(ref),
        lane: x.lane(about.instanceId),
        actor: x.actor,
      })
    : undefined;
  const key = idempotencyKeys.automation.notify(input.outcome, about?.instanceId ?? 'none', input.execution);
  if (record?.find(key)) {
    // A retry after the notice was recorded: commit the lanes (the attempt may have died before).
    await commitLanes(record);
    return { status: 'done', alreadyNotified: true };
  }
  // Commit the execution's lanes first: the head the notice names is then a signed main-chain head
  // over everything the steps recorded (the notice's own event is committed after it).
  if (record) await commitLanes(record);
  const evidence = record
    ? [...foldEvidence(record.events()).values()].filter((e) => !about || e.sourceInstanceId === about.instanceId)
    : [];
  const head = record ? headOf(record) : undefined;
  const what = about ? `instance ${about.instanceId} (case ${about.caseId})` : 'an event the response could not take';
  const subject = `[cleanroom] response ${input.outcome} for ${what}`.slice(0, 99);
  const lines = [
    `The automated response ${input.outcome === 'succeeded' ? 'finished' : `ended: ${input.outcome}`} for ${what}.`,
    `Execution: ${input.execution}`,
    ...(input.error ? [`Error: ${input.error.Error ?? 'unknown'}: ${causeMessage(input.error.Cause)}`] : []),
    ...(ref?.finding
      ? [`Finding: ${ref.finding.title || ref.finding.type} (${ref.finding.source} ${ref.finding.id})`]
      : []),
    ...(ref ? [`Isolation policy: ${ref.policy}`] : []),
    ...(evidence.length ? ['', 'Evidence:'] : []),
    ...evidence.map(
      (e) =>
        `  ${e.evidenceId}  ${e.sourceVolumeId ?? ''}  snapshot ${e.forensicSnapshotId ?? '-'}  sha256 ${e.sha256 ?? '(not hashed yet)'}${e.volumeId ? `  attached ${e.volumeId}` : ''}`,
    ),
    ...(head ? ['', `Custody head: #${head.seq} ${head.hash}`] : []),
    ...(about ? [`Verify: cleanroom custody verify --case ${about.caseId}`] : []),
  ];
  const message = lines.join('\n');
  const messageId = await x.world.publish(subject, message);
  if (record && about) {
    await record.record({
      action: 'automation.notify',
      resources: [resourceRef('ec2:instance', about.instanceId, about.account, about.region)],
      inputs: { execution: input.execution, topic: x.world.env.topicArn },
      outcome: {
        status: 'succeeded',
        details: {
          outcome: input.outcome,
          messageId,
          subject,
          messageSha256: createHash('sha256').update(message).digest('hex'),
          evidence: evidence.map((e) => e.evidenceId),
          ...(head ? { head } : {}),
          ...(input.error
            ? { error: input.error.Error ?? 'unknown', errorMessage: causeMessage(input.error.Cause) }
            : {}),
        },
      },
      idempotencyKey: key,
    });
    await commitLanes(record);
  }
  return { status: 'done', messageId, ...(head ? { head } : {}) };
};

/** The message of a Lambda error's Cause (a JSON document from Lambda), or the cause as it is. */
function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const c = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof c.errorMessage === 'string' ? c.errorMessage : cause;
  } catch {
    return cause;
  }
}

interface FleetItem {
  caseId?: string;
  instanceId?: string;
  region?: string;
}

/**
 * One fleet child's outcome, read from what the response flow ended with; a failed item is `null`
 * or an error in the Map's output, and is named from the item list (same order).
 */
function outcomeOf(
  r: unknown,
  item: FleetItem | undefined,
): { instanceId: string; caseId: string; outcome: string; error?: string } {
  const o = (r && typeof r === 'object' ? r : {}) as Record<string, unknown>;
  const ref = (o['case'] ?? {}) as Partial<CaseRef>;
  const instanceId = ref.instanceId ?? item?.instanceId ?? '?';
  const caseId = ref.caseId ?? item?.caseId ?? '?';
  if (r === null || r === undefined) return { instanceId, caseId, outcome: 'failed' };
  if (typeof o['Error'] === 'string')
    return { instanceId, caseId, outcome: 'failed', error: `${o['Error']}: ${causeMessage(String(o['Cause'] ?? ''))}` };
  return {
    instanceId,
    caseId,
    outcome: typeof o['outcome'] === 'string' ? o['outcome'] : 'unknown',
    ...(typeof o['error'] === 'string' ? { error: o['error'] } : {}),
  };
}

const summarize: StepBody<SummarizeInput> = async (input, x) => {
  const listed = input.items ? await x.world.readVaultJson(input.items.key) : undefined;
  const items = (Array.isArray(listed) ? listed : []) as FleetItem[];
  // A Map that failed as a whole (too many items failed) hands over no results: each item is then
  // reported as not reported (the execution's map run has them).
  type Outcome = ReturnType<typeof outcomeOf>;
  const outcomes: Outcome[] = input.results.length
    ? input.results.map((r, i) => outcomeOf(r, items[i]))
    : items.map((i) => ({ instanceId: i.instanceId ?? '?', caseId: i.caseId ?? '?', outcome: 'not-reported' }));
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.outcome] = (counts[o.outcome] ?? 0) + 1;
  const record = await x.world.openRecord(input.fleet.caseId, {
    mustExist: false,
    lane: x.lane('fleet'),
    actor: x.actor,
  });
  const key = idempotencyKeys.automation.notify('summary', 'fleet', input.execution);
  if (record.find(key)) {
    await commitLanes(record);
    return { status: 'done', alreadyNotified: true, counts };
  }
  const subject = `[cleanroom] fleet run ${input.fleet.runId} (case ${input.fleet.caseId}): ${Object.entries(counts)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ')}`.slice(0, 99);
  const message = [
    `Fleet run ${input.fleet.runId} of case ${input.fleet.caseId} ended: ${outcomes.length} instance(s).`,
    `Execution: ${input.execution}`,
    ...(input.error ? [`The run failed: ${input.error.Error ?? 'unknown'}: ${causeMessage(input.error.Cause)}`] : []),
    '',
    ...outcomes.map((o) => `  ${o.instanceId}  ${o.caseId}  ${o.outcome}${o.error ? `  ${o.error}` : ''}`),
    '',
    `Status: cleanroom automation status --case ${input.fleet.caseId}`,
  ].join('\n');
  const messageId = await x.world.publish(subject, message);
  await record.record({
    action: 'automation.notify',
    resources: [],
    inputs: { execution: input.execution, topic: x.world.env.topicArn, runId: input.fleet.runId },
    outcome: {
      status: 'succeeded',
      details: {
        outcome: 'summary',
        messageId,
        subject,
        messageSha256: createHash('sha256').update(message).digest('hex'),
        counts,
        instances: outcomes,
      },
    },
    idempotencyKey: key,
  });
  await commitLanes(record);
  return { status: 'done', messageId, counts, instances: outcomes };
};

/** Every step body, by handler name. */
export const STEPS = {
  resolve,
  isolate,
  requestApproval,
  acquire,
  hash,
  room,
  attach,
  notify,
  summarize,
} satisfies Record<HandlerName, StepBody<never>>;
