/**
 * The custody bundle: a self-contained folder a custodian hands over, verifiable offline.
 *
 *     events/<seq zero-padded>.json   the events' stored bytes, exactly
 *     sessions/<session id>.log       each recorded session transcript's bytes (only when there are any)
 *     manifest.json                   the signed manifest's stored bytes
 *     signing-key.pem                 the public key of the vault's signing key (SPKI)
 *     export.json                     who exported what, when, and the retention seen at export
 *     report.md, report.html          case summary, a card per evidence item, timeline
 *     SHA256SUMS                      `sha256sum -c` format; events first, in sequence order, then the
 *                                     transcripts in name order, then the other files
 *     bundle.sig.json                 the vault's signing key's signature over SHA256SUMS
 *
 * {@link exportBundle} verifies the record in the vault while it writes the bundle (into a
 * temporary folder, renamed into place only when verification found nothing), then signs
 * SHA256SUMS with the vault's signing key (KMS Sign, as the manifest is signed), so every file a
 * reader trusts — the report, export.json — is bound to that key, not only the events:
 *
 *     bundle statement = "cleanroom.custody.bundle.v1\0" || hex(SHA-256(JCS(bundle.sig.json without `signature`)))
 *
 * {@link verifyBundle} needs no AWS access at all, and a trust anchor (the fingerprint of the
 * signing key, or the public key itself): a bundle re-signed with another key carries its own
 * public key and would otherwise vouch for itself. It streams SHA256SUMS and the event files
 * through the same {@link ChainChecker}, so memory stays flat in the number of events, and demands
 * the exact file set: every file listed once under its one canonical name, nothing unlisted, no
 * symbolic link or special file (never followed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { assertCaseId } from '../domain/case-id.js';
import { UsageError, VerificationFailedError } from '../domain/errors.js';
import { type EvidencePatch, foldEvidence } from '../domain/evidence.js';
import type { Reporter } from '../domain/reporter.js';
import { canonicalBytes } from './canonical.js';
import { checkOutPath } from './out-path.js';
import {
  LANE_ID_PATTERN,
  SEQ_DIGITS,
  hashEquals,
  sha256Hex,
  type CaseManifest,
  type ChainHead,
  type CustodyEvent,
} from './event.js';
import { LaneSet } from './lanes.js';
import { renderHtml, renderMarkdown, type TimelineRow } from './report.js';
import { type EvidenceStep, evidenceStepOf } from './report-cards.js';
import { transcriptFile } from './room-sessions.js';
import {
  BUNDLE_CHECKS,
  ChainChecker,
  Findings,
  checkManifest,
  publicKey,
  recordedTranscripts,
  transcriptCheck,
  verifyResult,
  type CustodyVerifyResult,
  type Finding,
  type TranscriptCheck,
} from './verify.js';
import type { VaultVerifyAccount, VaultVerifyResult } from './verify-vault.js';
import { actorLine } from './actor.js';

export const BUNDLE_FILES = {
  manifest: 'manifest.json',
  key: 'signing-key.pem',
  meta: 'export.json',
  sums: 'SHA256SUMS',
  md: 'report.md',
  html: 'report.html',
  events: 'events',
  sessions: 'sessions',
  lanes: 'lanes',
  seal: 'bundle.sig.json',
} as const;

/** The files SHA256SUMS lists after the events, in this order (each exactly once). */
export const BUNDLE_LISTED_FILES = [
  BUNDLE_FILES.meta,
  BUNDLE_FILES.manifest,
  BUNDLE_FILES.html,
  BUNDLE_FILES.md,
  BUNDLE_FILES.key,
] as const;

/** Domain-separation prefix of the signed bundle statement. */
export const BUNDLE_STATEMENT_PREFIX = 'cleanroom.custody.bundle.v1\0';
/** `type` of bundle.sig.json. */
export const BUNDLE_SEAL_TYPE = 'cleanroom.custody.bundle.v1';

/** The signed part of `bundle.sig.json`. */
export interface SignedBundle {
  type: typeof BUNDLE_SEAL_TYPE;
  case: string;
  bucket: string;
  /** The KMS signing key (ARN) that signed: shown to a reader only when the key is anchored. */
  keyId: string;
  /** Hex SHA-256 of SHA256SUMS, as stored. */
  sha256sums: string;
  head: ChainHead;
  exportedAt: string;
}

/** `bundle.sig.json` */
export interface BundleSeal extends SignedBundle {
  signature: { algorithm: 'ECDSA_SHA_256'; messageType: 'RAW'; digest: string; value: string };
}

/** The statement the bundle signature covers (bytes handed to KMS Sign as RAW). */
export function bundleStatement(signed: SignedBundle): { digest: string; message: Buffer } {
  const digest = sha256Hex(canonicalBytes(signed));
  return { digest, message: Buffer.from(`${BUNDLE_STATEMENT_PREFIX}${digest}`, 'utf8') };
}

/**
 * The bytes of `bundle.sig.json` as export writes them: fixed key order, two-space indent, a final
 * line break. The verifier demands exactly these bytes, so the file holds nothing the signature
 * does not cover: no duplicate key (read one way here, another way by another parser), no extra
 * field beside the signature, no second spelling of the signature value.
 */
export function sealText(seal: BundleSeal): string {
  const { type, case: caseId, bucket, keyId, sha256sums, head, exportedAt, signature } = seal;
  const ordered = {
    type,
    case: caseId,
    bucket,
    keyId,
    sha256sums,
    head: { seq: head?.seq, hash: head?.hash },
    exportedAt,
    signature: {
      algorithm: signature?.algorithm,
      messageType: signature?.messageType,
      digest: signature?.digest,
      value: signature?.value,
    },
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** `export.json` */
export interface ExportMeta {
  case: string;
  bucket: string;
  exportedAt: string;
  exportedBy: string;
  signingKeyArn: string;
  /** SHA-256 of the public key (SPKI DER), hex: compare with the vault's signing key. */
  keyFingerprint: string;
  events: number;
  head: { seq: number; hash: string };
  retention: { modes: string[]; earliestRetainUntil?: string };
}

export interface ExportResult {
  case: string;
  out: string;
  events: number;
  head: { seq: number; hash: string };
  files: number;
  keyFingerprint: string;
  verification: CustodyVerifyResult;
}

/** Hex SHA-256 of a public key's SPKI DER encoding. */
export function keyFingerprint(pem: string): string {
  return sha256Hex(createPublicKey({ key: pem, format: 'pem' }).export({ format: 'der', type: 'spki' }) as Buffer);
}

/** The one name of the event file of `seq`. */
/** `lanes/<lane>/<first seq zero-padded>.json`: a lane object in a bundle. */
export function laneFile(lane: string, first: number): string {
  return `${BUNDLE_FILES.lanes}/${lane}/${String(first).padStart(SEQ_DIGITS, '0')}.json`;
}

export function eventFile(seq: number): string {
  return `${BUNDLE_FILES.events}/${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

function summarise(resources: unknown): string {
  if (!Array.isArray(resources)) return '';
  return resources.map((r: { type?: string; id?: string }) => `${r?.type ?? '?'} ${r?.id ?? '?'}`).join(', ');
}

/** What an export calls: what verification reads, who the caller is, and KMS Sign of the bundle. */
export type ExportAccount = VaultVerifyAccount & Pick<AwsAccount, 'callerArn'> & AccountCalls<{ kms: 'sign' }>;

type ExportOptions = { caseId: string; bucket?: string; out: string; reporter?: Reporter; now?: () => Date };

/** Verify the case in the vault and write the bundle to `out` (which must not exist or be empty). */
export async function exportBundle(account: ExportAccount, opts: ExportOptions): Promise<ExportResult> {
  // Checked before any work and any AWS call (a new or empty folder in a writable folder on a disk).
  const out = checkOutPath(opts.out);
  const tmp = `${out}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, BUNDLE_FILES.events), { recursive: true });
  const sums: string[] = [];
  const rows: ReportRows = { timeline: [], steps: [], folded: new Map() };
  try {
    const v = await verifyIntoFolder(account, opts, tmp, sums, rows);
    addTranscriptSums(v, sums);
    const meta = await writeReport(account, opts, tmp, v, rows);
    for (const f of BUNDLE_LISTED_FILES) sums.push(`${sha256Hex(fs.readFileSync(path.join(tmp, f)))}  ${f}`);
    const sumsBytes = Buffer.from(`${sums.join('\n')}\n`, 'utf8');
    fs.writeFileSync(path.join(tmp, BUNDLE_FILES.sums), sumsBytes);
    await writeSeal(account, tmp, v, meta, sumsBytes);
    if (fs.existsSync(out)) fs.rmdirSync(out);
    fs.renameSync(tmp, out);
    return {
      case: opts.caseId,
      out,
      events: v.events,
      head: v.head,
      files: sums.length + 2,
      keyFingerprint: meta.keyFingerprint,
      verification: v,
    };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * What the report shows of the events, collected as they are verified: the timeline, the evidence
 * steps, and the evidence items folded from the events — every field they record, also those the
 * manifest's schema does not carry.
 */
type ReportRows = { timeline: TimelineRow[]; steps: EvidenceStep[]; folded: Map<string, EvidencePatch> };

/** A verified record with a signed manifest: what a bundle is made of. */
type ExportableRecord = VaultVerifyResult & { publicKeyDer: Buffer; signingKeyArn: string; manifest: CaseManifest };

/** What the report shows of one event of the total order (a lane event shows at the checkpoint that commits it). */
function reportRow(rows: ReportRows, seq: number, ev: CustodyEvent | undefined): void {
  const step = evidenceStepOf(seq, ev);
  if (step) rows.steps.push(step);
  if (ev?.outcome) for (const [id, p] of foldEvidence([ev])) rows.folded.set(id, { ...rows.folded.get(id), ...p });
  rows.timeline.push({
    seq,
    time: String(ev?.time ?? ''),
    actor: actorLine(ev),
    action: String(ev?.action ?? ''),
    status: String(ev?.outcome?.status ?? ''),
    resources: summarise(ev?.resources),
    ...(ev?.outcome?.error ? { error: `${ev.outcome.error.code}: ${ev.outcome.error.message}` } : {}),
  });
}

/** Verify the case in the vault, writing each event and the manifest into `tmp` as they are read; refused unless the record verifies and is sealed. */
async function verifyIntoFolder(
  account: ExportAccount,
  opts: ExportOptions,
  tmp: string,
  sums: string[],
  rows: ReportRows,
): Promise<ExportableRecord> {
  // Loaded here: offline verification (verifyBundle) needs none of the vault's AWS code.
  const { verifyCaseInVault } = await import('./verify-vault.js');
  const v = await verifyCaseInVault(account, {
    caseId: opts.caseId,
    ...(opts.bucket ? { bucket: opts.bucket } : {}),
    ...(opts.reporter ? { reporter: opts.reporter } : {}),
    onLaneEvent: (seq, ev) => reportRow(rows, seq, ev),
    onEvent: (seq, bytes, ev) => {
      const rel = eventFile(seq);
      fs.writeFileSync(path.join(tmp, rel), bytes);
      sums.push(`${sha256Hex(bytes)}  ${rel}`);
      reportRow(rows, seq, ev);
    },
    // Lane objects are read (in name order) before the events: listed first in SHA256SUMS.
    onLaneObject: (lane, first, bytes) => {
      const rel = laneFile(lane, first);
      fs.mkdirSync(path.join(tmp, BUNDLE_FILES.lanes, lane), { recursive: true });
      fs.writeFileSync(path.join(tmp, rel), bytes);
      sums.push(`${sha256Hex(bytes)}  ${rel}`);
    },
    onManifest: (bytes) => fs.writeFileSync(path.join(tmp, BUNDLE_FILES.manifest), bytes),
    // Each transcript is written into the bundle as it is read and hashed: the bytes checked are the bytes carried.
    transcriptFile: (session) => {
      const rel = transcriptFile(session.sessionId);
      if (!rel || fs.existsSync(path.join(tmp, rel))) return undefined;
      fs.mkdirSync(path.join(tmp, BUNDLE_FILES.sessions), { recursive: true });
      return path.join(tmp, rel);
    },
  });
  if (!v.ok) {
    throw new VerificationFailedError(
      'CUSTODY_INVALID',
      `The custody record of case ${opts.caseId} does not verify, so it was not exported (${v.findings.length} finding(s): ${v.findings
        .slice(0, 3)
        .map((f) => `${f.code}${f.seq !== null ? ` at ${f.seq}` : ''}`)
        .join(', ')}${v.findings.length > 3 ? ', …' : ''}). See \`cleanroom custody verify --case ${opts.caseId}\`.`,
      { caseId: opts.caseId, findings: v.findings },
    );
  }
  if (!v.publicKeyDer || !v.signingKeyArn || !v.manifest)
    throw new VerificationFailedError('CUSTODY_INVALID', `Case ${opts.caseId} has no signed manifest to export.`, {
      caseId: opts.caseId,
    });
  return v as ExportableRecord;
}

/** SHA256SUMS lines of the transcripts written (verified: each is the SHA-256 its event records), in name order. */
function addTranscriptSums(v: ExportableRecord, sums: string[]): void {
  const lines = new Map<string, string>();
  for (const t of v.transcripts) {
    const rel = transcriptFile(t.sessionId);
    if (!rel)
      throw new VerificationFailedError(
        'CUSTODY_INVALID',
        `The transcript of session ${JSON.stringify(t.sessionId)} (event ${t.seq}) cannot be carried in a bundle: its session id is not a plain file name.`,
        { caseId: v.case, sessionId: t.sessionId },
      );
    if (lines.has(rel) && lines.get(rel) !== t.sha256)
      throw new VerificationFailedError(
        'CUSTODY_INVALID',
        `Session ${t.sessionId} is recorded with two different transcripts (event ${t.seq}): a bundle carries one per session.`,
        { caseId: v.case, sessionId: t.sessionId },
      );
    lines.set(rel, t.sha256);
  }
  for (const rel of [...lines.keys()].sort()) sums.push(`${lines.get(rel)}  ${rel}`);
}

/** The public key, export.json and the two reports. */
async function writeReport(
  account: ExportAccount,
  opts: ExportOptions,
  tmp: string,
  v: ExportableRecord,
  rows: ReportRows,
): Promise<ExportMeta> {
  const pem = createPublicKey({ key: v.publicKeyDer, format: 'der', type: 'spki' }).export({
    format: 'pem',
    type: 'spki',
  }) as string;
  fs.writeFileSync(path.join(tmp, BUNDLE_FILES.key), pem);
  const exportedBy = await account.callerArn();
  const meta: ExportMeta = {
    case: opts.caseId,
    bucket: v.bucket,
    exportedAt: (opts.now?.() ?? new Date()).toISOString(),
    exportedBy,
    signingKeyArn: v.signingKeyArn,
    keyFingerprint: keyFingerprint(pem),
    events: v.events,
    head: v.head,
    retention: v.retention,
  };
  fs.writeFileSync(path.join(tmp, BUNDLE_FILES.meta), `${JSON.stringify(meta, null, 2)}\n`);
  const m: CaseManifest = v.manifest;
  // The manifest's items (signed, and checked to be the fold of the events), with what its schema leaves out.
  const evidence = m.evidence.map((it) => ({ ...rows.folded.get(it.evidenceId), ...it }));
  const report = {
    ...meta,
    sealedAt: m.sealedAt,
    sealedBy: m.sealedBy,
    evidence,
    ...rows,
    sessions: v.sessions,
  };
  fs.writeFileSync(path.join(tmp, BUNDLE_FILES.md), renderMarkdown(report));
  fs.writeFileSync(path.join(tmp, BUNDLE_FILES.html), renderHtml(report));
  return meta;
}

/** Bind SHA256SUMS — so the report and export.json too — to the vault's signing key. */
async function writeSeal(
  account: ExportAccount,
  tmp: string,
  v: ExportableRecord,
  meta: ExportMeta,
  sumsBytes: Buffer,
): Promise<void> {
  const signed: SignedBundle = {
    type: BUNDLE_SEAL_TYPE,
    case: meta.case,
    bucket: v.bucket,
    keyId: v.signingKeyArn,
    sha256sums: sha256Hex(sumsBytes),
    head: v.head,
    exportedAt: meta.exportedAt,
  };
  const st = bundleStatement(signed);
  const sig = await account.kms.sign({
    KeyId: v.signingKeyArn,
    Message: st.message,
    MessageType: 'RAW',
    SigningAlgorithm: 'ECDSA_SHA_256',
  });
  const seal: BundleSeal = {
    ...signed,
    signature: {
      algorithm: 'ECDSA_SHA_256',
      messageType: 'RAW',
      digest: st.digest,
      value: Buffer.from(sig.Signature!).toString('base64'),
    },
  };
  fs.writeFileSync(path.join(tmp, BUNDLE_FILES.seal), sealText(seal));
}

export interface BundleVerifyResult extends CustodyVerifyResult {
  bundle: string;
  /** SHA-256 of the bundle's own public key (signing-key.pem), computed here. */
  keyFingerprint?: string;
  /** The signing key ARN, from the signed bundle statement — only when the key is anchored and the signature verifies. */
  signingKeyArn?: string;
  /** Whether the signer is the trust anchor given. */
  trusted: boolean;
  /** What the signer was checked against: `key-fingerprint`, `public-key`, `vault` (its signing key in KMS), or null (no anchor). */
  anchor: 'key-fingerprint' | 'public-key' | 'vault' | null;
}

export interface BundleVerifyOptions {
  /** The trusted signing key's fingerprint (hex SHA-256 of its SPKI DER, as `custody export` prints it). */
  expectKeyFingerprint?: string;
  /** The trusted signing public key, PEM (SPKI): the signatures are verified with it, not with the bundle's copy. */
  trustedPublicKey?: string;
  /** Where `trustedPublicKey` came from: a file the user gave (default) or the vault's signing key in KMS. */
  trustedPublicKeyFrom?: 'public-key' | 'vault';
  /**
   * The case the bundle must be of. One vault key signs every case of its vault, so the key alone
   * does not tell the bundle of case A from the genuine bundle of case B.
   */
  expectCase?: string;
  /**
   * The head hash the record must end at (as `custody export` prints it). A genuine earlier export
   * of the same case is signed too: only the head given by the custodian tells it from the latest.
   */
  expectHead?: string;
}

const FINGERPRINT = /^[0-9a-f]{64}$/i;
const EVENT_NAME = /^(\d{10})\.json$/;

/** `invalid`: what the file is instead, said after "<name> is". */
type Read = { bytes: Buffer } | { missing: true } | { invalid: string };
const notRegular = (kind: string) => `${kind}, not a regular file (not followed)`;

/**
 * The largest file of a bundle read whole (events, manifest, export.json, the reports, the key):
 * far above what an export writes, and far below what would exhaust memory (or overflow one read).
 */
export const MAX_BUNDLE_FILE_BYTES = 256 * 1024 * 1024;
/** The longest line SHA256SUMS may hold (64 hex, two spaces, a name): anything longer is malformed. */
const MAX_SUMS_LINE = 4096;

/**
 * Read a regular file of the bundle without following a symbolic link (O_NOFOLLOW) and without
 * blocking on a FIFO (O_NONBLOCK); anything but a regular file is `invalid` with what it is.
 */
function readRegular(file: string, opts: { typeOnly?: boolean } = {}): Read {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    if (code === 'ELOOP') return { invalid: notRegular('a symbolic link') };
    return { invalid: notRegular(`unreadable (${code ?? (e as Error).message})`) };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { invalid: notRegular(kindOf(st)) };
    if (opts.typeOnly) return { bytes: Buffer.alloc(0) };
    if (st.size > MAX_BUNDLE_FILE_BYTES)
      return {
        invalid: `${st.size} bytes, larger than any file an export writes (${MAX_BUNDLE_FILE_BYTES} bytes at most), not read`,
      };
    // The size fstat gave, read in place (one fstat per file, not two).
    const bytes = Buffer.allocUnsafeSlow(st.size);
    let off = 0;
    while (off < st.size) {
      const n = fs.readSync(fd, bytes, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return { bytes: off < st.size ? bytes.subarray(0, off) : bytes };
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(st: fs.Stats | fs.Dirent): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

/** A name as SHA256SUMS may hold it: relative, forward slashes, no empty, `.` or `..` segment. */
function plainName(rel: string): boolean {
  if (rel.includes('\\') || rel.startsWith('/') || path.isAbsolute(rel) || /[\0\r]/.test(rel)) return false;
  return rel.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** Refuse (exit 2) a trust anchor fingerprint that is not 64 hex characters. */
export function assertKeyFingerprint(fp: string): void {
  if (!FINGERPRINT.test(fp)) {
    throw new UsageError(
      'BAD_KEY_FINGERPRINT',
      `--key-fingerprint ${JSON.stringify(fp)} is not a key fingerprint: give the 64 hex characters of the signing key's SHA-256, as \`cleanroom custody export\` prints it ("Signing key SHA-256: …").`,
      { details: { keyFingerprint: fp } },
    );
  }
}

/**
 * Verify a bundle offline (no AWS). Checks the trust anchor, the signature over SHA256SUMS, the
 * exact file set, every file against SHA256SUMS, then the events and the manifest as `custody
 * verify --case` does. Without an anchor (`expectKeyFingerprint` or `trustedPublicKey`) every check
 * still runs, but the result is not ok: KEY_NOT_TRUSTED — a bundle cannot vouch for its own key.
 */
export async function verifyBundle(dir: string, opts: BundleVerifyOptions = {}): Promise<BundleVerifyResult> {
  const { anchorKey, anchors } = checkVerifyOptions(opts);
  const root = openBundle(dir);
  const findings = new Findings();
  const files = new BundleFiles(root, findings);
  const { meta, metaBytes, manifestBytes, caseId, chain } = readRecordDocuments(files);
  const events = eventsFolder(files);
  const lanes = new LaneSet(caseId, (code, seq, message) => findings.add(code, seq, message));
  chain.lanes = lanes;
  const sums = checkSums(files, chain, events, lanes);
  lanes.reportUncommitted();
  await checkNothingUnlisted(files, events, sums.walk);
  const transcripts = checkBundleTranscripts(files, chain, sums.walk);
  const { bundleKey, fingerprint, anchor, trusted } = checkTrust(files, opts, anchorKey, anchors);
  // With --public-key the signatures are checked with the trusted key, never the bundle's copy.
  const key = anchorKey ?? bundleKey;
  const { seal, sealGood } = checkSeal(files, key, anchorKey !== undefined, sums.digest, caseId);

  checkManifest({
    caseId,
    ...(typeof seal?.bucket === 'string' ? { bucket: seal.bucket } : {}),
    bytes: manifestBytes,
    key,
    ...(typeof seal?.keyId === 'string' ? { expectedKeyId: seal.keyId } : {}),
    chain,
    findings,
  });
  const head = chain.head();
  checkAgreement(findings, opts, { caseId, head, seal, meta, metaBytes, fingerprint });
  const signer = trusted && sealGood && typeof seal?.keyId === 'string' ? seal.keyId : undefined;
  return {
    ...verifyResult(
      caseId,
      chain,
      findings,
      root,
      BUNDLE_CHECKS,
      {
        'bundle.trust': trusted
          ? `the signer is the trusted key (SHA-256 ${fingerprint}, from ${anchor === 'vault' ? "the vault's signing key in KMS" : `--${anchor}`})`
          : 'ok',
        'bundle.signature': `${BUNDLE_FILES.sums} is signed by that key`,
        'bundle.files': `every file listed once under its own name, nothing unlisted, no link or special file`,
        'bundle.checksums': `every file matches ${BUNDLE_FILES.sums}`,
        'manifest.signature': fingerprint
          ? `verified with ${anchorKey ? 'the trusted public key' : `the bundle's public key`} (SHA-256 ${fingerprint})`
          : 'ok',
      },
      transcripts,
    ),
    bundle: root,
    ...(fingerprint ? { keyFingerprint: fingerprint } : {}),
    ...(signer ? { signingKeyArn: signer } : {}),
    trusted,
    anchor,
  };
}

/** The options checked before anything is read; the trusted key and the fingerprints the bundle's key must have. */
function checkVerifyOptions(opts: BundleVerifyOptions): { anchorKey: KeyObject | undefined; anchors: string[] } {
  if (opts.expectKeyFingerprint !== undefined) assertKeyFingerprint(opts.expectKeyFingerprint);
  if (opts.expectCase !== undefined) assertCaseId(opts.expectCase);
  if (opts.expectHead !== undefined && !FINGERPRINT.test(opts.expectHead)) {
    throw new UsageError(
      'BAD_EXPECTED_HEAD',
      `--expect-head ${JSON.stringify(opts.expectHead)} is not a head hash: give the 64 hex characters of the head's SHA-256, as \`cleanroom custody export\` prints it ("head #N <hash>").`,
      { details: { expectHead: opts.expectHead } },
    );
  }
  let anchorKey: KeyObject | undefined;
  let anchorFingerprint: string | undefined;
  if (opts.trustedPublicKey !== undefined) {
    try {
      anchorKey = publicKey(opts.trustedPublicKey);
      anchorFingerprint = keyFingerprint(opts.trustedPublicKey);
    } catch (e) {
      throw new UsageError(
        'BAD_PUBLIC_KEY',
        `--public-key is not a public key in PEM form (SPKI, "-----BEGIN PUBLIC KEY-----"): ${(e as Error).message}. Give the vault signing key's public key as PEM, obtained from the custodian or from KMS (\`aws kms get-public-key --key-id alias/cleanroom/signing/<bucket>\`, its DER converted to PEM) — never from the bundle itself.`,
      );
    }
  }
  const anchors = [
    ...(opts.expectKeyFingerprint ? [opts.expectKeyFingerprint.toLowerCase()] : []),
    ...(anchorFingerprint ? [anchorFingerprint] : []),
  ];
  return { anchorKey, anchors };
}

/** The bundle's folder (a link to it is resolved; nothing inside is followed); refused when it has no SHA256SUMS. */
function openBundle(dir: string): string {
  let root = path.resolve(dir);
  try {
    root = fs.realpathSync(root); // the folder named may be a link; nothing inside it is followed
  } catch {
    // reported below
  }
  let sumsEntry: fs.Stats | undefined;
  try {
    sumsEntry = fs.lstatSync(path.join(root, BUNDLE_FILES.sums), { throwIfNoEntry: false });
  } catch {
    sumsEntry = undefined; // the folder is not a folder
  }
  if (!sumsEntry) {
    throw new UsageError(
      'NOT_A_BUNDLE',
      `${root} is not a custody bundle: it has no ${BUNDLE_FILES.sums} (export one with \`cleanroom custody export --case ID --out DIR\`).`,
      { details: { bundle: root } },
    );
  }
  return root;
}

/** The files of a bundle being verified, and the findings about them. */
class BundleFiles {
  private readonly reportedInvalid = new Set<string>();

  constructor(
    readonly root: string,
    readonly findings: Findings,
  ) {}

  at(rel: string): string {
    return path.join(this.root, rel);
  }

  /** A top-level file, with what is wrong with it reported (once). */
  readTop(rel: string): Buffer | undefined {
    const r = readRegular(this.at(rel));
    if ('bytes' in r) return r.bytes;
    if ('invalid' in r && !this.reportedInvalid.has(rel)) {
      this.reportedInvalid.add(rel);
      this.findings.add('BUNDLE_FILE_INVALID', null, `${rel} is ${r.invalid}`);
    }
    return undefined;
  }
}

/** export.json and the manifest; the case they name, and the chain checker for its events. */
function readRecordDocuments(files: BundleFiles): {
  meta: Partial<ExportMeta>;
  metaBytes: Buffer | undefined;
  manifestBytes: Buffer | undefined;
  caseId: string;
  chain: ChainChecker;
} {
  const { findings } = files;
  let meta: Partial<ExportMeta> = {};
  const metaBytes = files.readTop(BUNDLE_FILES.meta);
  try {
    if (metaBytes) meta = JSON.parse(metaBytes.toString('utf8')) as ExportMeta;
  } catch {
    findings.add('SCHEMA_INVALID', null, `${BUNDLE_FILES.meta} is not JSON`);
  }
  if (!meta || typeof meta !== 'object') meta = {};
  const manifestBytes = files.readTop(BUNDLE_FILES.manifest);
  let manifest: Partial<CaseManifest> | undefined;
  try {
    manifest = manifestBytes ? (JSON.parse(manifestBytes.toString('utf8')) as CaseManifest) : undefined;
  } catch {
    // reported by checkManifest
  }
  const caseId = String(manifest?.case ?? meta.case ?? '');
  const chain = new ChainChecker(caseId, findings);
  if (manifest?.head && Number.isInteger(manifest.head.seq)) chain.watch = manifest.head.seq;
  return { meta, metaBytes, manifestBytes, caseId, chain };
}

type EventsFolder = { stat: fs.Stats | undefined; ok: boolean };

/** The events folder must be a real folder: a link to one elsewhere is not followed. */
function eventsFolder(files: BundleFiles): EventsFolder {
  const stat = fs.lstatSync(files.at(BUNDLE_FILES.events), { throwIfNoEntry: false });
  const ok = stat?.isDirectory() === true;
  if (stat && !ok)
    files.findings.add(
      'BUNDLE_FILE_INVALID',
      null,
      `${BUNDLE_FILES.events}/ is ${kindOf(stat)}, not a folder (not followed)`,
    );
  return { stat, ok };
}

/** Where the walk of SHA256SUMS is: the next event expected, the last listed, whether the events listed run without a break. */
interface SumsWalk {
  lineNo: number;
  expectSeq: number;
  lastSeq: number;
  contiguous: boolean;
  inEvents: boolean;
  listedOther: Set<string>;
  /** Every transcript name listed (`sessions/<id>.log`), and the SHA-256 of those read. */
  listedTranscripts: Set<string>;
  transcripts: Map<string, string>;
  lastTranscript: string;
  /** Still before the first event (lane objects are listed first), the last lane object listed, every one listed. */
  inLanes: boolean;
  lastLane: string;
  listedLanes: Set<string>;
}

type Listed = { seq: number | null; bytes?: Buffer | undefined };

/**
 * SHA256SUMS, streamed and hashed: the events first, each once, in sequence order, under its one
 * name; then the other files, each once. Each listed file is checked against its sum, each event
 * goes through the chain. Returns the digest of SHA256SUMS (the seal signs it).
 */
function checkSums(
  files: BundleFiles,
  chain: ChainChecker,
  events: EventsFolder,
  lanes: LaneSet,
): { digest: string; walk: SumsWalk } {
  const { findings } = files;
  const sumsHash = createHash('sha256');
  const walk: SumsWalk = {
    lineNo: 0,
    expectSeq: 1,
    lastSeq: 0,
    contiguous: true,
    inEvents: true,
    listedOther: new Set<string>(),
    listedTranscripts: new Set<string>(),
    transcripts: new Map<string, string>(),
    lastTranscript: '',
    inLanes: true,
    lastLane: '',
    listedLanes: new Set<string>(),
  };
  let sumsOk = true;
  // Its type only: SHA256SUMS is streamed below, never held whole.
  const sumsRead = readRegular(files.at(BUNDLE_FILES.sums), { typeOnly: true });
  if ('invalid' in sumsRead) {
    findings.add('BUNDLE_FILE_INVALID', null, `${BUNDLE_FILES.sums} is ${sumsRead.invalid}`);
    sumsOk = false;
  }
  const lines = sumsOk
    ? readLines(files.at(BUNDLE_FILES.sums), sumsHash)
    : ([] as Array<{ line: string; last: boolean }>);
  let endsWithNewline = true;
  for (const { line, last } of lines) {
    walk.lineNo++;
    if (last) {
      endsWithNewline = line === '';
      if (line === '') break;
    }
    const entry = parseSumsLine(files, walk, line);
    if (!entry) continue;
    if (entry.rel.startsWith(`${BUNDLE_FILES.lanes}/`)) {
      readListedLane(files, walk, lanes, entry.rel, entry.sum);
      continue;
    }
    if (walk.inLanes) {
      walk.inLanes = false;
      lanes.order();
    }
    if (entry.rel.startsWith(`${BUNDLE_FILES.sessions}/`)) {
      readListedTranscript(files, walk, entry.rel, entry.sum);
      continue;
    }
    const { seq, bytes } = entry.rel.startsWith(`${BUNDLE_FILES.events}/`)
      ? readListedEvent(files, walk, events, entry.rel)
      : readListedFile(files, walk, entry.rel);
    if (!bytes) continue;
    if (!hashEquals(sha256Hex(bytes), entry.sum))
      findings.add(
        'BUNDLE_CHECKSUM_MISMATCH',
        seq,
        `${entry.rel} was changed after export: its SHA-256 is not the one in ${BUNDLE_FILES.sums}`,
      );
    if (seq !== null) chain.add(seq, bytes);
  }
  if (walk.inLanes) lanes.order();
  if (sumsOk && !endsWithNewline)
    findings.add(
      'BUNDLE_CHECKSUM_MISMATCH',
      null,
      `${BUNDLE_FILES.sums} does not end with a line break: it was edited`,
    );
  const digest = sumsHash.digest('hex');
  for (const f of BUNDLE_LISTED_FILES)
    if (!walk.listedOther.has(f))
      findings.add(
        'BUNDLE_INCOMPLETE',
        null,
        `${f} is not listed in ${BUNDLE_FILES.sums}${fs.lstatSync(files.at(f), { throwIfNoEntry: false }) ? '' : ' (and missing)'}`,
      );
  return { digest, walk };
}

/** One line of SHA256SUMS: its sum and the file it names, or a finding. */
function parseSumsLine(files: BundleFiles, walk: SumsWalk, line: string): { sum: string; rel: string } | undefined {
  const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
  if (!m) {
    files.findings.add(
      'BUNDLE_CHECKSUM_MISMATCH',
      null,
      `${BUNDLE_FILES.sums} line ${walk.lineNo} is malformed: ${JSON.stringify(line.slice(0, 80))}`,
    );
    walk.contiguous = false;
    return undefined;
  }
  const [, sum, rel] = m as unknown as [string, string, string];
  const expected = walk.inEvents ? eventFile(walk.expectSeq) : undefined;
  if (rel !== expected && !plainName(rel)) {
    files.findings.add(
      'BUNDLE_NAME_INVALID',
      null,
      `${BUNDLE_FILES.sums} line ${walk.lineNo} names ${JSON.stringify(rel)}: not a file name inside the bundle (absolute, a backslash, an empty, . or .. segment)`,
    );
    walk.contiguous = false;
    return undefined;
  }
  return { sum, rel };
}

/** An event listed in SHA256SUMS: in order, under its one name, read if it is a regular file. */
function readListedEvent(files: BundleFiles, walk: SumsWalk, events: EventsFolder, rel: string): Listed {
  const { findings } = files;
  const ev = EVENT_NAME.exec(rel.slice(BUNDLE_FILES.events.length + 1));
  const seq = ev ? Number(ev[1]) : null;
  if (seq === null || rel !== eventFile(seq) || !walk.inEvents || seq < walk.expectSeq) {
    const why =
      seq === null || rel !== eventFile(seq)
        ? `not the name of an event (events/<${SEQ_DIGITS}-digit sequence number>.json)`
        : !walk.inEvents
          ? 'an event listed after the other files'
          : `event ${seq} listed again or out of order (after event ${walk.lastSeq})`;
    findings.add(
      'BUNDLE_NAME_INVALID',
      seq,
      `${BUNDLE_FILES.sums} line ${walk.lineNo} names ${JSON.stringify(rel)}: ${why}`,
    );
    walk.contiguous = false;
    return { seq };
  }
  if (seq > walk.expectSeq) walk.contiguous = false; // the chain reports the gap
  walk.expectSeq = seq + 1;
  walk.lastSeq = seq;
  if (!events.ok) {
    if (events.stat === undefined)
      findings.add('BUNDLE_INCOMPLETE', seq, `${rel} is listed in ${BUNDLE_FILES.sums} but missing`);
    return { seq };
  }
  const r = readRegular(files.at(rel));
  if ('missing' in r) findings.add('BUNDLE_INCOMPLETE', seq, `${rel} is listed in ${BUNDLE_FILES.sums} but missing`);
  else if ('invalid' in r) findings.add('BUNDLE_FILE_INVALID', seq, `${rel} is ${r.invalid}`);
  else return { seq, bytes: r.bytes };
  return { seq };
}

/**
 * A lane object listed in SHA256SUMS (`lanes/<lane>/<first seq>.json`): before the events, in
 * name order, each once, inside real folders (no link followed); checked against its sum and kept
 * for the checkpoints of the chain.
 */
function readListedLane(files: BundleFiles, walk: SumsWalk, lanes: LaneSet, rel: string, sum: string): void {
  const { findings } = files;
  const m = /^lanes\/([^/]+)\/(\d{10})\.json$/.exec(rel);
  const lane = m?.[1];
  const first = m ? Number(m[2]) : 0;
  if (walk.listedLanes.has(rel)) {
    findings.add('SEQUENCE_DUPLICATE', null, `${BUNDLE_FILES.sums} line ${walk.lineNo} lists ${rel} a second time`);
    return;
  }
  const why =
    !lane || !LANE_ID_PATTERN.test(lane) || first < 1 || laneFile(lane, first) !== rel
      ? 'not the name of a lane object (lanes/<lane>/<10-digit first sequence number>.json)'
      : !walk.inLanes
        ? 'a lane object listed after the events'
        : rel <= walk.lastLane
          ? `listed out of order (after ${walk.lastLane})`
          : undefined;
  if (!why) walk.lastLane = rel;
  const read = checkListedFile(files, walk, { rel, sum, why, listed: walk.listedLanes }, () => {
    const top = fs.lstatSync(files.at(BUNDLE_FILES.lanes), { throwIfNoEntry: false });
    const folder = fs.lstatSync(files.at(`${BUNDLE_FILES.lanes}/${lane}`), { throwIfNoEntry: false });
    const notFolder = [top, folder].find((st) => st && !st.isDirectory());
    if (notFolder) return { invalid: `inside ${kindOf(notFolder)}, not a folder (not followed)` };
    const r = readRegular(files.at(rel));
    return 'bytes' in r ? { sha256: sha256Hex(r.bytes), bytes: r.bytes } : r;
  });
  if (read) lanes.addObject(lane!, first, read.bytes);
}

/**
 * What a listed lane object and a listed transcript are checked for alike: a name refused (`why`)
 * is BUNDLE_NAME_INVALID and nothing is read; else it is added to `listed`, `read()` reads it
 * (never following a link), and a file missing (BUNDLE_INCOMPLETE), not a regular file
 * (BUNDLE_FILE_INVALID) or changed after export (BUNDLE_CHECKSUM_MISMATCH) is reported. Returns
 * what was read — also when it was changed: the caller keeps it for the later checks — else undefined.
 */
function checkListedFile<T extends { sha256: string }>(
  files: BundleFiles,
  walk: SumsWalk,
  { rel, sum, why, listed }: { rel: string; sum: string; why: string | undefined; listed: Set<string> },
  read: () => T | { missing: true } | { invalid: string },
): T | undefined {
  const { findings } = files;
  if (why) {
    findings.add(
      'BUNDLE_NAME_INVALID',
      null,
      `${BUNDLE_FILES.sums} line ${walk.lineNo} names ${JSON.stringify(rel)}: ${why}`,
    );
    return undefined;
  }
  listed.add(rel);
  const r = read();
  if ('missing' in r) {
    findings.add('BUNDLE_INCOMPLETE', null, `${rel} is listed in ${BUNDLE_FILES.sums} but missing`);
    return undefined;
  }
  if ('invalid' in r) {
    findings.add('BUNDLE_FILE_INVALID', null, `${rel} is ${r.invalid}`);
    return undefined;
  }
  if (!hashEquals(r.sha256, sum))
    findings.add(
      'BUNDLE_CHECKSUM_MISMATCH',
      null,
      `${rel} was changed after export: its SHA-256 is not the one in ${BUNDLE_FILES.sums}`,
    );
  return r;
}

/**
 * A transcript listed in SHA256SUMS (`sessions/<session id>.log`): after the events, before the
 * other files, in name order, each once; streamed through SHA-256 (never held whole), without
 * following a link; its SHA-256 kept for the check against the session's event.
 */
function readListedTranscript(files: BundleFiles, walk: SumsWalk, rel: string, sum: string): void {
  walk.inEvents = false;
  const name = /^sessions\/([^/]+)\.log$/.exec(rel)?.[1];
  const why =
    name === undefined || transcriptFile(name) !== rel
      ? 'not the name of a session transcript (sessions/<session id>.log)'
      : walk.listedOther.size > 0
        ? 'a transcript listed after the other files'
        : rel <= walk.lastTranscript
          ? `listed again or out of order (after ${walk.lastTranscript})`
          : undefined;
  if (!why) walk.lastTranscript = rel;
  const read = checkListedFile(files, walk, { rel, sum, why, listed: walk.listedTranscripts }, () => {
    // The folder itself must be a folder: a link to one elsewhere is not followed (reported by the walk of the top level).
    const folder = fs.lstatSync(files.at(BUNDLE_FILES.sessions), { throwIfNoEntry: false });
    return folder?.isDirectory()
      ? hashRegular(files.at(rel))
      : folder
        ? { invalid: `inside ${BUNDLE_FILES.sessions}/, which is ${kindOf(folder)}, not a folder (not followed)` }
        : { missing: true as const };
  });
  if (read) walk.transcripts.set(rel, read.sha256);
}

/** The SHA-256 of a regular file, streamed in 1 MiB reads (no link followed, no FIFO waited on). */
function hashRegular(file: string): { sha256: string } | { missing: true } | { invalid: string } {
  const r = readRegular(file, { typeOnly: true });
  if (!('bytes' in r)) return r;
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    if (!fs.fstatSync(fd).isFile()) return { invalid: notRegular('not a regular file') };
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n = fs.readSync(fd, buf, 0, buf.length, null); n > 0; n = fs.readSync(fd, buf, 0, buf.length, null))
      hash.update(buf.subarray(0, n));
    return { sha256: hash.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Every transcript a `room.session` event of the (verified) chain records is in the bundle and
 * hashes to the SHA-256 the event records; every transcript the bundle carries belongs to one.
 */
function checkBundleTranscripts(files: BundleFiles, chain: ChainChecker, walk: SumsWalk): TranscriptCheck[] {
  const { findings } = files;
  const named = new Set<string>();
  const out: TranscriptCheck[] = [];
  for (const { session: s, transcript: t } of recordedTranscripts(chain.sessions)) {
    const rel = transcriptFile(s.sessionId);
    if (rel) named.add(rel);
    const got = rel ? walk.transcripts.get(rel) : undefined;
    let ok = true;
    if (got === undefined) {
      ok = false;
      findings.add(
        'TRANSCRIPT_MISSING',
        s.seq,
        `the transcript of session ${s.sessionId} recorded at event ${s.seq} (${t.key}) is not in the bundle${rel ? ` as ${rel}` : ''}`,
      );
    } else if (!hashEquals(got, t.sha256)) {
      ok = false;
      findings.add(
        'TRANSCRIPT_MISMATCH',
        s.seq,
        `${rel} hashes to ${got.slice(0, 16)}…, not the ${t.sha256.slice(0, 16)}… event ${s.seq} records for session ${s.sessionId}: it was changed`,
      );
    }
    out.push(transcriptCheck(s, t, ok));
  }
  for (const rel of walk.listedTranscripts)
    if (!named.has(rel))
      findings.add(
        'BUNDLE_NAME_INVALID',
        null,
        `${BUNDLE_FILES.sums} lists ${rel}, the transcript of no session the record holds`,
      );
  return out;
}

/** A file other than an event listed in SHA256SUMS: one of the bundle's, listed once. */
function readListedFile(files: BundleFiles, walk: SumsWalk, rel: string): Listed {
  const { findings } = files;
  walk.inEvents = false;
  if (!(BUNDLE_LISTED_FILES as readonly string[]).includes(rel)) {
    findings.add(
      'BUNDLE_NAME_INVALID',
      null,
      `${BUNDLE_FILES.sums} line ${walk.lineNo} names ${JSON.stringify(rel)}, which is not a file of a custody bundle`,
    );
    return { seq: null };
  }
  if (walk.listedOther.has(rel)) {
    findings.add('BUNDLE_NAME_INVALID', null, `${BUNDLE_FILES.sums} line ${walk.lineNo} lists ${rel} a second time`);
    return { seq: null };
  }
  walk.listedOther.add(rel);
  const r = readRegular(files.at(rel));
  if ('missing' in r) {
    findings.add('BUNDLE_INCOMPLETE', null, `${rel} is listed in ${BUNDLE_FILES.sums} but missing`);
    return { seq: null };
  }
  return { seq: null, bytes: files.readTop(rel) };
}

/**
 * Nothing unlisted: the top level is a fixed set of names; the events folder is walked, not
 * collected (a name is listed when it is events/<seq>.json for 1 ≤ seq ≤ the last event listed).
 */
async function checkNothingUnlisted(files: BundleFiles, events: EventsFolder, walk: SumsWalk): Promise<void> {
  const { findings } = files;
  const topLevel = new Set<string>([BUNDLE_FILES.sums, BUNDLE_FILES.seal, BUNDLE_FILES.events, ...BUNDLE_LISTED_FILES]);
  for (const d of fs.readdirSync(files.root, { withFileTypes: true })) {
    if (topLevel.has(d.name)) continue;
    if (d.name === BUNDLE_FILES.sessions && d.isDirectory()) {
      await checkSessionsUnlisted(files, walk);
      continue;
    }
    if (d.name === BUNDLE_FILES.lanes && d.isDirectory()) {
      checkLanesUnlisted(files, walk);
      continue;
    }
    if (d.isFile())
      findings.add('BUNDLE_INCOMPLETE', null, `${d.name} is in the bundle but not listed in ${BUNDLE_FILES.sums}`);
    else
      findings.add(
        'BUNDLE_FILE_INVALID',
        null,
        `${d.name} is ${kindOf(d)} in the bundle, not listed in ${BUNDLE_FILES.sums} (not followed)`,
      );
  }
  if (!events.ok) return;
  const d = await fs.promises.opendir(files.at(BUNDLE_FILES.events));
  for await (const e of d) {
    const m = EVENT_NAME.exec(e.name);
    const seq = m ? Number(m[1]) : 0;
    if (walk.contiguous && seq >= 1 && seq <= walk.lastSeq) continue; // listed; its type was checked when it was read
    if (!walk.contiguous && seq >= 1 && seq <= walk.lastSeq && e.isFile()) continue; // already a finding; not counted twice
    const rel = `${BUNDLE_FILES.events}/${e.name}`;
    if (e.isFile())
      findings.add(
        'BUNDLE_INCOMPLETE',
        m ? seq : null,
        `${rel} is in the bundle but not listed in ${BUNDLE_FILES.sums}`,
      );
    else
      findings.add(
        'BUNDLE_FILE_INVALID',
        m ? seq : null,
        `${rel} is ${kindOf(e)}, not listed in ${BUNDLE_FILES.sums} (not followed)`,
      );
  }
}

/** Nothing unlisted in lanes/: each entry a folder, each file in it a lane object SHA256SUMS lists. */
function checkLanesUnlisted(files: BundleFiles, walk: SumsWalk): void {
  for (const d of fs.readdirSync(files.at(BUNDLE_FILES.lanes), { withFileTypes: true })) {
    const dir = `${BUNDLE_FILES.lanes}/${d.name}`;
    if (!d.isDirectory()) {
      if (d.isFile())
        files.findings.add('BUNDLE_INCOMPLETE', null, `${dir} is in the bundle but not listed in ${BUNDLE_FILES.sums}`);
      else
        files.findings.add(
          'BUNDLE_FILE_INVALID',
          null,
          `${dir} is ${kindOf(d)}, not listed in ${BUNDLE_FILES.sums} (not followed)`,
        );
      continue;
    }
    for (const e of fs.readdirSync(files.at(dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (walk.listedLanes.has(rel)) continue;
      if (e.isFile())
        files.findings.add('BUNDLE_INCOMPLETE', null, `${rel} is in the bundle but not listed in ${BUNDLE_FILES.sums}`);
      else
        files.findings.add(
          'BUNDLE_FILE_INVALID',
          null,
          `${rel} is ${kindOf(e)}, not listed in ${BUNDLE_FILES.sums} (not followed)`,
        );
    }
  }
}

/** Nothing unlisted in sessions/: each entry is a transcript SHA256SUMS lists (its type checked when read). */
async function checkSessionsUnlisted(files: BundleFiles, walk: SumsWalk): Promise<void> {
  const d = await fs.promises.opendir(files.at(BUNDLE_FILES.sessions));
  for await (const e of d) {
    const rel = `${BUNDLE_FILES.sessions}/${e.name}`;
    if (walk.listedTranscripts.has(rel)) continue;
    if (e.isFile())
      files.findings.add('BUNDLE_INCOMPLETE', null, `${rel} is in the bundle but not listed in ${BUNDLE_FILES.sums}`);
    else
      files.findings.add(
        'BUNDLE_FILE_INVALID',
        null,
        `${rel} is ${kindOf(e)}, not listed in ${BUNDLE_FILES.sums} (not followed)`,
      );
  }
}

/** The trust anchor: the key the signatures are verified with must be one the custodian names. */
function checkTrust(
  files: BundleFiles,
  opts: BundleVerifyOptions,
  anchorKey: KeyObject | undefined,
  anchors: string[],
): {
  bundleKey: KeyObject | undefined;
  fingerprint: string | undefined;
  anchor: BundleVerifyResult['anchor'];
  trusted: boolean;
} {
  const { findings } = files;
  const pem = files.readTop(BUNDLE_FILES.key)?.toString('utf8');
  let bundleKey: KeyObject | undefined;
  let fingerprint: string | undefined;
  try {
    if (pem) {
      bundleKey = publicKey(pem);
      fingerprint = keyFingerprint(pem);
    }
  } catch {
    findings.add('SIGNATURE_INVALID', null, `${BUNDLE_FILES.key} is not a public key in PEM form`);
  }
  const anchor: BundleVerifyResult['anchor'] = anchorKey
    ? (opts.trustedPublicKeyFrom ?? 'public-key')
    : opts.expectKeyFingerprint
      ? 'key-fingerprint'
      : null;
  let trusted = false;
  if (anchors.length === 0) {
    findings.add(
      'KEY_NOT_TRUSTED',
      null,
      `no trust anchor was given: the bundle is signed by the key it carries itself (SHA-256 ${fingerprint ?? 'none'}), which proves nothing about who signed it; run again with --key-fingerprint <the signing key's SHA-256, from the custodian> (or --public-key FILE)`,
    );
  } else {
    const mismatch = anchors.find((a) => a !== fingerprint);
    if (mismatch !== undefined)
      findings.add(
        'KEY_NOT_TRUSTED',
        null,
        `the bundle's public key (SHA-256 ${fingerprint ?? 'none'}) is not the trusted signing key ${mismatch}: the bundle was signed by someone else`,
      );
    else trusted = true;
  }
  return { bundleKey, fingerprint, anchor, trusted };
}

/** The signature over SHA256SUMS (so over every listed file): bundle.sig.json, byte for byte as export writes it. */
function checkSeal(
  files: BundleFiles,
  key: KeyObject | undefined,
  withTrustedKey: boolean,
  sumsDigest: string,
  caseId: string,
): { seal: Partial<BundleSeal> | undefined; sealGood: boolean } {
  const { findings } = files;
  let seal: Partial<BundleSeal> | undefined;
  let sealGood = false;
  const sealBytes = files.readTop(BUNDLE_FILES.seal);
  if (!sealBytes) {
    if (!fs.lstatSync(files.at(BUNDLE_FILES.seal), { throwIfNoEntry: false }))
      findings.add(
        'BUNDLE_SIGNATURE_INVALID',
        null,
        `${BUNDLE_FILES.seal} is missing: nothing binds ${BUNDLE_FILES.sums} (so the report and ${BUNDLE_FILES.meta}) to the signing key; export the case again`,
      );
    return { seal, sealGood };
  }
  try {
    seal = JSON.parse(sealBytes.toString('utf8')) as BundleSeal;
  } catch {
    findings.add('BUNDLE_SIGNATURE_INVALID', null, `${BUNDLE_FILES.seal} is not JSON`);
  }
  if (!seal || typeof seal !== 'object') return { seal, sealGood };
  const { signature, ...signed } = seal;
  const sigValue = typeof signature?.value === 'string' ? signature.value : '';
  if (
    signed.type !== BUNDLE_SEAL_TYPE ||
    typeof signed.keyId !== 'string' ||
    typeof signed.sha256sums !== 'string' ||
    !signature ||
    signature.algorithm !== 'ECDSA_SHA_256' ||
    signature.messageType !== 'RAW'
  ) {
    findings.add('BUNDLE_SIGNATURE_INVALID', null, `${BUNDLE_FILES.seal} is not a ${BUNDLE_SEAL_TYPE} statement`);
    return { seal, sealGood };
  }
  let st: { digest: string; message: Buffer } | undefined;
  try {
    st = bundleStatement(signed as SignedBundle);
  } catch {
    findings.add('BUNDLE_SIGNATURE_INVALID', null, `${BUNDLE_FILES.seal} cannot be canonicalised`);
  }
  if (st) {
    if (!hashEquals(st.digest, String(signature.digest)))
      findings.add(
        'BUNDLE_SIGNATURE_INVALID',
        null,
        `${BUNDLE_FILES.seal} was changed after it was signed: its digest does not match its content`,
      );
    try {
      sealGood = key !== undefined && cryptoVerify('sha256', st.message, key, Buffer.from(sigValue, 'base64'));
    } catch {
      sealGood = false;
    }
    if (!sealGood)
      findings.add(
        'BUNDLE_SIGNATURE_INVALID',
        null,
        `the signature in ${BUNDLE_FILES.seal} does not verify with ${withTrustedKey ? 'the trusted public key' : `the public key in ${BUNDLE_FILES.key}`}`,
      );
  }
  const canonicalValue = Buffer.from(sigValue, 'base64').toString('base64') === sigValue;
  if (sealGood && (!canonicalValue || sealBytes.toString('utf8') !== sealText(seal as BundleSeal))) {
    sealGood = false;
    findings.add(
      'BUNDLE_SIGNATURE_INVALID',
      null,
      `${BUNDLE_FILES.seal} is not byte for byte what export writes for the statement it signs (a duplicate or extra key, reordered or re-spaced, or a re-encoded signature value): it was edited after export`,
    );
  }
  if (!hashEquals(String(signed.sha256sums), sumsDigest)) {
    sealGood = false;
    findings.add(
      'BUNDLE_SIGNATURE_INVALID',
      null,
      `${BUNDLE_FILES.sums} is not the one that was signed: it was edited after export (re-summing a changed file does not re-sign it)`,
    );
  }
  if (signed.case !== caseId)
    findings.add(
      'MANIFEST_MISMATCH',
      null,
      `${BUNDLE_FILES.seal} is for case ${JSON.stringify(signed.case)}, not ${caseId}`,
    );
  return { seal, sealGood };
}

/** The seal and export.json agree with the verified chain; the case and head the custodian expects. */
function checkAgreement(
  findings: Findings,
  opts: BundleVerifyOptions,
  r: {
    caseId: string;
    head: { seq: number; hash: string };
    seal: Partial<BundleSeal> | undefined;
    meta: Partial<ExportMeta>;
    metaBytes: Buffer | undefined;
    fingerprint: string | undefined;
  },
): void {
  const { caseId, head, seal, meta } = r;
  if (seal?.head && (seal.head.seq !== head.seq || seal.head.hash !== head.hash))
    findings.add(
      'MANIFEST_MISMATCH',
      null,
      `${BUNDLE_FILES.seal} signs head #${seal.head.seq} but the events end at #${head.seq}`,
    );
  if (meta.head && (meta.head.seq !== head.seq || meta.head.hash !== head.hash))
    findings.add(
      'MANIFEST_MISMATCH',
      null,
      `${BUNDLE_FILES.meta} records head #${meta.head.seq} but the events end at #${head.seq}`,
    );
  if (
    r.metaBytes &&
    (meta.case !== caseId ||
      meta.keyFingerprint !== r.fingerprint ||
      (typeof seal?.keyId === 'string' && meta.signingKeyArn !== seal.keyId))
  ) {
    findings.add(
      'MANIFEST_MISMATCH',
      null,
      `${BUNDLE_FILES.meta} disagrees with the signed record (case, signing key or its fingerprint)`,
    );
  }
  // What the custodian said the bundle is: its case and where its record ends (checked on the
  // verified chain, not on what a file claims).
  if (opts.expectCase !== undefined && caseId !== opts.expectCase) {
    findings.add(
      'CASE_NOT_EXPECTED',
      null,
      `the bundle is of case ${JSON.stringify(caseId)}, not of the expected case ${opts.expectCase}: the vault's key signs every case of the vault, so a genuine bundle of another case verifies with the same key`,
    );
  }
  if (opts.expectHead !== undefined && !hashEquals(head.hash, opts.expectHead.toLowerCase())) {
    findings.add(
      'HEAD_NOT_EXPECTED',
      head.seq,
      `the record ends at #${head.seq} ${head.hash}, not at the expected head ${opts.expectHead.toLowerCase()}: this is another export (an earlier one of the case ends at an earlier head)`,
    );
  }
}

/**
 * The lines of a file, read in 1 MiB chunks (SHA256SUMS of a large bundle is not held whole),
 * each fed to `hash` as read; the last item (`last: true`) is what follows the last line break.
 */
function* readLines(file: string, hash: ReturnType<typeof createHash>): Generator<{ line: string; last: boolean }> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  const buf = Buffer.alloc(1 << 20);
  let rest = '';
  const decoder = new TextDecoder('utf-8');
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      const text = rest + decoder.decode(buf.subarray(0, n), { stream: true });
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const line of parts) yield { line: overlong(line), last: false };
      // A line that never ends is not held: what is kept of it is already too long to be one.
      if (rest.length > MAX_SUMS_LINE) rest = overlong(rest);
    }
    yield { line: overlong(rest + decoder.decode()), last: true };
  } finally {
    fs.closeSync(fd);
  }
}

/** A line longer than any SHA256SUMS line, cut to what is shown of it (so it stays malformed). */
function overlong(line: string): string {
  return line.length > MAX_SUMS_LINE ? `${line.slice(0, MAX_SUMS_LINE + 1)}…` : line;
}

/** Findings as one line each, for people. */
export function findingLines(findings: readonly Finding[]): string[] {
  return findings.map(
    (f) => `${f.code.padEnd(26)} ${f.seq === null ? '     -' : String(f.seq).padStart(6)}  ${f.message}`,
  );
}
