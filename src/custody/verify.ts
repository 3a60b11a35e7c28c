/**
 * Verification of a custody record, as an ordered list of named checks (after sigstore-js): each
 * stored event is read as bytes and checked in sequence order by a streaming {@link ChainChecker}
 * (schema, canonical form, recomputed hash, link to the previous event, sequence), so memory stays
 * flat in the number of events; then the manifest (schema, signature verified offline with the
 * public key, head, evidence against the events). Every problem is a {@link Finding} with a code
 * from a closed union. Nothing stored is trusted: hashes are recomputed and compared in constant time.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { canonicalize, canonicalizeWithout } from './canonical.js';
import {
  GENESIS_PREV_HASH,
  eventHash,
  eventHashOfCanonical,
  hashEquals,
  manifestStatement,
  type CaseManifest,
  type ChainHead,
  type CustodyEvent,
} from './event.js';
import { eventSchemaErrors, manifestEvidenceFields, manifestSchemaErrors } from './schema.js';
import { foldEvidence, type EvidencePatch } from '../domain/evidence.js';
import { CHECKPOINT_ACTION, type LaneSet } from './lanes.js';
import { SESSION_END_ACTION, sessionOfEvent, type RecordedSession, type SessionTranscript } from './room-sessions.js';

import { FINDING_CODES, type FindingCode } from './finding-codes.js';
export { FINDING_CODES, type FindingCode };

/** One problem: the contract's `{code, seq, message}` (`seq` null when not about one event). */
export interface Finding {
  code: FindingCode;
  seq: number | null;
  message: string;
}

/** The named checks, in the order they run and are reported. */
export const VERIFY_CHECK_IDS = [
  'bundle.trust',
  'bundle.signature',
  'bundle.files',
  'bundle.checksums',
  'objects.versions',
  'objects.retention',
  'documents.schema',
  'events.canonical',
  'events.hash',
  'events.chain',
  'events.sequence',
  'manifest.present',
  'manifest.signature',
  'manifest.head',
  'manifest.evidence',
  'sessions.transcripts',
] as const;
export type VerifyCheckId = (typeof VERIFY_CHECK_IDS)[number];

/** The checks a verification of the record in the vault runs (no bundle file to check). */
export const VAULT_CHECKS: readonly VerifyCheckId[] = VERIFY_CHECK_IDS.filter((id) => !id.startsWith('bundle.'));
/** The checks a verification of an exported bundle runs (no S3 object versions or retention to read). */
export const BUNDLE_CHECKS: readonly VerifyCheckId[] = VERIFY_CHECK_IDS.filter((id) => !id.startsWith('objects.'));

/** Which check each code fails. */
const CHECK_OF: Record<FindingCode, VerifyCheckId> = {
  BUNDLE_CHECKSUM_MISMATCH: 'bundle.checksums',
  BUNDLE_INCOMPLETE: 'bundle.files',
  BUNDLE_NAME_INVALID: 'bundle.files',
  BUNDLE_FILE_INVALID: 'bundle.files',
  BUNDLE_SIGNATURE_INVALID: 'bundle.signature',
  KEY_NOT_TRUSTED: 'bundle.trust',
  CASE_NOT_EXPECTED: 'bundle.trust',
  HEAD_NOT_EXPECTED: 'manifest.head',
  SEQUENCE_DUPLICATE: 'events.sequence',
  EXTRA_VERSION: 'objects.versions',
  EVENT_DELETED: 'objects.versions',
  RETENTION_MISSING: 'objects.retention',
  SCHEMA_INVALID: 'documents.schema',
  NOT_CANONICAL: 'events.canonical',
  HASH_MISMATCH: 'events.hash',
  CHAIN_LINK_MISMATCH: 'events.chain',
  SEQUENCE_GAP: 'events.sequence',
  SEQUENCE_MISMATCH: 'events.sequence',
  MANIFEST_MISSING: 'manifest.present',
  SIGNATURE_INVALID: 'manifest.signature',
  MANIFEST_MISMATCH: 'manifest.evidence',
  MANIFEST_STALE: 'manifest.head',
  TRANSCRIPT_MISSING: 'sessions.transcripts',
  TRANSCRIPT_MISMATCH: 'sessions.transcripts',
  CHECKPOINT_INVALID: 'events.chain',
  LANE_UNCOMMITTED: 'manifest.head',
};

export interface VerifyCheck {
  id: VerifyCheckId;
  ok: boolean;
  detail: string;
}

/** The contract's `custody verify` document, plus the named checks. */
export interface CustodyVerifyResult {
  case: string;
  ok: boolean;
  /** Number of events in the record (the highest sequence number seen). */
  events: number;
  /** The chain head as recomputed from the stored events. */
  head: ChainHead;
  findings: Finding[];
  checks: VerifyCheck[];
  /** Where it was verified: `s3://bucket/cases/<case>/` or the bundle folder. */
  source: string;
  /** The session transcripts the record names, each checked against its recorded SHA-256. */
  transcripts: TranscriptCheck[];
}

/** A session transcript checked: which session, where, what it should hash to, whether it does. */
export interface TranscriptCheck {
  seq: number;
  sessionId: string;
  key: string;
  versionId?: string;
  sha256: string;
  ok: boolean;
}

/** What a transcript check reports: the session, the object, and whether it is what the event records. */
export function transcriptCheck(s: RecordedSession, t: SessionTranscript, ok: boolean): TranscriptCheck {
  return {
    seq: s.seq,
    sessionId: s.sessionId,
    key: t.key,
    ...(t.versionId ? { versionId: t.versionId } : {}),
    sha256: t.sha256,
    ok,
  };
}

/**
 * The transcripts of a record's ended sessions, one per session id and object (a session recorded
 * twice with the same transcript is checked once).
 */
export function recordedTranscripts(
  sessions: readonly RecordedSession[],
): Array<{ session: RecordedSession; transcript: SessionTranscript }> {
  const seen = new Set<string>();
  const out: Array<{ session: RecordedSession; transcript: SessionTranscript }> = [];
  for (const s of sessions) {
    if (s.action !== SESSION_END_ACTION || !s.transcript) continue;
    const t = s.transcript;
    const id = JSON.stringify([s.sessionId, t.bucket, t.key, t.versionId ?? null, t.sha256, t.bytes]);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ session: s, transcript: t });
  }
  return out;
}

/** Collects findings (capped per code so a wholesale tamper does not produce 100,000 lines). */
export class Findings {
  readonly list: Finding[] = [];
  private readonly perCode = new Map<FindingCode, number>();
  constructor(private readonly capPerCode = 100) {}
  add(code: FindingCode, seq: number | null, message: string): void {
    const n = (this.perCode.get(code) ?? 0) + 1;
    this.perCode.set(code, n);
    if (n <= this.capPerCode) this.list.push({ code, seq, message });
    else if (n === this.capPerCode + 1)
      this.list.push({ code, seq: null, message: `more ${code} findings were found and not listed` });
  }
  has(code: FindingCode): boolean {
    return (this.perCode.get(code) ?? 0) > 0;
  }
  count(check: VerifyCheckId): number {
    let n = 0;
    for (const [code, c] of this.perCode) if (CHECK_OF[code] === check) n += c;
    return n;
  }
}

/**
 * Checks events one at a time, in sequence order, keeping only the previous head and the evidence
 * fold: memory does not grow with the number of events.
 */
export class ChainChecker {
  private prev: ChainHead = { seq: 0, hash: GENESIS_PREV_HASH };
  private readonly evidence = new Map<string, EvidencePatch>();
  /** The session events seen (`room.session.start`, `room.session`), in sequence order: few per case. */
  readonly sessions: RecordedSession[] = [];
  private maxSeq = 0;
  /** A sequence number whose hash and evidence fold are kept (the manifest's head). */
  watch: number | undefined;
  /** The case's lanes, when it has any: checkpoints commit their events into the total order. */
  lanes: LaneSet | undefined;
  /** Called with each lane event as a checkpoint (at `seq`) commits it, in the total order. */
  onLaneEvent: ((seq: number, ev: CustodyEvent) => void) | undefined;
  private watched: { hash: string; evidence: EvidencePatch[] } | undefined;

  constructor(
    readonly caseId: string,
    private readonly findings: Findings,
  ) {}

  /** Check the stored bytes of the event at key sequence number `seq`. Returns the parsed event, if any. */
  add(seq: number, bytes: Buffer | string): CustodyEvent | undefined {
    const f = this.findings;
    if (!Number.isSafeInteger(seq) || seq <= this.prev.seq) {
      // A second event under the same number (an alias key or file name) or one out of order is
      // never chained: it would otherwise be checked against nothing and pass.
      f.add(
        'SEQUENCE_DUPLICATE',
        Number.isSafeInteger(seq) ? seq : null,
        `event ${seq} comes after event ${this.prev.seq}: a sequence number occurs twice or out of order`,
      );
      return undefined;
    }
    this.maxSeq = Math.max(this.maxSeq, seq);
    if (seq > this.prev.seq + 1) {
      f.add(
        'SEQUENCE_GAP',
        this.prev.seq + 1,
        seq - this.prev.seq === 2
          ? `event ${this.prev.seq + 1} is missing`
          : `events ${this.prev.seq + 1}–${seq - 1} are missing`,
      );
    }
    const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
    let ev: CustodyEvent;
    try {
      ev = JSON.parse(text) as CustodyEvent;
    } catch (e) {
      f.add('SCHEMA_INVALID', seq, `event ${seq} is not JSON (${(e as Error).message})`);
      this.prev = { seq, hash: '' };
      return undefined;
    }
    const errors = eventSchemaErrors(ev);
    if (errors.length)
      f.add(
        'SCHEMA_INVALID',
        seq,
        `event ${seq} does not match the custody event schema: ${errors.slice(0, 3).join('; ')}`,
      );
    // One canonicalisation gives both the form compared with the stored bytes and the form hashed
    // (the event without `hash`); anything off the common path takes the two separate calls.
    let canonical: string | undefined;
    let canonicalBody: string | undefined;
    try {
      const both = canonicalizeWithout(ev, 'hash');
      if (both) ({ whole: canonical, without: canonicalBody } = both);
      else canonical = canonicalize(ev);
    } catch (e) {
      f.add('SCHEMA_INVALID', seq, `event ${seq} cannot be canonicalised: ${(e as Error).message}`);
    }
    if (canonical !== undefined && canonical !== text)
      f.add('NOT_CANONICAL', seq, `event ${seq} is not stored in its RFC 8785 canonical form`);
    if (ev && typeof ev === 'object') {
      if (ev.seq !== seq)
        f.add('SEQUENCE_MISMATCH', seq, `the object of event ${seq} holds event ${JSON.stringify(ev.seq)}`);
      if (ev.case !== this.caseId)
        f.add('SEQUENCE_MISMATCH', seq, `event ${seq} belongs to case ${JSON.stringify(ev.case)}, not ${this.caseId}`);
      let recomputed = '';
      try {
        recomputed = canonicalBody !== undefined ? eventHashOfCanonical(canonicalBody) : eventHash(ev);
      } catch {
        // reported as SCHEMA_INVALID above
      }
      if (!hashEquals(recomputed, String(ev.hash)))
        f.add(
          'HASH_MISMATCH',
          seq,
          `event ${seq}: the recomputed hash ${recomputed.slice(0, 16)}… differs from the stored hash ${String(ev.hash).slice(0, 16)}…`,
        );
      if (seq === this.prev.seq + 1 && this.prev.hash !== '' && !hashEquals(String(ev.prevHash), this.prev.hash)) {
        f.add(
          'CHAIN_LINK_MISMATCH',
          seq,
          `event ${seq} does not link to event ${this.prev.seq}: its prevHash ${String(ev.prevHash).slice(0, 16)}… is not ${this.prev.hash.slice(0, 16)}…`,
        );
      }
      // A checkpoint's newly committed lane events take their place right before it.
      if (this.lanes && ev.action === CHECKPOINT_ACTION)
        this.lanes.commit(seq, ev, (le) => {
          this.fold(seq, le);
          this.onLaneEvent?.(seq, le);
        });
      this.fold(seq, ev);
      if (this.lanes?.size) this.lanes.sawMain(recomputed);
      // Chain on from the recomputed hash: a tampered event breaks its successor's link too.
      this.prev = { seq, hash: recomputed };
      if (seq === this.watch) this.watched = { hash: recomputed, evidence: this.evidenceFold() };
    }
    return ev;
  }

  /** Fold one event of the total order into the evidence and the sessions (`seq`: where it sits in the main chain). */
  private fold(seq: number, ev: CustodyEvent): void {
    // Only events that carry evidence changes fold (foldEvidence reads nothing else).
    if (
      ev.outcome &&
      typeof ev.outcome === 'object' &&
      (ev.outcome.details as Record<string, unknown> | undefined)?.['evidence']
    ) {
      for (const [id, patch] of foldEvidence([ev])) this.evidence.set(id, { ...this.evidence.get(id), ...patch });
    }
    const session = sessionOfEvent(seq, ev);
    if (session) this.sessions.push(session);
  }

  /** The head as recomputed (hash of the last event; genesis when there is none). */
  head(): ChainHead {
    return { seq: this.prev.seq, hash: this.prev.seq === 0 ? GENESIS_PREV_HASH : this.prev.hash };
  }

  /** Hash and evidence fold at `seq` (the current head, or the watched point). */
  at(seq: number): { hash: string; evidence: EvidencePatch[] } | undefined {
    if (seq === this.prev.seq) return { hash: this.head().hash, evidence: this.evidenceFold() };
    if (seq === this.watch) return this.watched;
    return undefined;
  }

  get events(): number {
    return this.maxSeq;
  }

  /** The evidence fold of the events, projected on the manifest's evidence fields, by evidence id. */
  evidenceFold(): EvidencePatch[] {
    return projectEvidence([...this.evidence.values()]);
  }
}

/** The manifest's view of evidence items: only the schema's fields, sorted by evidence id. */
export function projectEvidence(items: EvidencePatch[]): EvidencePatch[] {
  const fields = manifestEvidenceFields();
  return items
    .map((it) => Object.fromEntries(Object.entries(it).filter(([k]) => fields.includes(k))) as EvidencePatch)
    .sort((a, b) => (a.evidenceId < b.evidenceId ? -1 : a.evidenceId > b.evidenceId ? 1 : 0));
}

/** A public key from PEM or DER (SPKI). */
export function publicKey(key: string | Buffer): KeyObject {
  return typeof key === 'string'
    ? createPublicKey({ key, format: 'pem' })
    : createPublicKey({ key, format: 'der', type: 'spki' });
}

/** Check the manifest (bytes as stored) against the chain. */
export function checkManifest(opts: {
  caseId: string;
  bucket?: string;
  bytes: Buffer | undefined;
  key: KeyObject | undefined;
  expectedKeyId?: string;
  chain: ChainChecker;
  findings: Findings;
}): CaseManifest | undefined {
  const { findings: f, chain } = opts;
  if (!opts.bytes) {
    if (chain.events > 0)
      f.add(
        'MANIFEST_MISSING',
        null,
        `the case has ${chain.events} event(s) but no manifest: nothing seals the record (any custody-writing command re-seals it; or run \`cleanroom custody seal --case ${opts.caseId}\`)`,
      );
    return undefined;
  }
  let m: CaseManifest;
  const text = opts.bytes.toString('utf8');
  try {
    m = JSON.parse(text) as CaseManifest;
  } catch (e) {
    f.add('SCHEMA_INVALID', null, `the manifest is not JSON (${(e as Error).message})`);
    return undefined;
  }
  const errors = manifestSchemaErrors(m);
  if (errors.length)
    f.add(
      'SCHEMA_INVALID',
      null,
      `the manifest does not match the case manifest schema: ${errors.slice(0, 3).join('; ')}`,
    );
  if (!m || typeof m !== 'object' || !m.signature || !m.head) return undefined;
  checkManifestSignature(m, opts);
  const head = chain.head();
  if (m.case !== opts.caseId)
    f.add('MANIFEST_MISMATCH', null, `the manifest is for case ${JSON.stringify(m.case)}, not ${opts.caseId}`);
  if (opts.bucket && m.bucket !== opts.bucket)
    f.add('MANIFEST_MISMATCH', null, `the manifest names the vault ${JSON.stringify(m.bucket)}, not ${opts.bucket}`);
  if (m.events !== m.head.seq)
    f.add('MANIFEST_MISMATCH', null, `the manifest counts ${m.events} events but seals head ${m.head.seq}`);
  if (m.head.seq > head.seq) {
    f.add('MANIFEST_MISMATCH', null, `the manifest seals event ${m.head.seq}, but the record ends at ${head.seq}`);
    return m;
  }
  if (m.head.seq < head.seq)
    f.add(
      'MANIFEST_STALE',
      m.head.seq + 1,
      `the manifest seals event ${m.head.seq}; events ${m.head.seq + 1}–${head.seq} are not covered by a signature (any custody-writing command re-seals it, or run \`cleanroom custody seal --case ${opts.caseId}\`)`,
    );
  const point = chain.at(m.head.seq);
  if (!point) {
    f.add('MANIFEST_MISMATCH', m.head.seq, `the manifest's head ${m.head.seq} could not be located in the record`);
    return m;
  }
  if (!hashEquals(String(m.head.hash), point.hash))
    f.add('MANIFEST_MISMATCH', m.head.seq, `the manifest's head hash is not the hash of event ${m.head.seq}`);
  const sealed = projectEvidence(Array.isArray(m.evidence) ? m.evidence : []);
  if (canonicalize(point.evidence) !== canonicalize(sealed)) {
    const ids = new Set([...point.evidence.map((x) => x.evidenceId), ...sealed.map((x) => x.evidenceId)]);
    const differ = [...ids].filter(
      (id) =>
        canonicalize(point.evidence.find((x) => x.evidenceId === id) ?? null) !==
        canonicalize(sealed.find((x) => x.evidenceId === id) ?? null),
    );
    f.add('MANIFEST_MISMATCH', null, `the manifest's evidence differs from the events for ${differ.join(', ')}`);
  }
  return m;
}

/** The manifest's signature: its digest, the signature verified with the public key, the key that signed it. */
function checkManifestSignature(
  m: CaseManifest,
  opts: { key: KeyObject | undefined; expectedKeyId?: string; findings: Findings },
): void {
  const { findings: f } = opts;
  const { signature, ...signed } = m;
  let statement: ReturnType<typeof manifestStatement> | undefined;
  try {
    statement = manifestStatement(signed);
  } catch (e) {
    f.add('SCHEMA_INVALID', null, `the manifest cannot be canonicalised: ${(e as Error).message}`);
  }
  if (statement) {
    if (!hashEquals(statement.digest, String(signature.digest)))
      f.add(
        'SIGNATURE_INVALID',
        null,
        'the manifest digest does not match its content: the manifest was changed after it was signed',
      );
    let good = false;
    if (!opts.key) f.add('SIGNATURE_INVALID', null, 'there is no public key to verify the manifest signature with');
    else {
      try {
        good = cryptoVerify('sha256', statement.message, opts.key, Buffer.from(String(signature.value), 'base64'));
      } catch {
        good = false;
      }
      if (!good)
        f.add(
          'SIGNATURE_INVALID',
          null,
          `the manifest signature does not verify with the public key of ${opts.expectedKeyId ?? signature.keyId}`,
        );
    }
    if (opts.expectedKeyId && signature.keyId !== opts.expectedKeyId)
      f.add(
        'SIGNATURE_INVALID',
        null,
        `the manifest was signed with ${signature.keyId}, not the vault's signing key ${opts.expectedKeyId}`,
      );
  }
}

/** Turn findings into the ordered named checks. */
export function namedChecks(
  findings: Findings,
  applicable: readonly VerifyCheckId[],
  details: Partial<Record<VerifyCheckId, string>> = {},
): VerifyCheck[] {
  return VERIFY_CHECK_IDS.filter((id) => applicable.includes(id)).map((id) => {
    const n = findings.count(id);
    return {
      id,
      ok: n === 0,
      detail:
        n === 0
          ? (details[id] ?? 'ok')
          : `${n} finding(s): ${findings.list.filter((x) => CHECK_OF[x.code] === id)[0]?.message ?? ''}`,
    };
  });
}

/** The result document from a finished chain and its findings. */
export function verifyResult(
  caseId: string,
  chain: ChainChecker,
  findings: Findings,
  source: string,
  applicable: readonly VerifyCheckId[],
  details: Partial<Record<VerifyCheckId, string>>,
  transcripts: TranscriptCheck[] = [],
): CustodyVerifyResult {
  const sessions = transcripts.length
    ? `${transcripts.length} session transcript(s) hash to what their events record`
    : 'no session transcript recorded';
  return {
    case: caseId,
    ok: findings.list.length === 0,
    events: chain.events,
    head: chain.head(),
    findings: findings.list,
    checks: namedChecks(findings, applicable, { 'sessions.transcripts': sessions, ...details }),
    source,
    transcripts,
  };
}
