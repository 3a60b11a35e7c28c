/**
 * The one way cleanroom detaches a volume and waits for it: used by `evidence detach`, `room down
 * --detach-evidence` and `case close`. Each caller records its own custody event; this module only
 * talks to EC2.
 *
 * DetachVolume always names the instance (AWS takes it with or without; the local AWS answers
 * HTTP 500 without it, see docs/local-aws.md) and the device when known. An attachment already
 * `detaching` is not asked again. The wait ends when the volume is `available` with no live
 * attachment; a detach that stays `detaching` usually means the guest still has the disk mounted,
 * which the pending state says.
 */
import type { AwsAccount } from '../aws/ports.js';
import { CleanroomError } from '../domain/errors.js';
import { silentReporter, type Reporter } from '../domain/reporter.js';
import { waitFor, type Clock, type PollResult } from '../domain/waiter.js';

/** An attachment of a volume that is not `detached`. */
export interface LiveAttachment {
  instanceId: string;
  device?: string;
  state?: string;
}

export interface DetachWaitOptions {
  /** What progress lines name (the evidence id, or the volume id). */
  item: string;
  /** Budget of the wait for `available`. */
  budgetMs: number;
  clock?: Clock;
  reporter?: Reporter;
  /** How each DetachVolume is sent (e.g. with retries on throttling); once by default. */
  send?: <T>(what: string, call: () => Promise<T>) => Promise<T>;
}

type VolumeLike = { State?: string; Attachments?: Array<{ InstanceId?: string; Device?: string; State?: string }> };

/** The attachments of a volume that are not `detached`. */
export function liveAttachments(v: VolumeLike | undefined): LiveAttachment[] {
  return (v?.Attachments ?? [])
    .filter((a) => a.InstanceId && a.State !== 'detached')
    .map((a) => ({
      instanceId: a.InstanceId!,
      ...(a.Device ? { device: a.Device } : {}),
      ...(a.State ? { state: a.State } : {}),
    }));
}

/** Detach `volumeId` from each of `attachments` and wait until it is available with no attachment. */
export async function detachAndWait(
  account: AwsAccount,
  volumeId: string,
  attachments: readonly LiveAttachment[],
  o: DetachWaitOptions,
): Promise<void> {
  const reporter = o.reporter ?? silentReporter;
  const send = o.send ?? (<T>(_what: string, call: () => Promise<T>) => call());
  for (const a of attachments) {
    reporter.progress({ kind: 'item', item: o.item, phase: 'detaching', message: `${volumeId} from ${a.instanceId}` });
    if (a.state === 'detaching') continue;
    await send(`detach ${volumeId} from ${a.instanceId}`, () =>
      account.ec2.detachVolume({
        VolumeId: volumeId,
        InstanceId: a.instanceId,
        ...(a.device ? { Device: a.device } : {}),
      }),
    );
  }
  await waitFor(() => pollDetached(account, volumeId, o.item), {
    description: `volume ${volumeId}${o.item !== volumeId ? ` (${o.item})` : ''} to detach${attachments.length ? ` from ${attachments.map((a) => a.instanceId).join(', ')}` : ''}`,
    budgetMs: o.budgetMs,
    ...(o.clock ? { clock: o.clock } : {}),
    details: { volumeId, instances: attachments.map((a) => a.instanceId) },
    onPending: (detail) => reporter.progress({ kind: 'item', item: o.item, phase: 'detaching', message: detail }),
  });
}

async function pollDetached(account: AwsAccount, volumeId: string, item: string): Promise<PollResult<true>> {
  const v = (await account.ec2.describeVolumes({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] })).Volumes?.[0];
  if (!v)
    return {
      state: 'failed',
      error: new CleanroomError(
        'VOLUME_GONE',
        `Volume ${volumeId}${item !== volumeId ? ` (${item})` : ''} disappeared while it was being detached.`,
        { details: { volumeId } },
      ),
    };
  if (v.State === 'error')
    return {
      state: 'failed',
      error: new CleanroomError(
        'VOLUME_ERROR',
        `Volume ${volumeId}${item !== volumeId ? ` (${item})` : ''} is in state error.`,
        { details: { volumeId } },
      ),
    };
  const live = liveAttachments(v);
  if (v.State === 'available' && live.length === 0) return { state: 'done', value: true };
  // A detach stays `detaching` while the guest still uses the disk.
  return {
    state: 'pending',
    detail: `${v.State}${live.length ? ` (${live.map((a) => `${a.instanceId} ${a.state ?? ''}`.trim()).join(', ')}); if it stays detaching, unmount it inside the forensic instance` : ''}`,
  };
}
