/**
 * The demo's disk images (scripts/fixture-images): the acquisition hash the demo checks is only as
 * good as the claim that these bytes are known in advance. Built twice, in two places, they are
 * identical byte for byte; the SHA-256 the script prints for the attached device equals what
 * `sha256sum` gives over the image padded to the volume size; and the images hold the compromise the
 * demo tells (read with debugfs, without mounting and without root).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../local-aws/local-aws.js';

const exec = promisify(execFile);
// e2fsprogs live in /usr/sbin, which a user's PATH may lack; debugfs prints times in TZ.
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, TZ: 'UTC' };
const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) => exec(cmd, args, { env, ...opts });

interface Image {
  name: string;
  device: string;
  path: string;
  volumeGiB: number;
  imageBytes: number;
  imageSha256: string;
  deviceSha256: string;
}

async function build(dir: string): Promise<Image[]> {
  const { stdout } = await run('bash', [path.join(ROOT, 'scripts/fixture-images'), '--json', '--out', dir], {
    cwd: ROOT,
  });
  return JSON.parse(stdout) as Image[];
}

/** A file inside an ext4 image, read with debugfs (no mount, no root). */
async function cat(image: string, file: string): Promise<string> {
  const { stdout } = await run('debugfs', ['-R', `cat ${file}`, image]);
  return stdout;
}

const work = mkdtempSync(path.join(tmpdir(), 'cleanroom-fixture-images-test-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('two builds in two places give the same bytes and the same hashes', async (t) => {
  const a = await build(path.join(work, 'a'));
  const b = await build(path.join(work, 'b'));
  t.same(
    a.map((i) => [i.name, i.device, i.volumeGiB]),
    [
      ['root', '/dev/xvda', 1],
      ['data', '/dev/sdf', 1],
    ],
  );
  for (const [i, x] of a.entries()) {
    const y = b[i]!;
    t.not(x.path, y.path);
    t.ok(readFileSync(x.path).equals(readFileSync(y.path)), `${x.name}: identical bytes`);
    t.equal(x.imageSha256, y.imageSha256);
    t.equal(x.deviceSha256, y.deviceSha256);
    t.ok(x.imageBytes >= 16 * 2 ** 20 && x.imageBytes <= 64 * 2 ** 20, `${x.name}: a small image`);
  }
  t.not(a[0]!.deviceSha256, a[1]!.deviceSha256);
});

t.test(
  'the device hash printed is what a hash tool gives over the image padded with zeros to the volume size',
  async (t) => {
    // One image is enough to check the method (both go through the same function); openssl, not
    // sha256sum: coreutils' SHA-256 is several times slower over the 1 GiB.
    const [root] = await build(path.join(work, 'a'));
    const padded = path.join(work, 'root.padded');
    copyFileSync(root!.path, padded);
    truncateSync(padded, root!.volumeGiB * 2 ** 30); // sparse: the zeros take no space
    const digest = async (file: string) => (await run('openssl', ['dgst', '-sha256', '-r', file])).stdout.split(' ')[0];
    t.equal(await digest(padded), root!.deviceSha256, 'the attached device');
    rmSync(padded);
    t.equal(await digest(root!.path), root!.imageSha256, 'the image file');
  },
);

t.test('the root image holds the compromised web server, the data image its application', async (t) => {
  const [root, data] = await build(path.join(work, 'a'));
  const r = root!.path;
  t.match(await cat(r, '/var/www/html/uploads/.cache.php'), /shell_exec\(\$_REQUEST\['cmd'\]\)/, 'the web shell');
  const log = await cat(r, '/var/log/nginx/access.log');
  t.match(log, /"POST \/upload\.php HTTP\/1\.1" 200/, 'the upload');
  t.match(log, /"GET \/uploads\/\.cache\.php\?cmd=id HTTP\/1\.1" 200/, 'the shell used');
  t.match(await cat(r, '/var/spool/cron/crontabs/www-data'), /^\*\/10 \* \* \* \* curl .*\| sh/m, 'persistence');
  t.equal(await cat(r, '/etc/hostname'), 'web-01\n');
  t.match(await cat(r, '/etc/passwd'), /^deploy:x:1000:1000:/m);
  t.match(await cat(r, '/home/deploy/.bash_history'), /access\.log/);
  // Owner and time as the story has them: the shell planted by www-data at the POST's second.
  const { stdout: shell } = await run('debugfs', ['-R', 'stat /var/www/html/uploads/.cache.php', r]);
  t.match(shell, /User:\s+33\s+Group:\s+33/);
  t.match(shell, /mtime: 0x[0-9a-f]+:00000000 -- Sat Nov 28 03:14:07 2026/);

  const d = data!.path;
  t.match(await cat(d, '/app/data/orders.csv'), /^order_id,customer,total$/m);
  t.match(await cat(d, '/logs/app.log'), /export customers\.csv/);
  // Both are clean ext4 file systems (e2fsck -n exits 0: nothing to fix).
  for (const img of [r, d]) await t.resolves(run('e2fsck', ['-fn', img]), `${img} checks clean`);
});
