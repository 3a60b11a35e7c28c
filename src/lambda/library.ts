/**
 * The real world of the Lambda host: the account the functions run in (their role's credentials,
 * AWS_REGION), the case's custody record in the vault (CLEANROOM_VAULT_BUCKET) written with the
 * execution as its actor, the responders' topic, and the library workflows the CLI runs — each in
 * hand-off mode, so a wait returns to the state machine instead of sleeping in the function.
 *
 * The compromised instance is in the functions' own account (GuardDuty, Security Hub and tag
 * events of this account); its Region is the finding's (the same credentials, another Region).
 */
import { openAccount } from '../aws/account.js';
import type { AwsAccount } from '../aws/ports.js';
import { CleanroomError } from '../domain/errors.js';
import { silentReporter } from '../domain/reporter.js';
import { openCaseCustody, type CaseCustody } from '../custody/case-custody.js';
import { getBytes, putLocked } from '../custody/store.js';
import { isolateInstance } from '../workflows/isolate/index.js';
import { acquireEvidence } from '../workflows/acquire/index.js';
import { attachEvidence, hashEvidenceStep, type HashResume } from '../workflows/evidence/index.js';
import type { WaitMode } from '../domain/hand-off.js';
import { roomGate, roomUp } from '../workflows/room/index.js';
import { readAutomationEnv, type AutomationEnv } from './env.js';
import type { EvidenceBudgets } from '../evidence/run.js';
import type { CaseRecord, LambdaWorld, Workflows } from './host.js';

/**
 * How long a step's locks of a case last: longer than one invocation can run (Lambda's 15
 * minutes), so they need no renewal; the step gives them back when it returns.
 */
export const STEP_LEASE_TTL_MS = 16 * 60_000;

/** The workflows' hand-off mode (see src/domain/hand-off.ts): a wait returns to the state machine. */
const HAND_OFF = { waits: 'hand-off' } as const satisfies { waits: WaitMode };

/** What a caller of {@link lambdaWorld} may set besides the environment. */
export interface LambdaWorldOptions {
  /** Overrides of the evidence wait budgets of acquire and attach (library defaults otherwise). */
  evidenceBudgets?: Partial<EvidenceBudgets>;
}

/** The world of a deployed function, from its environment. */
export function lambdaWorld(env: AutomationEnv = readAutomationEnv(), options: LambdaWorldOptions = {}): LambdaWorld {
  // The deployment's knob (ReadOnlyCheckSeconds), then the caller's overrides.
  const evidenceBudgets: Partial<EvidenceBudgets> = {
    ...(env.readOnlyCheckSeconds !== undefined ? { readOnlyCheckMs: env.readOnlyCheckSeconds * 1000 } : {}),
    ...options.evidenceBudgets,
  };
  const budgets = Object.keys(evidenceBudgets).length ? { budgets: evidenceBudgets } : {};
  const accounts = new Map<string, Promise<AwsAccount>>();
  const inRegion = (region: string): Promise<AwsAccount> => {
    let a = accounts.get(region);
    if (!a) {
      a = openAccount({ region });
      accounts.set(region, a);
      a.catch(() => accounts.delete(region));
    }
    return a;
  };
  const forensic = () => inRegion(env.region);
  const records = new WeakMap<CaseRecord, CaseCustody>();

  const workflows: Workflows = {
    checkInstance: async (ref, signal) => {
      await isolateInstance(
        { account: await inRegion(ref.region), accountInRegion: inRegion, reporter: silentReporter },
        { caseId: ref.caseId, instanceId: ref.instanceId, dryRun: true, signal },
      );
    },
    isolate: async ({ ref, record, signal, exclusive }) => {
      const r = await isolateInstance(
        {
          account: await inRegion(ref.region),
          custody: record,
          accountInRegion: inRegion,
          reporter: silentReporter,
          ...(exclusive ? { exclusive } : {}),
        },
        { caseId: ref.caseId, instanceId: ref.instanceId, signal, ...HAND_OFF },
      );
      return { alreadyIsolated: r.alreadyIsolated, steps: r.steps.map((s) => ({ step: s.step, status: s.status })) };
    },
    acquire: async ({ ref, record, signal }) => {
      const account = await forensic();
      const r = await acquireEvidence(
        {
          forensic: account,
          source: await inRegion(ref.region),
          custody: record,
          room: roomGate(account),
          sourceInRegion: inRegion,
          reporter: silentReporter,
        },
        // The hash comes after, a time budget per invocation (the hash step): no Lambda reads a 16 TiB disk.
        {
          caseId: ref.caseId,
          instanceIds: [ref.instanceId],
          attach: false,
          acquisitionHash: 'deferred',
          ...budgets,
          signal,
          ...HAND_OFF,
        },
      );
      return {
        evidence: r.evidence.map((e) => ({
          evidenceId: e.evidenceId,
          ...(e.forensicSnapshotId ? { forensicSnapshotId: e.forensicSnapshotId } : {}),
          ...(e.sizeGiB !== undefined ? { sizeGiB: e.sizeGiB } : {}),
          ...(e.sha256 ? { sha256: e.sha256 } : {}),
        })),
      };
    },
    hash: async ({ ref, record, signal, evidenceId, resume, budgetMs }) => {
      const r = await hashEvidenceStep(
        { forensic: await forensic(), custody: record, reporter: silentReporter },
        {
          caseId: ref.caseId,
          evidenceId,
          // Checked by the library against the snapshot before use (HASH_STATE_INVALID).
          ...(resume ? { resume: resume as unknown as HashResume } : {}),
          budgetMs,
          signal,
        },
      );
      if (r.done) return { done: true, sha256: r.sha256 };
      const percent = r.totalBytes ? Math.floor((100 * r.bytesHashed) / r.totalBytes) : 0;
      return {
        done: false,
        state: r.resume as unknown as Record<string, unknown>,
        waitingFor: `the SHA-256 of ${evidenceId} (${r.resume.snapshotId}): ${percent}% of ${r.totalBytes} bytes read`,
      };
    },
    room: async ({ ref, record, signal }) => {
      const r = await roomUp(
        { account: await forensic(), custody: record, reporter: silentReporter },
        { caseId: ref.caseId, bucket: env.vaultBucket, signal, ...HAND_OFF },
      );
      return { stackName: r.room.stackName, ...(r.room.instanceId ? { instanceId: r.room.instanceId } : {}) };
    },
    attach: async ({ ref, record, signal, evidenceId }) => {
      const account = await forensic();
      const r = await attachEvidence(
        { forensic: account, custody: record, room: roomGate(account), reporter: silentReporter },
        { caseId: ref.caseId, evidenceId, ...budgets, signal, ...HAND_OFF },
      );
      return {
        ...(r.evidence.volumeId ? { volumeId: r.evidence.volumeId } : {}),
        readOnly: r.readOnly.status,
        roomHash: r.roomHash.status,
      };
    },
  };

  return {
    env,
    accountId: async () => (await forensic()).accountId(),
    openRecord: async (caseId, o) => {
      const account = await forensic();
      const c = await openCaseCustody(account, {
        caseId,
        bucket: env.vaultBucket,
        reporter: silentReporter,
        mustExist: o.mustExist,
        ...(o.locks ? { locks: { ...o.locks, ttlMs: STEP_LEASE_TTL_MS } } : {}),
        lane: { id: o.lane },
        actorContext: o.actor,
      });
      records.set(c, c);
      return c;
    },
    workflows,
    publish: async (subject, message) => {
      const account = await forensic();
      const r = await account.sns.publish({ TopicArn: env.topicArn, Subject: subject, Message: message });
      return r.MessageId ?? '';
    },
    writeVaultObject: async (record, key, doc) => {
      const c = records.get(record);
      if (!c) throw new CleanroomError('INTERNAL', `The record of case ${record.caseId} was not opened by this host.`);
      await putLocked(
        await forensic(),
        c.vaultTarget,
        key,
        Buffer.from(`${JSON.stringify(doc, null, 2)}\n`),
        new Date(),
        {
          create: false,
        },
      );
    },
    readVaultJson: async (key) => {
      const got = await getBytes(await forensic(), env.vaultBucket, key);
      return got ? JSON.parse(got.body.toString('utf8')) : undefined;
    },
    now: () => new Date(),
  };
}
