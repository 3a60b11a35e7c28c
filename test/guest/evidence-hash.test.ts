// cleanroom-evidence-hash on real loop devices: the in-room verification of an evidence disk
// against the acquisition hash. A small ext4 image (built with `mkfs.ext4 -d`, no mount needed) is
// the evidence; the loop device over it is made read-only as the udev rule would.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  getro,
  guest,
  GUEST_DIR,
  makeImage,
  must,
  run,
  sha256OfDevice,
  tempDir,
  type Loop,
  type Teardownable,
} from './fixtures/loop-devices.js';

const TOOL = 'cleanroom-evidence-hash';

/** An 8 MiB ext4 image holding a few files, attached and set read-only; its SHA-256 from the file. */
function evidenceLoop(t: Teardownable): { loop: Loop; image: string; sha256: string; size: number } {
  const dir = tempDir(t);
  const content = join(dir, 'content');
  mkdirSync(join(content, 'var/www/html'), { recursive: true });
  writeFileSync(join(content, 'var/www/html/index.html'), '<h1>it works</h1>\n');
  writeFileSync(join(content, 'var/www/html/shell.php'), '<?php system($_GET["c"]); ?>\n');
  const image = makeImage(dir, 'disk.img', 8);
  must('mkfs.ext4', ['-q', '-F', '-d', content, image]);
  const loop = attachLoop(t, image);
  must('blockdev', ['--setro', loop.dev]);
  const bytes = readFileSync(image);
  return { loop, image, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** Sectors written to a disk since boot: field 7 of /sys/block/<name>/stat. */
function sectorsWritten(name: string): number {
  return Number(readFileSync(`/sys/block/${name}/stat`, 'utf8').trim().split(/\s+/)[6]);
}

/** A fake udev by-id directory naming the loop device as an EBS volume. */
function byId(t: Teardownable, loop: Loop, volumeId: string): string {
  const dir = tempDir(t);
  must('ln', ['-s', loop.dev, join(dir, `nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`)]);
  return dir;
}

t.test('verified: the disk found by its volume id hashes to the recorded SHA-256; one JSON line, exit 0', async (t) => {
  const { loop, sha256, size } = evidenceLoop(t);
  const env = { ...loop.env, CLEANROOM_DISK_BY_ID: byId(t, loop, 'vol-0123456789abcdef0') };
  const writtenBefore = sectorsWritten(loop.name);
  const r = guest(TOOL, ['--by-volume-id', 'vol-0123456789abcdef0', '--expected', sha256, '--size', String(size)], env);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'one line on stdout');
  const answer = JSON.parse(lines[0]!);
  t.match(answer, {
    device: loop.dev,
    volumeId: 'vol-0123456789abcdef0',
    sizeBytes: size,
    sha256,
    expected: sha256,
    result: 'verified',
  });
  t.type(answer.seconds, 'number');
  t.ok(r.stdout.length < 400, 'stdout stays tiny (SSM keeps 24,000 characters)');
  t.match(r.stderr, `verified: SHA-256 of ${loop.dev}`);
  t.equal(sectorsWritten(loop.name), writtenBefore, 'the kernel counted no sector written to the disk');

  // Upper-case hex, a device path instead of a volume id: the same answer.
  const byDev = guest(TOOL, [loop.dev, '--expected', sha256.toUpperCase()], loop.env);
  t.equal(byDev.status, 0, byDev.stderr);
  t.match(JSON.parse(byDev.stdout), { device: loop.dev, volumeId: null, result: 'verified', sha256 });
});

t.test('MISMATCH on a wrong expected hash (exit 3), and on a disk of another size without reading it', async (t) => {
  const { loop, sha256, size } = evidenceLoop(t);
  const wrong = `${sha256.slice(0, 63)}${sha256.endsWith('0') ? '1' : '0'}`;
  const r = guest(TOOL, [loop.dev, '--expected', wrong], loop.env);
  t.equal(r.status, 3, r.stderr);
  t.match(JSON.parse(r.stdout), { sha256, expected: wrong, result: 'MISMATCH', sizeBytes: size });
  t.match(r.stderr, `MISMATCH: SHA-256 of ${loop.dev} (${size} bytes) is ${sha256}, the record says ${wrong}`);

  const sized = guest(TOOL, [loop.dev, '--expected', sha256, '--size', String(size * 2)], loop.env);
  t.equal(sized.status, 3);
  t.match(JSON.parse(sized.stdout), {
    sha256: null,
    result: 'MISMATCH',
    seconds: 0,
    reason: `the disk holds ${size} bytes, the record ${size * 2}`,
  });
});

t.test('refuses a writable disk (exit 1, nothing on stdout) and never writes to it', async (t) => {
  const { loop, image, sha256 } = evidenceLoop(t);
  must('blockdev', ['--setrw', loop.dev]);
  t.equal(getro(loop.dev), 0, 'precondition: writable');
  const writtenBefore = sectorsWritten(loop.name);
  const r = guest(TOOL, [loop.dev, '--expected', sha256], loop.env);
  t.equal(r.status, 1);
  t.equal(r.stdout, '', 'no answer line: nothing was compared');
  t.match(r.stderr, `not verified: ${loop.dev} is not read-only (blockdev --getro answers '0')`);
  t.equal(sectorsWritten(loop.name), writtenBefore, 'no sector written');
  t.equal(await sha256OfDevice(loop.dev), sha256, 'the device still holds the image bytes');
  t.equal(createHash('sha256').update(readFileSync(image)).digest('hex'), sha256, 'and so does the image file');
});

t.test('the device bytes and its write counter are unchanged after a verification and a mismatch', async (t) => {
  const { loop, sha256 } = evidenceLoop(t);
  const before = { written: sectorsWritten(loop.name), sha256: await sha256OfDevice(loop.dev) };
  t.equal(before.sha256, sha256);
  t.equal(guest(TOOL, [loop.dev, '--expected', sha256], loop.env).status, 0);
  t.equal(guest(TOOL, [loop.dev, '--expected', '0'.repeat(64)], loop.env).status, 3);
  t.same({ written: sectorsWritten(loop.name), sha256: await sha256OfDevice(loop.dev) }, before);
});

t.test('usage errors and disks it cannot find: exit 2 and 1, with a reason', async (t) => {
  const { loop, sha256 } = evidenceLoop(t);
  t.equal(guest(TOOL, [loop.dev]).status, 2, '--expected is required');
  t.equal(guest(TOOL, [loop.dev, '--expected', 'abc']).status, 2, 'a hash must be 64 hex digits');
  t.equal(guest(TOOL, [loop.dev, '--expected', sha256, '--size', 'big']).status, 2);
  t.equal(guest(TOOL, ['--expected', sha256]).status, 2, 'a device or a volume id is required');
  t.equal(guest(TOOL, ['--by-volume-id', 'vol-x', '--expected', sha256]).status, 2, 'a malformed volume id');
  const missing = guest(TOOL, ['--by-volume-id', 'vol-0fedcba9876543210', '--expected', sha256], {
    CLEANROOM_DISK_BY_ID: tempDir(t),
  });
  t.equal(missing.status, 1);
  t.match(missing.stderr, 'no NVMe disk with serial vol0fedcba9876543210 (EBS volume vol-0fedcba9876543210)');
  const nodev = guest(TOOL, ['/dev/cleanroom-no-such-disk', '--expected', sha256]);
  t.equal(nodev.status, 1);
  t.match(nodev.stderr, 'is not a block device');
});

t.test('a partition is refused: the recorded hash is of the whole disk', async (t) => {
  const dir = tempDir(t);
  const image = makeImage(dir, 'gpt.img', 16);
  must('sh', ['-c', `printf 'label: gpt\\n,4M\\n' | sfdisk --quiet "$1"`, '_', image]);
  const loop = attachLoop(t, image, 1);
  must('blockdev', ['--setro', loop.dev, ...loop.partitions]);
  const r = guest(TOOL, [loop.partitions[0]!, '--expected', '0'.repeat(64)], loop.env);
  t.equal(r.status, 1);
  t.match(r.stderr, `is a partition; the recorded hash is of the whole disk ${loop.dev}`);
});

t.test('the hash tool passes shellcheck and is installed beside the status tool', async (t) => {
  const r = run('shellcheck', ['--external-sources', join(GUEST_DIR, TOOL)]);
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(
    readFileSync(join(GUEST_DIR, 'install.sh'), 'utf8'),
    new RegExp(`\\nfor tool in [^;]*\\b${TOOL}\\b[^;]*; do`),
  );
});
