/** Every finding code verification can report. */
export const FINDING_CODES = [
  /** A stored event or manifest does not validate against its schema (or is not JSON). */
  'SCHEMA_INVALID',
  /** The stored bytes are not the RFC 8785 canonical form of the document they hold. */
  'NOT_CANONICAL',
  /** An event's recomputed hash differs from its `hash` field. */
  'HASH_MISMATCH',
  /** An event's `prevHash` is not the hash of the event before it. */
  'CHAIN_LINK_MISMATCH',
  /** Sequence numbers are missing from the record. */
  'SEQUENCE_GAP',
  /** An event object holds another sequence number or case than its key says. */
  'SEQUENCE_MISMATCH',
  /** An event key has more than one version (something was written over it). */
  'EXTRA_VERSION',
  /** An event key's current version is a delete marker. */
  'EVENT_DELETED',
  /** An object version carries no Object Lock retention. */
  'RETENTION_MISSING',
  /** The manifest signature does not verify with the vault's public key. */
  'SIGNATURE_INVALID',
  /** There is no manifest although there are events. */
  'MANIFEST_MISSING',
  /** The manifest's head, counts or evidence disagree with the events. */
  'MANIFEST_MISMATCH',
  /** The manifest seals an earlier head: later events are not covered by a signature. */
  'MANIFEST_STALE',
  /** A bundle file's SHA-256 differs from SHA256SUMS. */
  'BUNDLE_CHECKSUM_MISMATCH',
  /** A file listed in SHA256SUMS is missing, or a file in the bundle is not listed. */
  'BUNDLE_INCOMPLETE',
  /** SHA256SUMS names a file by a name that is not its one canonical bundle name (an alias, `..`, absolute, a backslash), or lists it twice or out of order. */
  'BUNDLE_NAME_INVALID',
  /** A bundle entry is a symbolic link, a directory, a FIFO or another special file where a regular file belongs (never followed). */
  'BUNDLE_FILE_INVALID',
  /** bundle.sig.json is missing, malformed, or its signature over SHA256SUMS does not verify. */
  'BUNDLE_SIGNATURE_INVALID',
  /** The key that signed a bundle is not the trust anchor given (or no anchor was given: the bundle only vouches for itself). */
  'KEY_NOT_TRUSTED',
  /** A bundle is of another case than the one the custodian expected (`--expect-case`). */
  'CASE_NOT_EXPECTED',
  /** A bundle's record ends at another head than the one the custodian expected (`--expect-head`): an older or other export. */
  'HEAD_NOT_EXPECTED',
  /** A sequence number occurs twice, or an event comes after a later one. */
  'SEQUENCE_DUPLICATE',
  /** A session's recorded transcript object (that version) is gone from the vault, or its file from the bundle. */
  'TRANSCRIPT_MISSING',
  /** A session's transcript does not hash to the SHA-256 (or size) its `room.session` event records. */
  'TRANSCRIPT_MISMATCH',
  /** A `custody.checkpoint` names a lane head that is not in the record, or moves a lane backwards. */
  'CHECKPOINT_INVALID',
  /** Lane events that no checkpoint commits: no signature covers them (`custody seal` commits them). */
  'LANE_UNCOMMITTED',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];
