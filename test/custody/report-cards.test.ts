/**
 * The evidence cards of the custody report (src/custody/report-cards.ts) and how report.md and
 * report.html show them: a card per evidence item with its lineage in order (source snapshot →
 * sharing copy → forensic snapshot → working volume) with the account, region, time and actor of
 * the event that made each; the acquisition and source hashes; the in-room result; the exports
 * and whether their hash equals the acquisition hash; every step with who did it — headed in
 * words, never a field name, and "not recorded" wherever the record holds nothing.
 */
import t from 'tap';
import { NOT_RECORDED, evidenceCards, evidenceStepOf, type EvidenceCard } from '../../src/custody/report-cards.js';
import { escapeHtml, escapeMarkdownCell, renderHtml, renderMarkdown } from '../../src/custody/report.js';
import { ANALYST, FORENSIC, IDS, LONG, MERKLE, RESPONDER, SHA, SOURCE, fixtureReport } from './report-fixture.js';

const cards = () => {
  const r = fixtureReport();
  return evidenceCards(r.evidence, r.steps ?? []);
};
const section = (c: EvidenceCard, heading: string) => c.sections.find((s) => s.heading.startsWith(heading))!;
const value = (c: EvidenceCard, heading: string, label: string) =>
  section(c, heading).rows!.find(([k]) => k === label)?.[1];

t.test('a card per evidence item: the lineage in order, each step with account, region, time and actor', async (t) => {
  const [a, b, c] = cards();
  t.same(
    [a, b, c].map((x) => x?.title),
    [`Evidence ${LONG}`, 'Evidence ev-db-data', 'Evidence ev-same-account'],
  );
  t.same(section(a!, 'Lineage').table!.rows, [
    ['Source snapshot', IDS.srcSnap, `${SOURCE} us-east-1`, '2026-12-01T10:02:00.000Z', RESPONDER],
    ['Sharing copy', IDS.shareSnap, `${SOURCE} us-east-1`, '2026-12-01T10:04:00.000Z', RESPONDER],
    [
      'Forensic snapshot (the evidence of record)',
      IDS.forensicSnap,
      `${FORENSIC} eu-west-1`,
      '2026-12-01T10:07:00.000Z',
      RESPONDER,
    ],
    ['Working volume', IDS.volume, `${FORENSIC} eu-west-1`, '2026-12-01T10:09:00.000Z', RESPONDER],
  ]);
  t.equal(
    section(c!, 'Lineage').table!.rows[1]![1],
    'none: source and forensic account are the same',
    'no sharing copy when the source is the forensic account',
  );
  t.same(value(a!, 'Identity', 'Size'), '1,073,741,824 bytes (1 GiB)');
  t.same(value(a!, 'Identity', 'Device on the source instance'), '/dev/xvda');
});

t.test('the hashes, the room and the exports, in words', async (t) => {
  const [a, , c] = cards();
  t.equal(value(a!, 'Acquisition hashes', 'Acquisition hash (SHA-256)'), SHA);
  t.equal(value(a!, 'Acquisition hashes', 'Block Merkle root'), MERKLE);
  t.equal(value(a!, 'Acquisition hashes', 'Hashing tool'), 'cleanroom 0.13.0 (ebs-direct)');
  t.match(value(a!, 'Acquisition hashes', 'Source snapshot hash'), /^equal to the acquisition hash: .*bit-identical/);
  t.equal(value(a!, 'Acquisition hashes', 'Source hash (SHA-256)'), SHA);
  t.equal(value(c!, 'Acquisition hashes', 'Source snapshot hash'), 'skipped: --no-source-hash');
  t.equal(
    value(c!, 'Acquisition hashes', 'Later recomputations'),
    `DIFFERENT at 2026-12-01T10:18:00.000Z by ${ANALYST}`,
  );
  t.equal(value(a!, 'Acquisition hashes', 'Later recomputations'), 'none recorded');
  t.match(value(a!, 'In the clean room', 'In-room hash check'), /^verified: .*\(sha256 of \/dev\/nvme1n1 equals/);
  t.equal(value(c!, 'In the clean room', 'In-room hash check'), 'not confirmed');
  t.equal(value(a!, 'In the clean room', 'Read-only'), 'confirmed (ro=1 on nvme1n1)');
  t.equal(value(a!, 'In the clean room', 'Device hash in the room (SHA-256)'), SHA);
  t.equal(value(a!, 'In the clean room', 'In-room hash recorded by'), ANALYST);

  const exp = section(a!, 'Exported images').groups!.items;
  t.same(
    exp.map((g) => [
      g.title,
      Object.fromEntries(g.rows)['Exported to'],
      Object.fromEntries(g.rows)['Equals the acquisition hash'],
    ]),
    [
      ['Export 1 of 3', 'the vault (S3, Object Lock)', 'yes'],
      ['Export 2 of 3', 'a local file', 'yes'],
      ['Export 3 of 3', 'a local file', 'NO'],
    ],
    'each export, and whether its image hash is the acquisition hash',
  );
  t.match(Object.fromEntries(exp[2]!.rows), {
    Outcome: 'failed: EXPORT_HASH_MISMATCH: the image read now has another SHA-256',
    'Image hash (SHA-256)': 'ee'.repeat(32),
    'Exported by': ANALYST,
  });
  t.match(Object.fromEntries(exp[0]!.rows), {
    Location: `s3://cleanroom-evidence-444455556666-eu-west-1/cases/IR-7/images/${LONG}.raw`,
    'Object version': '3HL4kqtJlcpXroDTDmjVBH40Nrjfkd',
    'Retained until (UTC)': '2033-12-01T00:00:00.000Z',
    'Image hash (SHA-256)': SHA,
    'Exported by': RESPONDER,
  });
  t.equal(Object.fromEntries(exp[1]!.rows)['Exported by'], ANALYST, 'who exported it');
  t.same(
    section(a!, 'Steps').table!.rows.map((r) => [r[0], r[2], r[3]]),
    [
      ['2', 'Source snapshot taken', RESPONDER],
      ['4', 'Re-encrypted sharing copy made', RESPONDER],
      ['5', 'Sharing copy shared with the forensic account', RESPONDER],
      ['6', 'Copy into the forensic account started', RESPONDER],
      ['7', 'Forensic snapshot completed (preserved)', RESPONDER],
      ['8', 'Acquisition hash computed', RESPONDER],
      ['9', 'Working volume created', RESPONDER],
      ['10', 'Working volume attached', ANALYST],
      ['11', 'Read-only checked in the room', ANALYST],
      ['12', 'Device hashed in the room', ANALYST],
      ['13', 'Image exported', RESPONDER],
      ['14', 'Image exported', ANALYST],
      ['19', 'Image exported', ANALYST],
    ],
    'every step of the item, who did it',
  );
});

t.test('an item with nothing recorded beyond its snapshot: "not recorded", never blank or undefined', async (t) => {
  const b = cards()[1]!;
  const values = b.sections.flatMap((s) => [
    ...(s.rows ?? []).map((r) => r[1]),
    ...(s.table?.rows.flat() ?? []),
    ...(s.groups?.items.flatMap((g) => g.rows.map((r) => r[1])) ?? []),
  ]);
  t.ok(values.length > 30);
  t.same(
    values.filter((v) => v.trim() === '' || /undefined|null|NaN|\[object/.test(v)),
    [],
    'every value is something',
  );
  t.equal(value(b, 'Acquisition hashes', 'Acquisition hash (SHA-256)'), NOT_RECORDED);
  t.equal(value(b, 'Identity', 'Source instance'), NOT_RECORDED);
  t.same(section(b, 'Lineage').table!.rows[2], [
    'Forensic snapshot (the evidence of record)',
    NOT_RECORDED,
    NOT_RECORDED,
    NOT_RECORDED,
    NOT_RECORDED,
  ]);
  t.same(section(b, 'Exported images').groups, { items: [], empty: 'No export recorded.' });
  t.same(
    section(b, 'Steps').table!.rows.map((r) => r[0]),
    ['3'],
    'only its own step: an event naming another item’s snapshot is not on this card',
  );
  const cardsOf = (doc: string, from: string, to: string) => doc.slice(doc.indexOf(from), doc.indexOf(to));
  const md = cardsOf(renderMarkdown(fixtureReport()), '## Evidence', '## Timeline');
  const html = cardsOf(renderHtml(fixtureReport()), '<h2>Evidence', '<h2>Timeline');
  t.ok(md.includes('### Evidence ev-db-data') && html.includes('<h3>Evidence ev-db-data'));
  t.notMatch(md, /undefined|null/);
  t.same(
    renderMarkdown(fixtureReport())
      .split('\n')
      .filter((l) => l !== '| | |' && /\|\s*\|/.test(l)),
    [],
    'report.md: no empty cell, in the cards or the timeline (the label-less header rows aside)',
  );
  t.notMatch(html, /undefined|null/);
  t.notMatch(renderHtml(fixtureReport()), /<td>\s*<\/td>|<td><code><\/code><\/td>/, 'report.html: no empty cell');
});

t.test('headings and labels are words, not field names', async (t) => {
  const labels = cards().flatMap((c) => [
    c.title,
    ...c.sections.flatMap((s) => [
      s.heading,
      ...(s.rows ?? []).map((r) => r[0]),
      ...(s.table?.columns ?? []),
      ...(s.groups?.items.flatMap((g) => [g.title, ...g.rows.map((r) => r[0])]) ?? []),
    ]),
  ]);
  t.same(
    labels.filter((l) => /^[a-z]+[A-Z]\w*$|^sha256$|^state$/.test(l)),
    [],
    'no camelCase field name',
  );
});

t.test('report.md and report.html show the same cards, after the summary and before the timeline', async (t) => {
  const r = fixtureReport();
  const md = renderMarkdown(r);
  const html = renderHtml(r);
  for (const c of evidenceCards(r.evidence, r.steps ?? [])) {
    t.ok(md.includes(`### ${escapeMarkdownCell(c.title)}`), `report.md: ${c.title}`);
    t.ok(html.includes(`<h3>${escapeHtml(c.title)}</h3>`), `report.html: ${c.title}`);
    for (const s of c.sections) {
      const cells = [
        s.heading,
        ...(s.rows ?? []).flat(),
        ...(s.table?.columns ?? []),
        ...(s.table?.rows.flat() ?? []),
        ...(s.groups?.items.flatMap((g) => [g.title, ...g.rows.flat()]) ?? []),
      ];
      const missing = (doc: string, esc: (v: string) => string) => cells.filter((v) => !doc.includes(esc(v)));
      t.same(missing(md, escapeMarkdownCell), [], `report.md has every cell of "${s.heading}"`);
      t.same(missing(html, escapeHtml), [], `report.html has every cell of "${s.heading}"`);
    }
  }
  for (const doc of [md, html]) {
    const order = ['Evidence', `Evidence ${LONG}`, 'Evidence ev-db-data', 'Evidence ev-same-account', 'Timeline'].map(
      (h) => doc.search(new RegExp(`(## |<h2>|### |<h3>)${h}\\b`)),
    );
    t.same(
      order,
      [...order].sort((x, y) => x - y),
      'summary, then the cards in the manifest’s order, then the timeline',
    );
    t.notOk(order.includes(-1));
  }
  t.match(html, /@page\{size:A4;margin:20mm\}/, 'prints on A4 (and Letter, which is wider)');
  t.match(html, /\.card\{[^}]*break-inside:avoid/, 'a card is kept on one page where it fits');
  t.match(html, /td,th\{[^}]*overflow-wrap:anywhere/, 'long hashes and ids wrap');
});

t.test('record text in a card cannot break out of its cell', async (t) => {
  const r = fixtureReport();
  r.evidence[1] = { ...r.evidence[1]!, readOnlyDetail: '<img src=x onerror=alert(1)> | *x*', readOnly: 'writable' };
  const md = renderMarkdown(r);
  const html = renderHtml(r);
  t.notMatch(html, /<img/);
  t.match(html, /WRITABLE \(&lt;img src=x onerror=alert\(1\)&gt; \| \*x\*\)/);
  t.ok(md.includes('| Read-only | WRITABLE (\\<img src=x onerror=alert(1)\\> \\| \\*x\\*) |'));
});

t.test('the steps of the record: the events that name an evidence item', async (t) => {
  t.equal(evidenceStepOf(1, { action: 'room.up', outcome: { status: 'succeeded', details: {} } }), undefined);
  t.equal(evidenceStepOf(1, null), undefined);
  const step = evidenceStepOf(7, {
    time: 't',
    actor: 'a',
    action: 'case.close',
    resources: [{ type: 'ec2:volume', id: 'vol-1', account: '1', region: 'r' }, { id: 'no-type' }],
    outcome: {
      status: 'failed',
      error: { code: 'AWS_Throttling', message: 'slow down' },
      details: {
        evidence: [{ evidenceId: 'ev-one' }, { evidenceId: 'ev-two' }, { nope: 1 }],
        evidenceId: 'ev-three',
        x: 1,
      },
    },
  });
  t.same(step, {
    seq: 7,
    time: 't',
    actor: 'a',
    action: 'case.close',
    status: 'failed',
    evidenceIds: ['ev-one', 'ev-two', 'ev-three'],
    resources: [{ type: 'ec2:volume', id: 'vol-1', account: '1', region: 'r' }],
    details: { evidenceId: 'ev-three', x: 1 },
    error: 'AWS_Throttling: slow down',
  });
  const unknown = evidenceCards([{ evidenceId: 'ev-one' }], [step!]);
  t.same(
    unknown[0]!.sections.find((s) => s.heading.startsWith('Steps'))!.table!.rows,
    [['7', 't', 'case.close', 'a', 'failed: AWS_Throttling: slow down']],
    'an action without words is shown as recorded',
  );
});
