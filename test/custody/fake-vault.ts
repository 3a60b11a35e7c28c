/**
 * A vault in memory for the custody unit tests: a {@link FakeBucket} holding a genuine custody
 * record (events chained and hashed as the recorder writes them, a manifest signed with the
 * vault's signing key) and a fake KMS holding that key, behind the narrow account the custody
 * functions take. Tests then change the stored versions as an attacker or an accident would.
 */
import { sign as cryptoSign } from 'node:crypto';
import { canonicalBytes } from '../../src/custody/canonical.js';
import {
  EVENT_SCHEMA_ID,
  GENESIS_PREV_HASH,
  MANIFEST_SCHEMA_ID,
  eventHash,
  eventKey,
  manifestKey,
  manifestStatement,
  type CaseManifest,
  type CustodyEvent,
  type SignedManifest,
} from '../../src/custody/event.js';
import type { VaultVerifyAccount } from '../../src/custody/verify-vault.js';
import { signingKeyAlias } from '../../src/domain/vault-name.js';
import { Calls, FakeBucket, Faults, IDENTITY, fakeKms, signingKey, type FakeKey } from '../fakes/ports.js';

export const BUCKET = 'cleanroom-evidence-123456789012-us-east-1';
export const ACTOR = 'arn:aws:sts::123456789012:assumed-role/Responder/bob';

/** One event of a record made by {@link chainOf}: its action, outcome and resources. */
export interface EventSpec {
  action: string;
  status?: 'succeeded' | 'failed' | 'partial' | 'skipped';
  details?: Record<string, unknown>;
  resources?: CustodyEvent['resources'];
}

/** A genuine record of these events of `caseId` (seq 1.., a minute apart), chained and hashed as the recorder writes them. */
export function chainOf(caseId: string, specs: EventSpec[], t0 = Date.parse('2026-12-01T10:00:00Z')): CustodyEvent[] {
  const out: CustodyEvent[] = [];
  let prevHash = GENESIS_PREV_HASH;
  specs.forEach((spec, i) => {
    const seq = i + 1;
    const body: Omit<CustodyEvent, 'hash'> = {
      schema: EVENT_SCHEMA_ID,
      case: caseId,
      seq,
      time: new Date(t0 + seq * 60_000).toISOString(),
      actor: ACTOR,
      action: spec.action,
      resources: spec.resources ?? [{ type: 'ec2:instance', id: `i-${seq}` }],
      outcome: { status: spec.status ?? 'succeeded', ...(spec.details ? { details: spec.details } : {}) },
      prevHash,
    };
    const ev: CustodyEvent = { ...body, hash: eventHash(body) };
    out.push(ev);
    prevHash = ev.hash;
  });
  return out;
}

/** The events of a genuine record of `n` events of `caseId` (seq 1..n). */
export function chain(caseId: string, n: number, t0 = Date.parse('2026-12-01T10:00:00Z')): CustodyEvent[] {
  return chainOf(
    caseId,
    Array.from({ length: n }, (_, i) => ({ action: i === 0 ? 'room.up' : `step.${i + 1}` })),
    t0,
  );
}

/** A manifest sealing `events` up to `headSeq`, signed with `key` (as `keyId`). */
export function manifest(
  caseId: string,
  events: CustodyEvent[],
  key: FakeKey,
  opts: { headSeq?: number; keyId?: string; bucket?: string } = {},
): CaseManifest {
  const headSeq = opts.headSeq ?? events.length;
  const head = { seq: headSeq, hash: events[headSeq - 1]!.hash };
  const signed: SignedManifest = {
    schema: MANIFEST_SCHEMA_ID,
    case: caseId,
    bucket: opts.bucket ?? BUCKET,
    events: headSeq,
    head,
    evidence: [],
    sealedAt: '2026-12-01T12:00:00.000Z',
    sealedBy: ACTOR,
  };
  const { digest, message } = manifestStatement(signed);
  return {
    ...signed,
    signature: {
      keyId: opts.keyId ?? key.arn,
      algorithm: 'ECDSA_SHA_256',
      messageType: 'RAW',
      digest,
      value: cryptoSign('sha256', message, key.privateKey).toString('base64'),
    },
  };
}

/** A vault with the record of one case in it; `account` is what verify, export and log take. */
export function fakeVault(caseId = 'IR-7', n = 5, opts: { pageSize?: number; manifestHead?: number } = {}) {
  const bucket = new FakeBucket(BUCKET, opts.pageSize);
  const key = signingKey(signingKeyAlias(BUCKET));
  const keys = [key];
  const kmsCalls = new Calls();
  const kmsFaults = new Faults();
  const events = chain(caseId, n);
  for (const ev of events) bucket.put(eventKey(caseId, ev.seq), canonicalBytes(ev));
  if (n > 0)
    bucket.put(
      manifestKey(caseId),
      canonicalBytes(manifest(caseId, events, key, opts.manifestHead ? { headSeq: opts.manifestHead } : {})),
    );
  const account = { ...IDENTITY, s3: bucket.s3, kms: fakeKms(keys, kmsCalls, kmsFaults) } satisfies VaultVerifyAccount;
  return { bucket, key, keys, kmsCalls, kmsFaults, events, account, caseId };
}

/** Codes of a result's findings, with their sequence numbers: `['EXTRA_VERSION@3', …]`. */
export function codes(r: { findings: ReadonlyArray<{ code: string; seq: number | null }> }): string[] {
  return r.findings.map((f) => (f.seq === null ? f.code : `${f.code}@${f.seq}`));
}
