/**
 * Content hashes end to end, the CLI as a child process against the local AWS (through the fault
 * proxy, to count calls): `acquire` hashes the forensic copy of every volume through the EBS direct
 * APIs and the source snapshot in the source account, they are equal, and the hash is the SHA-256
 * of the disk's bytes computed independently here; `evidence list` carries the fields; `evidence
 * hash` recomputes (exit 0, recorded); an unknown evidence id is exit 2 with no EC2/EBS call.
 * Needs the local AWS's ebs_snapshot_content patch (EC2 snapshots hold the volume's blocks).
 * 1 GiB volumes: a hash reads every byte of the volume's size.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { useLocalAws, writeVolumeBlock } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { SOURCE_ACCOUNT, SOURCE_ROLE, ec2In, instanceWithVolumes } from '../workflows/acquire/fixtures.js';
import { custodyEvents, runCli } from './acquire-helpers.js';

const GIB = 2 ** 30;
const BLOCK = 524288;

/** SHA-256 of a 1 GiB disk of zeros with these blocks written (what sha256sum of the device prints). */
function diskSha256(blocks: Map<number, Buffer>): string {
  const h = createHash('sha256');
  const zero = Buffer.alloc(BLOCK);
  for (let i = 0; i < GIB / BLOCK; i++) h.update(blocks.get(i) ?? zero);
  return h.digest('hex');
}

t.test('acquire records the content hashes; evidence hash recomputes them; bad ids are refused', async (t) => {
  const aws = await useLocalAws(t);
  const proxy = await startFaultProxy(aws);
  t.teardown(() => proxy.close());
  const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
  const sourceEc2 = ec2In(aws.endpoint, { roleArn: SOURCE_ROLE });
  t.equal((await runCli(env, ['vault', 'init', '--json'])).code, 0);

  // A compromised instance: a 1 GiB root and a 1 GiB data volume with two blocks written.
  const fx = await instanceWithVolumes(sourceEc2, 'us-east-1b', [1], 1);
  const data = fx.volumeIds[1]!;
  const written = new Map<number, Buffer>([
    [3, Buffer.alloc(BLOCK, 'web shell ')],
    [2047, Buffer.alloc(BLOCK, 0xab)],
  ]);
  for (const [blockIndex, bytes] of written)
    await writeVolumeBlock(aws.endpoint, { account: SOURCE_ACCOUNT, volumeId: data, blockIndex, data: bytes });

  const r = await runCli(env, [
    'acquire',
    '--case',
    'IR-hash-1',
    '--instance',
    fx.instanceId,
    '--source-role-arn',
    SOURCE_ROLE,
    '--no-attach',
    '--json',
  ]);
  t.equal(r.code, 0, r.stderr);
  const doc = r.json();
  t.equal(doc.evidence.length, 2);
  for (const e of doc.evidence) {
    t.match(e.sha256, /^[0-9a-f]{64}$/, `${e.evidenceId}: sha256`);
    t.match(e.merkleRoot, /^[0-9a-f]{64}$/);
    t.equal(e.sizeBytes, GIB);
    t.equal(e.blockSize, BLOCK);
    t.match(e.hashedAt, /^\d{4}-\d\d-\d\dT/);
    t.same(e.hashTool, { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' });
    t.equal(e.sourceHash.status, 'equal', `${e.evidenceId}: the cross-account copy is bit-identical to the source`);
    t.equal(e.sourceHash.snapshotId, e.sourceSnapshotId);
    t.equal(e.sourceHash.sha256, e.sha256);
  }
  const item = doc.evidence.find((e: any) => e.sourceVolumeId === data);
  t.equal(item.sha256, diskSha256(written), 'the acquisition hash is the SHA-256 of the disk, computed independently');
  t.equal(item.blocksRead, 2, 'the two written blocks were read; the rest are zeros');
  const root = doc.evidence.find((e: any) => e.sourceVolumeId !== data);
  t.equal(root.sha256, diskSha256(new Map()), 'an unwritten disk hashes as 1 GiB of zeros');
  t.match(r.stderr, /hashing/, 'hash progress on stderr');

  const events = await custodyEvents('IR-hash-1');
  t.equal(events.filter((e) => e.action === 'evidence.hash').length, 2, 'one evidence.hash per item');

  // evidence list carries the fields, and the human table a short sha256.
  const list = await runCli(env, ['evidence', 'list', '--case', 'IR-hash-1', '--json']);
  t.equal(list.code, 0, list.stderr);
  const listed = list.json().evidence.find((e: any) => e.evidenceId === item.evidenceId);
  t.match(listed, {
    sha256: item.sha256,
    merkleRoot: item.merkleRoot,
    sizeBytes: GIB,
    sourceHash: { status: 'equal' },
  });
  const human = await runCli(env, ['evidence', 'list', '--case', 'IR-hash-1']);
  t.match(human.stdout, new RegExp(`${item.sha256.slice(0, 16)}… \\(= source\\)`));

  // evidence hash: recomputed from the forensic snapshot, equal, recorded.
  const check = await runCli(env, ['evidence', 'hash', '--case', 'IR-hash-1', '--evidence', item.evidenceId, '--json']);
  t.equal(check.code, 0, check.stderr);
  const c = check.json();
  t.equal(c.ok, true);
  t.match(c.evidence[0], { evidenceId: item.evidenceId, result: 'equal', sha256: item.sha256 });
  const all = await runCli(env, ['evidence', 'hash', '--case', 'IR-hash-1', '--all']);
  t.equal(all.code, 0, all.stderr);
  t.match(all.stdout, /EQUAL to the acquisition hash[\s\S]*EQUAL to the acquisition hash/);
  const after = await custodyEvents('IR-hash-1');
  t.equal(after.filter((e) => e.action === 'evidence.hash.check').length, 3, 'every recomputation is recorded');

  // An unknown evidence id: exit 2, named, and no EC2/EBS call at all (the record is read first).
  const from = proxy.calls.length;
  const bad = await runCli(env, ['evidence', 'hash', '--case', 'IR-hash-1', '--evidence', 'ev-nope', '--json']);
  t.equal(bad.code, 2, bad.stderr);
  t.equal(bad.json().error.code, 'UNKNOWN_EVIDENCE');
  t.match(bad.stderr, /Case IR-hash-1 has no evidence ev-nope/);
  const calls = proxy.calls.slice(from).map((x) => x.service);
  t.notOk(
    calls.some((s) => s === 'ebs' || s === 'ec2'),
    `no EC2/EBS call after the lookup (${[...new Set(calls)].join(', ')})`,
  );
  const neither = await runCli(env, ['evidence', 'hash', '--case', 'IR-hash-1']);
  t.equal(neither.code, 2);
  t.match(neither.stderr, /--evidence EID .* or --all/);

  // SIGKILL while the forensic copy is being hashed (--no-source-hash: every block read is the
  // forensic hash's), then the same command: hashed again, one evidence.hash, the disk's SHA-256.
  const one = await instanceWithVolumes(sourceEc2, 'us-east-1b', [], 1);
  await writeVolumeBlock(aws.endpoint, {
    account: SOURCE_ACCOUNT,
    volumeId: one.volumeIds[0]!,
    blockIndex: 5,
    data: written.get(3)!,
  });
  const args = ['acquire', '--case', 'IR-hash-kill', '--instance', one.instanceId, '--source-role-arn', SOURCE_ROLE];
  let killedAt = '';
  const killed = await runCli(env, [...args, '--no-attach', '--no-source-hash', '--json'], (child) =>
    proxy.add({
      service: 'ebs',
      when: (call) => {
        if (killedAt || !/^GET \/snapshots\/[^/]+\/blocks\/\d+/.test(call.action)) return false;
        killedAt = call.action;
        child.kill('SIGKILL');
        return true;
      },
      fault: { kind: 'delay', ms: 1 },
    }),
  );
  proxy.clear();
  t.equal(killed.signal, 'SIGKILL', `killed during the hash (${killedAt})`);
  t.equal(
    (await custodyEvents('IR-hash-kill')).filter((e) => e.action === 'evidence.hash').length,
    0,
    'nothing recorded for the killed hash',
  );
  const rerun = await runCli(env, [...args, '--no-attach', '--json']);
  t.equal(rerun.code, 0, rerun.stderr);
  const ev = rerun.json().evidence[0];
  t.equal(ev.sha256, diskSha256(new Map([[5, written.get(3)!]])), 'the same hash as the disk');
  t.equal(ev.sourceHash.status, 'equal');
  t.equal((await custodyEvents('IR-hash-kill')).filter((e) => e.action === 'evidence.hash').length, 1, 'recorded once');
});
