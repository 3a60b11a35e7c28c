/**
 * AWS's documented limits on evidence work, respected up front instead of discovered as errors.
 *
 * - EC2 API request rates are per account and Region, one token bucket per action ("Request
 *   throttling for the Amazon EC2 API", EC2 Developer Guide): CopySnapshot and AttachVolume share a
 *   bucket of 50 tokens refilled at 5 per second; CreateSnapshot/CreateSnapshots, CreateVolume and
 *   ModifySnapshotAttribute each have 100 refilled at 5 per second.
 * - At most 20 concurrent snapshot copies per destination Region, not adjustable (Amazon EBS
 *   quotas, "Concurrent snapshot copies per destination Region").
 * - At most 5 pending snapshots per volume (Amazon EBS quotas, "Pending snapshots per volume").
 */
import { TokenBucket, slots, type Slots } from '../domain/pool.js';
import type { Clock } from '../domain/waiter.js';

export interface RateLimit {
  burst: number;
  perSecond: number;
}

export interface EvidenceLimits {
  copiesPerRegion: number;
  pendingSnapshotsPerVolume: number;
  copyAttach: RateLimit;
  createSnapshot: RateLimit;
  createVolume: RateLimit;
  modifySnapshotAttribute: RateLimit;
}

export const AWS_LIMITS: EvidenceLimits = {
  copiesPerRegion: 20,
  pendingSnapshotsPerVolume: 5,
  copyAttach: { burst: 50, perSecond: 5 },
  createSnapshot: { burst: 100, perSecond: 5 },
  createVolume: { burst: 100, perSecond: 5 },
  modifySnapshotAttribute: { burst: 100, perSecond: 5 },
};

/** The buckets and copy slots of one account in one Region. */
export interface RegionLimits {
  copyAttach: TokenBucket;
  createSnapshot: TokenBucket;
  createVolume: TokenBucket;
  modifySnapshotAttribute: TokenBucket;
  /** Snapshot copies into this account and Region, held from CopySnapshot until the copy completes. */
  copies: Slots;
}

/** One set of limits per account and Region, shared by every item of a run. */
export class Limits {
  private readonly byRegion = new Map<string, RegionLimits>();
  constructor(
    readonly config: EvidenceLimits,
    private readonly clock: Clock,
  ) {}

  of(accountId: string, region: string): RegionLimits {
    const key = `${accountId}:${region}`;
    let l = this.byRegion.get(key);
    if (!l) {
      const bucket = (r: RateLimit) =>
        new TokenBucket(
          r.burst,
          r.perSecond,
          () => this.clock.now(),
          (ms) => this.clock.sleep(ms),
        );
      l = {
        copyAttach: bucket(this.config.copyAttach),
        createSnapshot: bucket(this.config.createSnapshot),
        createVolume: bucket(this.config.createVolume),
        modifySnapshotAttribute: bucket(this.config.modifySnapshotAttribute),
        copies: slots(this.config.copiesPerRegion),
      };
      this.byRegion.set(key, l);
    }
    return l;
  }
}
