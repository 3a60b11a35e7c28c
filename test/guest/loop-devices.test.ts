// The loop-device helpers the guest tests rely on: a leaked loop device, mount or read-only flag
// would break later tests and the machine's next user, and a wrong hash would hide a change.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  getro,
  isMounted,
  makeGptImage,
  makeImage,
  must,
  run,
  sha256OfDevice,
  tempDir,
  type Teardownable,
} from './fixtures/loop-devices.js';

/** Collects teardown functions so the test can run them itself and look at what is left. */
class Collector implements Teardownable {
  fns: (() => void | Promise<void>)[] = [];
  teardown(fn: () => void | Promise<void>): void {
    this.fns.push(fn);
  }
  async runAll(): Promise<void> {
    for (const fn of this.fns.splice(0)) await fn();
  }
}

t.test('attachLoop teardown unmounts, sets writable again and detaches', async (t) => {
  const dir = tempDir(t);
  const image = makeGptImage(dir, 'disk.img', 32, 8);
  const c = new Collector();
  t.teardown(() => c.runAll()); // should an assertion below throw first
  const loop = attachLoop(c, image, 2);
  t.equal(loop.partitions.length, 2, 'both partitions are there');
  must('mkfs.ext4', ['-q', loop.partitions[0]!]);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  must('mount', ['-o', 'ro', loop.partitions[0]!, mnt]);
  must('blockdev', ['--setro', loop.dev, ...loop.partitions]);

  await c.runAll();
  t.notOk(isMounted(mnt), 'the mount is gone');
  t.equal(must('losetup', ['--associated', image]).trim(), '', 'the image is no longer attached');

  // The read-only flag was cleared before detaching: the next user of that loop device starts writable.
  const again = attachLoop(c, image, 2);
  t.equal(getro(again.dev), 0);
  await c.runAll();
});

t.test('sha256OfDevice hashes every byte of the device', async (t) => {
  const dir = tempDir(t);
  const image = makeImage(dir, 'data.img', 8);
  must('dd', ['if=/dev/urandom', `of=${image}`, 'bs=1M', 'count=3', 'conv=notrunc', 'status=none']);
  const loop = attachLoop(t, image);
  const expected = createHash('sha256').update(readFileSync(image)).digest('hex');
  t.equal(await sha256OfDevice(loop.dev), expected);
  t.equal(run('blockdev', ['--getsize64', loop.dev]).stdout.trim(), String(8 * 1024 * 1024));
});
