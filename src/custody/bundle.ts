/**
 * The custody bundle: a self-contained folder a custodian hands over, verifiable offline.
 *
 *     events/<seq zero-padded>.json   the events' stored bytes, exactly
 *     manifest.json                   the signed manifest's stored bytes
 *     signing-key.pem                 the public key of the vault's signing key (SPKI)
 *     export.json                     who exported what, when, and the retention seen at export
 *     report.md, report.html          case summary, evidence table, timeline
 *     SHA256SUMS                      `sha256sum -c` format; events first, in sequence order
 *
 * {@link exportBundle} verifies the record in the vault while it writes the bundle (into a
 * temporary folder, renamed into place only when verification found nothing). {@link verifyBundle}
 * needs no AWS access at all: it streams SHA256SUMS and the event files through the same
 * {@link ChainChecker}, so memory stays flat in the number of events.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPublicKey } from 'node:crypto';
import type { AwsAccount } from '../aws/ports.js';
import { UsageError, VerificationFailedError } from '../domain/errors.js';
import type { Reporter } from '../domain/reporter.js';
import { checkOutPath } from './out-path.js';
import { SEQ_DIGITS, sha256Hex, type CaseManifest } from './event.js';
import { renderHtml, renderMarkdown, type TimelineRow } from './report.js';
import { ChainChecker, Findings, checkManifest, publicKey, verifyResult, type CustodyVerifyResult, type Finding } from './verify.js';

export const BUNDLE_FILES = { manifest: 'manifest.json', key: 'signing-key.pem', meta: 'export.json', sums: 'SHA256SUMS', md: 'report.md', html: 'report.html', events: 'events' } as const;

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

function eventFile(seq: number): string {
  return `${BUNDLE_FILES.events}/${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

function summarise(resources: unknown): string {
  if (!Array.isArray(resources)) return '';
  return resources.map((r: { type?: string; id?: string }) => `${r?.type ?? '?'} ${r?.id ?? '?'}`).join(', ');
}

/** Verify the case in the vault and write the bundle to `out` (which must not exist or be empty). */
export async function exportBundle(account: AwsAccount, opts: { caseId: string; bucket?: string; out: string; reporter?: Reporter; now?: () => Date }): Promise<ExportResult> {
  const out = checkOutPath(opts.out);
  if (fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0)) {
    throw new UsageError('OUT_NOT_EMPTY', `${out} already exists and is not an empty folder: give --out a new folder, so an earlier bundle is never mixed with this one.`, { details: { out } });
  }
  const tmp = `${out}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, BUNDLE_FILES.events), { recursive: true });
  const sums: string[] = [];
  const timeline: TimelineRow[] = [];
  try {
    // Loaded here: offline verification (verifyBundle) needs none of the vault's AWS code.
    const { verifyCaseInVault } = await import('./verify-vault.js');
    const v = await verifyCaseInVault(account, {
      caseId: opts.caseId,
      ...(opts.bucket ? { bucket: opts.bucket } : {}),
      ...(opts.reporter ? { reporter: opts.reporter } : {}),
      onEvent: (seq, bytes, ev) => {
        const rel = eventFile(seq);
        fs.writeFileSync(path.join(tmp, rel), bytes);
        sums.push(`${sha256Hex(bytes)}  ${rel}`);
        timeline.push({
          seq,
          time: String(ev?.time ?? ''),
          actor: String(ev?.actor ?? ''),
          action: String(ev?.action ?? ''),
          status: String(ev?.outcome?.status ?? ''),
          resources: summarise(ev?.resources),
          ...(ev?.outcome?.error ? { error: `${ev.outcome.error.code}: ${ev.outcome.error.message}` } : {}),
        });
      },
      onManifest: (bytes) => fs.writeFileSync(path.join(tmp, BUNDLE_FILES.manifest), bytes),
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
    if (!v.publicKeyDer || !v.signingKeyArn || !v.manifest) throw new VerificationFailedError('CUSTODY_INVALID', `Case ${opts.caseId} has no signed manifest to export.`, { caseId: opts.caseId });
    const pem = createPublicKey({ key: v.publicKeyDer, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }) as string;
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
    const report = { ...meta, sealedAt: m.sealedAt, sealedBy: m.sealedBy, evidence: m.evidence, timeline };
    fs.writeFileSync(path.join(tmp, BUNDLE_FILES.md), renderMarkdown(report));
    fs.writeFileSync(path.join(tmp, BUNDLE_FILES.html), renderHtml(report));
    for (const f of [BUNDLE_FILES.meta, BUNDLE_FILES.manifest, BUNDLE_FILES.html, BUNDLE_FILES.md, BUNDLE_FILES.key]) sums.push(`${sha256Hex(fs.readFileSync(path.join(tmp, f)))}  ${f}`);
    fs.writeFileSync(path.join(tmp, BUNDLE_FILES.sums), `${sums.join('\n')}\n`);
    if (fs.existsSync(out)) fs.rmdirSync(out);
    fs.renameSync(tmp, out);
    return { case: opts.caseId, out, events: v.events, head: v.head, files: sums.length + 1, keyFingerprint: meta.keyFingerprint, verification: v };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface BundleVerifyResult extends CustodyVerifyResult {
  bundle: string;
  keyFingerprint?: string;
  signingKeyArn?: string;
}

/**
 * Verify a bundle offline (no AWS). Checks SHA256SUMS against every file (and that every file is
 * listed), then the events and the manifest as `custody verify --case` does. Pin the signer with
 * `expectKeyFingerprint` (hex SHA-256 of the public key) when the custodian knows it.
 */
export async function verifyBundle(dir: string, opts: { expectKeyFingerprint?: string } = {}): Promise<BundleVerifyResult> {
  const root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, BUNDLE_FILES.sums))) {
    throw new UsageError('NOT_A_BUNDLE', `${root} is not a custody bundle: it has no ${BUNDLE_FILES.sums} (export one with \`cleanroom custody export --case ID --out DIR\`).`, { details: { bundle: root } });
  }
  const findings = new Findings();
  let meta: Partial<ExportMeta> = {};
  try {
    meta = JSON.parse(fs.readFileSync(path.join(root, BUNDLE_FILES.meta), 'utf8')) as ExportMeta;
  } catch {
    findings.add('BUNDLE_INCOMPLETE', null, `${BUNDLE_FILES.meta} is missing or not JSON`);
  }
  const caseId = String(meta.case ?? '');
  const chain = new ChainChecker(caseId, findings);
  const read = (rel: string): Buffer | undefined => {
    try {
      return fs.readFileSync(path.join(root, rel));
    } catch {
      return undefined;
    }
  };
  const manifestBytes = read(BUNDLE_FILES.manifest);
  try {
    const head = manifestBytes ? (JSON.parse(manifestBytes.toString('utf8')) as CaseManifest).head : undefined;
    if (head && Number.isInteger(head.seq)) chain.watch = head.seq;
  } catch {
    // reported by checkManifest
  }

  let listedEvents = 0;
  const listedOther = new Set<string>();
  for (const line of readLines(path.join(root, BUNDLE_FILES.sums))) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) {
      findings.add('BUNDLE_CHECKSUM_MISMATCH', null, `${BUNDLE_FILES.sums} has a malformed line: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    const [, sum, rel] = m as unknown as [string, string, string];
    if (rel.includes('..') || path.isAbsolute(rel)) {
      findings.add('BUNDLE_INCOMPLETE', null, `${BUNDLE_FILES.sums} names a file outside the bundle: ${rel}`);
      continue;
    }
    const bytes = read(rel);
    const ev = /^events\/(\d+)\.json$/.exec(rel);
    const seq = ev ? Number(ev[1]) : null;
    if (!bytes) {
      findings.add('BUNDLE_INCOMPLETE', seq, `${rel} is listed in ${BUNDLE_FILES.sums} but missing`);
      continue;
    }
    const actual = sha256Hex(bytes);
    if (actual !== sum) findings.add('BUNDLE_CHECKSUM_MISMATCH', seq, `${rel} was changed after export: its SHA-256 is not the one in ${BUNDLE_FILES.sums}`);
    if (seq !== null) {
      listedEvents++;
      chain.add(seq, bytes);
    } else listedOther.add(rel);
  }
  for (const f of [BUNDLE_FILES.manifest, BUNDLE_FILES.key, BUNDLE_FILES.meta, BUNDLE_FILES.md, BUNDLE_FILES.html]) {
    if (!listedOther.has(f)) findings.add('BUNDLE_INCOMPLETE', null, `${f} is not covered by ${BUNDLE_FILES.sums}`);
  }
  // Unlisted files: the top level is small; the events folder is counted, not collected.
  for (const name of fs.readdirSync(root)) {
    if (name !== BUNDLE_FILES.sums && name !== BUNDLE_FILES.events && !listedOther.has(name)) findings.add('BUNDLE_INCOMPLETE', null, `${name} is in the bundle but not listed in ${BUNDLE_FILES.sums}`);
  }
  let onDisk = 0;
  try {
    const d = await fs.promises.opendir(path.join(root, BUNDLE_FILES.events));
    for await (const _ of d) onDisk++;
  } catch {
    // no events folder: every listed event was reported missing
  }
  if (onDisk > listedEvents) findings.add('BUNDLE_INCOMPLETE', null, `${onDisk - listedEvents} file(s) in ${BUNDLE_FILES.events}/ are not listed in ${BUNDLE_FILES.sums}`);

  const pem = read(BUNDLE_FILES.key)?.toString('utf8');
  let key;
  let fingerprint: string | undefined;
  try {
    if (pem) {
      key = publicKey(pem);
      fingerprint = keyFingerprint(pem);
    }
  } catch {
    findings.add('SIGNATURE_INVALID', null, `${BUNDLE_FILES.key} is not a public key in PEM form`);
  }
  if (opts.expectKeyFingerprint && fingerprint !== opts.expectKeyFingerprint.toLowerCase()) {
    findings.add('SIGNATURE_INVALID', null, `the bundle's public key (SHA-256 ${fingerprint ?? 'none'}) is not the expected signing key ${opts.expectKeyFingerprint}`);
  }
  checkManifest({ caseId, ...(meta.bucket ? { bucket: meta.bucket } : {}), bytes: manifestBytes, key, ...(meta.signingKeyArn ? { expectedKeyId: meta.signingKeyArn } : {}), chain, findings });
  const head = chain.head();
  if (meta.head && (meta.head.seq !== head.seq || meta.head.hash !== head.hash)) findings.add('MANIFEST_MISMATCH', null, `${BUNDLE_FILES.meta} records head #${meta.head.seq} but the events end at #${head.seq}`);
  return {
    ...verifyResult(caseId, chain, findings, root, ['bundle.checksums', 'documents.schema', 'events.canonical', 'events.hash', 'events.chain', 'events.sequence', 'manifest.present', 'manifest.signature', 'manifest.head', 'manifest.evidence'], {
      'bundle.checksums': `every file matches ${BUNDLE_FILES.sums}`,
      'manifest.signature': fingerprint ? `verified with the bundle's public key (SHA-256 ${fingerprint})` : 'ok',
    }),
    bundle: root,
    ...(fingerprint ? { keyFingerprint: fingerprint } : {}),
    ...(meta.signingKeyArn ? { signingKeyArn: meta.signingKeyArn } : {}),
  };
}

/** The lines of a file, read in 1 MiB chunks (SHA256SUMS of a large bundle is not held whole). */
function* readLines(file: string): Generator<string> {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let rest = '';
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString('utf8', 0, n);
      const parts = text.split('\n');
      rest = parts.pop()!;
      yield* parts;
    }
    if (rest) yield rest;
  } finally {
    fs.closeSync(fd);
  }
}

/** Findings as one line each, for people. */
export function findingLines(findings: readonly Finding[]): string[] {
  return findings.map((f) => `${f.code.padEnd(26)} ${f.seq === null ? '     -' : String(f.seq).padStart(6)}  ${f.message}`);
}
