/**
 * The export's output folder check (src/custody/out-path.ts) on the branches the CLI's hostile
 * command lines do not reach — an existing empty folder, a link to a real folder, a parent reached
 * through a link, a file in the way, a NUL, the root, the option named in the message — and the
 * bundle's human report (src/custody/report.ts): every value from the record escaped for its format.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { checkOutPath } from '../../src/custody/out-path.js';
import {
  escapeHtml,
  escapeMarkdownCell,
  renderHtml,
  renderMarkdown,
  type ReportInput,
} from '../../src/custody/report.js';

t.test(
  'an output folder: new or empty is used (parent links resolved); anything else is refused naming the option',
  async (t) => {
    const base = fs.realpathSync(t.testdir({ empty: {}, full: { a: 'x' }, file: 'x', real: {} }));
    fs.symlinkSync(path.join(base, 'real'), path.join(base, 'link-to-folder'));
    fs.symlinkSync(base, path.join(base, 'parent-link'));
    t.equal(checkOutPath(path.join(base, 'new')), path.join(base, 'new'), 'a new folder');
    t.equal(checkOutPath(path.join(base, 'empty')), path.join(base, 'empty'), 'an existing empty folder');
    t.equal(
      checkOutPath(path.join(base, 'parent-link', 'new')),
      path.join(base, 'new'),
      'the parent’s links are resolved: the bundle lands where the real path says',
    );
    const refused: Array<[string, string, RegExp]> = [
      [
        path.join(base, 'link-to-folder'),
        'OUT_INVALID',
        /it is a symbolic link \(→ .*real\)\. Give --out a new folder, not a link/,
      ],
      [path.join(base, 'file'), 'OUT_INVALID', /it exists and is not a folder/],
      [
        path.join(base, 'full'),
        'OUT_NOT_EMPTY',
        /it is a folder that is not empty\. Give --out a new folder, so an earlier bundle is never mixed with this one/,
      ],
      [`${base}/x\0y`, 'OUT_INVALID', /it contains a NUL character/],
      ['/', 'OUT_INVALID', /it is the root folder/],
      ['   ', 'OUT_INVALID', /it is empty/],
    ];
    for (const [out, code, message] of refused) {
      t.throws(
        () => checkOutPath(out),
        { code, exitCode: 2, message, details: { option: '--out', out } },
        JSON.stringify(out),
      );
    }
    t.throws(
      () => checkOutPath(path.join(base, 'full'), '--bundle-out'),
      { message: /^--bundle-out ".*full" cannot be used/ },
      'the flag given is the one named',
    );
    t.same(fs.readdirSync(path.join(base, 'full')), ['a'], 'a refused folder is not touched');
  },
);

const report = (over: Partial<ReportInput> = {}): ReportInput => ({
  case: 'IR-7',
  bucket: 'vault',
  exportedAt: '2026-12-05T03:00:00.000Z',
  exportedBy: 'arn:aws:sts::1:assumed-role/C/alice',
  events: 2,
  head: { seq: 2, hash: 'ab'.repeat(32) },
  signingKeyArn: 'arn:aws:kms:us-east-1:1:key/k',
  keyFingerprint: 'cd'.repeat(32),
  retention: { modes: ['COMPLIANCE'], earliestRetainUntil: '2033-12-01T00:00:00.000Z' },
  evidence: [],
  timeline: [
    { seq: 1, time: 't1', actor: 'a', action: 'room.up', status: 'succeeded', resources: 'ec2:instance i-1' },
    {
      seq: 2,
      time: 't2',
      actor: 'a|b',
      action: 'evidence.snapshot',
      status: 'failed',
      resources: '<img src=x onerror=alert(1)>',
      error: 'AWS_AccessDenied: nope | *really*\nsecond line',
    },
  ],
  ...over,
});

t.test('report.md: a value from the record cannot break out of its table cell', async (t) => {
  const md = renderMarkdown(report());
  const row = md.split('\n').find((l) => l.startsWith('| 2 |'))!;
  t.equal(
    row,
    '| 2 | t2 | a\\|b | evidence.snapshot | failed: AWS\\_AccessDenied: nope \\| \\*really\\* second line | \\<img src=x onerror=alert(1)\\> |',
  );
  t.equal(row.split(/(?<!\\)\|/).length, 8, 'six cells, whatever the values hold');
  t.match(md, /\| Sealed \| not sealed \|/);
  t.match(md, /\| Object Lock \| COMPLIANCE, earliest retain-until 2033-12-01T00:00:00.000Z \|/);
  t.match(md, /No evidence items\./);
  t.match(
    renderMarkdown(report({ retention: { modes: [] }, sealedAt: 's', sealedBy: 'b' })),
    /\| Object Lock \| none \|[\s\S]*\| Sealed \| s by b \||\| Sealed \| s by b \|[\s\S]*\| Object Lock \| none \|/,
  );
  t.equal(escapeMarkdownCell('a\\|b'), 'a\\\\\\|b', 'a backslash cannot escape the pipe escape');
});

t.test('report.html: escaped values, no script, failed rows marked', async (t) => {
  const html = renderHtml(report({ case: 'IR-"7"' }));
  t.notMatch(html, /<img/);
  t.notMatch(html, /<script/i);
  t.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  t.match(html, /<title>Chain of custody — case IR-&quot;7&quot;<\/title>/);
  t.match(html, /<tr class="failed"><td>2<\/td>/);
  t.notMatch(html, /<tr class="failed"><td>1<\/td>/);
  t.match(html, /Content-Security-Policy" content="default-src 'none'/);
  t.equal(escapeHtml(`<a href='x'>&"`), '&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
  t.equal(escapeHtml(undefined), '');
});
