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

/** Tag on an instance `isolate release` gave back: when (ISO time); it replaces `cleanroom:quarantine`. */
export const TAG_RELEASED = 'cleanroom:released';

/**
 * Tag a responder puts on an instance to start the automated response (the automation's EventBridge
 * rule matches a change of it; cleanroom reads it, never writes it).
 */
export const TAG_RESPOND = 'cleanroom:respond';

/** Tag naming the vault a key belongs to. */
export const TAG_VAULT = 'cleanroom:vault';

/**
 * Every value of `cleanroom:role` that code writes or looks for. The room template
 * (templates/room.yaml) writes the room's own roles; the two read here are listed too.
 */
export const ROLE = {
  /** Evidence: the snapshot of a source volume, in the source account. */
  sourceSnapshot: 'source-snapshot',
  /** Evidence: the copy under the share key, shared with the forensic account. */
  sharingCopy: 'sharing-copy',
  /** Evidence: the copy under the case key, in the forensic account. */
  forensicCopy: 'forensic-copy',
  /** Evidence: the volume made from the forensic copy, attached in the room. */
  workingVolume: 'working-volume',
  /** The KMS key a source account shares snapshots under. */
  shareKey: 'share-key',
  /** The case's KMS key in the forensic account. */
  caseKey: 'case-key',
  /** Close: the snapshot of a working volume taken to prove it unchanged. */
  writtenCheck: 'written-check',
  /** Isolate: the group with no rule in either direction. */
  isolationGroup: 'isolation',
  /** Isolate: the transit group that lets tracked connections end. */
  transitGroup: 'isolation-untrack',
  /** Isolate: the subnet network ACL of a case. */
  isolationNacl: 'isolation-nacl',
  /** Isolate: the quarantine instance profile and its role. */
  quarantineProfile: 'quarantine-profile',
  /** Room: the CloudFormation stack. */
  roomStack: 'room-stack',
  /** Automation: the CloudFormation stack (`cleanroom automation deploy`). */
  automationStack: 'automation-stack',
  /** Room (template): the VPC. */
  roomVpc: 'vpc',
  /** Room (template, launch template): the forensic instance. */
  forensicInstance: 'forensic-instance',
  /** Room (template): the root volume of the forensic instance. */
  forensicRootVolume: 'forensic-root-volume',
} as const;

/** The value of one tag in an AWS tag list, if the list has it. */
export function tagValue(
  tags: ReadonlyArray<{ Key?: string; Value?: string }> | undefined,
  key: string,
): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/** An AWS tag list (`[{ Key, Value }]`) as a map; a tag without a key is dropped. */
export function tagMap(tags: ReadonlyArray<{ Key?: string; Value?: string }> | undefined): Record<string, string> {
  const m: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) m[t.Key] = t.Value ?? '';
  return m;
}
