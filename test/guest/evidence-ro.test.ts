// The udev helper (cleanroom-evidence-ro), the rule that runs it, and cleanroom-evidence-status,
// exercised on real loop devices. udev itself is not needed: the helper is called directly.
import t from 'tap';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachLoop,
  getro,
  guest,
  GUEST_DIR,
  makeGptImage,
  must,
  run,
  tempDir,
  writeSucceeds,
  type Loop,
  type Teardownable,
} from './fixtures/loop-devices.js';

const RULE = join(GUEST_DIR, '10-cleanroom-evidence-ro.rules');
const HELPER_PATH = '/usr/local/sbin/cleanroom-evidence-ro';

/** A 64 MiB image with a GPT and two partitions, attached. */
function partitionedLoop(t: Teardownable): Loop {
  const dir = tempDir(t);
  const image = makeGptImage(dir, 'disk.img', 64, 16);
  return attachLoop(t, image, 2);
}

t.test('the helper makes an evidence disk and each of its partitions read-only; writes then fail', async (t) => {
  const loop = partitionedLoop(t);
  const all = [loop.dev, ...loop.partitions];
  // Preconditions, so this test can fail: everything is writable and a write goes through.
  for (const dev of all) t.equal(getro(dev), 0, `${dev} starts writable`);
  t.ok(writeSucceeds(loop.partitions[0]!), 'a write to a partition succeeds before the helper runs');

  // udev passes whichever node appeared; a partition event must protect the whole disk too.
  const r = guest('cleanroom-evidence-ro', [loop.partitions[1]!], loop.env);
  t.equal(r.status, 0, r.stderr);
  for (const dev of all) {
    t.equal(getro(dev), 1, `${dev} is read-only`);
    t.notOk(writeSucceeds(dev), `a direct write to ${dev} fails`);
    t.match(r.stderr, `${dev} set read-only`, `the helper says it set ${dev}`);
  }

  // Each partition carries its own flag: reopening the disk alone does not reopen them.
  must('blockdev', ['--setrw', loop.dev]);
  for (const dev of loop.partitions) {
    t.equal(getro(dev), 1, `${dev} stays read-only after the disk is set writable`);
    t.notOk(writeSucceeds(dev), `${dev} still refuses writes`);
  }

  const again = guest('cleanroom-evidence-ro', [loop.dev], loop.env);
  t.equal(again.status, 0, 'running it again is fine');
  t.equal(getro(loop.dev), 1, 'and protects the disk again');
});

t.test('the helper records what it did in the journal/syslog through logger', async (t) => {
  const loop = partitionedLoop(t);
  const dir = tempDir(t);
  // A logger that writes its arguments to a file instead of /dev/log.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const out = join(dir, 'logger.out');
  writeFileSync(join(bin, 'logger'), `#!/bin/sh\nprintf '%s|' "$@" >> '${out}'\necho >> '${out}'\n`);
  chmodSync(join(bin, 'logger'), 0o755);
  const r = guest('cleanroom-evidence-ro', [loop.dev], { ...loop.env, PATH: `${bin}:${process.env.PATH}` });
  t.equal(r.status, 0, r.stderr);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.same(
    lines,
    [loop.dev, ...loop.partitions].map(
      (d) => `-t|cleanroom-evidence-ro|--|${d} set read-only (evidence disk ${loop.dev})|`,
    ),
    'one tagged journal line per device',
  );
});

t.test('the helper leaves the root disk writable', async (t) => {
  const loop = partitionedLoop(t);
  const r = guest('cleanroom-evidence-ro', [loop.partitions[0]!], { ...loop.env, CLEANROOM_ROOT_DISK: loop.dev });
  t.equal(r.status, 0);
  t.match(r.stderr, `/dev/${loop.name} holds the root filesystem; left writable`);
  for (const dev of [loop.dev, ...loop.partitions]) t.equal(getro(dev), 0, `${dev} is still writable`);
  t.ok(writeSucceeds(loop.partitions[0]!), 'and can still be written');
});

t.test('the helper leaves disks that are not evidence alone', async (t) => {
  const loop = partitionedLoop(t);
  const r = guest('cleanroom-evidence-ro', [loop.dev], { CLEANROOM_EVIDENCE_MATCH: '^nvme[0-9]+n[0-9]+$' });
  t.equal(r.status, 0);
  t.match(r.stderr, 'is not an evidence disk');
  t.equal(getro(loop.dev), 0);
});

t.test('the helper rejects a path that is not a block device', async (t) => {
  const r = guest('cleanroom-evidence-ro', ['/dev/cleanroom-no-such-disk']);
  t.equal(r.status, 2);
  t.match(r.stderr, '/dev/cleanroom-no-such-disk is not a block device');
  t.equal(guest('cleanroom-evidence-ro', []).status, 2, 'no argument is a usage error');
});

t.test('the root disk is found from the mounted root filesystem', async (t) => {
  // Computed independently of the script: the disk(s) at the top of `lsblk --inverse` for /.
  const src = run('findmnt', ['-nvo', 'SOURCE', '/']).stdout.trim();
  let expected: string[] = [];
  if (src.startsWith('/dev/') && run('test', ['-b', src]).status === 0) {
    const rows = must('lsblk', ['--inverse', '--list', '--noheadings', '--output', 'NAME,TYPE', src])
      .trim()
      .split('\n');
    expected = rows
      .map((l) => l.trim().split(/\s+/))
      .filter(([, type]) => type === 'disk')
      .map(([name]) => name!);
  }
  const lib = join(GUEST_DIR, 'cleanroom-guest-lib.sh');
  const got = must('bash', ['-c', `. '${lib}' && cr_root_disks`], { CLEANROOM_ROOT_DISK: '' })
    .trim()
    .split('\n')
    .filter(Boolean);
  t.same(got, expected, `root disk(s) for / on ${src || 'no block device'}`);
});

t.test('cleanroom-evidence-status reports each evidence disk as one JSON line', async (t) => {
  const loop = partitionedLoop(t);
  const before = guest('cleanroom-evidence-status', [], loop.env);
  t.equal(before.status, 3, 'exit 3 while an evidence disk is writable');
  t.same(JSON.parse(before.stdout.trim()), {
    device: loop.dev,
    volumeId: null,
    readOnly: false,
    partitions: loop.partitions.map((device) => ({ device, readOnly: false })),
  });

  must(join(GUEST_DIR, 'cleanroom-evidence-ro'), [loop.dev], loop.env);
  const dir = tempDir(t);
  // A fake udev by-id directory: the NVMe serial of an EBS volume is its id without the dash.
  must('ln', ['-s', loop.dev, join(dir, 'nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0')]);
  const after = guest('cleanroom-evidence-status', [], { ...loop.env, CLEANROOM_DISK_BY_ID: dir });
  t.equal(after.status, 0, after.stderr);
  const lines = after.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'one line per evidence disk');
  t.same(JSON.parse(lines[0]!), {
    device: loop.dev,
    volumeId: 'vol-0123456789abcdef0',
    readOnly: true,
    partitions: loop.partitions.map((device) => ({ device, readOnly: true })),
  });

  const rootOnly = guest('cleanroom-evidence-status', [], { ...loop.env, CLEANROOM_ROOT_DISK: loop.name });
  t.equal(rootOnly.stdout, '', 'the root disk is never listed');
  t.equal(rootOnly.status, 0);
});

/** Splits one udev rule line into KEY{attr} OP "value" tokens; null when it does not parse. */
function parseRuleLine(line: string): { key: string; op: string; value: string }[] | null {
  const token = /^\s*([A-Z_]+(?:\{[^}]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)/;
  const out: { key: string; op: string; value: string }[] = [];
  let rest = line;
  while (rest.trim() !== '') {
    const m = token.exec(rest);
    if (!m) return null;
    out.push({ key: m[1]!, op: m[2]!, value: m[3]! });
    rest = rest.slice(m[0].length);
  }
  return out;
}

t.test('the udev rule is well formed and runs the helper for EBS disks and partitions on add|change', async (t) => {
  const text = readFileSync(RULE, 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const rules = lines.map((l) => ({ line: l, tokens: parseRuleLine(l) }));
  for (const r of rules) t.ok(r.tokens, `parses: ${r.line}`);
  const tokens = rules.flatMap((r) => r.tokens ?? []);

  const matchKeys = new Set(['ACTION', 'SUBSYSTEM', 'KERNEL', 'ENV{DEVTYPE}']);
  for (const tk of tokens) {
    if (matchKeys.has(tk.key)) t.ok(tk.op === '==' || tk.op === '!=', `${tk.key} is a match (${tk.op})`);
    else t.ok(['RUN', 'GOTO', 'LABEL'].includes(tk.key), `${tk.key} is an expected key`);
  }
  const gotos = tokens.filter((tk) => tk.key === 'GOTO').map((tk) => tk.value);
  const labels = tokens.filter((tk) => tk.key === 'LABEL').map((tk) => tk.value);
  for (const g of gotos) t.ok(labels.includes(g), `GOTO ${g} has its LABEL`);
  t.same(
    tokens.filter((tk) => tk.key === 'ACTION').map((tk) => `${tk.op}${tk.value}`),
    ['!=add|change'],
    'acts on add and change',
  );
  t.same(
    tokens.filter((tk) => tk.key === 'SUBSYSTEM').map((tk) => `${tk.op}${tk.value}`),
    ['!=block'],
  );
  t.same(
    tokens.filter((tk) => tk.key === 'RUN').map((tk) => `${tk.op}${tk.value}`),
    [`+=${HELPER_PATH} $devnode`],
    'runs the installed helper with the device node',
  );
  const install = readFileSync(join(GUEST_DIR, 'install.sh'), 'utf8');
  t.match(install, '"$sbin/cleanroom-evidence-ro"', 'install.sh installs the helper where the rule runs it');

  // The rule's KERNEL glob and the helper's default predicate (applied to the whole disk) must
  // agree. udev globs, "|" included, are shell case patterns.
  const glob = tokens.find((tk) => tk.key === 'KERNEL')!.value;
  const lib = join(GUEST_DIR, 'cleanroom-guest-lib.sh');
  const cases: [name: string, disk: string, evidence: boolean][] = [
    ['nvme1n1', 'nvme1n1', true],
    ['nvme1n1p1', 'nvme1n1', true],
    ['nvme12n1', 'nvme12n1', true],
    ['xvdf', 'xvdf', true],
    ['xvdf1', 'xvdf', true],
    ['xvdaa', 'xvdaa', true],
    ['loop0', 'loop0', false],
    ['vda', 'vda', false],
    ['sda1', 'sda', false],
    ['dm-0', 'dm-0', false],
    ['nvme0c0n1', 'nvme0c0n1', false],
  ];
  for (const [name, disk, evidence] of cases) {
    const inRule = run('bash', ['-c', `case "$1" in ${glob}) exit 0;; *) exit 1;; esac`, '_', name]).status === 0;
    const inHelper =
      run('bash', ['-c', `. '${lib}' && cr_matches_evidence "$1"`, '_', disk], { CLEANROOM_EVIDENCE_MATCH: '' })
        .status === 0;
    t.equal(inHelper, evidence, `helper: ${disk} is ${evidence ? '' : 'not '}an evidence disk`);
    // The rule may fire for more than the helper accepts (the helper decides), never for less.
    if (evidence) t.ok(inRule, `the rule fires for ${name}`);
  }
});

t.test('the guest scripts pass shellcheck', async (t) => {
  const files = [
    'cleanroom-guest-lib.sh',
    'cleanroom-evidence-ro',
    'cleanroom-mount-evidence',
    'cleanroom-evidence-status',
    'cleanroom-toolkit-install',
    'install.sh',
  ];
  const r = run('shellcheck', ['--external-sources', ...files.map((f) => join(GUEST_DIR, f))]);
  t.equal(r.status, 0, r.stdout + r.stderr);
});
