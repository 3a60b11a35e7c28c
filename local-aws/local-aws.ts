/**
 * The local AWS for tests and benchmarks: moto 5.2.1 in server mode, one server per test file (files
 * run in parallel and never see each other's state), on a port the OS picks, stopped by PID when the
 * file ends — also when a test fails or the process dies. The demo starts the same launcher from the
 * shell (scripts/local-aws/start). See docs/local-aws.md.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = path.join(ROOT, '.venv/bin/python');
const LAUNCHER = path.join(ROOT, 'local-aws/moto_launcher.py');
/** The local test CA that signs moto's TLS certificate (created by scripts/setup-venv). */
export const TEST_CA_DIR = path.join(ROOT, '.venv/cleanroom-test-ca');
export const TEST_CA_CERT = path.join(TEST_CA_DIR, 'ca.pem');

export interface LocalAws {
  endpoint: string;
  port: number;
  /** Directory with moto's leaf certificate and key (leaf.pem, leaf.key), for the fault proxy. */
  leafDir: string;
  /**
   * The local AWS's own files: unpacked Lambda code (`lambda/code/<CodeSha256 hex>/`) and one log per
   * Lambda invocation (`lambda/logs/<function>/<request id>.log`, the function's stdout and stderr).
   * Removed by stop().
   */
  stateDir: string;
  /** Every Lambda invocation log so far (of one function, or all), oldest first: print it when a test fails. */
  lambdaLogs(functionName?: string): string;
  pid: number;
  /** POST /moto-api/reset: forget all state. */
  reset(): Promise<void>;
  /** Stop the server (idempotent). */
  stop(): Promise<void>;
  /** Environment for a child process (the CLI) that points the SDK at this server. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Test-only (no such AWS API): write one block of a volume, as a process writing to the attached disk would. */
  writeVolumeBlock(w: VolumeBlockWrite): Promise<{ checksum: string }>;
}

/** One 512 KiB block written to an EC2 volume of the local AWS (`ebs_snapshot_content` patch). */
export interface VolumeBlockWrite {
  volumeId: string;
  /** Block index: byte offset / 524288. */
  blockIndex: number;
  /** At most 524288 bytes; the rest of the block is zeros. */
  data: Uint8Array;
  /** Default: moto's default account, 123456789012. */
  account?: string;
  /** Default: us-east-1. */
  region?: string;
}

/**
 * POST /moto-api/cleanroom/volume-block on the local AWS at `endpoint`: a test-only endpoint of the
 * `ebs_snapshot_content` fidelity patch (it exists only in the local AWS; docs/local-aws.md). The
 * volume's next snapshot carries the block.
 */
export async function writeVolumeBlock(endpoint: string, w: VolumeBlockWrite): Promise<{ checksum: string }> {
  const r = await fetch(`${endpoint}/moto-api/cleanroom/volume-block`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      account: w.account ?? '123456789012',
      region: w.region ?? 'us-east-1',
      volumeId: w.volumeId,
      blockIndex: w.blockIndex,
      data: Buffer.from(w.data).toString('base64'),
    }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`writeVolumeBlock ${w.volumeId}[${w.blockIndex}]: HTTP ${r.status} ${text}`);
  return JSON.parse(text) as { checksum: string };
}

/** The Lambda invocation logs under a local AWS's state directory, oldest first, each headed by its file name. */
export function lambdaLogs(stateDir: string, functionName?: string): string {
  const root = path.join(stateDir, 'lambda', 'logs');
  let fns: string[];
  try {
    fns = functionName ? [functionName] : readdirSync(root);
  } catch {
    return '';
  }
  const files: { file: string; mtime: number }[] = [];
  for (const fn of fns) {
    let names: string[] = [];
    try {
      names = readdirSync(path.join(root, fn));
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(root, fn, n);
      files.push({ file, mtime: statSync(file).mtimeMs });
    }
  }
  files.sort((a, b) => a.mtime - b.mtime);
  return files.map((f) => `--- ${path.relative(root, f.file)}\n${readFileSync(f.file, 'utf8')}`).join('\n');
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

let venvReady = false;
function ensureVenv(): void {
  if (venvReady) return;
  execFileSync('bash', [path.join(ROOT, 'scripts/setup-venv')], { stdio: ['ignore', 'inherit', 'inherit'] });
  venvReady = true;
  // Node reads NODE_EXTRA_CA_CERTS only at start-up, so the test process must have been started
  // with it (scripts/test does that): say so plainly instead of failing with a TLS error later.
  if (process.env.NODE_EXTRA_CA_CERTS !== TEST_CA_CERT) {
    throw new Error(
      `The local AWS serves TLS with a test CA this process does not trust: run tests through \`npm test -- <file>\` (scripts/test), or set NODE_EXTRA_CA_CERTS=${TEST_CA_CERT}.`,
    );
  }
}

/** Credentials and settings every SDK call in a test uses: fake keys, a fixed region, moto's endpoint. */
export function awsEnv(endpoint: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  return {
    ...env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    NODE_EXTRA_CA_CERTS: TEST_CA_CERT,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...extra,
  };
}

export async function startLocalAws(opts: { env?: Record<string, string> } = {}): Promise<LocalAws> {
  ensureVenv();
  const child = spawn(PYTHON, [LAUNCHER, '--port', '0', '--ca-dir', TEST_CA_DIR], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // CLEANROOM_LAMBDA_NODE: the Node that runs Lambda functions' code (patches/lambda_invoke_node.py) —
    // this one (Node 24), whatever nodejsNN.x a function names.
    env: { ...process.env, MOTO_EC2_LOAD_DEFAULT_AMIS: 'false', CLEANROOM_LAMBDA_NODE: process.execPath, ...opts.env },
  });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const { port, leafDir, stateDir } = await new Promise<{ port: number; leafDir: string; stateDir: string }>(
    (resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once('line', (line) => {
        try {
          resolve(JSON.parse(line));
        } catch (e) {
          reject(new Error(`moto launcher printed ${line}: ${e}`));
        }
      });
      child.once('exit', (code) => reject(new Error(`moto exited with ${code} before it was ready:\n${stderr}`)));
    },
  );
  const endpoint = `https://127.0.0.1:${port}`;
  // Ready when the moto API answers (about half a second after start).
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${endpoint}/moto-api/data.json`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 200) throw new Error(`moto on ${endpoint} did not answer:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped = false;
  return {
    endpoint,
    port,
    leafDir,
    stateDir,
    pid: child.pid!,
    lambdaLogs: (functionName) => lambdaLogs(stateDir, functionName),
    async reset() {
      const r = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!r.ok) throw new Error(`moto reset failed: HTTP ${r.status}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      live.delete(child);
      rmSync(stateDir, { recursive: true, force: true });
    },
    env: (extra = {}) => awsEnv(endpoint, extra),
    writeVolumeBlock: (w) => writeVolumeBlock(endpoint, w),
  };
}

/** Tap helper: a local AWS for this test file, stopped in teardown; sets process.env for in-process SDK use. */
export async function useLocalAws(t: { teardown(fn: () => unknown): void }): Promise<LocalAws> {
  const aws = await startLocalAws();
  const saved = { ...process.env };
  Object.assign(process.env, aws.env());
  t.teardown(async () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await aws.stop();
  });
  return aws;
}
