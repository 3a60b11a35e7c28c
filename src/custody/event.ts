/**
 * The stored custody event and the case manifest: their shapes, how they are hashed, where they
 * live in the vault.
 *
 * Hashing follows RFC 6962's domain separation (as sigstore does for Merkle leaves and nodes): each
 * kind of thing hashed gets its own prefix, so an event's hash can never be replayed as the hash of
 * a manifest or anything else, and the prefixes carry a version.
 *
 *     event.hash = hex(SHA-256("cleanroom.custody.event.v1\0"    || JCS(event without `hash`)))
 *     statement  = "cleanroom.custody.manifest.v1\0" || hex(SHA-256(JCS(manifest without `signature`)))
 *     signature  = ECDSA_SHA_256(statement)   (KMS Sign, MessageType RAW)
 *
 * The first event's `prevHash` is {@link GENESIS_PREV_HASH}: 64 zeros, fixed for every case (the
 * event itself carries its case, so a chain cannot be spliced into another case).
 *
 * The manifest is signed through a fixed-size statement rather than as a whole because KMS Sign
 * takes at most 4096 bytes in RAW mode and a manifest with many evidence items is larger.
 */
import crypto, { createHash } from 'node:crypto';
import { canonicalBytes, canonicalize } from './canonical.js';
import type { RecordedEvent } from '../domain/recorder.js';
import type { EvidencePatch } from '../domain/evidence.js';
import { casePrefix } from '../domain/vault-name.js';

/** `$id` of the custody event schema (evidence-schema/v1/custody-event.schema.json); events carry it. */
export const EVENT_SCHEMA_ID = 'https://cleanroom.dev/evidence-schema/v1/custody-event.schema.json';
/** `$id` of the case manifest schema (evidence-schema/v1/case-manifest.schema.json). */
export const MANIFEST_SCHEMA_ID = 'https://cleanroom.dev/evidence-schema/v1/case-manifest.schema.json';

/** Domain-separation prefix of event hashes. */
export const EVENT_HASH_PREFIX = 'cleanroom.custody.event.v1\0';
/** Domain-separation prefix of the signed manifest statement. */
export const MANIFEST_STATEMENT_PREFIX = 'cleanroom.custody.manifest.v1\0';
/** The `prevHash` of the first event of every case. */
export const GENESIS_PREV_HASH = '0'.repeat(64);

/** A custody event as stored in the vault (one object per event). */
export interface CustodyEvent extends RecordedEvent {
  /** The schema this event follows (its version is in the URI). */
  schema: typeof EVENT_SCHEMA_ID;
  /** The case the event belongs to. */
  case: string;
}

/** The chain head a manifest seals. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** How the manifest is signed. */
export interface ManifestSignature {
  /** The KMS signing key (ARN) of the vault. */
  keyId: string;
  algorithm: 'ECDSA_SHA_256';
  messageType: 'RAW';
  /** The statement signed: hex SHA-256 of the canonical signed part (after the prefix). */
  digest: string;
  /** DER-encoded ECDSA signature, base64. */
  value: string;
}

/** `cases/<case>/manifest.json`: the case, its evidence, the chain head, the signature. */
export interface CaseManifest {
  schema: typeof MANIFEST_SCHEMA_ID;
  case: string;
  /** The vault bucket the record lives in. */
  bucket: string;
  /** Number of events sealed (= head.seq). */
  events: number;
  head: ChainHead;
  /** The evidence items, folded from the events (`foldEvidence`), by evidence id. */
  evidence: EvidencePatch[];
  sealedAt: string;
  /** The STS caller ARN that sealed. */
  sealedBy: string;
  signature: ManifestSignature;
}

/** The part of the manifest that is signed. */
export type SignedManifest = Omit<CaseManifest, 'signature'>;

/** Digits of the zero-padded sequence number in event keys (sorts correctly up to 10^10 - 1). */
export const SEQ_DIGITS = 10;

/** Where the events of a case live. */
export function custodyPrefix(caseId: string): string {
  return `${casePrefix(caseId)}custody/`;
}

/** `cases/<case>/custody/<seq zero-padded>.json`. */
export function eventKey(caseId: string, seq: number): string {
  return `${custodyPrefix(caseId)}${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

/** The sequence number of an event key, or undefined when the key is not an event key. */
export function seqOfKey(caseId: string, key: string): number | undefined {
  const p = custodyPrefix(caseId);
  if (!key.startsWith(p)) return undefined;
  const m = /^(\d+)\.json$/.exec(key.slice(p.length));
  return m ? Number(m[1]) : undefined;
}

/** Lane ids: what a lane key's folder may be named (the schema's `lane` pattern). */
export const LANE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Where the lanes of a case live: `cases/<case>/custody/lanes/`. */
export function lanesPrefix(caseId: string): string {
  return `${custodyPrefix(caseId)}lanes/`;
}

/** `cases/<case>/custody/lanes/<lane>/<first seq zero-padded>.json`: one lane object (a JSON array of events). */
export function laneKey(caseId: string, lane: string, firstSeq: number): string {
  return `${lanesPrefix(caseId)}${lane}/${String(firstSeq).padStart(SEQ_DIGITS, '0')}.json`;
}

/** The lane and first sequence number of a lane object key; undefined when the key is not one. */
export function laneOfKey(caseId: string, key: string): { lane: string; first: number } | undefined {
  const p = lanesPrefix(caseId);
  if (!key.startsWith(p)) return undefined;
  const m = /^([^/]+)\/(\d{10})\.json$/.exec(key.slice(p.length));
  if (!m || !LANE_ID_PATTERN.test(m[1]!)) return undefined;
  return { lane: m[1]!, first: Number(m[2]) };
}

/** `cases/<case>/manifest.json`. */
export function manifestKey(caseId: string): string {
  return `${casePrefix(caseId)}manifest.json`;
}

// One-shot hashing (crypto.hash, Node ≥ 20.12) skips the Hash object of createHash: the same digest,
// without the per-call allocation that dominates hashing small documents. Older Node falls back.
const oneShot: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (crypto as unknown as { hash: (a: string, d: string | Uint8Array, e: 'hex') => string }).hash
    : (a, d, e) => createHash(a).update(d).digest(e);

/** Hex SHA-256 (strings as UTF-8). */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShot('sha256', data, 'hex');
}

/** The hash of an event: over the domain prefix and the canonical form without `hash`. */
export function eventHash(event: Omit<CustodyEvent, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...body } = event;
  return eventHashOfCanonical(canonicalize(body));
}

/** {@link eventHash} from the RFC 8785 form of the event without `hash`, already computed. */
export function eventHashOfCanonical(canonicalBody: string): string {
  return sha256Hex(EVENT_HASH_PREFIX + canonicalBody);
}

/** The statement the manifest signature covers (bytes handed to KMS Sign as RAW). */
export function manifestStatement(signed: SignedManifest): { digest: string; message: Buffer } {
  const digest = sha256Hex(canonicalBytes(signed));
  return { digest, message: Buffer.from(`${MANIFEST_STATEMENT_PREFIX}${digest}`, 'utf8') };
}

/** The value of each hex digit by character code, either case (as Buffer.from(…, 'hex') reads them); -1 for the rest. */
const NIBBLE = new Int8Array(128).fill(-1);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9a-fA-F]/.test(ch)) NIBBLE[c] = parseInt(ch, 16);
}

/**
 * Constant-time comparison of two hex digests (false on any length or format difference): every
 * digit is compared, whatever differs first, without allocating (it runs twice per verified event).
 */
export function hashEquals(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length || a.length % 2 !== 0) return false;
  let bad = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    const x = NIBBLE[a.charCodeAt(i)] ?? -1;
    const y = NIBBLE[b.charCodeAt(i)] ?? -1;
    bad |= (x | y) & 0x80; // -1 has the sign bit
    diff |= x ^ y;
  }
  return bad === 0 && diff === 0;
}
