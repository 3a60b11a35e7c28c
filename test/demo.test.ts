/**
 * The README's main command, `npm run demo` (scripts/demo), run as a user runs it: a child process
 * with the environment CI has — no AWS settings, no test CA: the demo starts its own local AWS and
 * points the CLI at it. Asserted on what the user sees: the exit code, the demo's output, the
 * exported bundle verified offline afterwards, and that the local AWS it started is gone.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../local-aws/local-aws.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function demo(extra: Record<string, string> = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('AWS_') && k !== 'NODE_EXTRA_CA_CERTS' && k !== 'CASE') env[k] = v;
  Object.assign(env, extra);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts/demo')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The PID of the local AWS the demo says it started. */
function motoPid(r: Run): number {
  const m = /Local AWS \(moto 5\.2\.1, PID (\d+)\)/.exec(r.stdout);
  if (!m) throw new Error(`the demo did not say which local AWS it started:\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

/** Whether a process runs (a zombie — exited, not yet reaped by its new parent — does not). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test(
  'npm run demo: a full case end to end, exit 0, the case closed, custody verified, the bundle verified offline, the local AWS stopped',
  async (t) => {
    const r = await demo();
    const all = `${r.stdout}\n${r.stderr}`;
    t.equal(r.code, 0, all);
    const pid = motoPid(r);
    t.equal(running(pid), false, `the local AWS (PID ${pid}) is stopped`);
    t.match(r.stdout, `Local AWS (moto, PID ${pid}) stopped.`);

    // Every step ran, in order, as a user would type it.
    const steps = [...r.stdout.matchAll(/^\$ cleanroom (\S+ \S+)/gm)].map((m) => m[1]);
    t.same(steps, [
      'vault init',
      'vault verify',
      'room tools',
      'room up',
      'room verify',
      'memory capture',
      'isolate --case',
      'isolate --case',
      'isolate release',
      'acquire --case',
      'evidence list',
      'evidence hash',
      'room shell',
      'room sessions',
      'evidence export',
      'custody log',
      'custody verify',
      'custody export',
      'custody verify',
      'case close',
      'custody verify',
    ]);

    // The memory step: the capture's plan before isolation (nothing made on the local AWS, whose SSM runs nothing).
    t.match(r.stdout, /Plan to capture the memory of i-[0-9a-f]+ \(account 111111111111[\s\S]*ssm:SendCommand/);

    // The toolkit: built (or reused) for the room's Python 3.11, published to the vault, and room up
    // copied it into the case and recorded it; the bundle's room.toolkit names the same id, and each
    // copied object's recorded SHA-256 equals the file of the wheelhouse built here.
    const tk = /^Toolkit (tk-[0-9a-f]{20}) \(\S+\): \d+ wheels, .* for CPython 3\.11 on manylinux x86_64/m.exec(
      r.stdout,
    )?.[1];
    t.ok(tk, 'room tools names the toolkit');
    for (const tool of ['dissect.target', 'volatility3', 'pytsk3'])
      t.match(
        r.stdout,
        new RegExp(`^ {2}${tool.replace('.', '\\.')} +\\S+$`, 'm'),
        `room tools lists ${tool} with its version`,
      );
    t.match(r.stdout, `The default toolkit is now ${tk}`);
    t.match(r.stdout, new RegExp(`^ {2}toolkit +${tk}: dissect\\.target `, 'm'), 'room up installs it');
    t.match(r.stdout, new RegExp(`^ {2}room\\.toolkit \\(#\\d+\\): ${tk}, manifest SHA-256 [0-9a-f]{64}$`, 'm'));
    t.match(
      r.stdout,
      /^ {4}(\d+) objects copied into cases\/IR-2026-0001\/tools\/toolkit\/, each SHA-256 in the record; \1 of them equal to the wheelhouse's files here ✓$/m,
    );

    // The toolkit on the evidence, locally: as root, on a read-only loop device; otherwise the demo
    // says what it skipped and how to run it.
    if (process.getuid?.() === 0) {
      t.match(r.stdout, /^\$ bash scripts\/demo-toolkit \.cache\/toolkit\/demo$/m);
      t.match(r.stdout, new RegExp(`^\\{"toolkitId":"${tk}","status":"installed"`, 'm'), 'installed offline');
      t.match(r.stdout, /read-only \(blockdev --getro: 1\)/);
      const users = [...r.stdout.matchAll(/^ {4}([a-z][\w-]*) +uid \d+ /gm)].map((m) => m[1]);
      t.same(users, ['root', 'daemon', 'www-data', 'sshd', 'deploy'], 'target-query lists the users');
      t.match(
        r.stdout,
        /^ {4}2026-11-28T03:14:07 +uid 33 +98 B +\/var\/www\/html\/uploads\/\.cache\.php$/m,
        'and the web shell',
      );
      const before = /^ {2}SHA-256 of \/dev\/loop\d+ before: ([0-9a-f]{64})/m.exec(r.stdout)?.[1];
      const after = /^ {2}SHA-256 of the device after: +([0-9a-f]{64}) +✓ unchanged$/m.exec(r.stdout)?.[1];
      t.ok(before, 'the device hashed before');
      t.equal(after, before, 'and unchanged after');
    } else {
      t.match(r.stdout, /SKIPPED \(not root\): the toolkit on the evidence image/);
      t.match(r.stdout, 'Run it with: sudo bash scripts/demo-toolkit .cache/toolkit/demo');
    }

    // The way in: the command line the analyst types, a stand-in plugin said to be one, and the
    // session recorded: start and end, the transcript hashed; the bundle carries the transcript.
    t.match(r.stdout, 'the plugin here is a stand-in');
    t.match(r.stdout, 'No session into a real instance happened.');
    t.match(r.stdout, 'cleanroom room shell --case IR-2026-0001 --port-forward 8080:80');
    const sid = /^Session (\S+) to i-\w+ closed \(/m.exec(r.stdout)?.[1];
    t.ok(sid, 'room shell closed the session');
    t.match(
      r.stdout,
      new RegExp(`^ {2}transcript +s3://\\S+/cases/IR-2026-0001/sessions/${sid}\\.log.*SHA-256 [0-9a-f]{64}$`, 'm'),
    );
    t.match(r.stdout, /Session Manager knows no session to i-\w+ that the record does not hold\./);
    t.match(r.stdout, new RegExp(`room\\.session\\.start .*session ${sid}`), 'custody log: the start');
    t.match(
      r.stdout,
      new RegExp(`^ {4}the bundle's sessions/${sid}\\.log hashes to ([0-9a-f]{64}) ✓$`, 'm'),
      'the bundle carries the transcript, its hash the recorded one',
    );

    // Containment undid what the compromised instance had: both interfaces, its credentials, its
    // Auto Scaling group and its target groups.
    t.match(r.stdout, /✓ leave-asg +done +detach from Auto Scaling group web/);
    t.match(r.stdout, /✓ leave-target-groups +done +deregister from web, web-ip/);
    t.match(r.stdout, /✓ swap-groups +done +move eni-\w+, eni-\w+ to the transit group, then to the isolation group/);
    t.match(r.stdout, /✓ swap-profile +done +replace instance profile web-server with the deny-all profile/);
    t.match(r.stdout, /✓ revoke-sessions +done/);
    t.match(r.stdout, /✓ leave-classic-lbs +done +deregister from Classic Load Balancer web-classic/);
    // web-02, cleared, is given back: its groups, profile, target group and Classic Load Balancer.
    t.match(r.stdout, /^Released i-\w+ \(account 111111111111, us-east-1\) for case IR-2026-0001/m);
    t.match(r.stdout, /✓ profile +done +associate instance profile web-server again/);
    t.match(r.stdout, /✓ groups +done +put 1 interface\(s\) back in their groups/);
    t.match(r.stdout, /✓ cleanup +done +delete sg-\w+; sg-\w+ kept \(still used by eni-\w+, eni-\w+\)/);
    t.match(r.stdout, /✓ elb +done +register with web-classic again/);
    t.match(r.stdout, /✓ targets +done +register in web again/);
    t.match(r.stdout, /✓ tag +done +replace cleanroom:quarantine with cleanroom:released=/);
    t.match(r.stdout, /2 evidence item\(s\) of case IR-2026-0001 preserved under the case key/);

    // The disks hold the fixture images; their SHA-256, computed without cleanroom, is shown first,
    // and what cleanroom recorded is held against it (exit 3 from the demo if any differs).
    const fixture = Object.fromEntries(
      [...r.stdout.matchAll(/^ {2}(\/dev\/\w+) +(root|data) +([0-9a-f]{64})$/gm)].map((m) => [m[1], m[3]]),
    );
    t.same(Object.keys(fixture), ['/dev/xvda', '/dev/sdf'], 'the fixture images hashed before the case starts');
    const equal = (label: string) =>
      [
        ...r.stdout.matchAll(
          new RegExp(`^ {4}${label} +([0-9a-f]{64})\\n {4}fixture image +([0-9a-f]{64}) {2}✓ equal$`, 'gm'),
        ),
      ]
        .filter((m) => m[1] === m[2])
        .map((m) => m[1]);
    t.same(equal('acquisition hash').sort(), Object.values(fixture).sort(), 'each acquisition hash');
    t.same(equal('exported image'), [fixture['/dev/sdf']], 'the exported data image');

    // Close proves what it deletes: without --accept-unverified, each working volume's written-to
    // check runs for real (the local AWS holds the disks' content) and finds it unchanged.
    t.notMatch(r.stdout, /--accept-unverified/);
    t.equal(
      [
        ...r.stdout.matchAll(
          /^ {2}written-to check of vol-\w+ \(ev-[\w-]+\) against snap-\w+: unchanged \[changed-blocks\]$/gm,
        ),
      ].length,
      2,
    );
    t.match(r.stdout, /^Working volumes deleted: vol-\w+, vol-\w+\.$/m);

    // The custody record verifies before and after close; close added events.
    const verified = [
      ...r.stdout.matchAll(/^Case IR-2026-0001: the (?:custody record|bundle) verifies — (\d+) event\(s\)/gm),
    ].map((m) => Number(m[1]));
    t.equal(verified.length, 3, 'custody verify: the vault, the bundle, the vault after close');
    t.equal(verified[0], verified[1], 'the bundle holds the record as exported');
    t.ok(verified[2]! > verified[0]!, 'close is in the custody record');
    t.match(
      r.stdout,
      /Demo passed in \d+ s: case IR-2026-0001 closed, its custody record verifies, and the exported bundle verified offline\./,
    );
    t.notMatch(all, /NodeVersionSupportWarning/);

    // The bundle the demo leaves behind verifies offline, with no AWS at all, anchored to the
    // fingerprint export printed (the demo says how).
    const bundle = /^The custody bundle is in (\S+) \(report\.html, SHA256SUMS\)\./m.exec(r.stdout)?.[1];
    t.ok(bundle, 'the demo says where the bundle is');
    const fp = /^Signing key SHA-256: ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    t.ok(fp, 'export printed the signing key fingerprint');
    t.match(r.stdout, `Verify it anywhere with: cleanroom custody verify --bundle ${bundle} --key-fingerprint ${fp}`);
    t.match(r.stdout, `$ cleanroom custody verify --bundle ${bundle} --key-fingerprint ${fp}`);
    t.teardown(() => rmSync(path.dirname(bundle!), { recursive: true, force: true }));
    const offline = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
      execFile(
        process.execPath,
        [
          path.join(ROOT, 'dist/cli/bin.js'),
          'custody',
          'verify',
          '--bundle',
          bundle!,
          '--key-fingerprint',
          fp!,
          '--json',
        ],
        { env, cwd: ROOT },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    t.equal(offline.code, 0, offline.stderr);
    const doc = JSON.parse(offline.stdout) as { case: string; ok: boolean; events: number; findings: unknown[] };
    t.match(doc, { case: 'IR-2026-0001', ok: true, events: verified[1], findings: [] });
  },
);

t.test(
  "a failing step makes the demo exit with that step's exit code, says which step failed, and stops the local AWS",
  async (t) => {
    // A case id the contract refuses: `room up` exits 2 (bad usage) before any AWS call.
    const r = await demo({ CASE: 'bad id!' });
    t.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    t.match(r.stderr, /Case id "bad id!" is not valid/);
    t.match(r.stderr, /Demo FAILED at step 4, cleanroom room up --case bad id! \(exit 2\)/);
    t.notMatch(r.stdout, /Demo passed/);
    const pid = motoPid(r);
    t.equal(running(pid), false, `the local AWS (PID ${pid}) is stopped`);
    t.match(r.stdout, `Local AWS (moto, PID ${pid}) stopped.`);
  },
);
