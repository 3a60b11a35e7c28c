// cleanroom-mount-evidence on real loop devices: mounting evidence must not change one byte of it,
// even when the filesystem's journal or log asks to be replayed.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  getro,
  guest,
  isMounted,
  makeGptImage,
  makeImage,
  mountOptions,
  must,
  sha256OfDevice,
  tempDir,
  type Teardownable,
} from './fixtures/loop-devices.js';

const VOLUME_ID = 'vol-0123456789abcdef0';
const EBS_LINK = 'nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0';

/** An ext4 image holding a few files (mkfs.ext4 -d: no mount needed to fill it). */
function ext4Image(dir: string): string {
  const content = join(dir, 'content');
  mkdirSync(content);
  writeFileSync(join(content, 'evidence.txt'), 'attacker was here\n');
  const image = makeImage(dir, 'ext4.img', 64);
  must('mkfs.ext4', ['-q', '-F', '-d', content, image]);
  return image;
}

/** mkfs.xfs refuses filesystems under 300 MB; the image is sparse, so this costs little disk. */
function xfsImage(dir: string): string {
  const image = makeImage(dir, 'xfs.img', 320);
  must('mkfs.xfs', ['-q', '-f', image]);
  return image;
}

/**
 * A copy of a filesystem taken while it was mounted read-write, as a crash-consistent EBS
 * snapshot of a running instance is: its journal/log still needs recovery.
 */
function dirtyCopy(t: Teardownable, dir: string, image: string): string {
  const loop = attachLoop(t, image);
  const mnt = join(dir, 'rw');
  mkdirSync(mnt);
  must('mount', [loop.dev, mnt]);
  for (let i = 0; i < 20; i++) writeFileSync(join(mnt, `file-${i}.txt`), `written while mounted ${i}\n`);
  // Commits the transactions to the journal/log; they are not all checkpointed to their home
  // locations yet, and the superblock still says the filesystem is mounted.
  must('sync', ['-f', mnt]);
  const copy = join(dir, 'dirty.img');
  must('dd', [`if=${loop.dev}`, `of=${copy}`, 'bs=1M', 'status=none']);
  must('umount', [mnt]);
  return copy;
}

t.test('ext4: mounted ro,noload with nodev,nosuid,noexec; the device hash is unchanged', async (t) => {
  const dir = tempDir(t);
  const loop = attachLoop(t, ext4Image(dir));
  const before = await sha256OfDevice(loop.dev);
  const mnt = join(dir, 'mnt');

  const r = guest('cleanroom-mount-evidence', [loop.dev, mnt]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, `${loop.dev} (ext4) mounted read-only on ${mnt}`);
  t.equal(getro(loop.dev), 1, 'the helper set the device read-only first');
  const opts = mountOptions(mnt);
  for (const o of ['ro', 'nodev', 'nosuid', 'noexec', 'norecovery'])
    t.ok(opts.includes(o), `mounted with ${o} (${opts.join(',')})`);
  t.equal(readFileSync(join(mnt, 'evidence.txt'), 'utf8'), 'attacker was here\n', 'the evidence is readable');

  const again = guest('cleanroom-mount-evidence', [loop.dev, mnt]);
  t.equal(again.status, 0, 'mounting again on the same place is a no-op');
  t.match(again.stdout, 'already mounted read-only');
  t.equal(
    must('findmnt', ['-rno', 'TARGET', '--source', loop.dev]).trim().split('\n').length,
    1,
    'and mounts only once',
  );

  must('umount', [mnt]);
  t.equal(await sha256OfDevice(loop.dev), before, 'every byte is as it was before the mount');
});

t.test('xfs: mounted ro,norecovery,nouuid; the device hash is unchanged', async (t) => {
  const dir = tempDir(t);
  const loop = attachLoop(t, xfsImage(dir));
  const before = await sha256OfDevice(loop.dev);
  const mnt = join(dir, 'mnt');
  const r = guest('cleanroom-mount-evidence', [loop.dev, mnt]);
  t.equal(r.status, 0, r.stderr);
  const opts = mountOptions(mnt);
  for (const o of ['ro', 'nodev', 'nosuid', 'noexec', 'norecovery', 'nouuid'])
    t.ok(opts.includes(o), `mounted with ${o} (${opts.join(',')})`);
  must('umount', [mnt]);
  t.equal(await sha256OfDevice(loop.dev), before);
});

for (const fs of ['ext4', 'xfs'] as const) {
  t.test(`${fs} that needs journal/log recovery: a plain ro mount writes, the helper does not`, async (t) => {
    const dir = tempDir(t);
    const dirty = dirtyCopy(t, dir, fs === 'ext4' ? ext4Image(dir) : xfsImage(dir));
    if (fs === 'ext4') {
      t.match(
        must('dumpe2fs', ['-h', dirty], { LC_ALL: 'C' }),
        /Filesystem features:.*needs_recovery/,
        'the copy needs journal recovery',
      );
    }
    const plainCopy = join(dir, 'plain.img');
    const helperCopy = join(dir, 'helper.img');
    must('cp', ['--sparse=always', dirty, plainCopy]);
    must('cp', ['--sparse=always', dirty, helperCopy]);

    // (a) The control: `mount -o ro` on a writable device replays the journal/log, changing bytes.
    // This is what proves the hash comparison below can fail.
    const plain = attachLoop(t, plainCopy);
    const plainBefore = await sha256OfDevice(plain.dev);
    const plainMnt = join(dir, 'plain');
    mkdirSync(plainMnt);
    must('mount', ['-o', 'ro', plain.dev, plainMnt]);
    must('umount', [plainMnt]);
    t.not(await sha256OfDevice(plain.dev), plainBefore, 'a plain read-only mount changed the device');

    // (b) The helper: same bytes before and after.
    const evid = attachLoop(t, helperCopy);
    const before = await sha256OfDevice(evid.dev);
    t.equal(before, plainBefore, 'both copies start identical');
    const mnt = join(dir, 'mnt');
    const r = guest('cleanroom-mount-evidence', [evid.dev, mnt]);
    t.equal(r.status, 0, r.stderr);
    t.ok(mountOptions(mnt).includes('ro'));
    must('umount', [mnt]);
    t.equal(await sha256OfDevice(evid.dev), before, 'the helper left every byte as it was');
  });
}

t.test('refuses a device it cannot make read-only', async (t) => {
  const dir = tempDir(t);
  const loop = attachLoop(t, ext4Image(dir));
  // A blockdev whose --setro does nothing, as a driver that ignores BLKROSET would.
  const shim = join(dir, 'bin');
  mkdirSync(shim);
  const real = must('sh', ['-c', 'command -v blockdev']).trim();
  writeFileSync(
    join(shim, 'blockdev'),
    `#!/bin/sh\nfor a in "$@"; do [ "$a" = --setro ] && exit 0; done\nexec ${real} "$@"\n`,
  );
  chmodSync(join(shim, 'blockdev'), 0o755);
  const mnt = join(dir, 'mnt');

  const r = guest('cleanroom-mount-evidence', [loop.dev, mnt], { PATH: `${shim}:${process.env.PATH}` });
  t.equal(r.status, 1);
  t.match(r.stderr, `refused: ${loop.dev} is writable and could not be made read-only`);
  t.notOk(isMounted(mnt), 'nothing was mounted');
  t.equal(getro(loop.dev), 0);
});

t.test('refuses what it cannot mount safely, with a message that says why', async (t) => {
  const dir = tempDir(t);
  const mnt = join(dir, 'mnt');

  const blank = attachLoop(t, makeImage(dir, 'blank.img', 16));
  let r = guest('cleanroom-mount-evidence', [blank.dev, mnt]);
  t.equal(r.status, 1);
  t.match(r.stderr, `no filesystem found on ${blank.dev}`);
  t.equal(getro(blank.dev), 1, 'it is still made read-only');

  const swapImage = makeImage(dir, 'swap.img', 16);
  must('mkswap', ['-q', swapImage]);
  const swap = attachLoop(t, swapImage);
  r = guest('cleanroom-mount-evidence', [swap.dev, mnt]);
  t.equal(r.status, 1);
  t.match(
    r.stderr,
    `${swap.dev} holds 'swap', which cleanroom-mount-evidence does not know how to mount without writing`,
  );

  const partImage = makeGptImage(dir, 'parts.img', 32, 8);
  const parts = attachLoop(t, partImage, 2);
  r = guest('cleanroom-mount-evidence', [parts.dev, mnt]);
  t.equal(r.status, 1);
  t.match(
    r.stderr,
    `has a partition table, not a filesystem; mount one partition with --partition N (partitions: ${parts.partitions.join(' ')})`,
  );
  r = guest('cleanroom-mount-evidence', ['--partition', '7', parts.dev, mnt]);
  t.equal(r.status, 1);
  t.match(r.stderr, `has no partition 7`);

  const file = join(dir, 'not-a-device');
  writeFileSync(file, 'x');
  r = guest('cleanroom-mount-evidence', [file, mnt]);
  t.equal(r.status, 1);
  t.match(r.stderr, `${file} is not a block device`);

  const ext4 = attachLoop(t, ext4Image(dir));
  r = guest('cleanroom-mount-evidence', [ext4.dev, mnt], { CLEANROOM_ROOT_DISK: ext4.name });
  t.equal(r.status, 1);
  t.match(r.stderr, `the disk holding this instance's root filesystem`);
  t.equal(getro(ext4.dev), 0, 'the root disk is not touched');

  t.equal(guest('cleanroom-mount-evidence', [ext4.dev]).status, 2, 'a missing mount point is a usage error');
  t.notOk(isMounted(mnt), 'nothing was mounted by any refusal');
});

t.test('--by-volume-id finds the NVMe disk whose serial is the EBS volume id', async (t) => {
  const dir = tempDir(t);
  const image = makeGptImage(dir, 'disk.img', 64, 16);
  const loop = attachLoop(t, image, 2);
  must('mkfs.ext4', ['-q', '-F', loop.partitions[0]!]);
  const before = await sha256OfDevice(loop.dev);

  // The links udev's 60-persistent-storage rules make for an EBS volume on Nitro (systemd >= 252
  // adds the "_1" namespace form too).
  const byId = join(dir, 'by-id');
  mkdirSync(byId);
  must('ln', ['-s', loop.dev, join(byId, `${EBS_LINK}_1`)]);
  must('ln', ['-s', loop.partitions[0]!, join(byId, `${EBS_LINK}_1-part1`)]);
  const env = { CLEANROOM_DISK_BY_ID: byId };
  const mnt = join(dir, 'mnt');

  let r = guest('cleanroom-mount-evidence', ['--by-volume-id', VOLUME_ID, '--partition', '1', mnt], env);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, `${loop.partitions[0]} (ext4) mounted read-only on ${mnt}`);
  t.equal(getro(loop.dev), 1, 'the whole disk is read-only');
  t.equal(getro(loop.partitions[0]!), 1, 'the partition is read-only');
  must('umount', [mnt]);
  t.equal(await sha256OfDevice(loop.dev), before, 'the disk is unchanged');

  r = guest('cleanroom-mount-evidence', ['--by-volume-id', 'vol-0fedcba9876543210', mnt], env);
  t.equal(r.status, 1);
  t.match(r.stderr, 'no NVMe disk with serial vol0fedcba9876543210 (EBS volume vol-0fedcba9876543210) is attached');

  r = guest('cleanroom-mount-evidence', ['--by-volume-id', 'i-0123456789abcdef0', mnt], env);
  t.equal(r.status, 2);
  t.match(r.stderr, 'is not an EBS volume id');
});
