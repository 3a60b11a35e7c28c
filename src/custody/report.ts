/**
 * The human report of an exported bundle, in Markdown and HTML: case summary, evidence table and
 * the timeline of who did what. Every value from the record is escaped for its format (the record
 * holds free text from AWS errors and user input).
 */
import type { EvidencePatch } from '../domain/evidence.js';
import { EVIDENCE_HASH_FIELDS, EVIDENCE_JSON_FIELDS } from '../domain/evidence.js';
import type { ChainHead } from './event.js';

export interface TimelineRow {
  seq: number;
  time: string;
  actor: string;
  action: string;
  status: string;
  resources: string;
  error?: string;
}

export interface ReportInput {
  case: string;
  bucket: string;
  exportedAt: string;
  exportedBy: string;
  events: number;
  head: ChainHead;
  signingKeyArn: string;
  keyFingerprint: string;
  sealedAt?: string;
  sealedBy?: string;
  retention: { modes: string[]; earliestRetainUntil?: string };
  evidence: EvidencePatch[];
  timeline: TimelineRow[];
}

/** HTML-escape text for element content and double-quoted attributes. */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Escape text for a Markdown table cell (pipes, backslashes, inline HTML, line breaks). */
export function escapeMarkdownCell(s: unknown): string {
  return String(s ?? '')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[<>&`*_[\]]/g, (c) => `\\${c}`)
    .replace(/\r?\n/g, ' ');
}

function summary(r: ReportInput): Array<[string, string]> {
  return [
    ['Case', r.case],
    ['Vault', `s3://${r.bucket}/cases/${r.case}/`],
    ['Events', String(r.events)],
    ['Chain head', `#${r.head.seq} ${r.head.hash}`],
    ['Sealed', r.sealedAt ? `${r.sealedAt} by ${r.sealedBy ?? '?'}` : 'not sealed'],
    ['Signing key', r.signingKeyArn],
    ['Public key SHA-256', r.keyFingerprint],
    [
      'Object Lock',
      `${r.retention.modes.join(', ') || 'none'}${r.retention.earliestRetainUntil ? `, earliest retain-until ${r.retention.earliestRetainUntil}` : ''}`,
    ],
    ['Exported', `${r.exportedAt} by ${r.exportedBy}`],
    ['Verification at export', 'passed: every hash, link, sequence number, retention and the manifest signature'],
  ];
}

/** The contract's fields, and of the content hash only the disk's SHA-256 (a table cell holds no object). */
const evidenceCols = EVIDENCE_JSON_FIELDS.filter(
  (f) => f === 'sha256' || !(EVIDENCE_HASH_FIELDS as readonly string[]).includes(f),
);

/** report.md */
export function renderMarkdown(r: ReportInput): string {
  const out: string[] = [`# Chain of custody — case ${escapeMarkdownCell(r.case)}`, '', '| | |', '|---|---|'];
  for (const [k, v] of summary(r)) out.push(`| ${k} | ${escapeMarkdownCell(v)} |`);
  out.push('', '## Evidence', '');
  if (r.evidence.length === 0) out.push('No evidence items.');
  else {
    out.push(`| ${evidenceCols.join(' | ')} |`, `|${evidenceCols.map(() => '---').join('|')}|`);
    for (const e of r.evidence)
      out.push(
        `| ${evidenceCols.map((c) => escapeMarkdownCell((e as Record<string, unknown>)[c] ?? '')).join(' | ')} |`,
      );
  }
  out.push(
    '',
    '## Timeline',
    '',
    '| # | Time (UTC) | Actor | Action | Outcome | Resources |',
    '|---|---|---|---|---|---|',
  );
  for (const t of r.timeline) {
    out.push(
      `| ${t.seq} | ${escapeMarkdownCell(t.time)} | ${escapeMarkdownCell(t.actor)} | ${escapeMarkdownCell(t.action)} | ${escapeMarkdownCell(t.status + (t.error ? `: ${t.error}` : ''))} | ${escapeMarkdownCell(t.resources)} |`,
    );
  }
  out.push(
    '',
    `Verify this bundle offline: \`cleanroom custody verify --bundle <this folder> --key-fingerprint ${escapeMarkdownCell(r.keyFingerprint)}\` — with the fingerprint obtained from the custodian, not from this report.`,
    '',
  );
  return out.join('\n');
}

/** report.html (self-contained, no scripts, no external resources). */
export function renderHtml(r: ReportInput): string {
  const rows = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Chain of custody — case ${escapeHtml(r.case)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top;font-size:.9em}th{background:#eee}code{font-size:.85em}.failed{color:#a00}</style>
</head><body>
<h1>Chain of custody — case ${escapeHtml(r.case)}</h1>
<table>${summary(r)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(v)}</code></td></tr>`)
    .join('')}</table>
<h2>Evidence</h2>
${
  r.evidence.length === 0
    ? '<p>No evidence items.</p>'
    : `<table><tr>${evidenceCols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>${r.evidence.map((e) => rows(evidenceCols.map((c) => escapeHtml((e as Record<string, unknown>)[c] ?? '')))).join('')}</table>`
}
<h2>Timeline</h2>
<table><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Action</th><th>Outcome</th><th>Resources</th></tr>
${r.timeline.map((t) => `<tr${t.status === 'failed' ? ' class="failed"' : ''}><td>${t.seq}</td><td>${escapeHtml(t.time)}</td><td>${escapeHtml(t.actor)}</td><td>${escapeHtml(t.action)}</td><td>${escapeHtml(t.status + (t.error ? `: ${t.error}` : ''))}</td><td>${escapeHtml(t.resources)}</td></tr>`).join('\n')}
</table>
<p>Verify this bundle offline: <code>cleanroom custody verify --bundle &lt;this folder&gt; --key-fingerprint ${escapeHtml(r.keyFingerprint)}</code> — with the fingerprint obtained from the custodian, not from this report.</p>
</body></html>
`;
}
