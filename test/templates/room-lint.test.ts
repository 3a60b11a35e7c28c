// cfn-lint and checkov on templates/room.yaml: both clean, and both shown to fail on a broken copy
// (so a checker that silently stopped working would not pass this file).
import t from 'tap';
import { yamlParse } from 'yaml-cfn';
import { cfnLint, checkov, setUpCheckers, templateUnderTest } from './lint-tools.js';

const { file: TEMPLATE_PATH, text: TEMPLATE, brokenCopy } = templateUnderTest('room.yaml');
setUpCheckers();

t.test('cfn-lint: no findings', async (t) => {
  const r = cfnLint(TEMPLATE_PATH);
  t.equal(r.out.trim(), '', 'no findings printed');
  t.equal(r.status, 0, 'exit 0');
});

t.test('cfn-lint fails on a template that refers to a missing resource', async (t) => {
  const r = cfnLint(brokenCopy(t, 'RouteTableId: !Ref RouteTable', 'RouteTableId: !Ref NoSuchRouteTable'));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /NoSuchRouteTable/, 'the finding names the bad reference');
});

t.test('checkov: every check passes', async (t) => {
  const r = checkov(TEMPLATE_PATH);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /Failed checks: 0/);
});

t.test('checkov fails when the launch template allows IMDSv1', async (t) => {
  const r = checkov(brokenCopy(t, 'HttpTokens: required', 'HttpTokens: optional'));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /CKV_AWS_79/, 'the IMDSv1 check is named');
});

t.test('every checkov skip in the template is justified', async (t) => {
  // Skips live in the resource's Metadata (checkov: skip: [{id, comment}]); each needs a reason.
  const doc = yamlParse(TEMPLATE) as {
    Resources: Record<string, { Metadata?: { checkov?: { skip?: { id?: string; comment?: string }[] } } }>;
  };
  const skips = Object.entries(doc.Resources).flatMap(([id, r]) =>
    (r.Metadata?.checkov?.skip ?? []).map((s) => ({ resource: id, ...s })),
  );
  for (const s of skips) {
    t.match(s.id, /^CKV2?_AWS_\d+$/, `${s.resource}: skip names a check`);
    t.ok((s.comment ?? '').trim().length >= 30, `${s.resource}: skip of ${s.id} says why it does not apply`);
  }
  const r = checkov(TEMPLATE_PATH, '-o', 'json');
  const summary = (JSON.parse(r.stdout) as { summary: { skipped: number; failed: number } }).summary;
  t.equal(summary.skipped, skips.length, 'checkov skipped exactly the justified checks');
  t.equal(summary.failed, 0);
});
