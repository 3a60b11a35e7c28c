/**
 * The human report of an exported bundle, in Markdown and HTML: case summary, one card per evidence
 * item (report-cards.ts) and the timeline of who did what. Every value from the record is escaped
 * for its format (the record holds free text from AWS errors and user input). The HTML is
 * self-contained (no script, no external resource) and prints on A4 and Letter: content 170 mm
 * wide, long hashes and ids wrap, tables take the page width, a card is kept on one page where it
 * fits (test/custody/report-render.test.ts renders it in headless Chromium).
 */
import type { EvidencePatch } from '../domain/evidence.js';
import type { ChainHead } from './event.js';
import {
  type CardRow,
  type CardSection,
  type EvidenceCard,
  type EvidenceStep,
  NOT_RECORDED,
  evidenceCards,
} from './report-cards.js';
import { SESSION_END_ACTION, sessionDuration, type RecordedSession } from './room-sessions.js';

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
  /** The events that name evidence items (report-cards.ts evidenceStepOf), in record order. */
  steps?: EvidenceStep[];
  timeline: TimelineRow[];
  /** The session events of the record (`room.session.start`, `room.session`), in record order. */
  sessions?: RecordedSession[];
}

/** The sessions table: who entered, when (start, end, duration), the session and its kind, the transcript or why there is none. */
export const SESSION_COLUMNS = ['Who', 'When (UTC)', 'Session', 'Transcript'];
const SESSION_WIDTHS = [26, 24, 20, 30];

/** One row per session: its end event, or its start when the record holds no end. */
export function sessionRows(sessions: readonly RecordedSession[]): string[][] {
  const ended = new Set(sessions.filter((s) => s.action === SESSION_END_ACTION).map((s) => s.sessionId));
  const rows: string[][] = [];
  for (const s of sessions) {
    const open = s.action !== SESSION_END_ACTION;
    if (open && ended.has(s.sessionId)) continue;
    const duration = sessionDuration(s);
    const when = open
      ? `${s.startedAt ?? s.time} – not ended in the record`
      : `${s.startedAt ?? NOT_RECORDED} – ${s.endedAt ?? NOT_RECORDED}${duration ? ` (${duration})` : ''}`;
    const kind =
      s.kind === 'port-forward' && s.portForward
        ? `port forward ${s.portForward.local} → ${s.portForward.remote}`
        : (s.kind ?? NOT_RECORDED);
    const what = [
      s.sessionId,
      `${kind} on ${s.instanceId ?? NOT_RECORDED}`,
      ...(s.found ? ['found afterwards in Session Manager’s history'] : []),
      ...(s.status && s.status !== 'closed' ? [s.status] : []),
    ].join(', ');
    const transcript = s.transcript
      ? `${s.transcript.key} SHA-256 ${s.transcript.sha256}`
      : open
        ? 'not yet: the session has no end event'
        : `none${s.reason ? `: ${s.reason}` : ''}`;
    rows.push([s.actor ?? NOT_RECORDED, when, what, transcript]);
  }
  return rows;
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
    [
      'Verification at export',
      'passed: every hash, link, sequence number, retention, the manifest signature and every session transcript',
    ],
  ];
}

/** A value a person copies rather than reads (ids, hashes, ARNs, times): shown in monospace. */
const MACHINE_VALUE = /^(?=.*\d)[\w.:/@+=,-]{12,}$/;

/** A timeline row's cells: number, time, actor, action, outcome (with the error), resources. */
function timelineCells(t: TimelineRow): string[] {
  return [
    String(t.seq),
    t.time || NOT_RECORDED,
    t.actor || NOT_RECORDED,
    t.action || NOT_RECORDED,
    (t.status || NOT_RECORDED) + (t.error ? `: ${t.error}` : ''),
    t.resources || 'none',
  ];
}

const MD_TIMELINE_HEAD = ['| # | Time (UTC) | Actor | Action | Outcome | Resources |', '|---|---|---|---|---|---|'];

function markdownRows(rows: CardRow[]): string[] {
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${escapeMarkdownCell(k)} | ${escapeMarkdownCell(v)} |`)];
}

function markdownSection(s: CardSection): string[] {
  const out = [`#### ${escapeMarkdownCell(s.heading)}`, ''];
  if (s.rows) out.push(...markdownRows(s.rows));
  else if (s.groups && s.groups.items.length === 0) out.push(escapeMarkdownCell(s.groups.empty));
  else if (s.groups)
    out.push(
      ...s.groups.items.flatMap((g, i) => [
        ...(i ? [''] : []),
        `**${escapeMarkdownCell(g.title)}**`,
        '',
        ...markdownRows(g.rows),
      ]),
    );
  else if (s.table && s.table.rows.length === 0) out.push(escapeMarkdownCell(s.table.empty));
  else if (s.table) {
    out.push(
      `| ${s.table.columns.map(escapeMarkdownCell).join(' | ')} |`,
      `|${s.table.columns.map(() => '---').join('|')}|`,
    );
    for (const r of s.table.rows) out.push(`| ${r.map(escapeMarkdownCell).join(' | ')} |`);
  }
  out.push('');
  return out;
}

function markdownCard(c: EvidenceCard): string[] {
  return [`### ${escapeMarkdownCell(c.title)}`, '', ...c.sections.flatMap(markdownSection)];
}

/** report.md */
export function renderMarkdown(r: ReportInput): string {
  const out: string[] = [`# Chain of custody — case ${escapeMarkdownCell(r.case)}`, '', '| | |', '|---|---|'];
  for (const [k, v] of summary(r)) out.push(`| ${k} | ${escapeMarkdownCell(v)} |`);
  out.push('', '## Evidence', '');
  if (r.evidence.length === 0) out.push('No evidence items.', '');
  else for (const c of evidenceCards(r.evidence, r.steps ?? [])) out.push(...markdownCard(c));
  out.push(
    ...markdownSection({
      heading: 'Sessions in the room',
      table: { columns: SESSION_COLUMNS, rows: sessionRows(r.sessions ?? []), empty: NO_SESSIONS },
    }).map((l, i) => (i === 0 ? '## Sessions in the room' : l)),
  );
  out.push('## Timeline', '', ...MD_TIMELINE_HEAD);
  for (const t of r.timeline) {
    out.push(`| ${timelineCells(t).map(escapeMarkdownCell).join(' | ')} |`);
  }
  out.push(
    '',
    `Verify this bundle offline: \`cleanroom custody verify --bundle <this folder> --key-fingerprint ${escapeMarkdownCell(r.keyFingerprint)}\` — with the fingerprint obtained from the custodian, not from this report.`,
    '',
  );
  return out.join('\n');
}

/** A cell's value in HTML: ids, hashes and ARNs in monospace (they wrap anywhere). */
function htmlValue(v: string): string {
  return MACHINE_VALUE.test(v) ? `<code>${escapeHtml(v)}</code>` : escapeHtml(v);
}

function colgroup(widths: readonly number[] | undefined): string {
  return widths ? `<colgroup>${widths.map((w) => `<col style="width:${w}%">`).join('')}</colgroup>` : '';
}

function htmlRows(rows: CardRow[], caption?: string): string {
  return `<table class="kv">${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${htmlValue(v)}</td></tr>`).join('')}</table>`;
}

function htmlSection(s: CardSection): string {
  const head = `<h4>${escapeHtml(s.heading)}</h4>`;
  if (s.rows) return `${head}${htmlRows(s.rows)}`;
  if (s.groups && s.groups.items.length === 0) return `${head}<p class="none">${escapeHtml(s.groups.empty)}</p>`;
  if (s.groups) return `${head}${s.groups.items.map((g) => htmlRows(g.rows, g.title)).join('')}`;
  const t = s.table!;
  if (t.rows.length === 0) return `${head}<p class="none">${escapeHtml(t.empty)}</p>`;
  return `${head}<table class="grid">${colgroup(t.widths)}<thead><tr>${t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${t.rows
    .map((row) => `<tr>${row.map((v) => `<td>${htmlValue(v)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function htmlCard(c: EvidenceCard): string {
  return `<section class="card"><h3>${escapeHtml(c.title)}</h3>\n${c.sections.map(htmlSection).join('\n')}\n</section>`;
}

/**
 * Print-first: an A4 page less 20 mm margins leaves 170 mm, which Letter (215.9 mm wide) fits as
 * well; fixed table layouts at 100% width, every cell wraps anywhere, a card avoids a page break.
 */
const REPORT_CSS = `@page{size:A4;margin:20mm}
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;font-size:10pt;line-height:1.35;color:#111;max-width:170mm;margin:0 auto}
@media screen{body{padding:1.5em 0}}
h1{font-size:16pt}h2{font-size:13pt;margin-top:1.2em;break-after:avoid}h3{font-size:12pt;margin:0 0 .3em}h4{font-size:10pt;margin:.8em 0 .2em;break-after:avoid}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.3em 0 .6em}
td,th{border:1px solid #bbb;padding:.2em .4em;text-align:left;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#eee;font-weight:600}table.kv th{width:34%}table.grid{font-size:9pt}caption{text-align:left;font-weight:600;padding:.2em 0}tr{break-inside:avoid}
code{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere;word-break:break-all}
.card{border:1px solid #888;border-radius:4px;padding:.5em .8em;margin:1em 0;break-inside:avoid;page-break-inside:avoid}
.none{margin:.2em 0 .6em;color:#444}.failed{color:#a00}`;

const TIMELINE_WIDTHS = [5, 17, 22, 16, 14, 26];

const NO_SESSIONS = 'No one entered the room through Session Manager, as far as the record holds.';

/** The sessions table in HTML (a failed session's row marked). */
function htmlSessions(sessions: readonly RecordedSession[]): string {
  const rows = sessionRows(sessions);
  if (rows.length === 0) return `<p class="none">${escapeHtml(NO_SESSIONS)}</p>`;
  return `<table class="grid sessions">${colgroup(SESSION_WIDTHS)}<thead><tr>${SESSION_COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((v) => `<td>${htmlValue(v)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** report.html (self-contained, no scripts, no external resources). */
export function renderHtml(r: ReportInput): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Chain of custody — case ${escapeHtml(r.case)}</title>
<style>${REPORT_CSS}</style>
</head><body>
<h1>Chain of custody — case ${escapeHtml(r.case)}</h1>
<table class="kv">${summary(r)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(v)}</code></td></tr>`)
    .join('')}</table>
<h2>Evidence</h2>
${
  r.evidence.length === 0
    ? '<p>No evidence items.</p>'
    : evidenceCards(r.evidence, r.steps ?? [])
        .map(htmlCard)
        .join('\n')
}
<h2>Sessions in the room</h2>
${htmlSessions(r.sessions ?? [])}
<h2>Timeline</h2>
<table class="grid timeline">${colgroup(TIMELINE_WIDTHS)}<thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Action</th><th>Outcome</th><th>Resources</th></tr></thead>
${r.timeline
  .map(
    (t) =>
      `<tr${t.status === 'failed' ? ' class="failed"' : ''}>${timelineCells(t)
        .map((c) => `<td>${escapeHtml(c)}</td>`)
        .join('')}</tr>`,
  )
  .join('\n')}
</table>
<p>Verify this bundle offline: <code>cleanroom custody verify --bundle &lt;this folder&gt; --key-fingerprint ${escapeHtml(r.keyFingerprint)}</code> — with the fingerprint obtained from the custodian, not from this report.</p>
</body></html>
`;
}
