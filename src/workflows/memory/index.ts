/**
 * `memory capture`: the memory of a running Linux instance, captured with AVML through SSM Run
 * Command and uploaded into the vault as `cases/<case>/memory/<instance>-<time>.lime` — through
 * presigned multipart part URLs, never AWS credentials on the host (docs/memory.md).
 *
 * 0. Refuse bad input before anything is made: a malformed id, an instance the SOURCE account does
 *    not know here, a Windows instance (MEMORY_PLATFORM_UNSUPPORTED), one not running; no tool
 *    published in the vault (MEMORY_TOOL_MISSING).
 * 1. Abort every open upload of this instance's images left by an earlier run (a crash): each a
 *    `memory.upload.abort`. A rerun captures into a NEW object, never into a half-written one.
 * 2. Start the upload (SSE-KMS, Object Lock retention as the case's evidence), write the part-URL
 *    list, send the SSM command (the guest script inline, presigned URLs, a SHA-256, a deadline),
 *    record `memory.capture.start` with the command id.
 * 3. Wait (budget scaled to memory size), parse the script's CLEANROOM-MEMORY line, complete the
 *    upload from the parts the vault lists, read the object back for the authoritative SHA-256,
 *    compare with the host's; record `memory.capture` with the image as an evidence item (kind
 *    `memory`). A mismatch is recorded and fails with MEMORY_HASH_MISMATCH (exit 3).
 * Any failure, or the signal: an SSM command that may still run is cancelled (CancelCommand, best
 * effort: `commandCancelled` and why in the failed event), the upload is aborted (`memory.upload.abort`),
 * `memory.capture` is recorded failed with the reason, and the error says what happened. The record
 * is sealed on the way out.
 *
 * `dryRun` reads the instance, the tool and the open uploads, and returns every call a run would
 * make, in order, without making any change and without recording anything.
 */
import type { AccountWith } from '../../aws/ports.js';
import { withCustodySession, type CustodySource, type SealState } from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import { assertCaseId } from '../../domain/case-id.js';
import { CleanroomError, VerificationFailedError, asError } from '../../domain/errors.js';
import type { MemoryImage, EvidencePatch } from '../../domain/evidence.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import type { CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import { systemClock, type Clock } from '../../domain/waiter.js';
import { runShellCommand } from '../../evidence/guest-command.js';
import {
  abortMemoryUpload,
  completeMemoryUpload,
  listUploadedParts,
  memoryImageKey,
  openUploadsFor,
  planMemoryUpload,
  readBackSha256,
  startMemoryUpload,
  type MemoryVault,
} from '../../evidence/memory-upload.js';
import { MEMORY_CAPTURE_SCRIPT, MEMORY_CAPTURE_SHA256 } from '../../assets/generated/memory-capture.js';
import { resourceRef } from '../../resources/refs.js';
import {
  ASSUMED_UPLOAD_BYTES_PER_SECOND,
  captureBudget,
  captureCommand,
  imagePrefix,
  keyTime,
  memoryEvidenceId,
  parseGuestReport,
  type GuestReport,
} from './command.js';
import { checkInstanceId, readTarget, type CaptureTarget, type InstanceReader } from './instance.js';
import {
  presignMemoryToolUrl,
  readMemoryTool,
  type MemoryToolPointer as MemoryTool,
} from '../../evidence/memory-tool.js';

export { captureBudget, captureCommand, parseGuestReport, ASSUMED_UPLOAD_BYTES_PER_SECOND } from './command.js';
export type { GuestReport } from './command.js';
export type { MemoryToolPointer } from '../../evidence/memory-tool.js';

/** The vault as the capture uses it: where, under which key, with which Object Lock. */
export interface MemoryVaultTarget {
  bucket: string;
  vaultKeyArn: string;
  lockMode: 'GOVERNANCE' | 'COMPLIANCE';
  retentionDays: number;
}

/** The calls made in the forensic account (the vault's). */
export type ForensicCalls = MemoryVault['account'] &
  Parameters<typeof readMemoryTool>[0]['account'] &
  Parameters<typeof presignMemoryToolUrl>[0]['account'];

/** What the capture works with. */
export interface MemoryCaptureDeps {
  /** The SOURCE account, in the instance's region: the instance is read and the SSM command sent here. */
  source: InstanceReader & AccountWith<{ ssm: 'sendCommand' | 'getCommandInvocation' | 'cancelCommand' }>;
  /** The forensic account (the vault's): the tool, the upload, the presigned URLs, the read-back. */
  forensic: ForensicCalls;
  /** The case's record, or how to open it (opened after the input is checked; a dry run records nothing). */
  custody?: CustodySource;
  /** The vault; default the opened record's own (`vaultTarget` of a CaseCustody). */
  vault?: MemoryVaultTarget;
  reporter?: Reporter;
  clock?: Clock;
  /** The guest script (default the one cleanroom ships: scripts/guest-source/cleanroom-memory-capture). */
  script?: { text: string; sha256: string };
}

export interface MemoryCaptureOptions {
  caseId: string;
  instanceId: string;
  /** Plan only: every call, nothing made, nothing recorded. */
  dryRun?: boolean;
  /** Stops the capture: the upload is aborted and the failure recorded (INTERRUPTED). */
  signal?: AbortSignal;
  /** Override the budget (seconds the host may take; the URLs live 300 s longer). Default: scaled to memory size. */
  executionSeconds?: number;
}

/** One call of the plan (dry run), in order. */
export interface PlannedCall {
  call: string;
  input: Record<string, unknown>;
  why: string;
}

/** The result document (`--json`). */
export interface MemoryCaptureResult {
  case: string;
  instanceId: string;
  sourceAccount: string;
  region: string;
  dryRun: boolean;
  instanceType: string;
  /** Memory of the instance type (bytes). */
  memoryBytes: number;
  key: string;
  partSize: number;
  partCount: number;
  /** Seconds the host may take, how long the URLs live, the rate assumed. */
  budget: { executionSeconds: number; urlSeconds: number; assumedBytesPerSecond: number };
  /** The tool the vault holds (absent only in a dry run before one is published: see `warnings`). */
  tool?: MemoryTool;
  /** Open uploads of earlier runs aborted now (or to abort: dry run). */
  staleUploads: Array<{ key: string; uploadId: string }>;
  uploadId?: string;
  commandId?: string;
  /** The image as recorded (a run). */
  evidenceId?: string;
  image?: MemoryImage;
  /** The plan (dry run). */
  calls?: PlannedCall[];
  warnings: string[];
}

/** Capture an instance's memory; see the module comment. Seals the record on the way out. */
export async function captureMemory(
  deps: MemoryCaptureDeps,
  o: MemoryCaptureOptions,
): Promise<MemoryCaptureResult & { seal: SealState }> {
  const caseId = assertCaseId(o.caseId);
  const instanceId = o.instanceId;
  checkInstanceId(instanceId);
  return withCustodySession(deps.custody, o.signal, async (session) => {
    const reporter = deps.reporter ?? silentReporter;
    const clock = abortableClock(deps.clock ?? systemClock, session.signal);
    reporter.progress({ kind: 'step', message: `reading ${instanceId} in ${deps.source.region}` });
    const target = await readTarget(deps.source, instanceId);
    const accountId = await deps.source.accountId();
    const custody = await session.open();
    const vaultTarget = deps.vault ?? vaultOf(custody);
    const vault: MemoryVault = {
      account: deps.forensic,
      bucket: vaultTarget.bucket,
      vaultKeyArn: vaultTarget.vaultKeyArn,
    };
    const warnings: string[] = [];
    let found: MemoryTool | undefined;
    try {
      found = await readMemoryTool({ account: deps.forensic, bucket: vault.bucket });
    } catch (e) {
      // A plan can be read before the tool is published: it says what a run would need.
      if (!(o.dryRun && e instanceof CleanroomError && e.code === 'MEMORY_TOOL_MISSING')) throw e;
      warnings.push(`${e.message.replace(' Nothing was captured.', '')} A run stops here (exit 2).`);
    }
    const plan = planMemoryUpload({ memoryBytes: target.memoryBytes });
    const budget = o.executionSeconds
      ? { executionSeconds: o.executionSeconds, urlSeconds: o.executionSeconds + 300 }
      : captureBudget(target.memoryBytes);
    // A rerun within the same second as an earlier capture still names a new object (and new keys).
    let at = new Date(Math.floor(clock.now() / 1000) * 1000);
    while (custody.find(idempotencyKeys.memory.captureStart(instanceId, keyTime(at))))
      at = new Date(at.getTime() + 1000);
    const time = keyTime(at);
    const key = memoryImageKey(caseId, instanceId, at);
    const stale = (await openUploadsFor(vault, imagePrefix(caseId, instanceId))).map((u) => ({
      key: u.key,
      uploadId: u.uploadId,
    }));
    const base = {
      case: caseId,
      instanceId,
      sourceAccount: accountId,
      region: deps.source.region,
      instanceType: target.instanceType,
      memoryBytes: target.memoryBytes,
      key,
      partSize: plan.partSize,
      partCount: plan.partCount,
      budget: { ...budget, assumedBytesPerSecond: ASSUMED_UPLOAD_BYTES_PER_SECOND },
      ...(found ? { tool: found } : {}),
      staleUploads: stale,
      warnings,
    };
    if (o.dryRun)
      return {
        ...base,
        dryRun: true,
        calls: planCalls(vault, vaultTarget, { caseId, target, key, plan, budget, tool: found, stale }),
      };
    const tool = found!;

    const run = new StepRecorder(custody, reporter);
    const instanceRef = resourceRef('ec2:instance', instanceId, accountId, deps.source.region);
    // 1. What an earlier run left open is aborted and recorded: never claimed.
    for (const u of stale) {
      session.checkpoint('aborting a stale upload');
      await abortMemoryUpload(vault, u);
      await run.record(
        idempotencyKeys.memory.uploadAbort(u.uploadId),
        'memory.upload.abort',
        [instanceRef, objectRef(vaultTarget, u.key)],
        {
          status: 'succeeded',
          details: {
            instanceId,
            key: u.key,
            uploadId: u.uploadId,
            reason:
              'stale: left open by an earlier capture that did not finish (a crash or a stop); a new capture goes into a new object',
          },
        },
      );
      run.warn(`Aborted the upload ${u.uploadId} of ${u.key} left open by an earlier capture (recorded).`);
    }
    session.checkpoint('starting the upload');
    // 2. The upload, the URLs, the command.
    const retainUntil = new Date(at.getTime() + vaultTarget.retentionDays * 86_400_000);
    reporter.progress({ kind: 'step', message: `starting the upload of ${key} (${plan.partCount} part URLs)` });
    const started = await startMemoryUpload(vault, {
      key,
      retention: { mode: vaultTarget.lockMode, retainUntil },
      partCount: plan.partCount,
      partSize: plan.partSize,
      expiresInSeconds: budget.urlSeconds,
    });
    const c = new Capture(
      run,
      { vault, vaultTarget, key, uploadId: started.uploadId, instanceRef, instanceId, time },
      (commandId) => deps.source.ssm.cancelCommand({ CommandId: commandId, InstanceIds: [instanceId] }),
    );
    try {
      const toolUrl = await presignMemoryToolUrl(
        { account: deps.forensic, bucket: vault.bucket },
        { tool, expiresInSeconds: budget.urlSeconds },
      );
      const script = deps.script ?? { text: MEMORY_CAPTURE_SCRIPT, sha256: MEMORY_CAPTURE_SHA256 };
      const startDetails = {
        instanceId,
        key,
        uploadId: started.uploadId,
        partsKey: started.partsKey,
        partSize: plan.partSize,
        partCount: plan.partCount,
        urlExpiresAt: started.expiresAt,
        executionSeconds: budget.executionSeconds,
        retainUntil: retainUntil.toISOString(),
        tool: { name: tool.tool, version: tool.version, sha256: tool.sha256, key: tool.key },
        script: { sha256: script.sha256 },
        memoryBytes: target.memoryBytes,
        instanceType: target.instanceType,
      };
      let commandId: string | undefined;
      const recordStart = async (id?: string) => {
        commandId = id;
        c.commandId = id;
        c.started = true;
        await run.record(
          idempotencyKeys.memory.captureStart(instanceId, time),
          'memory.capture.start',
          [instanceRef, objectRef(vaultTarget, key)],
          { status: 'succeeded', details: { ...startDetails, ...(id ? { commandId: id } : {}) } },
        );
      };
      session.checkpoint('sending the capture command');
      reporter.progress({ kind: 'step', message: `sending the capture command to ${instanceId} over SSM` });
      const answer = await runShellCommand(deps.source, clock, instanceId, {
        command: captureCommand(script, {
          toolUrl,
          toolSha256: tool.sha256,
          partsUrl: started.partsUrl,
          deadline: Math.floor(at.getTime() / 1000) + budget.executionSeconds,
        }),
        comment: `cleanroom memory capture, case ${caseId}`,
        executionTimeoutSeconds: budget.executionSeconds,
        budgetMs: (budget.executionSeconds + 120) * 1000,
        maxIntervalMs: 15_000,
        what: 'the memory capture',
        onSent: recordStart,
        onPending: (status, ms) =>
          reporter.progress({
            kind: 'item',
            item: instanceId,
            phase: 'capture',
            message: `${status ?? 'waiting'} (${Math.round(ms / 1000)} s of at most ${budget.executionSeconds} s)`,
          }),
      });
      if (answer.kind === 'answered') c.commandEnded = answer.status;
      if (!c.started) await recordStart();
      c.commandId = commandId;
      if (answer.kind === 'unreachable')
        throw new CleanroomError('MEMORY_CAPTURE_FAILED', `${answer.detail}. Nothing was captured.`, {
          details: { instanceId },
        });
      // 3. The host's answer, the vault's parts, the read-back.
      const report = parseGuestReport(answer.stdout);
      if (report && !report.ok)
        throw new CleanroomError(
          'MEMORY_CAPTURE_FAILED',
          `The capture on ${instanceId} failed: ${report.reason ?? 'no reason given'}${report.code ? ` (${report.code})` : ''}; ${answer.detail}.`,
          { details: { instanceId, commandId: answer.commandId, guest: report as unknown as Record<string, unknown> } },
        );
      if (!report) {
        const parts = await listUploadedParts(vault, { key, uploadId: started.uploadId });
        // No part at all: the host sent nothing (the local AWS's SSM answers Success with empty
        // output and runs nothing). Else it sent parts but never said it had finished: not an image.
        if (parts.length === 0) await completeMemoryUpload(vault, { key, uploadId: started.uploadId });
        throw new CleanroomError(
          'MEMORY_CAPTURE_FAILED',
          `The capture on ${instanceId} sent ${parts.length} part(s) but never reported its end (no CLEANROOM-MEMORY line; ${answer.detail}): an image the host did not finish is not kept.`,
          { details: { instanceId, commandId: answer.commandId, parts: parts.length } },
        );
      }
      reporter.progress({ kind: 'step', message: `completing the upload of ${key}` });
      const done = await completeMemoryUpload(vault, { key, uploadId: started.uploadId });
      c.completed = true;
      reporter.progress({ kind: 'step', message: `reading ${key} back from the vault (${done.size} bytes)` });
      const back = await readBackSha256(vault, {
        key,
        ...(done.versionId ? { versionId: done.versionId } : {}),
        ...(session.signal ? { signal: session.signal } : {}),
      });
      const image = imageOf({ key, done, back, report, tool, commandId: answer.commandId, retainUntil, clock });
      const evidenceId = memoryEvidenceId(instanceId, time);
      const item: EvidencePatch = {
        evidenceId,
        kind: 'memory',
        sourceAccount: accountId,
        sourceRegion: deps.source.region,
        sourceInstanceId: instanceId,
        sha256: image.sha256,
        sizeBytes: image.sizeBytes,
        hashedAt: image.capturedAt,
        memory: image,
        state: 'captured',
      };
      const outcome = {
        key,
        versionId: image.versionId,
        size: image.sizeBytes,
        sha256: image.sha256,
        guestSha256: image.guestSha256,
        match: image.match,
        tool: image.tool,
        toolVersion: image.toolVersion,
        commandId: answer.commandId,
        kernelRelease: image.kernelRelease ?? null,
        memTotalKiB: image.memTotalKiB ?? null,
        parts: done.parts,
        evidence: strip(item),
      };
      const mismatch = image.match
        ? undefined
        : new VerificationFailedError(
            'MEMORY_HASH_MISMATCH',
            `The memory image ${key} read back from the vault has SHA-256 ${image.sha256} (${image.sizeBytes} bytes); the instance reported ${image.guestSha256 || 'none'} (${report.bytes ?? '?'} bytes). Both are recorded; the image is kept under Object Lock as evidence of what arrived, but the host's account of it cannot be trusted.`,
            { details: { key, sha256: image.sha256, guestSha256: image.guestSha256, evidenceId } },
          );
      await run.record(
        idempotencyKeys.memory.capture(instanceId, time),
        'memory.capture',
        [instanceRef, objectRef(vaultTarget, key, image.versionId)],
        mismatch
          ? { status: 'failed', error: { code: 'MEMORY_HASH_MISMATCH', message: mismatch.message }, details: outcome }
          : { status: 'succeeded', details: { outcome: 'succeeded', ...outcome } },
      );
      c.recorded = true;
      if (mismatch) throw mismatch;
      return {
        ...base,
        dryRun: false,
        warnings: run.warnings,
        uploadId: started.uploadId,
        commandId: answer.commandId,
        evidenceId,
        image,
      };
    } catch (e) {
      throw await c.fail(e);
    }
  });
}

/** One capture under way: what is left to undo and record when it fails. */
class Capture {
  started = false;
  completed = false;
  recorded = false;
  commandId: string | undefined;
  /** The command's end status, once SSM answered one (nothing left to cancel). */
  commandEnded: string | undefined;
  constructor(
    private readonly run: StepRecorder,
    private readonly at: {
      vault: MemoryVault;
      vaultTarget: MemoryVaultTarget;
      key: string;
      uploadId: string;
      instanceRef: ResourceRef;
      instanceId: string;
      time: string;
    },
    /** SSM CancelCommand of the capture's command on the instance. */
    private readonly cancelCommand: (commandId: string) => Promise<unknown>,
  ) {}

  /**
   * Stop the command on the host if it may still run (sent, no end status seen): best effort, its
   * outcome is what the failed event records, and a failed cancel never replaces the capture's error.
   */
  private async cancel(notes: string[]): Promise<{ commandCancelled: boolean; commandCancelReason: string }> {
    const id = this.commandId;
    if (!id) return { commandCancelled: false, commandCancelReason: 'no SSM command was sent' };
    if (this.commandEnded)
      return { commandCancelled: false, commandCancelReason: `the command had ended (${this.commandEnded})` };
    try {
      await this.cancelCommand(id);
      return {
        commandCancelled: true,
        commandCancelReason: `the capture stopped while command ${id} could still run: SSM CancelCommand sent`,
      };
    } catch (e) {
      const why = asError(e).message.replace(/\s+/g, ' ').trim();
      notes.push(`the SSM command ${id} could not be cancelled (${why}); it stops at its deadline`);
      return { commandCancelled: false, commandCancelReason: `CancelCommand failed: ${why}` };
    }
  }

  /** Abort the upload (unless completed), record the abort and the failed capture; returns the error to throw. */
  async fail(e: unknown): Promise<Error> {
    const err = asError(e);
    if (this.recorded) return err;
    const a = this.at;
    const code = err instanceof CleanroomError ? err.code : isInterrupted(err) ? 'INTERRUPTED' : 'INTERNAL';
    const reason = err.message.replace(/\s+/g, ' ').trim();
    const notes: string[] = [];
    const cancelled = await this.cancel(notes);
    let abortFailed = false;
    if (!this.completed) {
      try {
        await abortMemoryUpload(a.vault, { key: a.key, uploadId: a.uploadId });
        await this.run.record(
          idempotencyKeys.memory.uploadAbort(a.uploadId),
          'memory.upload.abort',
          [a.instanceRef, objectRef(a.vaultTarget, a.key)],
          {
            status: 'succeeded',
            details: { instanceId: a.instanceId, key: a.key, uploadId: a.uploadId, reason: `${code}: ${reason}` },
          },
        );
      } catch (abortErr) {
        abortFailed = true;
        notes.push(`the upload ${a.uploadId} could not be aborted (${asError(abortErr).message}); a rerun aborts it`);
      }
    }
    try {
      await this.run.record(
        idempotencyKeys.memory.capture(a.instanceId, a.time),
        'memory.capture',
        [a.instanceRef, objectRef(a.vaultTarget, a.key)],
        {
          status: 'failed',
          error: { code: code as never, message: reason },
          details: {
            outcome: 'failed',
            instanceId: a.instanceId,
            key: a.key,
            uploadId: a.uploadId,
            reason,
            ...(this.commandId ? { commandId: this.commandId } : {}),
            ...cancelled,
            uploadAborted: !this.completed && !abortFailed,
          },
        },
      );
    } catch (recErr) {
      notes.push(`the failure could not be recorded (${asError(recErr).message})`);
    }
    if (notes.length && err instanceof CleanroomError) {
      (err.details as Record<string, unknown>)['notes'] = notes;
    }
    return err;
  }
}

function imageOf(a: {
  key: string;
  done: { versionId?: string; size: number };
  back: { sha256: string; size: number };
  report: GuestReport;
  tool: MemoryTool;
  commandId: string;
  retainUntil: Date;
  clock: Clock;
}): MemoryImage {
  const guest = (a.report.sha256 ?? '').toLowerCase();
  return {
    key: a.key,
    versionId: a.done.versionId ?? 'null',
    sizeBytes: a.back.size,
    sha256: a.back.sha256,
    guestSha256: guest,
    match: guest === a.back.sha256 && (a.report.bytes === undefined || a.report.bytes === a.back.size),
    tool: a.report.tool ?? a.tool.tool,
    toolVersion: a.report.toolVersion ?? a.tool.version,
    toolSha256: a.tool.sha256,
    commandId: a.commandId,
    ...(a.report.kernel ? { kernelRelease: a.report.kernel } : {}),
    ...(a.report.memTotalKiB !== undefined ? { memTotalKiB: a.report.memTotalKiB } : {}),
    retainUntil: a.retainUntil.toISOString(),
    capturedAt: new Date(a.clock.now()).toISOString(),
  };
}

/** The vault target of an opened case record (a CaseCustody carries it). */
function vaultOf(custody: CustodyRecorder): MemoryVaultTarget {
  const t = (custody as { vaultTarget?: MemoryVaultTarget }).vaultTarget;
  if (!t)
    throw new CleanroomError(
      'NO_CUSTODY',
      'memory capture needs the vault (deps.vault, or a case record opened in the vault).',
    );
  return t;
}

function objectRef(v: MemoryVaultTarget, key: string, versionId?: string): ResourceRef {
  return resourceRef('s3:object', `s3://${v.bucket}/${key}${versionId ? `?versionId=${versionId}` : ''}`);
}

/** An evidence patch without undefined fields (JSON values only). */
function strip(p: EvidencePatch): Record<string, unknown> {
  return JSON.parse(JSON.stringify(p)) as Record<string, unknown>;
}

/** The dry run: every call a run makes, in order. */
function planCalls(
  vault: MemoryVault,
  v: MemoryVaultTarget,
  a: {
    caseId: string;
    target: CaptureTarget;
    key: string;
    plan: { partSize: number; partCount: number };
    budget: { executionSeconds: number; urlSeconds: number };
    tool: MemoryTool | undefined;
    stale: Array<{ key: string; uploadId: string }>;
  },
): PlannedCall[] {
  const toolKey = a.tool?.key ?? 'tools/memory/avml/<sha256> (none published yet)';
  const b = vault.bucket;
  const parts = `${a.key.slice(0, -'.lime'.length)}.parts.json`;
  return [
    ...a.stale.map((u) => ({
      call: 's3:AbortMultipartUpload',
      input: { Bucket: b, Key: u.key, UploadId: u.uploadId },
      why: 'an upload left open by an earlier capture: aborted, never claimed (memory.upload.abort)',
    })),
    {
      call: 's3:CreateMultipartUpload',
      input: {
        Bucket: b,
        Key: a.key,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: v.vaultKeyArn,
        ObjectLockMode: v.lockMode,
        ObjectLockRetainUntilDate: `now + ${v.retentionDays} days`,
      },
      why: 'the image, encrypted under the vault key, locked as the case evidence is',
    },
    {
      call: `s3:presign UploadPart ×${a.plan.partCount}`,
      input: { Bucket: b, Key: a.key, PartNumber: `1..${a.plan.partCount}`, expiresInSeconds: a.budget.urlSeconds },
      why: `one URL per part of ${a.plan.partSize} bytes: the host PUTs parts, holding no credential`,
    },
    {
      call: 's3:PutObject',
      input: { Bucket: b, Key: parts },
      why: 'the part-URL list (cleanroom.memory-parts.v1), read by the host through one presigned GET',
    },
    {
      call: 's3:presign GetObject ×2',
      input: { Bucket: b, Keys: [parts, toolKey], expiresInSeconds: a.budget.urlSeconds },
      why: a.tool
        ? `the part list, and AVML ${a.tool.version} (SHA-256 ${a.tool.sha256}, checked on the host before it runs)`
        : 'the part list, and the AVML binary `cleanroom memory tools --avml FILE` publishes (its SHA-256 checked on the host before it runs)',
    },
    {
      call: 'ssm:SendCommand',
      input: {
        InstanceIds: [a.target.instanceId],
        DocumentName: 'AWS-RunShellScript',
        Parameters: {
          commands: [
            '<the guest script inline, checked by its SHA-256> --tool-url <presigned> --tool-sha256 … --parts-url <presigned> --workdir … --deadline …',
          ],
          executionTimeout: [String(a.budget.executionSeconds)],
        },
      },
      why: `the capture on the host: AVML streamed into the part URLs; ${a.budget.executionSeconds} s for ${a.target.memoryBytes} bytes of memory (no credential in the parameters)`,
    },
    {
      call: 'ssm:GetCommandInvocation',
      input: { InstanceId: a.target.instanceId },
      why: 'waited for: the CLEANROOM-MEMORY answer line (memory.capture.start recorded with the command id first)',
    },
    {
      call: 's3:ListParts + s3:CompleteMultipartUpload',
      input: { Bucket: b, Key: a.key },
      why: "the image completed from the parts the vault holds (the vault's view, not the host's word)",
    },
    {
      call: 's3:HeadObject + s3:GetObject (ranges)',
      input: { Bucket: b, Key: a.key },
      why: "the authoritative SHA-256, read back from the vault and compared with the host's (memory.capture)",
    },
  ];
}
