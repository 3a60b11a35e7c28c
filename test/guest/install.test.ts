// install.sh into a staging root, and the LVM configuration it installs.
import t from 'tap';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { attachLoop, getro, GUEST_DIR, guest, makeGptImage, must, run, tempDir } from './fixtures/loop-devices.js';

const LVMLOCAL = join(GUEST_DIR, 'lvmlocal.conf');

t.test('the LVM config turns autoactivation off (static)', async (t) => {
  // Comments stripped, whitespace normalised: what LVM's parser sees.
  const text = readFileSync(LVMLOCAL, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .join(' ');
  t.match(
    text,
    /\bactivation \{[^}]*\bauto_activation_volume_list = \[\]/,
    'activation/auto_activation_volume_list is an empty list',
  );
  t.match(text, /\bglobal \{[^}]*\bevent_activation = 0/, 'global/event_activation is 0');
});

t.test('LVM itself reads the installed lvmlocal.conf that way', async (t) => {
  // An otherwise empty LVM system directory: lvm.conf empty, our lvmlocal.conf beside it, so the
  // values below can only come from our file, read the way lvm reads it on the instance.
  const dir = tempDir(t);
  writeFileSync(join(dir, 'lvm.conf'), '');
  writeFileSync(join(dir, 'lvmlocal.conf'), readFileSync(LVMLOCAL));
  const env = { LVM_SYSTEM_DIR: dir, LVM_SUPPRESS_FD_WARNINGS: '1' };
  t.equal(run('lvmconfig', ['--validate'], env).status, 0, 'lvmconfig --validate accepts it');
  const got = must('lvmconfig', ['activation/auto_activation_volume_list', 'global/event_activation'], env);
  t.same(got.trim().split('\n'), ['auto_activation_volume_list=[]', 'event_activation=0']);
});

/** path -> "mode sha256" for every file under a directory. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else
        out[relative(root, p)] =
          `${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

t.test('install.sh --prefix installs every file into a staging root, idempotently', async (t) => {
  const root = tempDir(t);
  // The distribution's own lvmlocal.conf must survive as a backup.
  mkdirSync(join(root, 'etc/lvm'), { recursive: true });
  const distro = 'local {\n\t# system_id = ""\n}\n';
  writeFileSync(join(root, 'etc/lvm/lvmlocal.conf'), distro);

  const first = guest('install.sh', ['--prefix', root]);
  t.equal(first.status, 0, first.stderr);
  t.match(first.stdout, 'kept the previous');
  t.match(first.stdout, 'udev not reloaded and block devices not touched');
  const installed = tree(root);
  const sha = (p: string) =>
    createHash('sha256')
      .update(readFileSync(join(GUEST_DIR, p)))
      .digest('hex');
  t.same(installed, {
    'etc/lvm/lvmlocal.conf': `644 ${sha('lvmlocal.conf')}`,
    'etc/lvm/lvmlocal.conf.cleanroom-orig': `644 ${createHash('sha256').update(distro).digest('hex')}`,
    'etc/udev/rules.d/10-cleanroom-evidence-ro.rules': `644 ${sha('10-cleanroom-evidence-ro.rules')}`,
    'usr/local/sbin/cleanroom-guest-lib.sh': `644 ${sha('cleanroom-guest-lib.sh')}`,
    'usr/local/sbin/cleanroom-evidence-ro': `755 ${sha('cleanroom-evidence-ro')}`,
    'usr/local/sbin/cleanroom-mount-evidence': `755 ${sha('cleanroom-mount-evidence')}`,
    'usr/local/sbin/cleanroom-evidence-status': `755 ${sha('cleanroom-evidence-status')}`,
    'usr/local/sbin/cleanroom-evidence-hash': `755 ${sha('cleanroom-evidence-hash')}`,
    'usr/local/sbin/cleanroom-toolkit-install': `755 ${sha('cleanroom-toolkit-install')}`,
  });

  const second = guest('install.sh', ['--prefix', root]);
  t.equal(second.status, 0, second.stderr);
  t.notMatch(second.stdout, 'kept the previous', 'the backup is made once, never overwritten by our own file');
  t.same(tree(root), installed, 'a second run changes nothing');

  // The installed tools work from their installed place (they find the library beside them).
  const usage = run(join(root, 'usr/local/sbin/cleanroom-evidence-ro'), []);
  t.equal(usage.status, 2);
  t.match(usage.stderr, 'usage: cleanroom-evidence-ro DEVICE');
  const status = run(join(root, 'usr/local/sbin/cleanroom-evidence-status'), [], {
    CLEANROOM_EVIDENCE_MATCH: '^cleanroom-none$',
  });
  t.equal(status.status, 0);
  t.equal(status.stdout, '', 'no evidence disks, no lines');

  t.equal(guest('install.sh', ['--bogus']).status, 2, 'an unknown option is a usage error');
});

t.test('install.sh on a live system: installs, reloads udev and makes attached evidence read-only', async (t) => {
  const dir = tempDir(t);
  // The live install writes to /etc and /usr/local/sbin. It runs in a private mount namespace
  // with overlays on both, so its writes land in directories of this test and vanish with it.
  for (const d of ['etc-up', 'etc-work', 'sbin-up', 'sbin-work', 'bin']) mkdirSync(join(dir, d));
  const udevLog = join(dir, 'udevadm.log');
  writeFileSync(join(dir, 'bin/udevadm'), `#!/bin/sh\necho "$*" >> '${udevLog}'\n`);
  chmodSync(join(dir, 'bin/udevadm'), 0o755);

  const image = makeGptImage(dir, 'disk.img', 32, 8);
  const loop = attachLoop(t, image, 2);

  const script = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/etc-up,workdir=${dir}/etc-work /etc`,
    'mkdir -p /usr/local/sbin',
    `mount -t overlay overlay -o lowerdir=/usr/local/sbin,upperdir=${dir}/sbin-up,workdir=${dir}/sbin-work /usr/local/sbin`,
    `exec bash '${join(GUEST_DIR, 'install.sh')}'`,
  ].join('\n');
  const r = run('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', script], {
    ...loop.env,
    PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
  });
  t.equal(r.status, 0, r.stderr);

  t.same(
    readFileSync(udevLog, 'utf8').trim().split('\n'),
    ['control --reload', 'trigger --action=change --subsystem-match=block', 'settle --timeout=120'],
    'udev rules reloaded and a change event replayed for every block device',
  );
  for (const dev of [loop.dev, ...loop.partitions])
    t.equal(getro(dev), 1, `${dev}, attached before the install, is now read-only`);
  t.same(
    JSON.parse(r.stdout.trim().split('\n').at(-1)!),
    {
      device: loop.dev,
      volumeId: null,
      readOnly: true,
      partitions: loop.partitions.map((device) => ({ device, readOnly: true })),
    },
    'and the install ends with the evidence status',
  );

  t.ok(
    existsSync(join(dir, 'etc-up/udev/rules.d/10-cleanroom-evidence-ro.rules')),
    'the rule went to /etc/udev/rules.d',
  );
  t.ok(existsSync(join(dir, 'etc-up/lvm/lvmlocal.conf')), 'the LVM config went to /etc/lvm');
  t.ok(existsSync(join(dir, 'sbin-up/cleanroom-evidence-ro')), 'the helper went to /usr/local/sbin');
  t.notOk(existsSync('/usr/local/sbin/cleanroom-evidence-ro'), 'the machine running the test is untouched');
});
