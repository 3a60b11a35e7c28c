/**
 * Benchmark of the content hash (scripts/bench-hash runs this; not part of `npm test`).
 *
 * Two snapshots written through the EBS direct APIs on the local AWS — 1 GiB dense (every block
 * written) and 4 GiB half-written (every other block) — read behind the fault proxy, which adds
 * `--delay-ms` (10) to every GetSnapshotBlock. In the same run, each read as a child process:
 * - cleanroom: `hashSnapshot` (the flat SHA-256 and the Merkle root, one pass, every block checked);
 * - what a user does today: `coldsnap download` (crates.io coldsnap 0.12, 64 workers, every block
 *   checked) into a file, then `sha256sum` of the file — two passes.
 * Printed: seconds and MiB/s of the whole disk (zeros count: both produce the hash of every byte),
 * the ratio, each child's peak RSS and CPU seconds (the machine may be shared: CPU time says what
 * the work costs, wall time what it took), and the floors: this machine's SHA-256 speed on memory
 * (Node's crypto) and AWS's API limit (1,000 GetSnapshotBlock/s per snapshot × 512 KiB ≈ 500 MiB/s).
 *
 * The block size: AWS reads snapshots in 512 KiB blocks, and so does the local AWS (its
 * ebs_snapshot_content fidelity patch); the script checks it before it writes.
 *
 *   scripts/bench-hash [--delay-ms 10] [--concurrency 16] [--window 64] [--no-coldsnap] [--only dense|half]
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { type LocalAws, ROOT, TEST_CA_CERT, startLocalAws } from '../local-aws/local-aws.js';
import { startFaultProxy } from '../test/harness/fault-proxy.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const DELAY = Number(arg('delay-ms', '10'));
const CONCURRENCY = Number(arg('concurrency', '16'));
const WINDOW = Number(arg('window', '64'));
const ONLY = arg('only', '');
const COLDSNAP = !process.argv.includes('--no-coldsnap') && process.env.COLDSNAP ? process.env.COLDSNAP : undefined;
const AWS_BLOCK = 524288;
const MIB = 2 ** 20;
const GIB = 2 ** 30;
const CACHE = path.join(ROOT, '.cache/bench-hash');

/** What `/usr/bin/time -f '%e %M %U %S'` measured of a child, and what it printed. */
interface Measured {
  wallS: number;
  rssMiB: number;
  cpuS: number;
  stdout: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const c = spawn('/usr/bin/time', ['-f', 'TIME %e %M %U %S', cmd, ...args], { env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('exit', (code) => {
      const m = /TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${err.slice(-2000)}`));
      resolve({ wallS: Number(m[1]), rssMiB: Number(m[2]) / 1024, cpuS: Number(m[3]) + Number(m[4]), stdout: out });
    });
  });
}

/** The local AWS, which reports AWS's EBS block size (fidelity patch ebs_snapshot_content). */
async function startAws(): Promise<LocalAws> {
  const aws = await startLocalAws();
  const bs = await probeBlockSize(aws);
  if (bs !== AWS_BLOCK) {
    await aws.stop();
    throw new Error(
      `the local AWS reports ${bs}-byte EBS blocks, not AWS's ${AWS_BLOCK}: is its ebs_snapshot_content patch loaded?`,
    );
  }
  return aws;
}

async function probeBlockSize(aws: LocalAws): Promise<number> {
  const ebs = new EBSClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: KEYS });
  return (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).BlockSize!;
}

const KEYS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** Write a snapshot of `gib` GiB whose blocks `written(i)` hold random bytes; the SHA-256 of its whole disk. */
async function writeSnapshot(
  aws: LocalAws,
  gib: number,
  written: (i: number) => boolean,
): Promise<{ id: string; sha256: string; blocks: number }> {
  const ebs = new EBSClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: KEYS });
  const s = await ebs.send(new StartSnapshotCommand({ VolumeSize: gib, Description: 'cleanroom bench-hash' }));
  const bs = s.BlockSize!;
  const n = (gib * GIB) / bs;
  const whole = createHash('sha256');
  const zeros = Buffer.alloc(bs);
  let count = 0;
  for (let start = 0; start < n; start += 16) {
    const puts: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(n, start + 16); i++) {
      if (!written(i)) {
        whole.update(zeros);
        continue;
      }
      const data = randomBytes(bs);
      whole.update(data);
      count += 1;
      puts.push(
        ebs.send(
          new PutSnapshotBlockCommand({
            SnapshotId: s.SnapshotId!,
            BlockIndex: i,
            BlockData: data,
            DataLength: bs,
            Checksum: createHash('sha256').update(data).digest('base64'),
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      );
    }
    await Promise.all(puts);
  }
  await ebs.send(new CompleteSnapshotCommand({ SnapshotId: s.SnapshotId!, ChangedBlocksCount: count }));
  return { id: s.SnapshotId!, sha256: whole.digest('hex'), blocks: count };
}

/** The child that hashes with cleanroom: the built library (dist/), through the real ports. */
const CHILD = `
const [snapshotId, concurrency, window] = process.argv.slice(1);
const { openAccount } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/aws/account.js')).href)});
const { hashSnapshot } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/evidence/content-hash.js')).href)});
const account = await openAccount({ region: 'us-east-1' });
const t0 = performance.now();
const h = await hashSnapshot(account, snapshotId, { concurrency: Number(concurrency), window: Number(window) });
console.log(JSON.stringify({ ...h, hashS: (performance.now() - t0) / 1000 }));
`;

/** This machine's SHA-256 speed on memory (Node's crypto), one core: MiB/s of wall and of CPU. */
function shaFloor(): { wall: number; cpu: number } {
  const buf = randomBytes(64 * MIB);
  const h = createHash('sha256');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < 16; i++) h.update(buf);
  h.digest();
  const wallS = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: 1024 / wallS, cpu: 1024 / ((c.user + c.system) / 1e6) };
}

const f1 = (x: number) => x.toFixed(1);
const pad = (s: string, n: number) => s.padStart(n);

async function main(): Promise<void> {
  fs.mkdirSync(CACHE, { recursive: true });
  const floor = shaFloor();
  console.log(
    `Floors: SHA-256 on memory (Node crypto, one core) ${f1(floor.wall)} MiB/s wall, ${f1(floor.cpu)} MiB/s of CPU; AWS API limit 1,000 GetSnapshotBlock/s per snapshot x 512 KiB = 500 MiB/s.`,
  );
  console.log(
    `Setup: local AWS behind the fault proxy, +${DELAY} ms per GetSnapshotBlock; cleanroom concurrency ${CONCURRENCY}, window ${WINDOW}; coldsnap: ${COLDSNAP ? '0.12, 64 workers' : 'not run'}.`,
  );
  const cases = [
    { name: '1 GiB dense', gib: 1, written: () => true },
    { name: '4 GiB half-written', gib: 4, written: (i: number) => i % 2 === 0 },
  ].filter((c) => !ONLY || c.name.includes(ONLY));
  const rows: string[] = [];
  for (const c of cases) {
    const aws = await startAws();
    const proxy = await startFaultProxy(aws);
    try {
      const snap = await writeSnapshot(aws, c.gib, c.written);
      proxy.add({ service: 'ebs', action: /^GET \/snapshots\/[^/]+\/blocks\//, fault: { kind: 'delay', ms: DELAY } });
      // moto 5.2.1 sends ListSnapshotBlocks' BlockIndex as a string; the Rust SDK (coldsnap) refuses
      // that, the JS SDK passes it through (cleanroom normalises it). Sent as AWS does: a number.
      proxy.add({
        service: 'ebs',
        action: /^GET \/snapshots\/[^/]+\/blocks$/,
        fault: { kind: 'rewrite', fn: (b) => b.replace(/"BlockIndex": ?"(\d+)"/g, '"BlockIndex": $1') },
      });
      const env = aws.env({ AWS_ENDPOINT_URL: proxy.endpoint });
      const size = c.gib * 1024;

      const mine = await timed(
        process.execPath,
        ['--input-type=module', '-e', CHILD, snap.id, String(CONCURRENCY), String(WINDOW)],
        env,
      );
      const h = JSON.parse(mine.stdout.trim().split('\n').pop()!) as {
        sha256: string;
        hashS: number;
        blocksRead: number;
      };
      const ok = h.sha256 === snap.sha256 ? 'equal' : `DIFFERENT (${h.sha256} vs ${snap.sha256})`;
      let line = `${pad(c.name, 20)} | cleanroom ${pad(f1(mine.wallS), 6)} s ${pad(f1(size / mine.wallS), 7)} MiB/s, peak RSS ${pad(f1(mine.rssMiB), 6)} MiB, CPU ${f1(mine.cpuS)} s, hash ${ok}`;
      if (COLDSNAP) {
        const file = path.join(CACHE, `${snap.id}.raw`);
        const bundle = path.join(CACHE, 'ca-bundle.pem');
        const system = ['/etc/ssl/certs/ca-certificates.crt']
          .filter((f) => fs.existsSync(f))
          .map((f) => fs.readFileSync(f, 'utf8'));
        fs.writeFileSync(bundle, [...system, fs.readFileSync(TEST_CA_CERT, 'utf8')].join('\n'));
        const cenv = { ...env, SSL_CERT_FILE: bundle };
        try {
          const dl = await timed(
            COLDSNAP,
            [
              '--endpoint',
              proxy.endpoint,
              '--region',
              'us-east-1',
              'download',
              '--no-progress',
              '--force',
              snap.id,
              file,
            ],
            cenv,
          );
          const sum = await timed('sha256sum', [file], cenv);
          const theirs = sum.stdout.split(/\s/)[0];
          const wall = dl.wallS + sum.wallS;
          line += `\n${pad('', 20)} | coldsnap+sha256sum ${pad(f1(wall), 6)} s (${f1(dl.wallS)} + ${f1(sum.wallS)}) ${pad(f1(size / wall), 7)} MiB/s, peak RSS ${f1(dl.rssMiB)} / ${f1(sum.rssMiB)} MiB, CPU ${f1(dl.cpuS + sum.cpuS)} s, hash ${theirs === snap.sha256 ? 'equal' : 'DIFFERENT'}`;
          line += `\n${pad('', 20)} | ratio: cleanroom is ${f1(wall / mine.wallS)}x coldsnap+sha256sum (wall), ${f1((dl.cpuS + sum.cpuS) / mine.cpuS)}x (CPU)`;
        } finally {
          fs.rmSync(file, { force: true });
        }
      }
      console.log(line);
      rows.push(line);
    } finally {
      await proxy.close();
      await aws.stop();
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
