/**
 * `cleanroom acquire`: evidence from a compromised instance (or named volumes) in a source account,
 * preserved in the forensic account under the case key and attached read-only to the room.
 *
 * 1. Refuse bad input before anything is made: ids, the room (up and passing its audit, when
 *    attaching), the source volumes (found, in the Region given, not the room's own disks), the
 *    responder's --source-kms-key (usable by the forensic account).
 * 2. One batched read of what earlier runs made (see `discover.ts`).
 * 3. Every volume through the pipeline (`pipeline.ts`) in ONE bounded pool, pipelined, with one
 *    batched status poll for all pending snapshots, AWS's limits respected (`limits.ts`).
 * 4. Read-only confirmed inside the forensic instance (SSM), answer recorded as it is.
 * 5. In `finally` — also on failure — the temporary sharing copies and the sharing key in the
 *    source account are retired (recorded); what a forensic copy still reads from is kept and named.
 * 6. One summary: what succeeded is kept and recorded; the failures come as one
 *    {@link PartialFailureError} naming each item.
 */
import { createHash } from 'node:crypto';
import type { AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import type { CustodyRecorder } from '../../domain/recorder.js';
import { assertCaseId } from '../../domain/case-id.js';
import {
  CleanroomError,
  PartialFailureError,
  UsageError,
  VerificationFailedError,
  asError,
} from '../../domain/errors.js';
import { foldEvidence, type EvidencePatch } from '../../domain/evidence.js';
import { mapPool, type Settled } from '../../domain/pool.js';
import type { Reporter } from '../../domain/reporter.js';
import type { RoomGate } from '../../domain/room.js';
import { handOffClock, systemClock, type Clock } from '../../domain/waiter.js';
import { withCustodySession, withInstanceLocks, type CustodySession, type SealState } from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import {
  checkWaitMode,
  combineHandOffs,
  isWaitHandedOff,
  type WaitHandedOffError,
  type WaitMode,
} from '../../domain/hand-off.js';
import { ensureCaseKey } from '../../resources/case-key.js';
import type { EvidenceLimits } from '../../evidence/limits.js';
import { confirmAndRecord, type ReadOnlyAnswer } from '../../evidence/readonly.js';
import { verifyAndRecord, type RoomHashAnswer } from '../../evidence/room-hash.js';
import { roomForAttach, roomIfUp, type RoomTarget } from '../../evidence/room.js';
import { EvidenceRun, type EvidenceBudgets } from '../../evidence/run.js';
import type { WatcherOptions } from '../../evidence/watch.js';
import { discover } from './discover.js';
import { acquireOne, retireSharingCopies, type ItemOutcome, type PipelineContext } from './pipeline.js';
import { checkIds, resolveSources, type SourceVolume } from './resolve.js';
import {
  KEY_ARN,
  checkResponderKey,
  ensureShareKey,
  recordShareKey,
  retireShareKey,
  shareKeyAlias,
  type SharingKey,
} from './share-key.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import type { SnapshotHasher } from '../../evidence/hash-step.js';
const acquireKeys = idempotencyKeys.acquire;

export interface AcquireDeps {
  /** The forensic account (room, case key, evidence copies, custody). */
  forensic: AwsAccount;
  /** The account and Region of the compromised instance (may be the forensic account itself). */
  source: AwsAccount;
  custody: CustodyRecorder;
  /** The room, as the room workflows see it (up? audit?). */
  room: RoomGate;
  /** Open the source account in another Region (used only to say where a missing instance/volume is). */
  sourceInRegion?: (region: string) => Promise<AwsAccount>;
  reporter?: Reporter;
  clock?: Clock;
  /** Hashes a snapshot through the EBS direct APIs (default: the library's `hashSnapshot`; tests pass a fake). */
  hasher?: SnapshotHasher;
}

export interface AcquireOptions {
  caseId: string;
  /** All volumes of each instance, snapshotted together (CreateSnapshots). */
  instanceIds?: readonly string[];
  /** Just these volumes (CreateSnapshot each). */
  volumeIds?: readonly string[];
  /** Attach to the forensic instance (default true); false stops at a working volume (room up) or at the preserved snapshot. */
  attach?: boolean;
  /** A customer managed key in the source account the forensic account may use, instead of a temporary one. */
  sourceKmsKeyArn?: string;
  /**
   * Hash the source snapshot in the source account too and compare it with the forensic snapshot's
   * hash (default true; the CLI's --no-source-hash). Equal proves the copy bit-identical; different
   * ends the run with EVIDENCE_HASH_MISMATCH (exit 3); a source role without EBS direct read
   * records the source hash as unavailable, with the reason.
   */
  sourceHash?: boolean;
  /** Items in flight at once (default 32). */
  concurrency?: number;
  budgets?: Partial<EvidenceBudgets>;
  limits?: Partial<EvidenceLimits>;
  watcher?: WatcherOptions;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
  /**
   * How waits wait (domain/hand-off.ts): `block` (default, the CLI) sleeps until done; `hand-off`
   * throws WaitHandedOffError (code WAIT_HANDED_OFF: what it waits for, retryAfterSeconds) where it
   * would sleep, after recording and sealing what it did; the same call again resumes.
   */
  waits?: WaitMode;
  /**
   * When the acquisition hash is made: `inline` (default) in this run, after the forensic copy;
   * `deferred`: each item stops at `preserved` (no hash, no working volume) and
   * `hashEvidenceStep` (resumable, a time budget at a time) records the same `evidence.hash`
   * later — for automation, where one invocation cannot read a 16 TiB disk. `evidence attach` then
   * makes the working volume.
   */
  acquisitionHash?: 'inline' | 'deferred';
}

export interface AcquireFailure {
  evidenceId: string;
  sourceVolumeId: string;
  code: string;
  message: string;
}

export interface AcquireResult {
  case: string;
  /** The items of this acquisition as the custody record folds them (contract fields + provenance). */
  evidence: EvidencePatch[];
  failures: AcquireFailure[];
  readOnly: Array<{ evidenceId: string } & ReadOnlyAnswer>;
  /** The in-room hash of each disk attached by this run (after its read-only check). */
  roomHash: Array<{ evidenceId: string } & RoomHashAnswer>;
  /** The sharing key and whether it is retired now (cross-account only). */
  sharing?: {
    keyArn: string;
    owner: 'cleanroom' | 'responder';
    retired: boolean;
    kept: Array<{ evidenceId: string; snapshotId: string; forensicSnapshotId: string }>;
  };
  warnings: string[];
  /** Whether the custody manifest seals the record after this run (and why not). */
  seal: SealState;
}

/**
 * Check the options before any AWS call (the CLI calls this before it opens anything): case id,
 * instance/volume ids, concurrency, the form of --source-kms-key. Throws {@link UsageError} (exit 2).
 */
export function checkAcquireOptions(options: AcquireOptions): {
  caseId: string;
  instanceIds: readonly string[];
  volumeIds: readonly string[];
  concurrency: number;
} {
  const caseId = assertCaseId(options.caseId);
  const instanceIds = options.instanceIds ?? [];
  const volumeIds = options.volumeIds ?? [];
  checkIds(instanceIds, volumeIds);
  const concurrency = options.concurrency ?? 32;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 500) {
    throw new UsageError(
      'INVALID_CONCURRENCY',
      `--concurrency must be a whole number from 1 to 500, got ${concurrency}.`,
    );
  }
  if (options.sourceKmsKeyArn !== undefined && !KEY_ARN.test(options.sourceKmsKeyArn)) {
    throw new UsageError(
      'INVALID_SOURCE_KEY',
      `--source-kms-key ${JSON.stringify(options.sourceKmsKeyArn)} is not a KMS key or alias ARN (arn:aws:kms:<region>:<account>:key/<id>).`,
      { details: { key: options.sourceKmsKeyArn } },
    );
  }
  return { caseId, instanceIds, volumeIds, concurrency };
}

/** Acquire the evidence (see the module comment); seals the record on the way out, also after a failure or a stop. */
export async function acquireEvidence(deps: AcquireDeps, options: AcquireOptions): Promise<AcquireResult> {
  const checked = checkAcquireOptions(options);
  return withCustodySession(deps.custody, options.signal, async (session) => {
    // Every instance's own lock, vault-wide, before anything is read or made: one held by another
    // case's writer refuses the whole run (CASE_BUSY), not just that instance's items.
    const where = { account: await deps.source.accountId(), region: deps.source.region };
    return withInstanceLocks(deps.custody, checked.instanceIds, where, () =>
      acquireSteps(
        {
          ...deps,
          clock: handOffClock(abortableClock(deps.clock ?? systemClock, options.signal), checkWaitMode(options.waits)),
        },
        options,
        checked,
        session,
      ),
    );
  });
}

async function acquireSteps(
  deps: AcquireDeps,
  options: AcquireOptions,
  checked: ReturnType<typeof checkAcquireOptions>,
  session: CustodySession,
): Promise<Omit<AcquireResult, 'seal'>> {
  const { caseId, concurrency } = checked;
  const attach = options.attach ?? true;
  const run = new EvidenceRun({
    caseId,
    forensic: deps.forensic,
    custody: deps.custody,
    reporter: deps.reporter,
    clock: deps.clock,
    budgets: options.budgets,
    limits: options.limits,
    watcher: options.watcher,
  });
  const scope = await refuseBeforeMaking(run, deps, options, checked, attach);
  const { sourceAccount, forensicAccount, crossAccount, target, sources, responderKey } = scope;

  session.checkpoint('the case key');
  const caseKey = await ensureCaseKey(deps.forensic, caseId, deps.custody);
  run.step(
    `acquiring ${sources.length} volume(s) from account ${sourceAccount} (${deps.source.region})${crossAccount ? ` into account ${forensicAccount} (${deps.forensic.region})` : ''}${target ? `, for ${target.instance.instanceId} in ${target.instance.availabilityZone}` : ''}`,
  );

  // 2. What earlier runs made.
  session.checkpoint('reading what earlier runs made');
  const discovery = await discover(
    deps.source,
    deps.forensic,
    caseId,
    sources.map((s) => s.volumeId),
    crossAccount,
  );

  let keyPromise: Promise<SharingKey> | undefined;
  const ctx: PipelineContext = {
    run,
    source: deps.source,
    sourceAccount,
    forensicAccount,
    crossAccount,
    caseKey,
    ...(target ? { target } : {}),
    attach,
    shareKey: () =>
      (keyPromise ??= responderKey ? Promise.resolve(responderKey) : ensureShareKey(run, deps.source, forensicAccount)),
    discovery,
    sources,
    instanceSnapshots: new Map(),
    // A deferred acquisition hash skips the source hash too (recorded as skipped, as --no-source-hash).
    sourceHash: options.acquisitionHash === 'deferred' ? false : (options.sourceHash ?? true),
    deferHash: options.acquisitionHash === 'deferred',
    ...(deps.hasher ? { hasher: deps.hasher } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };

  // 3–5.
  let settled: Settled<SourceVolume, ItemOutcome>[] = [];
  const readOnly = new Map<string, ReadOnlyAnswer>();
  const roomHash = new Map<string, RoomHashAnswer>();
  let sharing: AcquireResult['sharing'];
  let handedOff: WaitHandedOffError | undefined;
  try {
    settled = await mapPool(sources, concurrency, (sv) => acquireOne(ctx, sv));
    // waits 'hand-off': items waiting on a snapshot or copy end the run here, not done yet (the
    // items that got further are recorded; the same call again takes every item up where it is).
    handedOff = combineHandOffs(settled.flatMap((s) => (s.ok ? [] : [s.error])));
    if (handedOff) throw handedOff;
    session.checkpoint('the read-only check');
    for (const [k, v] of await confirmReadOnly(run, target, settled)) readOnly.set(k, v);
    session.checkpoint('the in-room hash');
    for (const [k, v] of await verifyInRoom(run, target, settled, readOnly)) roomHash.set(k, v);
  } finally {
    // A stopped or handed-off run leaves the sharing key and copies to the rerun (or case close),
    // which retires them.
    if (crossAccount && !options.signal?.aborted && !handedOff) sharing = await retire(ctx, keyPromise, responderKey);
  }
  session.checkpoint('the summary');
  return summarize(run, deps, options, checked, { ...scope, attach, settled, readOnly, roomHash, sharing });
}

/** What step 1 settles before anything is made: the accounts, the room, the source volumes, the responder's key. */
interface AcquireScope {
  forensicAccount: string;
  sourceAccount: string;
  crossAccount: boolean;
  target: RoomTarget | undefined;
  sources: SourceVolume[];
  responderKey: SharingKey | undefined;
}

/** Step 1: refuse bad input before anything is made (the room, the source volumes, --source-kms-key). */
async function refuseBeforeMaking(
  run: EvidenceRun,
  deps: AcquireDeps,
  options: AcquireOptions,
  checked: ReturnType<typeof checkAcquireOptions>,
  attach: boolean,
): Promise<AcquireScope> {
  const [forensicAccount, sourceAccount] = await Promise.all([deps.forensic.accountId(), deps.source.accountId()]);
  const crossAccount = forensicAccount !== sourceAccount;
  const target = attach ? await roomForAttach(run, deps.room) : await roomIfUp(run, deps.room);
  if (!target)
    run.warn(
      `The room of case ${checked.caseId} is not up: the evidence is preserved as snapshots only; \`cleanroom evidence attach\` makes the working volumes once the room is up.`,
    );
  const sameRegion = !crossAccount && deps.source.region === deps.forensic.region;
  const sources = await resolveSources(
    {
      run,
      source: deps.source,
      sourceAccount,
      ...(sameRegion && target ? { forensicInstanceId: target.instance.instanceId } : {}),
      ...(deps.sourceInRegion ? { sourceInRegion: deps.sourceInRegion } : {}),
    },
    checked.instanceIds,
    checked.volumeIds,
  );
  let responderKey: SharingKey | undefined;
  if (options.sourceKmsKeyArn) {
    if (crossAccount)
      responderKey = await checkResponderKey(run, deps.source, options.sourceKmsKeyArn, forensicAccount);
    else
      run.warn(
        '--source-kms-key is not used: the source is the forensic account, so the evidence is copied under the case key directly, with no sharing step.',
      );
  }
  return { forensicAccount, sourceAccount, crossAccount, target, sources, responderKey };
}

/** What this run attached. */
function attachedOf(settled: Settled<SourceVolume, ItemOutcome>[]) {
  return settled.flatMap((s) =>
    s.ok && s.value.attached ? [{ evidenceId: s.value.evidenceId, ...s.value.attached }] : [],
  );
}

/** Step 4: read-only confirmed inside the forensic instance for what was attached. */
async function confirmReadOnly(
  run: EvidenceRun,
  target: RoomTarget | undefined,
  settled: Settled<SourceVolume, ItemOutcome>[],
): Promise<Map<string, ReadOnlyAnswer>> {
  const attached = attachedOf(settled);
  return target && attached.length ? await confirmAndRecord(run, target.instance.instanceId, attached) : new Map();
}

/** Step 4b: the in-room hash of each disk confirmed read-only, against its acquisition hash. */
async function verifyInRoom(
  run: EvidenceRun,
  target: RoomTarget | undefined,
  settled: Settled<SourceVolume, ItemOutcome>[],
  readOnly: ReadonlyMap<string, ReadOnlyAnswer>,
): Promise<Map<string, RoomHashAnswer>> {
  const attached = attachedOf(settled);
  return target && attached.length
    ? await verifyAndRecord(run, target.instance.instanceId, attached, readOnly)
    : new Map();
}

/** Step 6: one `acquire.run` event keyed by the items' end state, then the result, or a {@link PartialFailureError}. */
async function summarize(
  run: EvidenceRun,
  deps: AcquireDeps,
  options: AcquireOptions,
  checked: ReturnType<typeof checkAcquireOptions>,
  o: AcquireScope & {
    attach: boolean;
    settled: Settled<SourceVolume, ItemOutcome>[];
    readOnly: Map<string, ReadOnlyAnswer>;
    roomHash: Map<string, RoomHashAnswer>;
    sharing: AcquireResult['sharing'];
  },
): Promise<Omit<AcquireResult, 'seal'>> {
  const { caseId } = checked;
  const { sources, sourceAccount, settled, readOnly, roomHash, sharing } = o;
  const failures = failuresOf(settled);
  const folded = foldEvidence(deps.custody.events());
  const evidence = sources.map(
    (s) =>
      folded.get(s.evidenceId) ?? {
        evidenceId: s.evidenceId,
        sourceAccount,
        sourceRegion: deps.source.region,
        sourceVolumeId: s.volumeId,
        state: 'failed' as const,
      },
  );
  await recordRun(run, deps, options, checked, { ...o, evidence, failures });
  const result: Omit<AcquireResult, 'seal'> = {
    case: caseId,
    evidence,
    failures,
    readOnly: [...readOnly].map(([evidenceId, a]) => ({ evidenceId, ...a })),
    roomHash: [...roomHash].map(([evidenceId, a]) => ({ evidenceId, ...a })),
    ...(sharing ? { sharing } : {}),
    warnings: run.warnings,
  };
  const different = evidence.filter((e) => e.sourceHash?.status === 'different');
  if (failures.length) {
    throw new PartialFailureError(
      `${failures.length} of ${sources.length} volume(s) of case ${caseId} could not be acquired; ${sources.length - failures.length} succeeded and are recorded. Run the same command again to finish: nothing already done is repeated.`,
      settled.flatMap((s) => (s.ok ? [] : [{ item: `${s.item.evidenceId} (${s.item.volumeId})`, error: s.error }])),
      { case: caseId, evidence, failures },
      result,
    );
  }
  if (different.length) {
    throw new VerificationFailedError(
      'EVIDENCE_HASH_MISMATCH',
      `The forensic copy of ${different.map((e) => `${e.evidenceId} (${e.forensicSnapshotId ?? '?'})`).join(', ')} is NOT bit-identical to its source snapshot: the content hashes differ (recorded in the custody record of case ${caseId}). The other items are preserved and recorded.`,
      {
        case: caseId,
        evidence: different.map((e) => ({
          evidenceId: e.evidenceId,
          forensicSnapshotId: e.forensicSnapshotId ?? null,
          sha256: e.sha256 ?? null,
          sourceSnapshotId: e.sourceHash?.snapshotId ?? null,
          sourceSha256: e.sourceHash?.sha256 ?? null,
        })),
      },
    );
  }
  return result;
}

/** The items that failed, each with its code. */
function failuresOf(settled: Settled<SourceVolume, ItemOutcome>[]): AcquireFailure[] {
  return settled.flatMap((s) =>
    s.ok
      ? []
      : [
          {
            evidenceId: s.item.evidenceId,
            sourceVolumeId: s.item.volumeId,
            code: s.error instanceof CleanroomError ? s.error.code : 'INTERNAL',
            message: s.error.message,
          },
        ],
  );
}

/** The `acquire.run` event; keyed by the items' end state, so a rerun that changes nothing adds nothing. */
async function recordRun(
  run: EvidenceRun,
  deps: AcquireDeps,
  options: AcquireOptions,
  checked: ReturnType<typeof checkAcquireOptions>,
  o: {
    sources: SourceVolume[];
    sourceAccount: string;
    crossAccount: boolean;
    attach: boolean;
    evidence: EvidencePatch[];
    failures: AcquireFailure[];
    readOnly: Map<string, ReadOnlyAnswer>;
    sharing: AcquireResult['sharing'];
  },
): Promise<void> {
  const { sources, sourceAccount, crossAccount, attach, evidence, failures, readOnly, sharing } = o;
  const summary = {
    items: evidence.map((e) => ({
      evidenceId: e.evidenceId,
      state: e.state ?? null,
      readOnly: readOnly.get(e.evidenceId)?.status ?? null,
    })),
    failures: failures.map((f) => ({ evidenceId: f.evidenceId, code: f.code })),
    sharing: sharing ? { keyArn: sharing.keyArn, retired: sharing.retired, kept: sharing.kept.length } : null,
  };
  const digest = createHash('sha256')
    .update(JSON.stringify({ items: summary.items, failures: summary.failures }))
    .digest('hex')
    .slice(0, 16);
  await run.record(
    acquireKeys.run(digest),
    'acquire.run',
    sources.map((s) => run.ref('ec2:volume', s.volumeId, sourceAccount, deps.source.region)),
    {
      status: failures.length === 0 ? 'succeeded' : failures.length === sources.length ? 'failed' : 'partial',
      details: { ...summary, attach, crossAccount },
    },
    {
      instanceIds: [...checked.instanceIds],
      volumeIds: [...checked.volumeIds],
      attach,
      ...(options.sourceKmsKeyArn ? { sourceKmsKeyArn: options.sourceKmsKeyArn } : {}),
    },
  );
}

/** Step 5: retire the sharing copies, then the sharing key (unless a copy in progress still needs it). */
async function retire(
  ctx: PipelineContext,
  keyPromise: Promise<SharingKey> | undefined,
  responderKey: SharingKey | undefined,
): Promise<AcquireResult['sharing']> {
  const run = ctx.run;
  let key: SharingKey | undefined;
  try {
    key = keyPromise ? await keyPromise.catch(() => undefined) : undefined;
    if (!key && !responderKey) key = await leftoverKey(ctx);
    const kept = await retireSharingCopies(ctx);
    if (!key) return undefined;
    if (key.owner === 'responder') return { keyArn: key.arn, owner: key.owner, retired: false, kept };
    if (kept.length) {
      const digest = createHash('sha256').update(JSON.stringify(kept)).digest('hex').slice(0, 16);
      await run.record(
        acquireKeys.shareKeyKept(key.keyId, digest),
        'acquire.share-key.kept',
        [run.ref('kms:key', key.keyId, ctx.sourceAccount, ctx.source.region, key.arn)],
        {
          status: 'skipped',
          details: { keyArn: key.arn, reason: 'forensic copies still read from sharing copies under this key', kept },
        },
      );
      run.warn(
        `The sharing key ${key.arn} is kept for now: the forensic copies ${kept.map((k) => `${k.forensicSnapshotId} (${k.evidenceId})`).join(', ')} are still being made from sharing copies under it. Run the same acquire again to finish and retire it (case close retires it too).`,
      );
      return { keyArn: key.arn, owner: key.owner, retired: false, kept };
    }
    await retireShareKey(run, ctx.source, key);
    return { keyArn: key.arn, owner: key.owner, retired: true, kept };
  } catch (e) {
    // Stopped by the workflow's signal: not a failure to retire; the rerun (or case close) retires them.
    if (isInterrupted(e) || isWaitHandedOff(e)) throw e;
    const err = asError(e);
    run.warn(
      `could not retire the temporary sharing copies/key of case ${run.caseId} in account ${ctx.sourceAccount}: ${err.message}. Run the same acquire again, or case close, to retire them.`,
    );
    try {
      await run.record(
        acquireKeys.retireFailed(err instanceof CleanroomError ? err.code : 'INTERNAL'),
        'acquire.share-key.retire',
        [],
        {
          status: 'failed',
          error: { code: err instanceof CleanroomError ? err.code : 'INTERNAL', message: err.message },
        },
      );
    } catch {
      // the record is unreachable too; the warning above stands
    }
    return key ? { keyArn: key.arn, owner: key.owner, retired: false, kept: [] } : undefined;
  }
}

/**
 * A sharing key an earlier (killed) run left behind the case alias: still enabled, or scheduled for
 * deletion without the record saying so (killed between ScheduleKeyDeletion and its event).
 */
async function leftoverKey(ctx: PipelineContext): Promise<SharingKey | undefined> {
  try {
    const m = (await ctx.source.kms.describeKey({ KeyId: shareKeyAlias(ctx.run.caseId) })).KeyMetadata;
    if (!m?.KeyId || !m.Arn) return undefined;
    const unrecordedRetire =
      m.KeyState === 'PendingDeletion' &&
      ctx.run.custody.find(acquireKeys.shareKey(m.KeyId)) &&
      !ctx.run.custody.find(acquireKeys.shareKeyRetire(m.KeyId));
    if (m.KeyState !== 'Enabled' && !unrecordedRetire) return undefined;
    return await recordShareKey(ctx.run, ctx.source, { keyId: m.KeyId, arn: m.Arn, owner: 'cleanroom' }, false);
  } catch (e) {
    if (isAwsCode(e, 'NotFoundException')) return undefined;
    throw e;
  }
}
