// The forensic instance's user data, run for real with bash: the script is taken from the template,
// its !Sub variables filled in as CloudFormation would, and its two fixed paths (/opt/cleanroom/guest,
// /var/log/cleanroom-userdata.log) moved into a temp dir. `aws` and `sleep` are stubs on PATH, so
// the retries take no time and the "download" copies from a local folder.
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

const VARS = {
  CaseId: 'IR-2026-0142',
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

interface Run {
  status: number | null;
  log: string;
  awsCalls: string[];
  sleeps: string[];
  installed: boolean;
}

/**
 * Run the user data in a sandbox. `failures` = how many `aws s3 cp` calls fail before one
 * succeeds; `withInstall` = whether the "vault" holds install.sh.
 */
function runUserData(t: { teardown(fn: () => void): void }, opts: { failures: number; withInstall?: boolean }): Run {
  const dir = mkdtempSync(path.join(tmpdir(), 'room-userdata-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const vault = path.join(dir, 'vault');
  mkdirSync(bin);
  mkdirSync(vault);
  if (opts.withInstall !== false) {
    writeFileSync(
      path.join(vault, 'install.sh'),
      `#!/bin/bash\necho "install ran from $(dirname "$0")" > "${dir}/installed"\n`,
    );
    writeFileSync(path.join(vault, 'cleanroom-evidence-ro'), '#!/bin/sh\n');
  }
  // aws s3 cp --recursive ... SRC DEST: fail the first N calls, then copy the vault folder.
  writeFileSync(
    path.join(bin, 'aws'),
    `#!/bin/bash\necho "$*" >> "${dir}/aws-calls"\nn=$(wc -l < "${dir}/aws-calls")\nif [ "$n" -le ${opts.failures} ]; then echo "Could not connect to the endpoint URL" >&2; exit 1; fi\ndest="\${@: -1}"\nmkdir -p "$dest" && cp -R "${vault}/." "$dest"\n`,
  );
  writeFileSync(path.join(bin, 'sleep'), `#!/bin/bash\necho "$1" >> "${dir}/sleeps"\n`);
  chmodSync(path.join(bin, 'aws'), 0o755);
  chmodSync(path.join(bin, 'sleep'), 0o755);

  const script = sub(SCRIPT_TEMPLATE, VARS)
    .replaceAll('/var/log/cleanroom-userdata.log', path.join(dir, 'cleanroom-userdata.log'))
    .replaceAll('/opt/cleanroom/guest', path.join(dir, 'opt/cleanroom/guest'));
  const file = path.join(dir, 'user-data.sh');
  writeFileSync(file, script);
  const r = spawnSync('bash', [file], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir } });
  const read = (f: string) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : '');
  return {
    status: r.status,
    log: read('cleanroom-userdata.log'),
    awsCalls: read('aws-calls').split('\n').filter(Boolean),
    sleeps: read('sleeps').split('\n').filter(Boolean),
    installed: read('installed').includes(path.join(dir, 'opt/cleanroom/guest')),
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
