/**
 * A case written before the idempotency-key module and the one step recorder (test/fixtures/
 * pre-change-case/, made by its make.ts with cleanroom at PRE_CHANGE_COMMIT): room up, isolate, an
 * acquire that finished (attached) and one killed mid-way, exported. This version must verify the
 * bundle offline against the public key and the fingerprint handed over with it, and close's
 * readers of the record must see in it what the old version recorded. (Resuming and closing such a
 * case live: test/cli/pre-change-case.test.ts.)
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';
import { cli } from './helpers.js';
import type { RecordedEvent } from '../../src/domain/recorder.js';
import { foldEvidence } from '../../src/domain/evidence.js';
import { recordedSharingCopies } from '../../src/workflows/close/sharing.js';
import { recordedKeys, retiredInRecord } from '../../src/workflows/close/keys.js';
import { cyclesIn, detachKeyIn } from '../../src/evidence/volume.js';

const DIR = path.join(ROOT, 'test/fixtures/pre-change-case');
const BUNDLE = path.join(DIR, 'bundle');
const facts = JSON.parse(fs.readFileSync(path.join(DIR, 'facts.json'), 'utf8')) as {
  caseId: string;
  keyFingerprint: string;
  head: { seq: number; hash: string };
};
const events = fs
  .readdirSync(path.join(BUNDLE, 'events'))
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(BUNDLE, 'events', f), 'utf8')) as RecordedEvent);

/** No AWS endpoint, no credentials: the bundle is verified offline. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
}

t.test('the old bundle verifies offline: by public key and by fingerprint, pinned to its case and head', async (t) => {
  const pin = ['--expect-case', facts.caseId, '--expect-head', facts.head.hash];
  const byKey = await cli(
    undefined,
    ['custody', 'verify', '--bundle', BUNDLE, '--public-key', path.join(DIR, 'public-key.pem'), ...pin, '--json'],
    offlineEnv(),
  );
  t.equal(byKey.code, 0, byKey.stderr);
  t.same(
    { ok: byKey.json().ok, events: byKey.json().events, head: byKey.json().head },
    { ok: true, events: 46, head: facts.head },
  );
  const byFp = await cli(
    undefined,
    ['custody', 'verify', '--bundle', BUNDLE, '--key-fingerprint', facts.keyFingerprint, '--json'],
    offlineEnv(),
  );
  t.equal(byFp.code, 0, byFp.stderr);
  t.equal(byFp.json().ok, true);
});

t.test("close's readers of the record see what the old version recorded", async (t) => {
  // Evidence: two items attached by the finished acquire, two snapshotted by the killed one.
  const items = [...foldEvidence(events).values()];
  t.same(items.map((i) => i.state).sort(), ['attached', 'attached', 'snapshotting', 'snapshotting']);
  // Sharing copies: the finished acquire retired both of its own; the killed one made none yet.
  const copies = recordedSharingCopies(events);
  t.equal(copies.length, 2);
  t.ok(
    copies.every((c) => c.retired && c.account === '111111111111'),
    'both retired in the record',
  );
  // Temporary keys: the finished acquire's sharing key is retired in the record, the killed one's not.
  const shareKeys = events
    .filter((e) => e.action === 'acquire.share-key')
    .map((e) => e.outcome.details!['keyArn'] as string);
  t.equal(shareKeys.length, 2);
  const named = recordedKeys(events).map((k) => k.arn);
  for (const k of shareKeys) t.ok(named.includes(k), `close finds ${k} in the record`);
  t.same(
    shareKeys.map((k) => retiredInRecord(events, k)),
    [true, false],
  );
  // Working volumes: attach cycle 1 each, not detached; close's detach is cycle 1's.
  const attached = items.filter((i) => i.state === 'attached');
  for (const i of attached) {
    t.same(cyclesIn(events, i.evidenceId, i.volumeId!), { attaches: 1, detaches: 0 });
    t.same(detachKeyIn(events, i.evidenceId, i.volumeId!), {
      key: `evidence:detach:${i.evidenceId}:${i.volumeId}:1`,
      recordSaysAttached: true,
    });
  }
});
