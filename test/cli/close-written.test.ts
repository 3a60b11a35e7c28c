/**
 * `cleanroom case close` catching a working volume that was written to, end to end against the
 * local AWS: the source disks hold content, the acquisition attaches working volumes made from the
 * evidence snapshots, then something writes two blocks to one of them (the local AWS's test-only
 * writeVolumeBlock stands in for a process in the room writing to the disk; docs/local-aws.md).
 * Close proves the other volume unchanged and deletes it — no --accept-unverified — and keeps the
 * written one, tagged, naming the blocks that changed (exit 3); --accept-written then closes.
 */
import t from 'tap';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { SOURCE_ACCOUNT } from '../workflows/acquire/fixtures.js';
import { SRC, acquiredCase, closeEvents, closeState, runCli } from './close-helpers.js';

t.test('close keeps the working volume that was written to, tagged, and says which blocks changed', async (t) => {
  const aws = await useLocalAws(t);
  const env = aws.env();
  t.equal((await runCli(env, ['vault', 'init'])).code, 0);
  // 1 GiB disks (root and data) with a block of content each, in the source account.
  const { evidence } = await acquiredCase(aws, 'IR-written', env, [1], {
    rootSize: 1,
    beforeAcquire: async (fx) => {
      for (const [i, volumeId] of fx.volumeIds.entries())
        await aws.writeVolumeBlock({
          account: SOURCE_ACCOUNT,
          volumeId,
          blockIndex: 0,
          data: Buffer.from(`disk ${i}`),
        });
    },
  });
  t.equal(evidence.length, 2);
  const [written, untouched] = evidence as [(typeof evidence)[0], (typeof evidence)[0]];
  await aws.writeVolumeBlock({ volumeId: written.volumeId, blockIndex: 0, data: Buffer.from('overwritten') });
  await aws.writeVolumeBlock({ volumeId: written.volumeId, blockIndex: 7, data: Buffer.from('new') });

  const r = await runCli(env, ['case', 'close', '--case', 'IR-written', '--yes', ...SRC, '--json']);
  t.equal(r.code, 3, 'a verification found a problem');
  const d = r.json();
  t.equal(d.incomplete, true);
  t.equal(d.closed, false);
  t.same(d.volumesDeleted, [untouched.volumeId], 'the unwritten volume is proved unchanged and deleted');
  const checks = Object.fromEntries(d.writtenChecks.map((c: any) => [c.volumeId, c]));
  t.match(checks[untouched.volumeId], { method: 'changed-blocks', identical: true, changedBlocks: 0 });
  t.match(checks[written.volumeId], {
    method: 'changed-blocks',
    identical: false,
    changedBlocks: 2,
    changedBlockIndexes: [0, 7],
    evidenceSnapshotId: written.forensicSnapshotId,
  });
  t.equal(d.outstanding.length, 1);
  t.match(
    d.outstanding[0],
    new RegExp(`Working volume ${written.volumeId} \\(${written.evidenceId}\\) WAS WRITTEN TO: 2 block\\(s\\) differ`),
  );
  t.match(d.outstanding[0], /--accept-written/);
  t.match(r.stderr, new RegExp(`WORKING VOLUME ${written.volumeId} .* WAS WRITTEN TO .*first: 0, 7`));

  // Kept in AWS, detached, tagged written; the record says so.
  t.same((await closeState(aws, 'IR-written')).workingVolumes, ['available written'], 'detached, kept, tagged written');
  const events = await closeEvents('IR-written');
  const checkEvents = events.filter((e) => e.action === 'case.close.written-check');
  t.same(checkEvents.map((e) => [e.outcome.status, (e.outcome as any).error?.code ?? null]).sort(), [
    ['failed', 'VOLUME_WRITTEN'],
    ['succeeded', null],
  ]);
  t.equal(events.at(-1)!.action, 'case.close.incomplete');

  // The custodian has examined it: --accept-written deletes it and the case closes.
  const done = await runCli(env, [
    'case',
    'close',
    '--case',
    'IR-written',
    '--yes',
    '--accept-written',
    ...SRC,
    '--json',
  ]);
  t.equal(done.code, 0, done.stderr);
  t.equal(done.json().incomplete, false);
  t.same((await closeState(aws, 'IR-written')).workingVolumes, []);
  const del = (await closeEvents('IR-written')).filter(
    (e) => e.action === 'case.close.delete-volume' && (e.outcome.details as any).volumeId === written.volumeId,
  );
  t.equal(del.length, 1);
  t.same(del[0]!.inputs, { accepted: 'written' });
  t.match((del[0]!.outcome.details as any).writtenCheck, {
    method: 'changed-blocks',
    identical: false,
    changedBlocks: 2,
  });
});
