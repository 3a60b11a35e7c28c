/**
 * Hostile command lines against the real binary (dist/cli/bin.js, a child process): bad usage,
 * bad numbers, bad output paths, region typos, missing profiles. Every one exits with the
 * contract's code, a stable error code and a message that names the flag, echoes the input and
 * says the fix; with --json exactly one parseable document is on stdout; no stack trace reaches
 * the user; and no AWS call is made — AWS_ENDPOINT_URL points at a local server that counts the
 * requests it gets (none may arrive). No local AWS is needed.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BIN, runCli, type Run } from './acquire-helpers.js';
import { PassThrough } from 'node:stream';
import { COMMAND_TREE } from '../../src/cli/usage.js';
import { main } from '../../src/cli/main.js';

const ROLE = 'arn:aws:iam::111111111111:role/IncidentResponder';

async function countingEndpoint(t: Test) {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.statusCode = 500;
    res.end('no AWS here');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

/** Run command lines with a bounded number of children at once. */
async function runAll<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

function oneJsonDocument(t: Test, r: Run, what: string): any {
  let doc: any;
  t.doesNotThrow(
    () => (doc = JSON.parse(r.stdout)),
    `${what}: stdout is one JSON document (${JSON.stringify(r.stdout.slice(0, 200))})`,
  );
  return doc;
}

t.test(
  'hostile command lines: exit code, error code and message, one JSON document, no stack, no AWS call',
  async (t) => {
    const aws = await countingEndpoint(t);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-hostile-'));
    t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const config = path.join(tmp, 'config');
    fs.writeFileSync(config, '[default]\nregion = us-east-1\n[profile real]\nregion = us-east-1\n');
    fs.symlinkSync(path.join(tmp, 'nowhere'), path.join(tmp, 'dangling'));
    fs.mkdirSync(path.join(tmp, 'full'));
    fs.writeFileSync(path.join(tmp, 'full', 'old.txt'), 'an earlier bundle');
    fs.writeFileSync(path.join(tmp, 'file'), 'x');
    fs.symlinkSync('/proc/self', path.join(tmp, 'proc-link'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: tmp,
      AWS_ENDPOINT_URL: aws.url,
      AWS_MAX_ATTEMPTS: '1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'credentials'),
    };
    const out = (p: string) => ['custody', 'export', '--case', 'IR-1', '--out', p];
    // [command line, exit, error code, message fragment, message must NOT match, extra env]
    const cases: Array<[string[], number, string, RegExp, RegExp?, NodeJS.ProcessEnv?]> = [
      // unknown options: named once, as typed, with the command
      [
        ['acquire', '--case', 'IR-1', '--source-role-arn2', ROLE],
        2,
        'UNKNOWN_OPTION',
        /^Unknown option --source-role-arn2 for `cleanroom acquire`/,
        /sourceRoleArn/,
      ],
      [
        ['vault', 'init', '--source-role-arn', ROLE],
        2,
        'UNKNOWN_OPTION',
        /^Unknown option --source-role-arn for `cleanroom vault init`\./,
        /sourceRoleArn|--source-role-arn.*--source-role-arn/,
      ],
      [
        ['--region', 'us-east-1', 'room', 'up', '--case', 'IR-1', '--source-profile', 'real'],
        2,
        'UNKNOWN_OPTION',
        /^Unknown option --source-profile for `cleanroom room up`/,
        /sourceProfile/,
      ],
      [
        ['acquire', '--case', 'IR-1', '--instance', 'i-1', '--souce-region', 'us-east-1'],
        2,
        'UNKNOWN_OPTION',
        /--souce-region for `cleanroom acquire`/,
        /souceRegion/,
      ],
      [
        ['room', 'up', '--case', 'IR-1', '--instanceType2', 'm5.large'],
        2,
        'UNKNOWN_OPTION',
        /--instanceType2 for `cleanroom room up`/,
      ],
      [
        ['custody', 'export', '--case', 'IR-1', '--out', 'x', '--force'],
        2,
        'UNKNOWN_OPTION',
        /--force for `cleanroom custody export`/,
      ],
      // commands
      [['rooom'], 2, 'UNKNOWN_COMMAND', /did you mean room/],
      [[], 2, 'MISSING_COMMAND', /Name a command/],
      [['room'], 2, 'MISSING_COMMAND', /Name a room command/],
      [['room', 'list', 'extra'], 2, 'UNEXPECTED_ARGUMENT', /`cleanroom room list` does not take "extra"/],
      // missing and conflicting options
      [['acquire'], 2, 'MISSING_OPTION', /`cleanroom acquire` needs --case/],
      [['isolate', '--case', 'IR-1'], 2, 'MISSING_OPTION', /needs --instance/],
      [['custody', 'export', '--case', 'IR-1'], 2, 'MISSING_OPTION', /`cleanroom custody export` needs --out/],
      [['custody', 'verify'], 2, 'MISSING_OPTION', /Give --case ID or --bundle DIR/],
      [
        ['custody', 'verify', '--case', 'IR-1', '--bundle', tmp],
        2,
        'CONFLICTING_OPTIONS',
        /--case and --bundle are mutually exclusive/,
      ],
      [
        ['isolate', '--case', 'IR-1', '--instance', 'i-1', '--source-profile', 'real', '--source-role-arn', ROLE],
        2,
        'CONFLICTING_OPTIONS',
        /--source-profile and --source-role-arn are mutually exclusive/,
      ],
      [
        ['vault', 'init', '--lock-mode', 'FOREVER'],
        2,
        'INVALID_VALUE',
        /--lock-mode must be one of COMPLIANCE, GOVERNANCE, got "FOREVER"/,
      ],
      // numbers: the flag, its unit, the input as typed
      [
        ['vault', 'init', '--retention-days', 'abc'],
        2,
        'INVALID_RETENTION',
        /--retention-days must be a whole number of days \(1–36500\), got "abc"/,
        /NaN/,
      ],
      [['vault', 'init', '--retention-days', '1.5'], 2, 'INVALID_RETENTION', /got "1.5"/],
      [['vault', 'init', '--retention-days', '99999'], 2, 'INVALID_RETENTION', /\(1–36500\), got "99999"/],
      [
        ['case', 'close', '--case', 'IR-1', '--wait-minutes', '-1'],
        2,
        'INVALID_BUDGET',
        /--wait-minutes must be a number of minutes \(0 or more\), got "-1"/,
        /detachMs|ms\b/,
      ],
      [
        ['case', 'close', '--case', 'IR-1', '--key-deletion-window-days', '3'],
        2,
        'INVALID_KEY_WINDOW',
        /--key-deletion-window-days must be a whole number of days \(7–30\), got "3"/,
      ],
      [
        ['case', 'close', '--case', 'IR-1', '--snapshot-lock-days', 'ten'],
        2,
        'INVALID_LOCK_DAYS',
        /--snapshot-lock-days must be a whole number of days \(1–36500\), got "ten"/,
      ],
      [
        ['acquire', '--case', 'IR-1', '--instance', 'i-1', '--concurrency', '0'],
        2,
        'INVALID_CONCURRENCY',
        /--concurrency must be a whole number of volumes in flight \(1–500\), got "0"/,
      ],
      [
        ['acquire', '--case', 'IR-1', '--instance', 'i-1', '--budget-minutes', 'soon'],
        2,
        'INVALID_BUDGET',
        /--budget-minutes must be a number of minutes \(0 or more\), got "soon"/,
      ],
      [
        ['evidence', 'attach', '--case', 'IR-1', '--evidence', 'ev-1', '--readonly-check-seconds', '-5'],
        2,
        'INVALID_BUDGET',
        /--readonly-check-seconds must be a number of seconds \(0 or more\), got "-5"/,
      ],
      [
        [
          'evidence',
          'detach',
          '--case',
          'IR-1',
          '--evidence',
          'ev-1',
          '--budget-minutes-per-gib',
          '1',
          '--budget-minutes-per-gib',
          '2',
        ],
        2,
        'INVALID_BUDGET',
        /--budget-minutes-per-gib was given 2 times/,
      ],
      // output paths: before any work, without recursing into /proc
      [out('/sys/kernel/x'), 2, 'OUT_INVALID', /--out "\/sys\/kernel\/x" cannot be used: it is under \/sys/],
      [out('/dev/null/x'), 2, 'OUT_INVALID', /--out "\/dev\/null\/x" cannot be used: it is under \/dev/],
      [out('/proc/self/x'), 2, 'OUT_INVALID', /--out "\/proc\/self\/x" cannot be used: it is under \/proc/],
      [out(path.join(tmp, 'proc-link', 'x')), 2, 'OUT_INVALID', /is \/proc\/\d+, under \/proc/],
      [out(path.join(tmp, 'dangling')), 2, 'OUT_INVALID', /it is a symbolic link to nothing/],
      [out(path.join(tmp, 'full')), 2, 'OUT_NOT_EMPTY', /it is a folder that is not empty/],
      [out(path.join(tmp, 'file', 'x')), 2, 'OUT_INVALID', /file is a file, not a folder/],
      [
        out(path.join(tmp, 'no', 'such', 'x')),
        2,
        'OUT_INVALID',
        /its parent folder .*no\/such does not exist. Create it first/,
      ],
      [out(''), 2, 'OUT_INVALID', /--out "" cannot be used: it is empty/],
      // regions: checked against the SDK's partitions before any call, in every command
      [
        ['room', 'status', '--case', 'IR-1', '--region', 'us-esat-1'],
        2,
        'UNKNOWN_REGION',
        /us-esat-1 .*--region.*Did you mean us-east-1/,
      ],
      [['vault', 'verify', '--region', 'eu-westt-1'], 2, 'UNKNOWN_REGION', /eu-westt-1 .*--region.*eu-west-1/],
      [
        ['vault', 'verify'],
        2,
        'UNKNOWN_REGION',
        /us-wst-2 .*AWS_REGION.*us-west-2/,
        undefined,
        { AWS_REGION: 'us-wst-2' },
      ],
      [
        ['acquire', '--case', 'IR-1', '--instance', 'i-1', '--source-role-arn', ROLE, '--source-region', 'eu-centrl-1'],
        2,
        'UNKNOWN_REGION',
        /eu-centrl-1 .*--source-region.*eu-central-1/,
      ],
      [
        ['isolate', '--case', 'IR-1', '--instance', 'i-1', '--source-region', 'mars'],
        2,
        'UNKNOWN_REGION',
        /"mars" is not an AWS region name.*--source-region/,
      ],
      // profiles
      [
        ['vault', 'verify', '--profile', 'nope'],
        2,
        'PROFILE_NOT_FOUND',
        /Profile nope \(--profile\) is not in .*config or .*credentials \(profiles there: default, real\)/,
        /credentials were found/,
      ],
      [
        ['acquire', '--case', 'IR-1', '--instance', 'i-1', '--source-profile', 'nope2'],
        2,
        'PROFILE_NOT_FOUND',
        /Profile nope2 \(--source-profile\)/,
      ],
      // case ids
      [['room', 'status', '--case', 'bad id!'], 2, 'INVALID_CASE_ID', /Case id "bad id!" is not valid/],
    ];
    t.ok(cases.length >= 30, `${cases.length} hostile command lines`);
    await runAll(cases, 4, async ([args, exit, code, message, not, extraEnv]) => {
      const what = `cleanroom ${args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
      const r = await runCli({ ...env, ...extraEnv }, [...args, '--json']);
      t.equal(r.code, exit, `${what}: exit ${exit} (${r.stderr.trim().split('\n')[0]})`);
      const doc = oneJsonDocument(t, r, what);
      t.equal(doc?.error?.code, code, `${what}: code ${code}`);
      t.match(doc?.error?.message, message, `${what}: message`);
      if (not) t.notMatch(doc?.error?.message, not, `${what}: message does not say ${not}`);
      t.match(r.stderr, /^error: /, `${what}: one line on stderr`);
      t.notMatch(r.stderr, /\n\s+at \S+ \(|TypeError|ReferenceError/, `${what}: no stack trace`);
    });
    t.equal(aws.requests(), 0, 'no AWS request was made by any of them');
  },
);

t.test('without --json: the same errors are one line on stderr, stdout stays empty', async (t) => {
  const aws = await countingEndpoint(t);
  const env = {
    PATH: process.env.PATH,
    AWS_ENDPOINT_URL: aws.url,
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  for (const args of [
    ['acquire', '--case', 'IR-1', '--source-role-arn2', ROLE],
    ['custody', 'export', '--case', 'IR-1', '--out', '/proc/self/x'],
    ['vault', 'init', '--retention-days', 'abc'],
  ]) {
    const r = await runCli(env, args);
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.stdout, '', 'stdout empty');
    t.match(r.stderr, /^error: .+\n/);
    t.equal((r.stderr.match(/--source-role-arn2/g) ?? []).length <= 1, true, 'the unknown option is named once');
  }
  t.equal(aws.requests(), 0);
});

t.test(
  'every command × kinds of usage error: with --json one parseable document, exit 2 (in process: main())',
  async (t) => {
    const aws = await countingEndpoint(t);
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: aws.url,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    });
    t.teardown(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      process.exitCode = 0;
    });
    // The command tree iterated here is the one the binary offers.
    const help = JSON.parse((await runMain(['--help', '--json'])).out).help;
    for (const top of Object.keys(COMMAND_TREE))
      t.match(help, new RegExp(`cleanroom ${top}\\b`), `--help lists ${top}`);
    const commands = Object.entries(COMMAND_TREE).flatMap(([top, subs]) =>
      subs.length ? subs.map((s) => [top, s]) : [[top]],
    );
    const kinds: Array<[string, string[], string]> = [
      ['an unknown option', ['--no-such-flag', 'x'], 'UNKNOWN_OPTION'],
      ['an unknown camelCase option', ['--noSuchFlag'], 'UNKNOWN_OPTION'],
      ['a stray word', ['stray-word'], 'UNEXPECTED_ARGUMENT'],
      ['a region typo', ['--region', 'us-esat-1'], 'UNKNOWN_REGION'],
      ['a missing profile', ['--profile', 'ghost'], 'PROFILE_NOT_FOUND'],
      ['a --profile without its value', ['--profile'], 'PROFILE_NOT_FOUND'],
    ];
    // What each command needs besides the hostile part, so that only the hostile part is wrong.
    const needs = (cmd: string[]): string[] => {
      const c = cmd.join(' ');
      if (c === 'vault init' || c === 'vault verify' || c === 'room list') return [];
      if (c === 'memory tools') return ['--avml', '/bin/true'];
      const base = ['--case', 'IR-1'];
      if (c === 'isolate' || c === 'acquire') return [...base, '--instance', 'i-1'];
      if (c === 'evidence attach' || c === 'evidence detach') return [...base, '--evidence', 'ev-1'];
      if (c === 'custody export') return [...base, '--out', path.join(os.tmpdir(), 'cleanroom-hostile-new-bundle')];
      return base;
    };
    let n = 0;
    for (const cmd of commands) {
      for (const [kind, extra, code] of kinds) {
        n++;
        const argv =
          kind === 'a stray word'
            ? [...cmd, ...extra, ...needs(cmd), '--json']
            : [...cmd, ...needs(cmd), '--json', ...extra];
        const r = await runMain(argv);
        const what = `cleanroom ${argv.join(' ')} (${kind})`;
        t.equal(r.code, 2, `${what}: exit 2 (${r.err.trim().split('\n')[0]})`);
        let doc: any;
        t.doesNotThrow(() => (doc = JSON.parse(r.out)), `${what}: one JSON document on stdout`);
        t.equal(doc?.error?.code, code, `${what}: code`);
        t.type(doc?.error?.message, 'string', `${what}: a message`);
      }
    }
    t.ok(n >= 90, `${n} command lines`);
    t.equal(aws.requests(), 0, 'no AWS request');
  },
);

/** Run main() in this process with captured output. */
async function runMain(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), isTTY: false });
  process.exitCode = 0;
  return { code, out, err };
}

t.test('--help and --version stay sane: text on stdout, exit 0; with --json one document', async (t) => {
  const env = { PATH: process.env.PATH };
  const h = await runCli(env, ['room', 'up', '--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /--case/);
  const hj = await runCli(env, ['room', 'up', '--help', '--json']);
  t.equal(hj.code, 0);
  t.match(JSON.parse(hj.stdout).help, /cleanroom room up/);
  const v = await runCli(env, ['--version', '--json']);
  t.equal(v.code, 0);
  t.match(JSON.parse(v.stdout).version, /^\d+\.\d+\.\d+/);
  t.ok(BIN);
});
