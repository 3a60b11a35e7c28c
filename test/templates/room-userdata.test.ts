// The forensic instance's user data, run for real with bash: the script is taken from the template,
// its !Sub variables filled in as CloudFormation would, and its two fixed paths (/opt/cleanroom/guest,
// /var/log/cleanroom-userdata.log, and the toolkit's /opt/cleanroom/toolkit-src, /var/lib/cleanroom)
// moved into a temp dir. `aws`, `dnf` and `sleep` are stubs on PATH, so the retries take no time and
// the "download" copies from a local folder (the guest tooling, or the case's toolkit copy).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { yamlParse } from 'yaml-cfn';
import { ROOT } from '../../local-aws/local-aws.js';

const doc = yamlParse(readFileSync(path.join(ROOT, 'templates/room.yaml'), 'utf8'));
const SCRIPT_TEMPLATE: string =
  doc.Resources.LaunchTemplate.Properties.LaunchTemplateData.UserData['Fn::Base64']['Fn::Sub'];

const VARS: Record<string, string> = {
  CaseId: 'IR-2026-0142',
  ToolkitId: '',
  ToolkitManifestSha256: '',
  VaultBucket: 'cleanroom-evidence-123456789012-us-east-1',
  'AWS::Region': 'us-east-1',
};

/** Fill `${Name}` like Fn::Sub; `${!x}` is Fn::Sub's escape for a literal `${x}`. Unknown names fail the test. */
function sub(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{(!?)([^}]+)\}/g, (_m, bang: string, name: string) => {
    if (bang) return `\${${name}}`;
    if (!(name in vars)) throw new Error(`user data refers to \${${name}}, which this test does not fill in`);
    return vars[name]!;
  });
}

const TK = 'tk-0123456789abcdef0123';
const MANIFEST_SHA = 'ab'.repeat(32);

interface Run {
  status: number | null;
  log: string;
  awsCalls: string[];
  sleeps: string[];
  installed: boolean;
  dnfCalls: string[];
  /** /var/lib/cleanroom/toolkit-status.json as the run left it (undefined: not written). */
  toolkitStatus?: { toolkitId?: string; status?: string; detail?: string };
  /** The arguments cleanroom-toolkit-install ran with. */
  installerArgs: string[];
}

/**
 * Run the user data in a sandbox. `failures` = how many `aws s3 cp` calls fail before one
 * succeeds; `withInstall` = whether the "vault" holds install.sh. With `toolkit`: the ToolkitId,
 * how many `dnf install` calls fail first, whether the guest tooling holds the installer and what it
 * exits with (it writes the status file as the real one does, unless `installerWritesStatus` is false).
 */
function runUserData(
  t: { teardown(fn: () => void): void },
  opts: {
    failures: number;
    withInstall?: boolean;
    toolkit?: {
      id: string;
      dnfFailures?: number;
      withInstaller?: boolean;
      installerExit?: number;
      installerWritesStatus?: boolean;
    };
  },
): Run {
  const dir = mkdtempSync(path.join(tmpdir(), 'room-userdata-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const vault = path.join(dir, 'vault');
  const toolkitCopy = path.join(dir, 'toolkit-copy');
  mkdirSync(bin);
  mkdirSync(vault);
  mkdirSync(toolkitCopy);
  writeFileSync(path.join(toolkitCopy, 'manifest.json'), '{}');
  if (opts.withInstall !== false) {
    writeFileSync(
      path.join(vault, 'install.sh'),
      `#!/bin/bash\necho "install ran from $(dirname "$0")" > "${dir}/installed"\n`,
    );
    writeFileSync(path.join(vault, 'cleanroom-evidence-ro'), '#!/bin/sh\n');
  }
  const tk = opts.toolkit;
  if (tk && tk.withInstaller !== false) {
    const exit = tk.installerExit ?? 0;
    const status = exit === 0 ? 'installed' : exit === 3 ? 'mismatch' : 'failed';
    writeFileSync(
      path.join(vault, 'cleanroom-toolkit-install'),
      `#!/bin/bash\necho "$*" > "${dir}/installer-args"\n${
        tk.installerWritesStatus === false
          ? ''
          : `echo '{"toolkitId":"${tk.id}","status":"${status}","detail":"stub"}' > "${dir}/var/lib/cleanroom/toolkit-status.json"\n`
      }exit ${exit}\n`,
    );
  }
  // aws s3 cp --recursive ... SRC DEST: fail the first N calls, then copy the vault folder (or the
  // toolkit copy for the case's tools/toolkit/ prefix).
  writeFileSync(
    path.join(bin, 'aws'),
    `#!/bin/bash\necho "$*" >> "${dir}/aws-calls"\nn=$(wc -l < "${dir}/aws-calls")\nif [ "$n" -le ${opts.failures} ]; then echo "Could not connect to the endpoint URL" >&2; exit 1; fi\ndest="\${@: -1}"\nfrom="${vault}"\ncase "$*" in *tools/toolkit/*) from="${toolkitCopy}";; esac\nmkdir -p "$dest" && cp -R "$from/." "$dest"\n`,
  );
  writeFileSync(
    path.join(bin, 'dnf'),
    `#!/bin/bash\necho "$*" >> "${dir}/dnf-calls"\nn=$(wc -l < "${dir}/dnf-calls")\nif [ "$n" -le ${tk?.dnfFailures ?? 0} ]; then echo "Curl error (28): Timeout was reached" >&2; exit 1; fi\n`,
  );
  writeFileSync(path.join(bin, 'sleep'), `#!/bin/bash\necho "$1" >> "${dir}/sleeps"\n`);
  for (const f of ['aws', 'dnf', 'sleep']) chmodSync(path.join(bin, f), 0o755);

  const script = sub(SCRIPT_TEMPLATE, {
    ...VARS,
    ToolkitId: tk?.id ?? '',
    ToolkitManifestSha256: tk ? MANIFEST_SHA : '',
  })
    .replaceAll('/var/log/cleanroom-userdata.log', path.join(dir, 'cleanroom-userdata.log'))
    .replaceAll('/opt/cleanroom/guest', path.join(dir, 'opt/cleanroom/guest'))
    .replaceAll('/opt/cleanroom/toolkit-src', path.join(dir, 'opt/cleanroom/toolkit-src'))
    .replaceAll('/var/lib/cleanroom', path.join(dir, 'var/lib/cleanroom'));
  const file = path.join(dir, 'user-data.sh');
  writeFileSync(file, script);
  const r = spawnSync('bash', [file], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir } });
  const read = (f: string) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : '');
  const status = read('var/lib/cleanroom/toolkit-status.json');
  return {
    status: r.status,
    log: read('cleanroom-userdata.log'),
    awsCalls: read('aws-calls').split('\n').filter(Boolean),
    sleeps: read('sleeps').split('\n').filter(Boolean),
    installed: read('installed').includes(path.join(dir, 'opt/cleanroom/guest')),
    dnfCalls: read('dnf-calls').split('\n').filter(Boolean),
    ...(status ? { toolkitStatus: JSON.parse(status) } : {}),
    installerArgs: read('installer-args').trim().split(' ').filter(Boolean),
  };
}

t.test('the user data is valid bash', async (t) => {
  const r = spawnSync('bash', ['-n'], { input: sub(SCRIPT_TEMPLATE, VARS), encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});

t.test('downloads the case guest tooling and runs install.sh, logging to the user-data log', async (t) => {
  const r = runUserData(t, { failures: 0 });
  t.equal(r.status, 0, r.log);
  t.ok(r.installed, 'install.sh ran from /opt/cleanroom/guest');
  t.equal(r.awsCalls.length, 1);
  t.match(
    r.awsCalls[0],
    /^s3 cp --recursive .*--region us-east-1 s3:\/\/cleanroom-evidence-123456789012-us-east-1\/cases\/IR-2026-0142\/tools\/guest\/ \S+\/opt\/cleanroom\/guest\/$/,
  );
  t.same(r.sleeps, [], 'no waiting when the first download works');
  t.match(r.log, /install\.sh finished with exit code 0/);
});

t.test('retries a failing download with growing pauses, then installs', async (t) => {
  const r = runUserData(t, { failures: 3 });
  t.equal(r.status, 0, r.log);
  t.equal(r.awsCalls.length, 4, 'three failures, then success');
  t.same(r.sleeps, ['15', '30', '45']);
  t.match(r.log, /attempt 3 of 8/);
  t.ok(r.installed);
});

t.test('gives up after 8 attempts with a message that names the source, and installs nothing', async (t) => {
  const r = runUserData(t, { failures: 100 });
  t.equal(r.status, 1);
  t.equal(r.awsCalls.length, 8);
  t.same(r.sleeps, ['15', '30', '45', '60', '75', '90', '105'], 'no pause after the last attempt');
  t.notOk(r.installed);
  t.match(
    r.log,
    /could not download the guest tooling from s3:\/\/cleanroom-evidence-123456789012-us-east-1\/cases\/IR-2026-0142\/tools\/guest\//,
  );
});

t.test('an empty tools prefix counts as a failed download (aws s3 cp succeeds on no objects)', async (t) => {
  const r = runUserData(t, { failures: 0, withInstall: false });
  t.equal(r.status, 1);
  t.equal(r.awsCalls.length, 8, 'kept retrying while install.sh was missing');
  t.notOk(r.installed);
});

t.test('without a toolkit: no dnf, no toolkit download, no status file', async (t) => {
  const r = runUserData(t, { failures: 0 });
  t.equal(r.status, 0, r.log);
  t.same(r.dnfCalls, [], 'the room without a toolkit installs no package');
  t.equal(r.awsCalls.length, 1, 'only the guest tooling is downloaded');
  t.equal(r.toolkitStatus, undefined);
});

t.test(
  'with a toolkit: Python 3.11 from dnf, the case copy downloaded, the installer run, status installed',
  async (t) => {
    const r = runUserData(t, { failures: 0, toolkit: { id: TK } });
    t.equal(r.status, 0, r.log);
    t.same(r.dnfCalls, ['install -y python3.11 python3.11-pip']);
    t.equal(r.awsCalls.length, 2);
    t.match(
      r.awsCalls[1],
      /s3:\/\/cleanroom-evidence-123456789012-us-east-1\/cases\/IR-2026-0142\/tools\/toolkit\/ \S+\/opt\/cleanroom\/toolkit-src\/$/,
    );
    t.match(
      r.installerArgs.join(' '),
      new RegExp(`^--from \\S+/opt/cleanroom/toolkit-src --python python3\\.11 --manifest-sha256 ${MANIFEST_SHA}$`),
    );
    t.match(r.toolkitStatus, { toolkitId: TK, status: 'installed' });
    t.match(r.log, /cleanroom-toolkit-install finished with exit code 0/);
  },
);

t.test('dnf is retried with growing pauses; when it never works the status says failed and names dnf', async (t) => {
  const retried = runUserData(t, { failures: 0, toolkit: { id: TK, dnfFailures: 2 } });
  t.equal(retried.status, 0, retried.log);
  t.equal(retried.dnfCalls.length, 3);
  t.same(retried.sleeps, ['15', '30']);
  t.match(retried.toolkitStatus, { status: 'installed' });

  const never = runUserData(t, { failures: 0, toolkit: { id: TK, dnfFailures: 100 } });
  t.equal(never.status, 1, 'the user data fails');
  t.equal(never.dnfCalls.length, 5);
  t.same(never.installerArgs, [], 'the installer did not run');
  t.match(never.toolkitStatus, { toolkitId: TK, status: 'failed', detail: /dnf could not install python3\.11/ });
});

t.test('a toolkit that does not match its manifest: the installer says mismatch and the user data fails', async (t) => {
  const r = runUserData(t, { failures: 0, toolkit: { id: TK, installerExit: 3 } });
  t.equal(r.status, 3, r.log);
  t.match(r.toolkitStatus, { status: 'mismatch' });
});

t.test(
  'an installer missing from the guest tooling, or one that writes no status: failed, not installing forever',
  async (t) => {
    const missing = runUserData(t, { failures: 0, toolkit: { id: TK, withInstaller: false } });
    t.equal(missing.status, 1);
    t.match(missing.toolkitStatus, { status: 'failed', detail: /no cleanroom-toolkit-install/ });

    const silent = runUserData(t, { failures: 0, toolkit: { id: TK, installerExit: 1, installerWritesStatus: false } });
    t.equal(silent.status, 1);
    t.match(silent.toolkitStatus, { status: 'failed', detail: /exit code 1 and wrote no status/ });
  },
);
