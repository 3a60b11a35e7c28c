/**
 * A fake world for the Lambda host's unit tests: custody records in memory (MemoryRecorder, with
 * the locks and the seal a step uses), the library workflows as fakes a test sets, the topic and
 * the vault objects as lists. Everything a step did is visible afterwards.
 */
import { MemoryRecorder } from '../../src/domain/recorder.js';
import type { CaseRecord, LambdaWorld, OpenRecord, Workflows } from '../../src/lambda/host.js';
import type { AutomationEnv } from '../../src/lambda/env.js';
import type { LambdaContext } from '../../src/lambda/types.js';

export const ENV: AutomationEnv = {
  region: 'us-east-1',
  vaultBucket: 'cleanroom-evidence-123456789012-us-east-1',
  vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
  codeSha256: 'c'.repeat(64),
  topicArn: 'arn:aws:sns:us-east-1:123456789012:cleanroom-responders',
  isolationPolicy: 'auto',
  minSeverity: 7,
};

export const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-response:run-1';

export class FakeRecord extends MemoryRecorder implements CaseRecord {
  dirty = false;
  seals = 0;
  leaseReleased = 0;
  constructor(readonly caseId: string) {
    super('arn:aws:sts::123456789012:assumed-role/cleanroom-automation/fn');
  }
  override async record(...a: Parameters<MemoryRecorder['record']>) {
    const before = this.events().length;
    const e = await super.record(...a);
    if (this.events().length > before) this.dirty = true;
    return e;
  }
  async sealManifest() {
    this.seals++;
    this.dirty = false;
    return {};
  }
  async releaseLease() {
    this.leaseReleased++;
  }
  /** The scopes a step held for a part of its work, in the order asked. */
  lockedBriefly: string[][] = [];
  async withLocks<T>(scopes: readonly string[], fn: () => Promise<T>): Promise<T> {
    this.lockedBriefly.push([...scopes]);
    return fn();
  }
}

export interface FakeWorld extends LambdaWorld {
  records: Map<string, FakeRecord>;
  opened: Array<{ caseId: string } & OpenRecord>;
  published: Array<{ subject: string; message: string }>;
  vault: Map<string, unknown>;
  calls: string[];
}

/** A world whose workflows fail (named) unless the test gives them. */
export function fakeWorld(workflows: Partial<Workflows> = {}, env: Partial<AutomationEnv> = {}): FakeWorld {
  const records = new Map<string, FakeRecord>();
  const calls: string[] = [];
  const missing = (name: string) => async () => {
    throw new Error(`the test gave no ${name} workflow`);
  };
  const wrap = <K extends keyof Workflows>(k: K): Workflows[K] =>
    (async (...a: unknown[]) => {
      calls.push(k);
      return ((workflows[k] ?? missing(k)) as (...x: unknown[]) => unknown)(...a);
    }) as Workflows[K];
  const w: FakeWorld = {
    env: { ...ENV, ...env },
    records,
    opened: [],
    published: [],
    vault: new Map(),
    calls,
    accountId: async () => '123456789012',
    openRecord: async (caseId, o) => {
      w.opened.push({ caseId, ...o });
      let r = records.get(caseId);
      if (!r) {
        if (o.mustExist) {
          const { UsageError } = await import('../../src/domain/errors.js');
          throw new UsageError('UNKNOWN_CASE', `no case ${caseId}`);
        }
        r = new FakeRecord(caseId);
        records.set(caseId, r);
      }
      return r;
    },
    workflows: {
      checkInstance: workflows.checkInstance ?? (async () => undefined),
      isolate: wrap('isolate'),
      acquire: wrap('acquire'),
      hash: wrap('hash'),
      room: wrap('room'),
      attach: wrap('attach'),
    },
    publish: async (subject, message) => {
      w.published.push({ subject, message });
      return `msg-${w.published.length}`;
    },
    writeVaultObject: async (_record, key, doc) => {
      w.vault.set(key, doc);
    },
    readVaultJson: async (key) => w.vault.get(key),
    now: () => new Date('2026-12-05T12:00:00.000Z'),
  };
  return w;
}

/** A Lambda context with `remainingMs` left. */
export function context(remainingMs = 900_000, functionName = 'cleanroom-step'): LambdaContext {
  const end = Date.now() + remainingMs;
  return { functionName, awsRequestId: 'req-1', getRemainingTimeInMillis: () => end - Date.now() };
}

/** A GuardDuty finding event as EventBridge delivers it (an EC2 instance, severity 8 unless given). */
export function guardDutyEvent(o: { id?: string; severity?: number; account?: string; instanceId?: string } = {}) {
  const account = o.account ?? '123456789012';
  return {
    version: '0',
    id: 'evt-1',
    'detail-type': 'GuardDuty Finding',
    source: 'aws.guardduty',
    account,
    time: '2026-12-05T12:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      schemaVersion: '2.0',
      accountId: account,
      region: 'us-east-1',
      id: o.id ?? '16afba5c5c43e07c9e3e5e2e544e95df',
      type: 'UnauthorizedAccess:EC2/SSHBruteForce',
      resource: { resourceType: 'Instance', instanceDetails: { instanceId: o.instanceId ?? 'i-0abc1234def567890' } },
      severity: o.severity ?? 8,
      title: 'SSH brute force attack against i-0abc',
    },
  };
}
