/**
 * The deterministic case id of an automated response: the same finding gives the same case, so a
 * finding delivered twice (EventBridge delivers at least once; GuardDuty re-publishes an updated
 * finding under the same id) becomes one case, not two.
 *
 *   GuardDuty      GD-<first 16 hex of SHA-256(account ':' region ':' findingId)>
 *   Security Hub   SH-<first 16 hex of SHA-256(account ':' region ':' findingId)>
 *   tag            TAG-<first 16 hex of SHA-256(account ':' region ':' instanceId)>
 *
 * The tag rule keys on the instance alone: a tag is a person's decision about an instance, and
 * tagging it again (or EventBridge delivering the change twice) must not open a second case. A
 * fleet item names its case itself.
 */
import { createHash } from 'node:crypto';
import type { FindingSource } from './types.js';

const PREFIX: Record<Exclude<FindingSource, 'fleet'>, string> = { guardduty: 'GD', securityhub: 'SH', tag: 'TAG' };

/** First 16 hex digits of the SHA-256 of the parts joined by ':'. */
export function digest16(...parts: string[]): string {
  return createHash('sha256').update(parts.join(':')).digest('hex').slice(0, 16);
}

/** The case id of a finding (or, for a tag, of the instance). */
export function automationCaseId(
  source: Exclude<FindingSource, 'fleet'>,
  account: string,
  region: string,
  key: string,
): string {
  return `${PREFIX[source]}-${digest16(account, region, key)}`;
}
