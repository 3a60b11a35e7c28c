/**
 * The custody report as a person sees and prints it: report.html of three evidence items (one with
 * long ids, both acquisition hashes and exports; one with nothing recorded beyond its source
 * snapshot; one in the forensic account itself) rendered in headless Chromium (Debian's
 * `chromium`, installed by the test setup) at the printable width of an A4 page (170 mm: A4 less
 * the report's 20 mm margins; Letter is wider), in print media. The cards must be there with their
 * headings, and nothing may be wider than the page: the page, the body, every card, table and cell
 * keep their content inside (scrollWidth ≤ clientWidth, right edge within the page). The same
 * check run on a copy whose stylesheet stops long strings from wrapping must find the overflow —
 * the proof that this test can fail. The sessions table (who entered the room, when, the session,
 * its transcript's SHA-256) is laid out inside the page too. The report carries no script: the checks run from outside
 * the page, through the DevTools protocol.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { renderHtml } from '../../src/custody/report.js';
import { Chromium } from '../harness/chromium.js';
import { LONG, SHA, fixtureReport } from './report-fixture.js';

/** The printable width of an A4 page with the report's 20 mm margins, in CSS pixels (96 per inch). */
const A4_CONTENT_PX = Math.floor((170 / 25.4) * 96);

interface Rendered {
  limit: number;
  cards: Array<{ title: string; headings: string[] }>;
  over: Array<{ what: string; scrollWidth: number; clientWidth: number; right: number; text: string }>;
  sessions: string[][];
}

/** Run in the page by DevTools: the cards, and every element wider than its box or the page. */
const CHECK = `(() => {
  const limit = document.documentElement.clientWidth;
  const where = (el) => {
    const card = el.closest('.card');
    return el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' in ' + (card ? card.querySelector('h3').textContent : 'the page');
  };
  const over = [];
  for (const el of [document.documentElement, document.body, ...document.querySelectorAll('.card, table, tr, td, th, h1, h2, h3, h4, p, code')]) {
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > limit + 0.5 || r.left < -0.5)
      over.push({ what: where(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, right: r.right, text: el.textContent.slice(0, 80) });
  }
  const cards = [...document.querySelectorAll('.card')].map((c) => ({
    title: c.querySelector('h3')?.textContent ?? '',
    headings: [...c.querySelectorAll('h4')].map((h) => h.textContent),
  }));
  const sessions = [...document.querySelectorAll('table.sessions tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent));
  return { limit, cards, over, sessions };
})()`;

const HEADINGS = [
  'Identity',
  'Lineage: from the source disk to the working volume',
  'Acquisition hashes',
  'In the clean room',
  'Exported images',
  'Steps and who did them',
];

t.test('report.html in headless Chromium at A4 width: every card, nothing wider than the page', async (t) => {
  const dir = t.testdir();
  const html = renderHtml(fixtureReport());
  t.notMatch(html, /<script|\bsrc\s*=|\bhref\s*=|url\(|@import/i, 'self-contained: no script, no external resource');
  const file = path.join(dir, 'report.html');
  fs.writeFileSync(file, html);
  // Long strings kept from wrapping, as a stylesheet that forgot them would: the check must see it.
  const broken = path.join(dir, 'report-nowrap.html');
  fs.writeFileSync(
    broken,
    html.replace(
      '</head>',
      '<style>td,th,code{overflow-wrap:normal!important;word-break:normal!important;white-space:nowrap!important}</style></head>',
    ),
  );

  const browser = await Chromium.launch();
  t.teardown(() => browser.close());

  const page = await browser.open(file, A4_CONTENT_PX);
  const r = await page.evaluate<Rendered>(CHECK);
  t.equal(r.limit, A4_CONTENT_PX, 'laid out at the printable width of A4');
  t.same(
    r.cards.map((c) => c.title),
    [`Evidence ${LONG}`, 'Evidence ev-db-data', 'Evidence ev-same-account'],
    'one card per evidence item, in the manifest’s order',
  );
  for (const c of r.cards) t.same(c.headings, HEADINGS, `${c.title}: its sections, headed in words`);
  t.same(r.over, [], 'nothing overflows the page width: not the page, a card, a table or a cell');
  t.same(
    r.sessions.map((row) => row[2]!.split(',')[0]),
    [`${LONG}-0a1b2c3d4e5f60718`, 'bob-0fedcba9876543210', 'mallory-01234567890abcdef', 'bob-0123456789abcdef0'],
    'the sessions table: one row per session (its end, or its start when it has none), long ids inside the page',
  );
  t.match(
    r.sessions[0]![1],
    /^2026-12-01T10:30:00.000Z – 2026-12-01T12:12:41.000Z \(1 h 42 min\)$/,
    'when, and for how long',
  );
  t.match(r.sessions[0]![3], `SHA-256 ${SHA}`, 'the transcript and its hash');
  t.match(r.sessions[1]![3], 'none: a port-forward session has no transcript', 'or why there is none');
  t.match(r.sessions[2]![2], 'found afterwards in Session Manager’s history');

  const pdf = await page.printToPdf();
  t.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-', 'it prints');
  const box = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(pdf.toString('latin1'));
  t.ok(box, 'the PDF names its page size');
  t.ok(Math.abs(Number(box?.[1]) - 595.3) < 2 && Math.abs(Number(box?.[2]) - 841.9) < 2, 'on A4 (its @page size)');

  const bad = await (await browser.open(broken, A4_CONTENT_PX)).evaluate<Rendered>(CHECK);
  t.ok(
    bad.over.some((o) => o.what.startsWith('td') && o.what.endsWith(`in Evidence ${LONG}`)),
    'a cell whose hash cannot wrap is caught overflowing its card',
  );
  t.ok(
    bad.over.some((o) => o.what === 'html in the page'),
    'and the page is then wider than A4',
  );
});
