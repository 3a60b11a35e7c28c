/**
 * The memory capture script (scripts/guest-source/cleanroom-memory-capture, embedded as
 * MEMORY_CAPTURE_SCRIPT) run for real on this machine as a stand-in for the compromised host,
 * against the local AWS's S3: the upload is created, presigned and completed by the library
 * (src/evidence/memory-upload.ts), the script downloads its tool and part list through presigned
 * GETs and PUTs the parts through presigned part URLs — with no AWS credential in its
 * environment. AVML is a stand-in (a script that writes a fixture of known bytes in LiME layout
 * into its destination: not a memory image), put into the vault as the tool with its SHA-256.
 *
 * What SSM adds in production (running the script as root on the instance) is not here: the
 * local AWS's SSM runs nothing (docs/local-aws.md).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TEST_CA_CERT, useLocalAws } from '../../local-aws/local-aws.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { openAccount } from '../../src/aws/account.js';
import { initVault } from '../../src/workflows/vault/index.js';
import { putVaultObjectOnce } from '../../src/resources/vault-object.js';
import { MEMORY_CAPTURE_SCRIPT } from '../../src/assets/generated/memory-capture.js';
import { memoryToolKey, presignMemoryToolUrl } from '../../src/evidence/memory-tool.js';
import {
  abortMemoryUpload,
  completeMemoryUpload,
  listUploadedParts,
  memoryImageKey,
  openUploadsFor,
  planMemoryUpload,
  readBackSha256,
  startMemoryUpload,
  type MemoryVault,
} from '../../src/evidence/memory-upload.js';
import type { CleanroomError } from '../../src/domain/errors.js';
import { bashAvml, lime } from '../workflows/memory/stand-in.js';

const MiB = 2 ** 20;
const VAULT = 'cleanroom-evidence-123456789012-us-east-1';
const CASE = 'case-memory';
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-memory-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The image: three ranges, 20 MiB and a bit — three parts of 8 MiB (the last one short).
const IMAGE = lime([
  { start: 0x1000, data: randomBytes(12 * MiB) },
  { start: 0x100000000, data: randomBytes(8 * MiB) },
  { start: 0x200000000, data: randomBytes(4096 + 17) },
]);
const IMAGE_FILE = path.join(tmp, 'fixture.lime');
fs.writeFileSync(IMAGE_FILE, IMAGE);
const RAN = path.join(tmp, 'stand-in-ran');
/** The stand-in AVML: answers --version and --help as AVML 0.21 does, and `acquire … DEST` copies the fixture into DEST. */
const STAND_IN = bashAvml(`echo "$*" >> ${JSON.stringify(RAN)}
exec cat ${JSON.stringify(IMAGE_FILE)} > "\${@: -1}"`);
const SCRIPT = path.join(tmp, 'cleanroom-memory-capture');
fs.writeFileSync(SCRIPT, MEMORY_CAPTURE_SCRIPT, { mode: 0o755 });

const aws = await useLocalAws(t);
// Every request, the script's included, goes through the proxy: the tests see (and can act on) each PUT.
const proxy = await startFaultProxy(aws);
t.teardown(() => proxy.close());
process.env.AWS_ENDPOINT_URL = proxy.endpoint;
// A secret unlike the key id, to show it is in no URL handed to the host (the local AWS checks no signature).
const SECRET = 'memory-test-secret-never-in-a-url';
process.env.AWS_SECRET_ACCESS_KEY = SECRET;
const account = await openAccount({ region: 'us-east-1', maxAttempts: 1 });
const init = await initVault(account, { bucket: VAULT });
const vault: MemoryVault = { account, bucket: VAULT, vaultKeyArn: init.kmsKeyArn };
/** Put a tool into the vault as `memory tools` does (its key is its SHA-256); its SHA-256. */
async function putTool(body: Buffer): Promise<string> {
  const sha = sha256(body);
  await putVaultObjectOnce(account, {
    bucket: VAULT,
    key: memoryToolKey(sha),
    body,
    sha256: sha,
    vaultKeyArn: init.kmsKeyArn,
    contentType: 'application/octet-stream',
  });
  return sha;
}
const toolSha = await putTool(STAND_IN);
// What AVML 0.21 does on a host whose memory sources are all closed (as on this machine):
// "locked down /proc/kcore", exit 1, the FIFO never opened — the script must not wait for it.
const AVML_FAILING = bashAvml('echo "locked down /proc/kcore" >&2\nexit 1');
const avmlFailingSha = await putTool(AVML_FAILING);
/** A presigned GET of a tool in the vault, as the capture hands it to the host. */
const toolUrlFor = (sha: string) =>
  presignMemoryToolUrl({ account, bucket: VAULT }, { tool: { key: memoryToolKey(sha) }, expiresInSeconds: 900 });
const retention = () => ({ mode: init.lockMode, retainUntil: new Date(Date.now() + 86_400_000) });
const plan = planMemoryUpload({ memoryBytes: 16 * MiB });
let seq = 0;
/** A new image key (one per capture: a rerun never reuses one). */
const newKey = () => memoryImageKey(CASE, 'i-0123456789abcdef0', new Date(Date.UTC(2026, 0, 1, 0, 0, seq++)));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  result?: Record<string, unknown>;
  /** Still running after `killAfterMs`: killed (with everything it started). */
  hung: boolean;
}

/**
 * The script as the host runs it: bash, its five arguments, an environment with no AWS anything
 * (plus `env`). With `killAfterMs`, a script still running then is killed with everything it
 * started, and the run says it hung.
 */
function runScript(
  args: string[],
  o: { workdir?: string; onSpawn?: (pid: number) => void; env?: Record<string, string>; killAfterMs?: number } = {},
): Promise<Run> {
  const workdir = o.workdir ?? fs.mkdtempSync(path.join(tmp, 'work-'));
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args.map((a) => (a === '@WORKDIR' ? workdir : a))], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CURL_CA_BUNDLE: TEST_CA_CERT, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    o.onSpawn?.(child.pid!);
    let hung = false;
    const bound =
      o.killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            hung = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              // already ended
            }
          }, o.killAfterMs);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(bound);
      const m = /^CLEANROOM-MEMORY (\{.*\})$/m.exec(stdout);
      resolve({ code, signal, stdout, hung, ...(m ? { result: JSON.parse(m[1]!) as Record<string, unknown> } : {}) });
    });
  });
}

async function start(key: string, extra: { signingDate?: Date; expiresInSeconds?: number } = {}) {
  const up = await startMemoryUpload(vault, {
    key,
    retention: retention(),
    partCount: plan.partCount,
    partSize: plan.partSize,
    expiresInSeconds: extra.expiresInSeconds ?? 900,
    ...(extra.signingDate ? { signingDate: extra.signingDate } : {}),
  });
  return { up, toolUrl: await toolUrlFor(toolSha) };
}

const argsFor = (toolUrl: string, partsUrl: string, o: { toolSha?: string; deadline?: number } = {}) => [
  '--tool-url',
  toolUrl,
  '--tool-sha256',
  o.toolSha ?? toolSha,
  '--parts-url',
  partsUrl,
  '--workdir',
  '@WORKDIR',
  '--deadline',
  String(o.deadline ?? Math.floor(Date.now() / 1000) + 600),
];

const prefix = `cases/${CASE}/memory/`;

t.test('plan: parts of whole MiB, at least 8 MiB, at most 10,000, with room over the memory size', async (t) => {
  t.same(plan, { partSize: 8 * MiB, partCount: 67, capacityBytes: 67 * 8 * MiB });
  const big = planMemoryUpload({ memoryBytes: 768 * 2 ** 30 });
  t.ok(big.partCount <= 10_000 && big.partSize % MiB === 0 && big.capacityBytes > 768 * 2 ** 30 * 1.125);
});

t.test(
  '(a) the script uploads every part; the library completes; the read-back SHA-256 is the image and the host report',
  async (t) => {
    const key = newKey();
    const { up, toolUrl } = await start(key);
    const workdir = fs.mkdtempSync(path.join(tmp, 'work-'));
    const r = await runScript(argsFor(toolUrl, up.partsUrl), { workdir });
    t.equal(r.code, 0, r.stdout);
    t.equal(r.stdout.trim().split('\n').length, 1, 'one line on stdout, nothing else');
    t.match(r.result, {
      ok: true,
      bytes: IMAGE.length,
      sha256: sha256(IMAGE),
      partsUploaded: 3,
      tool: 'avml',
      toolVersion: '0.21.0',
      kernel: os.release(),
      code: '',
    });
    t.ok((r.result!.memTotalKiB as number) > 0, 'MemTotal read');
    t.same(fs.readdirSync(workdir), [], 'the script removed everything it wrote');
    const parts = await listUploadedParts(vault, { key, uploadId: up.uploadId });
    t.same(
      parts.map((p) => p.size),
      [8 * MiB, 8 * MiB, IMAGE.length - 16 * MiB],
    );
    const done = await completeMemoryUpload(vault, { key, uploadId: up.uploadId });
    t.equal(done.size, IMAGE.length);
    t.equal(done.parts, 3);
    const back = await readBackSha256(vault, {
      key,
      ...(done.versionId ? { versionId: done.versionId } : {}),
      rangeBytes: 5 * MiB,
    });
    t.same(back, { sha256: sha256(IMAGE), size: IMAGE.length }, "the vault holds the image's bytes");
    t.same(await openUploadsFor(vault, prefix), [], 'no upload left open');
    const head = await account.s3.headObject({ Bucket: VAULT, Key: key });
    t.equal(head.ServerSideEncryption, 'aws:kms', 'SSE-KMS');
    t.match(head.SSEKMSKeyId ?? '', init.kmsKeyArn.split('/').pop()!, 'under the vault key');
    const list = JSON.parse(
      (await (await account.s3.getObject({ Bucket: VAULT, Key: up.partsKey })).Body!.transformToString()) as string,
    );
    t.match(list, { schema: 'cleanroom.memory-parts.v1', partSize: 8 * MiB, expiresAt: up.expiresAt });
    t.equal(list.parts.length, plan.partCount);
    t.notOk(JSON.stringify(list).includes(SECRET), 'the part list holds presigned URLs, no secret');
    t.ok(
      list.parts.every(
        (p: { url: string }) => p.url.includes('X-Amz-Signature=') && p.url.includes(`uploadId=${up.uploadId}`),
      ),
    );
  },
);

t.test('(b) an expired part URL: the script stops with URL_EXPIRED, the library aborts, nothing is open', async (t) => {
  const key = newKey();
  // Signed two hours ago for one minute: expired before the script starts (no waiting).
  const { up, toolUrl } = await start(key, { signingDate: new Date(Date.now() - 7_200_000), expiresInSeconds: 60 });
  // The part list's own GET is signed now (the parts' URLs in it are the expired ones).
  const partsUrl = await account.s3Presign.getObject({ Bucket: VAULT, Key: up.partsKey }, { expiresInSeconds: 600 });
  const r = await runScript(argsFor(toolUrl, partsUrl));
  t.equal(r.code, 1, r.stdout);
  t.match(r.result, { ok: false, code: 'URL_EXPIRED', partsUploaded: 0, reason: /part 1: the part URL has expired/ });
  const e = await completeMemoryUpload(vault, { key, uploadId: up.uploadId }).catch((x: CleanroomError) => x);
  t.match(
    e,
    { code: 'MEMORY_UPLOAD_INCOMPLETE', exitCode: 1 },
    'the library refuses to complete an upload with no part',
  );
  await abortMemoryUpload(vault, { key, uploadId: up.uploadId });
  await abortMemoryUpload(vault, { key, uploadId: up.uploadId }); // idempotent
  t.same(await openUploadsFor(vault, prefix), []);
  // The expired part-list URL (signed with the parts) fails the same way, before any tool runs.
  const again = await runScript(argsFor(toolUrl, up.partsUrl));
  t.match(again.result, { ok: false, code: 'URL_EXPIRED', reason: /part list/ });
});

t.test('(c) a killed upload: abort leaves nothing open, and a rerun into a new key succeeds', async (t) => {
  const key = newKey();
  const { up, toolUrl } = await start(key);
  let pgid = 0;
  let killedAt: string | undefined;
  // The script's requests through the proxy: the part list, the tool, then part 1's PUT.
  const firstPut = proxy.calls.length + 3;
  proxy.onCall(firstPut, (c) => {
    killedAt = c.action;
    process.kill(-pgid, 'SIGKILL'); // the script and everything it started (as SSM ends a command)
  });
  const r = await runScript(argsFor(toolUrl, up.partsUrl), { onSpawn: (pid) => (pgid = pid) });
  t.equal(r.signal, 'SIGKILL');
  t.equal(r.result, undefined, 'a killed script reports nothing');
  t.match(killedAt, /^PUT /, 'killed at the first part PUT');
  const open = await openUploadsFor(vault, prefix);
  t.same(
    open.map((u) => u.uploadId),
    [up.uploadId],
    'the killed upload is open: a rerun finds it',
  );
  for (const u of open) await abortMemoryUpload(vault, u);
  t.same(await openUploadsFor(vault, prefix), [], 'aborted: nothing open');

  const key2 = newKey();
  t.not(key2, key);
  const second = await start(key2);
  const r2 = await runScript(argsFor(second.toolUrl, second.up.partsUrl));
  t.equal(r2.code, 0, r2.stdout);
  const done = await completeMemoryUpload(vault, { key: key2, uploadId: second.up.uploadId });
  const back = await readBackSha256(vault, { key: key2, ...(done.versionId ? { versionId: done.versionId } : {}) });
  t.equal(back.sha256, sha256(IMAGE));
  t.equal(r2.result!.sha256, back.sha256);
  t.same(await openUploadsFor(vault, prefix), []);
});

t.test('(d) a work directory without room for a part: refused before anything runs or uploads', async (t) => {
  const small = fs.mkdtempSync(path.join(tmp, 'small-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
  t.teardown(() => execFileSync('umount', [small]));
  fs.rmSync(RAN, { force: true });
  const key = newKey();
  const { up, toolUrl } = await start(key);
  const r = await runScript(argsFor(toolUrl, up.partsUrl), { workdir: small });
  t.equal(r.code, 1, r.stdout);
  t.match(r.result, {
    ok: false,
    code: 'NO_SPACE',
    partsUploaded: 0,
    reason: /not enough free space in .* MiB free, 72 MiB needed/,
  });
  t.notOk(fs.existsSync(RAN), 'the tool never ran');
  t.same(fs.readdirSync(small), [], 'nothing left in the work directory');
  t.same(await listUploadedParts(vault, { key, uploadId: up.uploadId }), []);
  await abortMemoryUpload(vault, { key, uploadId: up.uploadId });
  t.same(await openUploadsFor(vault, prefix), []);
});

t.test('(e) a tool whose SHA-256 does not match is never run', async (t) => {
  fs.rmSync(RAN, { force: true });
  const key = newKey();
  const { up, toolUrl } = await start(key);
  const r = await runScript(argsFor(toolUrl, up.partsUrl, { toolSha: sha256('another binary') }));
  t.equal(r.code, 3, r.stdout);
  t.match(r.result, { ok: false, code: 'TOOL_SHA256_MISMATCH', reason: new RegExp(`SHA-256 is ${toolSha}`) });
  t.notOk(fs.existsSync(RAN), 'the stand-in did not run');
  await abortMemoryUpload(vault, { key, uploadId: up.uploadId });
  t.same(await openUploadsFor(vault, prefix), []);
});

t.test('bad arguments are refused (exit 2): only the five, each checked', async (t) => {
  const ok = argsFor('https://x.example/t', 'https://x.example/p');
  const cases: Array<[string, string[], RegExp]> = [
    ['an http tool URL', ok.map((a) => (a === 'https://x.example/t' ? 'http://x.example/t' : a)), /--tool-url/],
    ['a short SHA-256', ok.map((a) => (a === toolSha ? 'abc' : a)), /--tool-sha256/],
    ['an unknown option', [...ok, '--aws-secret-access-key', 'x'], /unknown argument --aws-secret-access-key/],
    ['a relative workdir', ok.map((a) => (a === '@WORKDIR' ? 'work' : a)), /--workdir/],
    ['a deadline in the past', ok.map((a, i) => (ok[i - 1] === '--deadline' ? '1' : a)), /deadline has passed/],
  ];
  for (const [what, args, reason] of cases) {
    const r = await runScript(args);
    t.match(r.result, { ok: false, reason }, what);
    t.equal(r.code, what.includes('deadline') ? 1 : 2, what);
  }
});

/** Long enough for a capture that sends nothing on a loaded machine; a capture still running then hangs. */
const HANG_BOUND_MS = 30_000;

/**
 * A capture whose AVML fails before it opens its destination: it ends AVML_FAILED with AVML's words,
 * nothing sent, nothing left behind or open — within HANG_BOUND_MS (a capture waiting on its FIFO
 * is killed then and fails here, not at tap's timeout).
 */
async function captureWithAvmlFailing(t: Test, env?: Record<string, string>): Promise<void> {
  const key = newKey();
  const { up } = await start(key);
  const toolUrl = await toolUrlFor(avmlFailingSha);
  const workdir = fs.mkdtempSync(path.join(tmp, 'work-'));
  const r = await runScript(argsFor(toolUrl, up.partsUrl, { toolSha: avmlFailingSha }), {
    workdir,
    killAfterMs: HANG_BOUND_MS,
    ...(env ? { env } : {}),
  });
  if (r.hung) {
    t.fail(
      `the capture hung: killed after ${HANG_BOUND_MS / 1000} s, still waiting on its FIFO for an AVML that had ended`,
    );
  }
  t.equal(r.code, 1, r.stdout);
  t.match(r.result, {
    ok: false,
    code: 'AVML_FAILED',
    partsUploaded: 0,
    reason: /avml exited 1: locked down \/proc\/kcore/,
  });
  if (!r.hung) t.same(fs.readdirSync(workdir), [], 'nothing left behind');
  t.same(await listUploadedParts(vault, { key, uploadId: up.uploadId }), []);
  await abortMemoryUpload(vault, { key, uploadId: up.uploadId });
  t.same(await openUploadsFor(vault, prefix), []);
}

t.test('(f) AVML failing before it opens its destination ends AVML_FAILED with its words, nothing sent', (t) =>
  captureWithAvmlFailing(t),
);

/**
 * Read by bash (BASH_ENV) before the capture script: a DEBUG trap holds the script's read of the
 * image FIFO (the `tee … <image.fifo` pipeline) until AVML has ended and AVML's watcher is done with
 * the FIFO — blocked in its open, waiting for a reader (state S: once avml.rc is written, the only
 * wait the watcher can sleep in), or gone (a watcher that did not wait for the reader: the reader
 * then waits for a writer forever) — as on a loaded host whose main shell reaches that line late.
 * It polls a condition, bounded; it writes what it saw into $LATE_READER_LOG. (The stand-in AVML, a
 * bash script, reads it too: its commands never match.)
 */
const LATE_READER = path.join(tmp, 'late-reader.bash');
fs.writeFileSync(
  LATE_READER,
  `late_reader_hold() {
  local i line st rc
  for ((i = 0; i < 1000; i++)); do
    if [[ -s $work/avml.rc ]]; then
      st=gone
      if read -r line 2>/dev/null <"/proc/$avml_pid/stat"; then st=\${line##*") "} st=\${st%% *}; fi
      case $st in
        S | Z | X | gone)
          read -r rc <"$work/avml.rc"
          [ "$st" = S ] && st="blocked in its open of the FIFO" || st=gone
          echo "the reader opened the FIFO after AVML exited $rc and its watcher was $st" >"$LATE_READER_LOG"
          return ;;
      esac
    fi
    sleep 0.01
  done
  echo "AVML's watcher was not done with the FIFO after 1000 looks (10 s and more)" >"$LATE_READER_LOG"
}
trap '[[ $BASH_COMMAND == "tee "*image.fifo* ]] && late_reader_hold' DEBUG
`,
);

t.test(
  '(g) AVML failing before it opens its destination, the FIFO read only after AVML ended (a loaded host): AVML_FAILED, no hang',
  async (t) => {
    const log = path.join(tmp, 'late-reader.log');
    await captureWithAvmlFailing(t, { BASH_ENV: LATE_READER, LATE_READER_LOG: log });
    t.match(
      fs.existsSync(log)
        ? fs.readFileSync(log, 'utf8')
        : 'nothing: the script has no `tee … <image.fifo` line any more',
      /^the reader opened the FIFO after AVML exited 1 and its watcher was blocked in its open of the FIFO$/m,
      'the script read the FIFO late: AVML had ended, its watcher waited for a reader',
    );
  },
);
