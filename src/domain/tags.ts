/**
 * Every tag key cleanroom writes on AWS resources, in one table, and the one reader of an AWS
 * tag list. The tags are the second source of truth beside the custody record (design principle
 * 2): a rerun on any machine finds what an earlier run made by them, so a key never changes.
 */

/** Tag keys every created resource carries. */
export const TAG_CASE = 'cleanroom:case';
export const TAG_EVIDENCE = 'cleanroom:evidence';
export const TAG_ROLE = 'cleanroom:role';

/** Extra tags on evidence snapshots (provenance, readable without the record). */
export const TAG_SOURCE_VOLUME = 'cleanroom:source-volume';
export const TAG_SOURCE_INSTANCE = 'cleanroom:source-instance';
export const TAG_SOURCE_ACCOUNT = 'cleanroom:source-account';

/** Tags close adds. */
export const TAG_RETAINED = 'cleanroom:retained';
export const TAG_WRITTEN = 'cleanroom:written';
/** On a written-to check snapshot: the evidence snapshot it was compared with. */
export const TAG_CHECK_OF = 'cleanroom:written-check-of';

/** Tag on a contained instance: when it was isolated (ISO time), next to `cleanroom:case`. */
export const TAG_QUARANTINE = 'cleanroom:quarantine';

/** Tag naming the vault a key belongs to. */
export const TAG_VAULT = 'cleanroom:vault';

/** An AWS tag list (`[{ Key, Value }]`) as a map; a tag without a key is dropped. */
export function tagMap(tags: ReadonlyArray<{ Key?: string; Value?: string }> | undefined): Record<string, string> {
  const m: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) m[t.Key] = t.Value ?? '';
  return m;
}
