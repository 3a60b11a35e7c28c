/**
 * One batched status poll for everything evidence work waits on: each account's pending
 * snapshots are read with ONE DescribeSnapshots per poll (and its volumes with one
 * DescribeVolumes), however many items are in flight — not a waiter per snapshot.
 *
 * The polling loop is THE waiter (`waitFor`: backoff, injectable clock). Each watched resource has
 * its own deadline (its budget scales with the volume size) and its own promise, so each item of a
 * pipeline moves on the moment its own snapshot completes. When new work is registered while the
 * loop sleeps a long backoff interval, the loop wakes (after a short debounce, so a burst of
 * registrations costs one poll) and starts again from the short interval.
 */
import type { AwsAccount, Ec2Port } from '../aws/ports.js';
import { isTransientAwsError } from '../aws/errors.js';
import { CleanroomError, TimeoutError, asError } from '../domain/errors.js';
import type { Reporter } from '../domain/reporter.js';
import { waitFor, type Clock, type PollResult } from '../domain/waiter.js';
import { isInterrupted } from '../domain/abort.js';
import { isWaitHandedOff, WaitHandedOffError } from '../domain/hand-off.js';

export type SnapshotInfo = NonNullable<Awaited<ReturnType<Ec2Port['describeSnapshots']>>['Snapshots']>[number];
export type VolumeInfo = NonNullable<Awaited<ReturnType<Ec2Port['describeVolumes']>>['Volumes']>[number];

type Kind = 'snapshot' | 'volume';

export interface WatchOptions {
  /** The item the progress belongs to (an evidence id). */
  item: string;
  /** What is being waited for, for progress and messages ("source snapshot"). */
  phase: string;
  budgetMs: number;
}

interface Entry {
  kind: Kind;
  account: AwsAccount;
  id: string;
  opts: WatchOptions;
  registered: number;
  deadline: number;
  judge: (found: unknown) => PollResult<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  lastDetail?: string;
}

export interface WatcherOptions {
  intervalMs?: number;
  maxIntervalMs?: number;
  /** How long a resource may be invisible after it was made (eventual consistency) before it counts as gone. */
  missingGraceMs?: number;
  /** Wait this long after new work arrives before polling, so a burst costs one poll. */
  debounceMs?: number;
}

/** Filter values per DescribeSnapshots/DescribeVolumes filter (EC2 accepts up to 200). */
const CHUNK = 200;

export class ResourceWatcher {
  private readonly entries = new Set<Entry>();
  private loop: Promise<void> | undefined;
  private wake: AbortController | undefined;
  private sleepingUntil = 0;
  /** Work was registered since the loop last slept. */
  private fresh = false;
  private readonly o: Required<WatcherOptions>;

  constructor(
    private readonly clock: Clock,
    private readonly reporter: Reporter,
    opts: WatcherOptions = {},
  ) {
    this.o = {
      intervalMs: opts.intervalMs ?? 1000,
      maxIntervalMs: opts.maxIntervalMs ?? 15_000,
      missingGraceMs: opts.missingGraceMs ?? 120_000,
      debounceMs: opts.debounceMs ?? 200,
    };
  }

  /** Resolves when the snapshot is `completed`; rejects when it ends in `error`, disappears, or the budget is spent. */
  snapshotCompleted(account: AwsAccount, snapshotId: string, opts: WatchOptions): Promise<SnapshotInfo> {
    return this.watch('snapshot', account, snapshotId, opts, (s) =>
      judgeSnapshot(snapshotId, opts, s as SnapshotInfo | undefined),
    ) as Promise<SnapshotInfo>;
  }

  /** Resolves when `judge` says the volume is where it should be. */
  volume(
    account: AwsAccount,
    volumeId: string,
    opts: WatchOptions,
    judge: (v: VolumeInfo | undefined) => PollResult<VolumeInfo>,
  ): Promise<VolumeInfo> {
    return this.watch('volume', account, volumeId, opts, (v) =>
      judge(v as VolumeInfo | undefined),
    ) as Promise<VolumeInfo>;
  }

  private watch(
    kind: Kind,
    account: AwsAccount,
    id: string,
    opts: WatchOptions,
    judge: Entry['judge'],
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const now = this.clock.now();
      this.entries.add({
        kind,
        account,
        id,
        opts,
        registered: now,
        deadline: now + opts.budgetMs,
        judge,
        resolve,
        reject,
      });
      this.fresh = true;
      this.ensureLoop();
    });
  }

  private ensureLoop(): void {
    if (this.loop) {
      if (this.wake && this.sleepingUntil - this.clock.now() > this.o.debounceMs) this.wake.abort();
      return;
    }
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      if (this.entries.size) this.ensureLoop();
    });
  }

  private async run(): Promise<void> {
    while (this.entries.size) {
      const wake = new AbortController();
      this.wake = wake;
      // Gather a burst of registrations into one poll (also after a wake-up).
      this.sleepingUntil = this.clock.now() + this.o.debounceMs;
      this.fresh = false;
      const clock: Clock = {
        now: () => this.clock.now(),
        ...(this.clock.waits ? { waits: this.clock.waits } : {}),
        sleep: (ms) => {
          // Work registered while the last poll ran is polled after the debounce, not a long backoff.
          const wait = this.fresh ? Math.min(ms, this.o.debounceMs) : ms;
          this.fresh = false;
          this.sleepingUntil = this.clock.now() + wait;
          return this.clock.sleep(wait, wake.signal);
        },
      };
      try {
        await this.clock.sleep(this.o.debounceMs);
        await waitFor(() => this.poll(), {
          description: 'evidence snapshots and volumes',
          budgetMs: Number.MAX_SAFE_INTEGER,
          intervalMs: this.o.intervalMs,
          maxIntervalMs: this.o.maxIntervalMs,
          clock,
        });
      } catch (e) {
        // New work arrived: poll again soon, from the short interval. A stopped workflow (its
        // signal) ends every wait instead: the loop must not start again.
        if (wake.signal.aborted && !isInterrupted(e)) continue;
        // Handed off (waits 'hand-off'): each waiting item learns what it itself waits for.
        for (const en of this.entries) en.reject(isWaitHandedOff(e) ? this.handOff(en, e) : asError(e));
        this.entries.clear();
      }
    }
  }

  /** One round: one describe call per account and kind (chunked at 200 ids), then judge each entry. */
  private async poll(): Promise<PollResult<true>> {
    const groups = new Map<AwsAccount, Map<Kind, Entry[]>>();
    for (const en of this.entries) {
      const byKind = groups.get(en.account) ?? new Map<Kind, Entry[]>();
      groups.set(en.account, byKind);
      byKind.set(en.kind, [...(byKind.get(en.kind) ?? []), en]);
    }
    await Promise.all(
      [...groups].flatMap(([account, byKind]) =>
        [...byKind].map(async ([kind, list]) => {
          let found: Map<string, unknown>;
          try {
            found = await describe(account, kind, [...new Set(list.map((e) => e.id))]);
          } catch (e) {
            const err = asError(e);
            for (const en of list) {
              if (!isTransientAwsError(err)) this.settle(en, { state: 'failed', error: err });
              else this.pendingOrTimeout(en, `could not read its state: ${err.message}`);
            }
            return;
          }
          for (const en of list) {
            const f = found.get(en.id);
            if (f === undefined && this.clock.now() - en.registered > this.o.missingGraceMs) {
              this.settle(en, {
                state: 'failed',
                error: new CleanroomError(
                  kind === 'snapshot' ? 'SNAPSHOT_GONE' : 'VOLUME_GONE',
                  `${kind === 'snapshot' ? 'Snapshot' : 'Volume'} ${en.id} (${en.opts.item}, ${en.opts.phase}) is not visible in ${account.region}: it was deleted outside cleanroom or never completed. Run the same command again to make it anew.`,
                  { details: { id: en.id, evidenceId: en.opts.item } },
                ),
              });
              continue;
            }
            const r = en.judge(f);
            if (r.state === 'pending') {
              if (r.percent !== undefined)
                this.reporter.progress({ kind: 'item', item: en.opts.item, phase: en.opts.phase, percent: r.percent });
              this.pendingOrTimeout(en, r.detail ?? (f === undefined ? 'not visible yet' : 'pending'));
            } else this.settle(en, r);
          }
        }),
      ),
    );
    return this.entries.size ? { state: 'pending' } : { state: 'done', value: true };
  }

  private handOff(en: Entry, e: WaitHandedOffError): WaitHandedOffError {
    return new WaitHandedOffError(
      {
        waitingFor: `the ${en.opts.phase} ${en.id} of ${en.opts.item}${en.lastDetail ? ` (${en.lastDetail})` : ''}`,
        retryAfterSeconds: e.retryAfterSeconds,
      },
      { id: en.id, evidenceId: en.opts.item, phase: en.opts.phase },
    );
  }

  private pendingOrTimeout(en: Entry, detail: string): void {
    en.lastDetail = detail;
    const now = this.clock.now();
    if (now < en.deadline) return;
    this.settle(en, {
      state: 'failed',
      error: new TimeoutError(
        `Gave up waiting for the ${en.opts.phase} ${en.id} of ${en.opts.item} after ${Math.round((now - en.registered) / 1000)}s (budget ${Math.round(en.opts.budgetMs / 1000)}s); last state: ${detail}. Run the same command again to resume; nothing already done is repeated.`,
        { id: en.id, evidenceId: en.opts.item, phase: en.opts.phase },
      ),
    });
  }

  private settle(en: Entry, r: PollResult<unknown>): void {
    this.entries.delete(en);
    if (r.state === 'done') en.resolve(r.value);
    else if (r.state === 'failed') en.reject(r.error);
  }
}

function judgeSnapshot(id: string, opts: WatchOptions, s: SnapshotInfo | undefined): PollResult<SnapshotInfo> {
  if (!s) return { state: 'pending', detail: 'not visible yet' };
  if (s.State === 'completed') return { state: 'done', value: s };
  if (s.State === 'error') {
    return {
      state: 'failed',
      error: new CleanroomError(
        'SNAPSHOT_ERROR',
        `The ${opts.phase} ${id} of ${opts.item} ended in state error${s.StateMessage ? ` (${s.StateMessage})` : ''}. Run the same command again: cleanroom makes it anew.`,
        {
          details: { snapshotId: id, evidenceId: opts.item, phase: opts.phase },
        },
      ),
    };
  }
  const pct = Number.parseFloat(String(s.Progress ?? '').replace('%', ''));
  return {
    state: 'pending',
    detail: `${s.State ?? 'unknown'}${s.Progress ? ` ${s.Progress}` : ''}`,
    ...(Number.isFinite(pct) ? { percent: pct } : {}),
  };
}

async function describe(account: AwsAccount, kind: Kind, ids: string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const Values = ids.slice(i, i + CHUNK);
    let NextToken: string | undefined;
    do {
      if (kind === 'snapshot') {
        // A filter, not SnapshotIds: one id that is not visible yet would fail the whole call.
        const r = await account.ec2.describeSnapshots({
          OwnerIds: ['self'],
          Filters: [{ Name: 'snapshot-id', Values }],
          ...(NextToken ? { NextToken } : {}),
        });
        for (const s of r.Snapshots ?? []) if (s.SnapshotId) out.set(s.SnapshotId, s);
        NextToken = r.NextToken ?? undefined;
      } else {
        const r = await account.ec2.describeVolumes({
          Filters: [{ Name: 'volume-id', Values }],
          ...(NextToken ? { NextToken } : {}),
        });
        for (const v of r.Volumes ?? []) if (v.VolumeId) out.set(v.VolumeId, v);
        NextToken = r.NextToken ?? undefined;
      }
    } while (NextToken);
  }
  return out;
}
