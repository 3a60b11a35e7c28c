/**
 * A second event under a sequence number already checked — an alias key in the vault
 * (`custody/23.json` beside `custody/0000000023.json`) or an alias file in a bundle — is never
 * chained: it is a SEQUENCE_DUPLICATE finding, and the head stays where the record ends.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_DIR } from '../../src/custody/schema.js';
import { ChainChecker, Findings } from '../../src/custody/verify.js';
import { canonicalize } from '../../src/custody/canonical.js';
import { eventHash, type CustodyEvent } from '../../src/custody/event.js';

const dir = path.join(SCHEMA_DIR, 'examples', 'chains', 'valid');
const seqs = fs
  .readdirSync(dir)
  .map((f) => Number(f.replace('.json', '')))
  .sort((a, b) => a - b);
const bytes = (seq: number) => fs.readFileSync(path.join(dir, `${seq}.json`));

t.test('a self-consistent second event under the same number, or one out of order, is a finding', async (t) => {
  t.ok(seqs.length >= 2, 'the valid chain example has events');
  const findings = new Findings();
  const chain = new ChainChecker('IR-2026-0001', findings);
  for (const s of seqs) chain.add(s, bytes(s));
  const head = chain.head();
  t.same(findings.list, [], 'the genuine chain verifies');

  // A forgery of event 2: same place in the chain (its prevHash), its own hash recomputed.
  const e = JSON.parse(bytes(2).toString('utf8')) as CustodyEvent;
  const { hash: _h, ...body } = { ...e, action: 'forged.action' };
  t.equal(
    chain.add(2, canonicalize({ ...body, hash: eventHash(body as CustodyEvent) })),
    undefined,
    'the duplicate is not returned as an event',
  );
  chain.add(1, bytes(1));
  t.same(
    findings.list.map((f) => [f.code, f.seq]),
    [
      ['SEQUENCE_DUPLICATE', 2],
      ['SEQUENCE_DUPLICATE', 1],
    ],
  );
  t.same(chain.head(), head, 'the head is still the last event, not the duplicate');
});
