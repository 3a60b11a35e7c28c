/**
 * The evidence schemas' examples: every valid example validates, every invalid one fails — and
 * fails for the reason its name gives. The chain examples (schema-valid events that break the
 * chain) are run through the ChainChecker and must produce the finding their folder names.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_DIR, eventSchemaErrors, manifestSchemaErrors } from '../../src/custody/schema.js';
import { ChainChecker, Findings } from '../../src/custody/verify.js';

const ex = path.join(SCHEMA_DIR, 'examples');
const read = (...p: string[]) => JSON.parse(fs.readFileSync(path.join(ex, ...p), 'utf8'));
const files = (...p: string[]) =>
  fs
    .readdirSync(path.join(ex, ...p))
    .filter((f) => f.endsWith('.json'))
    .sort();

/** What each invalid example must be refused for: a fragment of ajv's error text. */
const WHY: Record<string, RegExp> = {
  'custody-event/invalid/missing-actor.json': /must have required property 'actor'/,
  'custody-event/invalid/hash-not-hex.json': /\/hash must match pattern/,
  'custody-event/invalid/seq-zero.json': /\/seq must be >= 1/,
  'custody-event/invalid/unknown-outcome-status.json': /\/outcome\/status must be equal to one of the allowed values/,
  'custody-event/invalid/extra-property.json': /must NOT have additional properties \(comment\)/,
  'custody-event/invalid/time-not-date-time.json': /\/time must match format "date-time"/,
  'custody-event/invalid/schema-wrong-version.json': /\/schema must be equal to constant/,
  'custody-event/invalid/resource-without-id.json': /\/resources\/0 must have required property 'id'/,
  'custody-event/invalid/via-without-code-sha256.json': /\/via must have required property 'codeSha256'/,
  'case-manifest/invalid/missing-signature.json': /must have required property 'signature'/,
  'case-manifest/invalid/signature-wrong-algorithm.json': /\/signature\/algorithm must be equal to constant/,
  'case-manifest/invalid/signature-digest-mode.json': /\/signature\/messageType must be equal to constant/,
  'case-manifest/invalid/evidence-without-id.json': /\/evidence\/0 must have required property 'evidenceId'/,
  'case-manifest/invalid/evidence-unknown-state.json':
    /\/evidence\/0\/state must be equal to one of the allowed values/,
  'case-manifest/invalid/head-hash-short.json': /\/head\/hash must match pattern/,
  'case-manifest/invalid/source-hash-unknown-status.json':
    /\/evidence\/0\/sourceHash\/status must be equal to one of the allowed values/,
  'case-manifest/invalid/sha256-not-hex.json': /\/evidence\/0\/sha256 must match pattern/,
};

t.test('valid examples validate', async (t) => {
  for (const f of files('custody-event/valid')) t.same(eventSchemaErrors(read('custody-event/valid', f)), [], f);
  for (const f of files('case-manifest/valid')) t.same(manifestSchemaErrors(read('case-manifest/valid', f)), [], f);
});

t.test('invalid examples fail, for the reason their name gives', async (t) => {
  const all = [
    ...files('custody-event/invalid').map((f) => `custody-event/invalid/${f}`),
    ...files('case-manifest/invalid').map((f) => `case-manifest/invalid/${f}`),
  ];
  t.same(all.sort(), Object.keys(WHY).sort(), 'every invalid example has its reason listed');
  for (const rel of all) {
    const errors = rel.startsWith('custody-event') ? eventSchemaErrors(read(rel)) : manifestSchemaErrors(read(rel));
    t.match(errors.join('\n'), WHY[rel]!, rel);
  }
});

t.test('chain examples produce the finding their folder names', async (t) => {
  const expected: Record<string, string[]> = {
    valid: [],
    'prev-hash-mismatch': ['CHAIN_LINK_MISMATCH'],
    'hash-mismatch': ['HASH_MISMATCH'],
    'sequence-gap': ['SEQUENCE_GAP'],
    'not-canonical': ['NOT_CANONICAL'],
  };
  t.same(fs.readdirSync(path.join(ex, 'chains')).sort(), Object.keys(expected).sort());
  for (const [dir, codes] of Object.entries(expected)) {
    const findings = new Findings();
    const chain = new ChainChecker('IR-2026-0001', findings);
    for (const f of files('chains', dir))
      chain.add(Number(f.replace('.json', '')), fs.readFileSync(path.join(ex, 'chains', dir, f)));
    t.same([...new Set(findings.list.map((x) => x.code))], codes, dir);
  }
});
