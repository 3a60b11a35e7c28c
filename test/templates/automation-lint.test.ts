// cfn-lint and checkov on templates/automation.yaml: both clean, every suppression justified, and
// both shown to fail on a broken copy (so a checker that silently stopped working would not pass).
import t from 'tap';
import { yamlParse } from 'yaml-cfn';
import { cfnLint, checkov, setUpCheckers, templateUnderTest } from './lint-tools.js';

const { file: TEMPLATE_PATH, text: TEMPLATE, brokenCopy } = templateUnderTest('automation.yaml');
setUpCheckers();

t.test('cfn-lint: no findings', async (t) => {
  const r = cfnLint(TEMPLATE_PATH);
  t.equal(r.out.trim(), '', 'no findings printed');
  t.equal(r.status, 0, 'exit 0');
});

t.test('cfn-lint fails on a function with a runtime Lambda does not have', async (t) => {
  const r = cfnLint(brokenCopy(t, 'Runtime: nodejs22.x', 'Runtime: nodejs7.x'));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /nodejs7\.x/, 'the finding names the runtime');
});

t.test('checkov: every check passes', async (t) => {
  const r = checkov(TEMPLATE_PATH);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /Failed checks: 0/);
});

t.test('checkov fails when the topic is not encrypted', async (t) => {
  const r = checkov(brokenCopy(t, '      KmsMasterKeyId: alias/aws/sns\n', ''));
  t.not(r.status, 0, 'non-zero exit');
  t.match(r.out, /CKV_AWS_26/, 'the SNS encryption check is named');
});

t.test('every suppression in the template is justified', async (t) => {
  const doc = yamlParse(TEMPLATE) as {
    Resources: Record<
      string,
      {
        Metadata?: {
          checkov?: { skip?: { id?: string; comment?: string }[] };
          'cfn-lint'?: { config?: { ignore_checks?: string[] } };
        };
      }
    >;
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
  // cfn-lint ignores: each with a comment right above it in the template.
  const ignored = Object.entries(doc.Resources).filter(([, r]) => r.Metadata?.['cfn-lint']?.config?.ignore_checks);
  for (const [id] of ignored) {
    const at = TEMPLATE.indexOf(`  ${id}:\n`);
    const block = TEMPLATE.slice(at, TEMPLATE.indexOf('ignore_checks', at));
    t.match(block, /#\s*\S.{30,}/, `${id}: the cfn-lint ignore says why`);
  }
});
