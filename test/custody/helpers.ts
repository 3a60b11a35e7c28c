/** Shared by the custody tests: run the CLI against the local AWS, open accounts, read raw objects. */
import { execFile } from 'node:child_process';
import type { Test } from 'tap';
import path from 'node:path';
import { openAccount } from '../../src/aws/account.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { ROOT, useLocalAws, type LocalAws } from '../../local-aws/local-aws.js';

export const VAULT = 'cleanroom-evidence-123456789012-us-east-1';
export const BIN = path.join(ROOT, 'dist/cli/bin.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => any;
}

/** Run `cleanroom ...args` as a child process pointed at the local AWS (or with `env` as given). */
export function cli(aws: LocalAws | undefined, args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: env ?? aws!.env(), cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    );
  });
}

/** An account on the local AWS (process.env was pointed at it by useLocalAws), counting calls. */
export async function account(calls?: Map<string, number>): Promise<AwsAccount> {
  return openAccount({
    region: 'us-east-1',
    maxAttempts: 1,
    ...(calls ? { onCall: (s: string, o: string) => calls.set(`${s}:${o}`, (calls.get(`${s}:${o}`) ?? 0) + 1) } : {}),
  });
}

/** Total calls of one service in a counter map. */
export function callsOf(calls: Map<string, number>, service: string): number {
  let n = 0;
  for (const [k, v] of calls) if (k.startsWith(`${service}:`)) n += v;
  return n;
}

/** An environment with nothing that could reach AWS (offline bundle verification). */
export function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('AWS_') && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** The local AWS for a test, with the vault made by the CLI (`vault init` exits 0), and an account on it. */
export async function withVault(t: Test): Promise<{ aws: LocalAws; acct: AwsAccount }> {
  const aws = await useLocalAws(t);
  t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');
  return { aws, acct: await account() };
}
