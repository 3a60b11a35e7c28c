/**
 * The stack-activity monitor (after aws-cdk's): turns a stack's new events into progress events
 * for the reporter while CloudFormation works, and keeps the failures so an error can name the
 * resource that failed and CloudFormation's reason.
 *
 * It marks the events already there as seen before the operation starts ({@link baseline}), so
 * it never depends on the local clock agreeing with CloudFormation's.
 */
import type { AwsAccount } from '../aws/ports.js';
import type { Reporter } from '../domain/reporter.js';

/** One resource event, flattened. */
export interface StackEventInfo {
  eventId: string;
  logicalId: string;
  physicalId?: string;
  type?: string;
  status: string;
  reason?: string;
  time?: Date;
}

/** A resource CloudFormation could not create, update or delete, with its reason. */
export interface FailedResource {
  logicalId: string;
  physicalId?: string;
  type?: string;
  status?: string;
  reason?: string;
}

/** Reasons CloudFormation gives resources it stopped because another one failed: not the cause. */
const CANCELLED = /Resource (creation|update|deletion) cancelled/i;

export class StackActivity {
  private readonly seen = new Set<string>();
  private readonly events: StackEventInfo[] = [];
  private completed = new Set<string>();

  /**
   * @param stackId the stack's id (ARN): events of a deleted stack are readable only by id.
   * @param expected resources the operation touches (for a percentage on a terminal), if known.
   */
  constructor(
    private readonly account: AwsAccount,
    private readonly stackId: string,
    private readonly stackName: string,
    private readonly reporter: Reporter,
    private expected?: number,
  ) {}

  /** Mark every event already there as seen (call before starting the operation). */
  async baseline(): Promise<void> {
    for (const e of await this.read(1)) this.seen.add(e.eventId);
  }

  /** Set the number of resources the operation touches (from the change set). */
  expect(n: number): void {
    this.expected = n;
  }

  /** Read the new events, report them oldest first; returns them. */
  async poll(): Promise<StackEventInfo[]> {
    const fresh = (await this.read(20)).filter((e) => !this.seen.has(e.eventId)).reverse();
    for (const e of fresh) {
      this.seen.add(e.eventId);
      this.events.push(e);
      this.reporter.progress({
        kind: 'stack-event',
        stackName: this.stackName,
        logicalId: e.logicalId,
        status: e.status,
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.time ? { time: e.time.toISOString() } : {}),
      });
      if (e.type !== 'AWS::CloudFormation::Stack' && /_COMPLETE$/.test(e.status)) this.completed.add(e.logicalId);
    }
    if (fresh.length && this.expected) {
      const last = fresh[fresh.length - 1]!;
      const done =
        last.type === 'AWS::CloudFormation::Stack' &&
        /_COMPLETE$/.test(last.status) &&
        !last.status.includes('ROLLBACK');
      this.reporter.progress({
        kind: 'item',
        item: this.stackName,
        phase: last.status,
        percent: done ? 100 : Math.min(99, (100 * this.completed.size) / this.expected),
      });
    }
    return fresh;
  }

  /**
   * The resources that failed during the operation, the first cause first (CloudFormation marks
   * the resources it stopped because of it "cancelled"; those come last).
   */
  failures(): FailedResource[] {
    const failed = this.events.filter((e) => e.status.endsWith('_FAILED') && e.type !== 'AWS::CloudFormation::Stack');
    const byId = new Map<string, FailedResource>();
    for (const e of failed) {
      if (byId.has(e.logicalId)) continue;
      byId.set(e.logicalId, {
        logicalId: e.logicalId,
        ...(e.physicalId ? { physicalId: e.physicalId } : {}),
        ...(e.type ? { type: e.type } : {}),
        status: e.status,
        ...(e.reason ? { reason: e.reason } : {}),
      });
    }
    const all = [...byId.values()];
    return [
      ...all.filter((f) => !CANCELLED.test(f.reason ?? '')),
      ...all.filter((f) => CANCELLED.test(f.reason ?? '')),
    ];
  }

  /** The reason on the stack's own latest failure event (CloudFormation's summary), if any. */
  stackReason(): string | undefined {
    return [...this.events]
      .reverse()
      .find(
        (e) =>
          e.type === 'AWS::CloudFormation::Stack' &&
          (e.status.endsWith('_FAILED') || e.status.includes('ROLLBACK')) &&
          e.reason,
      )?.reason;
  }

  /** Every event seen since the baseline, oldest first. */
  seenEvents(): readonly StackEventInfo[] {
    return this.events;
  }

  /** Newest first, up to `pages` pages, stopping at the first page that reaches a seen event. */
  private async read(pages: number): Promise<StackEventInfo[]> {
    const out: StackEventInfo[] = [];
    let NextToken: string | undefined;
    for (let i = 0; i < pages; i++) {
      const r = await this.account.cfn.describeStackEvents({
        StackName: this.stackId,
        ...(NextToken ? { NextToken } : {}),
      });
      for (const e of r.StackEvents ?? []) {
        if (!e.EventId || !e.LogicalResourceId || !e.ResourceStatus) continue;
        out.push({
          eventId: e.EventId,
          logicalId: e.LogicalResourceId,
          ...(e.PhysicalResourceId ? { physicalId: e.PhysicalResourceId } : {}),
          ...(e.ResourceType ? { type: e.ResourceType } : {}),
          status: e.ResourceStatus,
          ...(e.ResourceStatusReason ? { reason: e.ResourceStatusReason } : {}),
          ...(e.Timestamp ? { time: e.Timestamp } : {}),
        });
      }
      NextToken = r.NextToken ?? undefined;
      if (!NextToken || (r.StackEvents ?? []).some((e) => e.EventId && this.seen.has(e.EventId))) break;
    }
    return out;
  }
}

/**
 * Why a stack is in a failed state, from its resources (DescribeStackResources) and, where those
 * give no reason, its events: for a stack found failed by an earlier run, whose events this
 * process did not watch.
 */
export async function failedResources(
  account: AwsAccount,
  stackId: string,
  statuses: RegExp = /_FAILED$/,
): Promise<FailedResource[]> {
  const out = new Map<string, FailedResource>();
  const res = await account.cfn.describeStackResources({ StackName: stackId }).catch(() => undefined);
  for (const r of res?.StackResources ?? []) {
    if (r.LogicalResourceId && r.ResourceStatus && statuses.test(r.ResourceStatus)) {
      out.set(r.LogicalResourceId, {
        logicalId: r.LogicalResourceId,
        ...(r.PhysicalResourceId ? { physicalId: r.PhysicalResourceId } : {}),
        ...(r.ResourceType ? { type: r.ResourceType } : {}),
        status: r.ResourceStatus,
        ...(r.ResourceStatusReason ? { reason: r.ResourceStatusReason } : {}),
      });
    }
  }
  // The events carry the reasons when the resource list does not (newest first).
  const ev = await account.cfn.describeStackEvents({ StackName: stackId }).catch(() => undefined);
  for (const e of [...(ev?.StackEvents ?? [])].reverse()) {
    if (
      !e.ResourceStatus ||
      !statuses.test(e.ResourceStatus) ||
      !e.LogicalResourceId ||
      e.PhysicalResourceId === stackId ||
      e.ResourceType === 'AWS::CloudFormation::Stack'
    )
      continue;
    const known = out.get(e.LogicalResourceId);
    if (!known)
      out.set(e.LogicalResourceId, {
        logicalId: e.LogicalResourceId,
        ...(e.PhysicalResourceId ? { physicalId: e.PhysicalResourceId } : {}),
        ...(e.ResourceType ? { type: e.ResourceType } : {}),
        status: e.ResourceStatus,
        ...(e.ResourceStatusReason ? { reason: e.ResourceStatusReason } : {}),
      });
    else if (!known.reason && e.ResourceStatusReason) known.reason = e.ResourceStatusReason;
  }
  const all = [...out.values()];
  return [...all.filter((f) => !CANCELLED.test(f.reason ?? '')), ...all.filter((f) => CANCELLED.test(f.reason ?? ''))];
}

/** `ForensicInstance (i-…): reason; Subnet: reason` */
export function nameFailures(failed: readonly FailedResource[], fallback: string): string {
  return failed.length
    ? failed
        .map((r) => `${r.logicalId}${r.physicalId ? ` (${r.physicalId})` : ''}: ${r.reason ?? 'no reason given'}`)
        .join('; ')
    : fallback;
}
