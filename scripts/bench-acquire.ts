/**
 * Benchmark of `acquire` (scripts/bench-acquire runs this): N = 1, 8, 32 volumes from a source
 * account into the forensic account, against the local AWS behind the fault proxy, which adds
 * ~50 ms to every call and keeps every new snapshot and copy `pending` for a few seconds (moto
 * completes them at once; AWS takes minutes — the proxy stands in for that time, the same way for
 * both runs). Printed next to a sequential baseline measured in the same run: one volume at a
 * time, one waiter per snapshot (THE waiter, the same poll cadence), a one-time KMS key per copy — the
 * way libcloudforensics' CreateVolumeCopy works.
 *
 * Both make the same things per volume: source snapshot, re-encrypted sharing copy, share, copy
 * under the case key, working volume in the room's AZ; temporaries deleted. cleanroom also writes
 * its custody record (one S3 PUT per event, through the same proxy); the baseline writes none.
 *
 *   scripts/bench-acquire [--sizes 1,8,32] [--delay-ms 50] [--pending-ms 3000] [--no-baseline] [--custody main|lanes] [--gib 1] [--hash-in-thread]
 *
 * `--custody main` is the CLI's leased writer (group commit: appends made while one is written go
 * out together); `--gib` the size of each source volume (acquire reads every block of it for the
 * source and acquisition hashes, so the local AWS's EBS direct APIs carry N × size);
 * `--hash-in-thread` computes the flat SHA-256 on the event loop, as acquire did before the worker
 * pool (src/evidence/hash-pool.ts): the two compared on the same machine under the same load.
 * `--fake-hash` (a diagnostic, not a result: no hash is computed) shows what the run costs without
 * the hashing CPU, so that T(N) can be split into the pipeline and the hashing.
 *
 * After each size: what the run waited on — CPU seconds of this process (workflow, SDK, proxy,
 * hashing threads) and of the local AWS (moto), how busy the event loop was and its worst stall,
 * how long some hash was running and how many at once, when each item entered each phase, and per
 * API the calls, their latency at the proxy and the most in flight at once.
 *
 * Ends with T(N) of each size and T(largest)/T(1) (goal: T(32) ≤ 1.5 × T(1)).
 */
import fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { RunInstancesCommand, CreateVolumeCommand } from '@aws-sdk/client-ec2';
import { openAccount } from '../src/aws/account.js';
import type { AwsAccount } from '../src/aws/ports.js';
import { openCaseCustody } from '../src/custody/case-custody.js';
import { waitFor, type PollResult } from '../src/domain/waiter.js';
import { acquireEvidence } from '../src/workflows/acquire/index.js';
import { hashSnapshot } from '../src/evidence/content-hash.js';
import { inThreadSha256 } from '../src/evidence/hash-pool.js';
import type { SnapshotHasher } from '../src/evidence/hash-step.js';
import type { ProgressEvent } from '../src/domain/reporter.js';
import { shareKeyPolicy } from '../src/workflows/acquire/share-key.js';
import { ensureCaseKey } from '../src/resources/case-key.js';
import { initVault } from '../src/workflows/vault/index.js';
import { startLocalAws } from '../local-aws/local-aws.js';
import { startFaultProxy, type FaultProxy } from '../test/harness/fault-proxy.js';
import { SOURCE_ROLE, ec2In } from '../test/workflows/acquire/fixtures.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg('sizes', '1,8,32').split(',').map(Number);
const DELAY = Number(arg('delay-ms', '50'));
const PENDING = Number(arg('pending-ms', '3000'));
const BASELINE = !process.argv.includes('--no-baseline');
/** How cleanroom's custody record is written: `main` (the CLI's leased writer today) or `lanes` (its own lane, group commit). */
const CUSTODY = arg('custody', 'main');
const GIB = Number(arg('gib', '1'));
/** The flat SHA-256 on the event loop, as acquire computed it before the worker pool (a comparison under the same load). */
const HASH_IN_THREAD = process.argv.includes('--hash-in-thread');
/** Diagnostic only, never a headline figure: no hash is computed (what the run costs without the hashing CPU). */
const FAKE_HASH = process.argv.includes('--fake-hash');

/** A hasher that reads nothing and returns the same made-up hash for every snapshot (--fake-hash). */
const fakeHasher: SnapshotHasher = async (_account, snapshotId) => ({
  snapshotId,
  sha256: '0'.repeat(64),
  merkleRoot: '0'.repeat(64),
  sizeBytes: GIB * 2 ** 30,
  blockSize: 524288,
  blocksRead: 0,
  hashedAt: new Date().toISOString(),
  hashTool: { name: 'cleanroom', version: '0.1.0', method: 'ebs-direct' },
});

/** CPU seconds this process spends on the SHA-256 of 1 GiB (zeros) on one core, here and now. */
function sha256CpuPerGib(): number {
  const c0 = process.cpuUsage();
  inThreadSha256.open().zeros(2 ** 30);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** Keep snapshots and copies `pending` for PENDING ms after they were made (progress grows with time). */
function simulateSnapshotTime(proxy: FaultProxy): void {
  const born = new Map<string, number>();
  const note = (b: string) => {
    for (const m of b.matchAll(/<snapshotId>(snap-[0-9a-f]+)<\/snapshotId>/g))
      if (!born.has(m[1]!)) born.set(m[1]!, Date.now());
    return b;
  };
  for (const action of ['CreateSnapshot', 'CreateSnapshots', 'CopySnapshot'])
    proxy.add({ service: 'ec2', action, fault: { kind: 'rewrite', fn: note } });
  proxy.add({
    service: 'ec2',
    action: 'DescribeSnapshots',
    fault: {
      kind: 'rewrite',
      fn: (b) => {
        for (const [id, t] of born) {
          const age = Date.now() - t;
          if (age >= PENDING) continue;
          const pct = Math.floor((100 * age) / PENDING);
          b = b.replace(
            new RegExp(`(<snapshotId>${id}</snapshotId>[\\s\\S]*?)<status>completed</status>`),
            '$1<status>pending</status>',
          );
          b = b.replace(
            new RegExp(`<progress>100%</progress>(\\s*<snapshotId>${id}</snapshotId>)`),
            `<progress>${pct}%</progress>$1`,
          );
        }
        return b;
      },
    },
  });
}

async function volumesIn(endpoint: string, n: number): Promise<string[]> {
  const src = ec2In(endpoint, { roleArn: SOURCE_ROLE });
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(
      (await src.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1b', Size: GIB, Encrypted: true })))
        .VolumeId!,
    );
  return out;
}

function snapshotDone(account: AwsAccount, id: string): () => Promise<PollResult<true>> {
  return async () => {
    const s = (await account.ec2.describeSnapshots({ SnapshotIds: [id] })).Snapshots?.[0];
    return s?.State === 'completed' ? { state: 'done', value: true } : { state: 'pending', detail: s?.State };
  };
}

/** One volume at a time, one waiter per snapshot, a one-time key per copy (libcloudforensics' shape). */
async function baseline(
  forensic: AwsAccount,
  source: AwsAccount,
  caseKeyArn: string,
  volumeIds: string[],
): Promise<void> {
  const forensicId = await forensic.accountId();
  const sourceId = await source.accountId();
  // The same cadence as cleanroom's batched poll (1 s, ×1.5, up to 15 s): only the batching differs.
  const wait = (p: () => Promise<PollResult<true>>, what: string) =>
    waitFor(p, { description: what, budgetMs: 30 * 60_000, intervalMs: 1000, maxIntervalMs: 15_000 });
  for (const vid of volumeIds) {
    const snap = (await source.ec2.createSnapshot({ VolumeId: vid })).SnapshotId!;
    await wait(snapshotDone(source, snap), snap);
    const key = (await source.kms.createKey({ Policy: shareKeyPolicy(sourceId, forensicId) })).KeyMetadata!;
    const copy = (
      await source.ec2.copySnapshot({
        SourceSnapshotId: snap,
        SourceRegion: source.region,
        Encrypted: true,
        KmsKeyId: key.Arn!,
      })
    ).SnapshotId!;
    await wait(snapshotDone(source, copy), copy);
    await source.ec2.modifySnapshotAttribute({
      SnapshotId: copy,
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      UserIds: [forensicId],
    });
    const fcopy = (
      await forensic.ec2.copySnapshot({
        SourceSnapshotId: copy,
        SourceRegion: source.region,
        Encrypted: true,
        KmsKeyId: caseKeyArn,
      })
    ).SnapshotId!;
    await wait(snapshotDone(forensic, fcopy), fcopy);
    const vol = (
      await forensic.ec2.createVolume({
        AvailabilityZone: 'us-east-1a',
        SnapshotId: fcopy,
        Encrypted: true,
        KmsKeyId: caseKeyArn,
      })
    ).VolumeId!;
    await wait(async () => {
      const v = (await forensic.ec2.describeVolumes({ VolumeIds: [vol] })).Volumes?.[0];
      return v?.State === 'available' ? { state: 'done', value: true } : { state: 'pending' };
    }, vol);
    await source.ec2.deleteSnapshot({ SnapshotId: copy });
    await source.kms.scheduleKeyDeletion({ KeyId: key.KeyId!, PendingWindowInDays: 7 });
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSecondsOf(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/** Total length of the union of intervals, and the largest number overlapping at once. */
function spans(iv: Array<[number, number]>): { union: number; maxAtOnce: number } {
  const ev = iv.flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const]).sort((x, y) => x[0] - y[0] || y[1] - x[1]);
  let open = 0;
  let max = 0;
  let union = 0;
  let from = 0;
  for (const [t, d] of ev) {
    if (open === 0 && d === 1) from = t;
    open += d;
    max = Math.max(max, open);
    if (open === 0) union += t - from;
  }
  return { union, maxAtOnce: max };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : 0;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * What a run of cleanroom waited on (printed after each size): the run's CPU (this process:
 * the workflow, the SDK, the proxy; the local AWS's Python), how long the event loop was busy and
 * its worst stall, the hashes (how long any was running, how many at once, their CPU when it is
 * measurable), each item's phases, and per API the calls, their latency at the proxy and how many
 * were in flight at once.
 */
class RunProfile {
  private readonly t0 = Date.now();
  private readonly cpu0 = process.cpuUsage();
  private readonly elu0 = performance.eventLoopUtilization();
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private readonly moto0: number;
  readonly hashes: Array<[number, number]> = [];
  /** item -> phase -> first time seen (ms since t0). */
  readonly phases = new Map<string, Map<string, number>>();
  constructor(private readonly motoPid: number) {
    this.moto0 = cpuSecondsOf(motoPid);
    this.delay.enable();
  }
  hasher(inner: SnapshotHasher): SnapshotHasher {
    return async (account, id, opts) => {
      const a = Date.now();
      try {
        return await inner(account, id, opts);
      } finally {
        this.hashes.push([a, Date.now()]);
      }
    };
  }
  progress(e: ProgressEvent): void {
    if (e.kind !== 'item') return;
    const m = this.phases.get(e.item) ?? new Map<string, number>();
    this.phases.set(e.item, m);
    if (!m.has(e.phase)) m.set(e.phase, Date.now() - this.t0);
  }
  report(calls: SeenCallLike[]): string[] {
    const wall = Date.now() - this.t0;
    this.delay.disable();
    const cpu = process.cpuUsage(this.cpu0);
    const elu = performance.eventLoopUtilization(this.elu0);
    const moto = cpuSecondsOf(this.motoPid) - this.moto0;
    const h = spans(this.hashes);
    const hashMs = this.hashes.map(([a, b]) => b - a);
    const out = [
      `wall ${sec(wall)}; CPU: this process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (user ${(cpu.user / 1e6).toFixed(1)}), local AWS (moto) ${moto.toFixed(1)} s; ${wall > 0 ? (((cpu.user + cpu.system) / 1e6 + moto) / (wall / 1000)).toFixed(2) : '?'} cores busy on average`,
      `event loop: busy ${(elu.utilization * 100).toFixed(0)} % (${sec(elu.active)}), stalls max ${(this.delay.max / 1e6).toFixed(0)} ms, p99 ${(this.delay.percentile(99) / 1e6).toFixed(0)} ms, mean ${(this.delay.mean / 1e6).toFixed(1)} ms`,
      `hashes: ${this.hashes.length}, some hash running ${sec(h.union)} of ${sec(wall)}, at most ${h.maxAtOnce} at once, each ${sec(pct(hashMs, 50))} median / ${sec(Math.max(0, ...hashMs))} max`,
    ];
    const phaseNames = [...new Set([...this.phases.values()].flatMap((m) => [...m.keys()]))];
    out.push(
      `phases (first seen, s after start, median / max over items): ${phaseNames
        .map((p) => {
          const ts = [...this.phases.values()].map((m) => m.get(p)).filter((x): x is number => x !== undefined);
          return `${p} ${(pct(ts, 50) / 1000).toFixed(1)}/${(Math.max(...ts) / 1000).toFixed(1)}`;
        })
        .join(', ')}`,
    );
    const by = new Map<string, SeenCallLike[]>();
    for (const c of calls) {
      const k = `${c.service}:${c.action
        .replace(/\/snap-[0-9a-f]+.*$/, '/…')
        .replace(/cleanroom-evidence-[^/]+/, 'vault')
        .replace(/\/cases\/[^/]+/, '/case')
        .replace(/group-[0-9a-f]+/, 'group-…')
        .replace(/\d{10}\.json/, 'N.json')}`;
      by.set(k, [...(by.get(k) ?? []), c]);
    }
    const all = spans(calls.filter((c) => c.ms !== undefined).map((c) => [c.at, c.at + c.ms!]));
    out.push(
      `AWS calls: ${calls.length}, at most ${all.maxAtOnce} in flight at once; per API: count, latency median/max, most in flight:`,
    );
    for (const [k, cs] of [...by].sort((x, y) => y[1].length - x[1].length)) {
      const ms = cs.map((c) => c.ms ?? 0);
      const s = spans(cs.filter((c) => c.ms !== undefined).map((c) => [c.at, c.at + c.ms!]));
      out.push(
        `  ${k.padEnd(48)} ${String(cs.length).padStart(4)}  ${String(pct(ms, 50)).padStart(5)}/${String(Math.max(...ms)).padEnd(6)} ms  ${s.maxAtOnce}`,
      );
    }
    return out;
  }
}

type SeenCallLike = { service: string; action: string; at: number; ms?: number };

async function main(): Promise<void> {
  const aws = await startLocalAws();
  const proxy = await startFaultProxy(aws);
  try {
    Object.assign(process.env, aws.env({ AWS_ENDPOINT_URL: proxy.endpoint }));
    const forensic = await openAccount({});
    const source = await openAccount({ roleArn: SOURCE_ROLE });
    await initVault(forensic, {});
    const room = (
      await ec2In(aws.endpoint).send(
        new RunInstancesCommand({
          ImageId: 'ami-12c6146b',
          InstanceType: 't3.small',
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: 'us-east-1a' },
        }),
      )
    ).Instances![0]!.InstanceId!;
    proxy.add({ fault: { kind: 'delay', ms: DELAY } });
    simulateSnapshotTime(proxy);

    console.log(
      `cleanroom acquire vs a sequential baseline — local AWS behind the fault proxy: +${DELAY} ms per call, snapshots and copies pending ${PENDING} ms`,
    );
    const times = new Map<number, number>();
    const perGib = sha256CpuPerGib();
    console.log(
      `this machine: ${availableParallelism()} cores; SHA-256 of 1 GiB = ${perGib.toFixed(2)} s of one core now; acquire hashes every volume twice (source and forensic snapshot): N × ${GIB} GiB needs N × ${(2 * GIB * perGib).toFixed(2)} s of CPU${FAKE_HASH ? ' — --fake-hash: NO hash computed (diagnostic)' : HASH_IN_THREAD ? ' — --hash-in-thread: on the event loop' : ', in worker threads'}`,
    );
    console.log(
      `custody: ${CUSTODY === 'lanes' ? 'a lane (group commit), committed at the seal' : 'the main chain with group commit (appends made while one is written: one lane object + one checkpoint)'}; source volumes ${GIB} GiB`,
    );
    console.log('N    cleanroom s   calls/vol (AWS + custody)   baseline s   calls/vol   speed-up');
    for (const n of SIZES) {
      const caseId = `BENCH-${n}`;
      const ours = await volumesIn(aws.endpoint, n);
      const theirs = await volumesIn(aws.endpoint, n);
      const caseKey = await ensureCaseKey(forensic, caseId);

      const c0 = proxy.calls.length;
      const t0 = Date.now();
      const opened = await openCaseCustody(forensic, {
        caseId,
        ...(CUSTODY === 'lanes' ? { lane: 'acquire' } : { groupCommit: true }),
      });
      // How long the custody chain (one S3 PUT per event, appends serialised) was busy: each
      // append's service time runs from when it could start (the previous one done) to its end.
      let custodyBusy = 0;
      let lastDone = 0;
      const custody = Object.assign(Object.create(opened) as typeof opened, {
        record: async (e: Parameters<typeof opened.record>[0]) => {
          const start = Date.now();
          try {
            return await opened.record(e);
          } finally {
            const done = Date.now();
            custodyBusy += done - Math.max(start, lastDone);
            lastDone = done;
          }
        },
      });
      const prof = new RunProfile(aws.pid);
      const r = await acquireEvidence(
        {
          forensic,
          source,
          custody,
          hasher: prof.hasher(
            FAKE_HASH
              ? fakeHasher
              : (a, id, o) => hashSnapshot(a, id, HASH_IN_THREAD ? { ...o, sha256: inThreadSha256 } : o),
          ),
          reporter: { progress: (e) => prof.progress(e), warn: () => {}, debug: () => {} },
          room: {
            describe: async () => ({
              case: caseId,
              stackName: `cleanroom-${caseId}`,
              stackStatus: 'CREATE_COMPLETE',
              instanceId: room,
              availabilityZone: 'us-east-1a',
            }),
            audit: async () => ({ ok: true, checks: [] }),
          },
        },
        { caseId, volumeIds: ours, attach: false },
      ).catch((e: unknown) => {
        // A run whose items failed: say how, in one line (not the whole result).
        const f = (e as { details?: { failures?: Array<{ code: string }> } }).details?.failures;
        if (!f) throw e;
        console.log(
          `     (cleanroom N=${n}: FAILED — ${f.length} of ${n} items: ${[...new Set(f.map((x) => x.code))].join(', ')})`,
        );
        for (const line of prof.report(proxy.calls.slice(c0))) console.log(`     (cleanroom N=${n}: ${line})`);
        process.exit(1);
      });
      await opened.sealManifest();
      const ourMs = Date.now() - t0;
      times.set(n, ourMs);
      const ourCalls = proxy.calls.slice(c0);
      for (const line of prof.report(ourCalls)) console.log(`     (cleanroom N=${n}: ${line})`);
      if (r.evidence.some((e) => e.state !== 'volume-created'))
        throw new Error(`bench run failed: ${JSON.stringify(r.evidence.map((e) => e.state))}`);
      const s3 = ourCalls.filter((c) => c.service === 's3').length;
      // What the run waited on: the requests the local AWS served (by service) and its rate over
      // the run, next to how long the custody chain was busy (below).
      const bySvc = new Map<string, number>();
      for (const c of ourCalls) bySvc.set(c.service, (bySvc.get(c.service) ?? 0) + 1);
      console.log(
        `     (cleanroom N=${n}: ${ourCalls.length} requests = ${((ourCalls.length / ourMs) * 1000).toFixed(1)}/s served by the local AWS: ${[
          ...bySvc,
        ]
          .sort((x, y) => y[1] - x[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`,
      );
      if (process.env['BENCH_VERBOSE']) {
        const by = new Map<string, number>();
        for (const c of ourCalls) by.set(`${c.service}:${c.action}`, (by.get(`${c.service}:${c.action}`) ?? 0) + 1);
        console.error(
          [...by]
            .sort((x, y) => y[1] - x[1])
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
        );
      }

      const c1 = proxy.calls.length;
      const t1 = Date.now();
      if (BASELINE) await baseline(forensic, source, caseKey.arn, theirs);
      const baseMs = Date.now() - t1;
      const baseCalls = proxy.calls.length - c1;
      console.log(
        `     (cleanroom N=${n}: the custody chain was busy ${(custodyBusy / 1000).toFixed(1)} s of the ${(ourMs / 1000).toFixed(1)} s)`,
      );

      console.log(
        `${String(n).padEnd(4)} ${(ourMs / 1000).toFixed(1).padStart(11)}   ${((ourCalls.length - s3) / n).toFixed(1).padStart(6)} + ${(s3 / n).toFixed(1).padEnd(18)}   ${(baseMs / 1000).toFixed(1).padStart(10)}   ${(baseCalls / n).toFixed(1).padStart(9)}   ${(baseMs / ourMs).toFixed(1).padStart(7)}×`,
      );
    }
    const t1 = times.get(1);
    const last = SIZES[SIZES.length - 1]!;
    console.log(
      `T(N): ${[...times].map(([n, ms]) => `T(${n}) = ${(ms / 1000).toFixed(1)} s`).join(', ')}${t1 ? `; T(${last})/T(1) = ${(times.get(last)! / t1).toFixed(2)} (goal ≤ 1.5)` : ''}`,
    );
  } finally {
    await proxy.close();
    await aws.stop();
  }
}

await main();
