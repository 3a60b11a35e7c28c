/**
 * The idempotency-key module (src/domain/idempotency-keys.ts): the keys of a real case written
 * before the module existed (test/fixtures/pre-change-case/) all parse and format back to the same
 * bytes; every family round-trips builder → parser; marks; and no key is written as a literal
 * anywhere else in src/.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import {
  KEY_FAMILIES,
  formatIdempotencyKey,
  idempotencyKeys as K,
  markKey,
  parseIdempotencyKey,
  type KeyFamily,
} from '../../src/domain/idempotency-keys.js';
import { ROOT } from '../../local-aws/local-aws.js';

const BUNDLE = path.join(ROOT, 'test/fixtures/pre-change-case/bundle');
const fixtureEvents = () =>
  fs
    .readdirSync(path.join(BUNDLE, 'events'))
    .sort()
    .map(
      (f) =>
        JSON.parse(fs.readFileSync(path.join(BUNDLE, 'events', f), 'utf8')) as {
          seq: number;
          action: string;
          idempotencyKey?: string;
        },
    );

t.test('every key of a case written before the change parses, and formats back to the same bytes', async (t) => {
  const events = fixtureEvents();
  t.equal(events.length, 46);
  const keyed = events.filter((e) => e.idempotencyKey !== undefined);
  t.ok(keyed.length >= 40, `${keyed.length} keyed events`);
  const families = new Set<KeyFamily>();
  for (const e of keyed) {
    const p = parseIdempotencyKey(e.idempotencyKey!);
    if (!t.ok(p, `seq ${e.seq} (${e.action}): ${e.idempotencyKey} parses`)) continue;
    families.add(p!.family);
    t.equal(formatIdempotencyKey(p!), e.idempotencyKey, `seq ${e.seq}: same bytes back`);
  }
  t.same([...families].sort(), [
    'acquire.forensic-copy',
    'acquire.preserved',
    'acquire.run',
    'acquire.share',
    'acquire.share-key',
    'acquire.share-key-retire',
    'acquire.sharing-copy',
    'acquire.sharing-copy-retire',
    'acquire.snapshot',
    'case-key',
    'evidence.attach',
    'evidence.readonly',
    'evidence.volume',
    'isolate.complete',
    'isolate.step',
    'room.deploy.outcome',
    'room.deploy.start',
    'room.guest-tools',
    'room.revoke',
  ]);
  const acquired = parseIdempotencyKey(keyed.find((e) => e.action === 'evidence.attach')!.idempotencyKey!)!;
  t.match(acquired.fields, { evidenceId: /^ev-/, volumeId: /^vol-/, cycle: '1' });
});

/** One sample per family: the builder call, the key it must make (today's bytes), the fields. */
const SAMPLES: Record<KeyFamily, [string, Record<string, string>]> = {
  'case-key': [
    K.caseKey('arn:aws:kms:us-east-1:123456789012:key/k1'),
    { keyArn: 'arn:aws:kms:us-east-1:123456789012:key/k1' },
  ],
  'lease.takeover': [
    K.leaseTakeover('arn:aws:sts::1:assumed-role/r/s|host|42|ab', 3),
    { owner: 'arn:aws:sts::1:assumed-role/r/s|host|42|ab', generation: '3' },
  ],
  'lock.takeover': [
    K.lockTakeover('instance:i-1', 'arn:aws:states:us-east-1:1:execution:m:e|fn|req', 2),
    { kind: 'instance', name: 'i-1', owner: 'arn:aws:states:us-east-1:1:execution:m:e|fn|req', generation: '2' },
  ],
  'vault-lock.takeover': [
    K.vaultLockTakeover('nacl:vpc-1@123456789012.us-east-1', 'arn:aws:states:us-east-1:1:execution:m:e|fn|req', 4),
    {
      kind: 'nacl',
      name: 'vpc-1@123456789012.us-east-1',
      owner: 'arn:aws:states:us-east-1:1:execution:m:e|fn|req',
      generation: '4',
    },
  ],
  'room.guest-tools': [K.room.guestTools('d1'), { digest: 'd1' }],
  'room.session-found': [K.room.sessionFound('carol-0a1b2c'), { sessionId: 'carol-0a1b2c' }],
  'room.session.start': [K.room.sessionStart('alice-0a1b2c3d4e5f'), { sessionId: 'alice-0a1b2c3d4e5f' }],
  'room.session': [K.room.session('alice-0a1b2c3d4e5f'), { sessionId: 'alice-0a1b2c3d4e5f' }],
  'room.deploy.start': [
    K.room.deployStart('arn:aws:cloudformation:us-east-1:1:changeSet/cs/u'),
    { changeSetId: 'arn:aws:cloudformation:us-east-1:1:changeSet/cs/u' },
  ],
  'room.deploy.outcome': [K.room.deployOutcome('arn:cs'), { changeSetId: 'arn:cs' }],
  'room.discard-review': [K.room.discardReview('arn:stack'), { stackId: 'arn:stack' }],
  'room.revoke': [K.room.revoke('sg-1', ['sgr-1', 'sgr-2']), { groupId: 'sg-1', ruleIds: 'sgr-1,sgr-2' }],
  'room.down': [
    K.room.down('arn:aws:cloudformation:us-east-1:1:stack/s/u'),
    { stackId: 'arn:aws:cloudformation:us-east-1:1:stack/s/u' },
  ],
  'room.down.detach-unknown': [
    K.room.detachUnknown('vol-1', '2026-01-01T00:00:00.000Z'),
    { volumeId: 'vol-1', attachTime: '2026-01-01T00:00:00.000Z' },
  ],
  'isolate.complete': [K.isolate.complete('i-1'), { instanceId: 'i-1' }],
  'isolate.complete.of': [K.isolate.complete('i-1', 42), { instanceId: 'i-1', isolationSeq: '42' }],
  'isolate.reapplied': [
    K.isolate.reapplied('i-1', 'swap-groups', 'abc'),
    { instanceId: 'i-1', step: 'swap-groups', digest: 'abc' },
  ],
  'isolate.redone': [K.isolate.redone('i-1', 'stop', 17), { instanceId: 'i-1', step: 'stop', priorSeq: '17' }],
  'isolate.step': [K.isolate.step('i-1', 'state'), { instanceId: 'i-1', step: 'state' }],
  'isolate.release': [K.isolate.release('i-1', 'groups'), { instanceId: 'i-1', step: 'groups' }],
  'isolate.release.of': [
    K.isolate.release('i-1', 'groups', 42),
    { instanceId: 'i-1', isolationSeq: '42', step: 'groups' },
  ],
  'acquire.snapshot': [K.acquire.snapshot('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'acquire.sharing-copy': [K.acquire.sharingCopy('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'acquire.share': [K.acquire.share('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'acquire.forensic-copy': [K.acquire.forensicCopy('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'acquire.preserved': [K.acquire.preserved('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'acquire.sharing-copy-retire': [
    K.acquire.retireSharingCopy('ev-1', 'snap-1'),
    { evidenceId: 'ev-1', snapshotId: 'snap-1' },
  ],
  'acquire.share-key': [K.acquire.shareKey('k1'), { keyId: 'k1' }],
  'acquire.share-key-retire': [K.acquire.shareKeyRetire('k1'), { keyId: 'k1' }],
  'acquire.share-key-kept': [K.acquire.shareKeyKept('k1', 'd1'), { keyId: 'k1', digest: 'd1' }],
  'acquire.retire-failed': [K.acquire.retireFailed('AWS_Throttling'), { code: 'AWS_Throttling' }],
  'acquire.run': [K.acquire.run('d1'), { digest: 'd1' }],
  'evidence.volume': [K.evidence.volume('ev-1', 'vol-1'), { evidenceId: 'ev-1', volumeId: 'vol-1' }],
  'evidence.attach': [K.evidence.attach('ev-1', 'vol-1', 2), { evidenceId: 'ev-1', volumeId: 'vol-1', cycle: '2' }],
  'evidence.detach': [K.evidence.detach('ev-1', 'vol-1', 2), { evidenceId: 'ev-1', volumeId: 'vol-1', cycle: '2' }],
  'evidence.readonly': [
    K.evidence.readOnly('ev-1', 'vol-1', 1, 'not-confirmed'),
    { evidenceId: 'ev-1', volumeId: 'vol-1', cycle: '1', status: 'not-confirmed' },
  ],
  'evidence.room-hash': [
    K.evidence.roomHash('ev-1', 'vol-1', 2, 'MISMATCH'),
    { evidenceId: 'ev-1', volumeId: 'vol-1', cycle: '2', result: 'MISMATCH' },
  ],
  'evidence.failed': [
    K.evidence.failed('ev-1', 'copy', 'AWS_Throttling'),
    { evidenceId: 'ev-1', step: 'copy', code: 'AWS_Throttling' },
  ],
  'acquire.hash': [K.acquire.hash('ev-1', 'snap-1'), { evidenceId: 'ev-1', snapshotId: 'snap-1' }],
  'evidence.hash-check': [
    K.evidence.hashCheck('ev-1', 'snap-1', 'd1'),
    { evidenceId: 'ev-1', snapshotId: 'snap-1', digest: 'd1' },
  ],
  'evidence.export-start': [
    K.evidence.exportStart('ev-1', 'VXBsb2FkIElE.x_y-z'),
    { evidenceId: 'ev-1', uploadId: 'VXBsb2FkIElE.x_y-z' },
  ],
  'evidence.export.vault': [
    K.evidence.exportToVault('ev-1', 'VXBsb2FkIElE.x_y-z'),
    { evidenceId: 'ev-1', uploadId: 'VXBsb2FkIElE.x_y-z' },
  ],
  'evidence.export.file': [K.evidence.exportToFile('ev-1', 'd1'), { evidenceId: 'ev-1', digest: 'd1' }],
  'close.verify': [K.close.verify(), {}],
  'close.delete-stack': [K.close.deleteStack(), {}],
  'close.retain-snapshot': [K.close.retainSnapshot('snap-1'), { snapshotId: 'snap-1' }],
  'close.lock-snapshot': [K.close.lockSnapshot('snap-1'), { snapshotId: 'snap-1' }],
  'close.written-check': [K.close.writtenCheck('ev-1', 'vol-1'), { evidenceId: 'ev-1', volumeId: 'vol-1' }],
  'close.delete-volume': [K.close.deleteVolume('ev-1', 'vol-1'), { evidenceId: 'ev-1', volumeId: 'vol-1' }],
  'close.schedule-key-deletion': [K.close.scheduleKeyDeletion('k1'), { keyId: 'k1' }],
  'close.incomplete': [K.close.incomplete('d1'), { digest: 'd1' }],
  'case.close': [K.close.closed(), {}],
  'automation.run': [K.automation.run('20261205T120000Z-1a2b3c'), { runId: '20261205T120000Z-1a2b3c' }],
  'automation.approval': [
    K.automation.approval('arn:aws:states:us-east-1:123456789012:execution:cleanroom-response:GD-1'),
    { executionArn: 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-response:GD-1' },
  ],
  'automation.approval-instance': [
    K.automation.approvalOfInstance('i-1', 'arn:aws:states:us-east-1:1:execution:m:e'),
    { instanceId: 'i-1', executionArn: 'arn:aws:states:us-east-1:1:execution:m:e' },
  ],
  'automation.start': [
    K.automation.start('guardduty', '0123456789abcdef', 'i-1'),
    { source: 'guardduty', findingDigest: '0123456789abcdef', instanceId: 'i-1' },
  ],
  'automation.approval-request': [
    K.automation.approvalRequest('i-1', 'arn:aws:states:us-east-1:1:execution:m:e'),
    { instanceId: 'i-1', executionArn: 'arn:aws:states:us-east-1:1:execution:m:e' },
  ],
  'memory.capture-start': [
    K.memory.captureStart('i-1', '20260101T000000Z'),
    { instanceId: 'i-1', time: '20260101T000000Z' },
  ],
  'memory.capture': [K.memory.capture('i-1', '20260101T000000Z'), { instanceId: 'i-1', time: '20260101T000000Z' }],
  'memory.upload-abort': [K.memory.uploadAbort('up.1_x'), { uploadId: 'up.1_x' }],
  'automation.notify': [
    K.automation.notify('succeeded', 'i-1', 'arn:aws:states:us-east-1:1:execution:m:e'),
    { outcome: 'succeeded', instanceId: 'i-1', executionArn: 'arn:aws:states:us-east-1:1:execution:m:e' },
  ],
};

/** The bytes each family wrote before the module existed (the form of a lasting contract). */
const TODAY: Partial<Record<KeyFamily, string>> = {
  'room.revoke': 'room:revoke:sg-1:sgr-1,sgr-2',
  'room.down.detach-unknown': 'room-down:detach:unknown:vol-1:2026-01-01T00:00:00.000Z',
  'isolate.reapplied': 'isolate:i-1:swap-groups:reapplied:abc',
  'isolate.step': 'isolate:i-1:state',
  'isolate.release': 'isolate-release:i-1:groups',
  'isolate.complete': 'isolate:i-1:complete',
  'lease.takeover': 'lease:takeover:arn:aws:sts::1:assumed-role/r/s|host|42|ab:3',
  'evidence.readonly': 'evidence:readonly:ev-1:vol-1:1:not-confirmed',
  'evidence.room-hash': 'evidence:room-hash:ev-1:vol-1:2:MISMATCH',
  'evidence.failed': 'evidence:failed:ev-1:copy:AWS_Throttling',
  'acquire.share-key-kept': 'acquire:share-key-kept:k1:d1',
  'acquire.retire-failed': 'acquire:retire-failed:AWS_Throttling',
  'close.verify': 'close:verify',
  'close.delete-stack': 'close:delete-stack',
  'close.schedule-key-deletion': 'close:schedule-key-deletion:k1',
  'close.incomplete': 'close:incomplete:d1',
  'case.close': 'case.close',
  'room.discard-review': 'room:discard-review:arn:stack',
};

t.test('each family round-trips builder → parser → the same key', async (t) => {
  t.same(
    Object.keys(SAMPLES).sort(),
    Object.keys(KEY_FAMILIES).sort(),
    'a sample for every family (a new family needs one here)',
  );
  for (const [family, [key, fields]] of Object.entries(SAMPLES) as Array<
    [KeyFamily, [string, Record<string, string>]]
  >) {
    t.same(parseIdempotencyKey(key), { family, fields }, `${family}: ${key}`);
    t.equal(formatIdempotencyKey({ family, fields }), key);
    if (TODAY[family]) t.equal(key, TODAY[family], `${family}: today's bytes`);
  }
});

t.test('marks: failed, failed with a code, timeout, unsupported; unknown keys', async (t) => {
  t.same(parseIdempotencyKey(markKey(K.room.revoke('sg-1', ['sgr-1']), 'failed')), {
    family: 'room.revoke',
    fields: { groupId: 'sg-1', ruleIds: 'sgr-1' },
    mark: 'failed',
  });
  t.equal(K.isolate.failed('i-1', 'protect', 'AWS_X'), 'isolate:i-1:protect:failed:AWS_X');
  t.same(parseIdempotencyKey('isolate:i-1:protect:failed:AWS_X'), {
    family: 'isolate.step',
    fields: { instanceId: 'i-1', step: 'protect' },
    mark: 'failed',
    code: 'AWS_X',
  });
  t.equal(K.isolate.failed('i-1', 'stop', 'STOP_FAILED', 17), 'isolate:i-1:stop:redone-after:17:failed:STOP_FAILED');
  t.same(parseIdempotencyKey('isolate:i-1:stop:redone-after:17:failed:STOP_FAILED'), {
    family: 'isolate.redone',
    fields: { instanceId: 'i-1', step: 'stop', priorSeq: '17' },
    mark: 'failed',
    code: 'STOP_FAILED',
  });
  t.same(parseIdempotencyKey('close:delete-volume:ev-1:vol-1:failed:DETACH_FAILED'), {
    family: 'close.delete-volume',
    fields: { evidenceId: 'ev-1', volumeId: 'vol-1' },
    mark: 'failed',
    code: 'DETACH_FAILED',
  });
  t.same(parseIdempotencyKey('evidence:detach:ev-1:vol-1:3:failed:INTERNAL')?.mark, 'failed');
  t.equal(markKey(K.room.deployOutcome('arn:cs/1'), 'timeout'), 'room:deploy-outcome:arn:cs/1:timeout');
  t.same(parseIdempotencyKey('room:deploy-outcome:arn:cs/1:timeout'), {
    family: 'room.deploy.outcome',
    fields: { changeSetId: 'arn:cs/1' },
    mark: 'timeout',
  });
  t.same(parseIdempotencyKey('close:lock-snapshot:snap-1:unsupported'), {
    family: 'close.lock-snapshot',
    fields: { snapshotId: 'snap-1' },
    mark: 'unsupported',
  });
  t.same(parseIdempotencyKey('room-down:detach:unknown:vol-1::failed'), {
    family: 'room.down.detach-unknown',
    fields: { volumeId: 'vol-1', attachTime: '' },
    mark: 'failed',
  });
  for (const k of ['', 'step:1', 'acquire:snapshot:ev-1', 'evidence:attach:ev-1:vol-1:x', 'close:verify:extra'])
    t.equal(parseIdempotencyKey(k), undefined, `${JSON.stringify(k)} is no key of cleanroom`);
});

/** A line that makes a key by hand: `idempotencyKey: '…'` / `` `…` ``, a literal as a step recorder's key, or a cast to a key. */
const makesKeyByHand = (line: string) =>
  /idempotencyKey:\s*[`'"]/.test(line) ||
  /\.(record|recordEvidence|guard)\(\s*[`'"]/.test(line) ||
  /as IdempotencyKey\b/.test(line);

t.test('no idempotency key is written as a literal outside the module', async (t) => {
  for (const l of [
    'idempotencyKey: `room:down:${id}`,',
    "idempotencyKey: 'close:verify',",
    "await run.record(`acquire:run:${d}`, 'acquire.run', [], o);",
    'const k = `x:${y}` as IdempotencyKey;',
  ])
    t.ok(makesKeyByHand(l), `caught: ${l}`);
  for (const l of [
    'idempotencyKey: idempotencyKeys.room.down(id),',
    "await run.record(keys.step(i, 'state'), 'isolate.record-state', [], o);",
  ])
    t.notOk(makesKeyByHand(l), `allowed: ${l}`);
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.ts') && !p.endsWith(path.join('domain', 'idempotency-keys.ts'))) {
        fs.readFileSync(p, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (makesKeyByHand(line)) offenders.push(`${path.relative(ROOT, p)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  t.same(offenders, [], 'build keys with idempotencyKeys.* (src/domain/idempotency-keys.ts)');
});
