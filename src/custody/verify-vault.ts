/**
 * `custody verify --case`: the record as stored in the vault. Lists every version of every object
 * under the case prefix (ListObjectVersions: overwrites and delete markers show up), reads each
 * version's stored bytes and Object Lock retention, and streams the current version of each event,
 * in sequence order and in bounded windows, through the {@link ChainChecker}; then checks the
 * manifest, its signature verified offline against the signing key's public key (KMS GetPublicKey).
 */
import type { AccountCalls, AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { mapPool } from '../domain/pool.js';
import { silentReporter, type Reporter } from '../domain/reporter.js';
import { signingKeyAlias, casePrefix } from '../domain/vault-name.js';
import { resolveVaultBucket } from './vault/bucket.js';
import { describeKeyAlias } from './vault/audit.js';
import { unknownCaseError } from './case-exists.js';
import {
  custodyPrefix,
  laneOfKey,
  lanesPrefix,
  manifestKey,
  seqOfKey,
  type CaseManifest,
  type CustodyEvent,
} from './event.js';
import { LaneSet } from './lanes.js';
import { getBytes } from './store.js';
import {
  ChainChecker,
  Findings,
  VAULT_CHECKS,
  checkManifest,
  publicKey,
  verifyResult,
  type CustodyVerifyResult,
} from './verify.js';
import type { KeyObject } from 'node:crypto';
import type { RecordedSession } from './room-sessions.js';
import { checkVaultTranscripts, type TranscriptReadOptions } from './verify-transcripts.js';

interface Version {
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  lastModified: number;
}

export interface VaultVerifyOptions {
  caseId: string;
  bucket?: string;
  reporter?: Reporter;
  /** Parallel GETs (default 16). */
  concurrency?: number;
  /** Events per window: bounds memory (default 256). */
  window?: number;
  /** Called with each event's current stored bytes, in sequence order (export writes them). */
  onEvent?: (seq: number, bytes: Buffer, event: CustodyEvent | undefined) => void | Promise<void>;
  /** Called with each lane event as the checkpoint at `seq` commits it, in the record's total order (export's report). */
  onLaneEvent?: (seq: number, event: CustodyEvent) => void;
  /** Called with each lane object's current stored bytes (export writes them). */
  onLaneObject?: (lane: string, first: number, bytes: Buffer) => void | Promise<void>;
  /** Called with the manifest's current stored bytes. */
  onManifest?: (bytes: Buffer) => void | Promise<void>;
  /** A new file to write a session's transcript into while it is hashed (export), or undefined. */
  transcriptFile?: TranscriptReadOptions['transcriptFile'];
}

/** What verification reads: the vault's objects (every version), its signing key. */
export type VaultVerifyAccount = Pick<AwsAccount, 'accountId' | 'region'> &
  AccountCalls<{ s3: 'listObjectVersions' | 'getObject' | 'listObjectsV2'; kms: 'describeKey' | 'getPublicKey' }>;

export interface VaultVerifyResult extends CustodyVerifyResult {
  bucket: string;
  signingKeyArn?: string;
  /** The public key of the signing key (SPKI DER), for the export. */
  publicKeyDer?: Buffer;
  manifest?: CaseManifest;
  /** Retention of the current event versions: the earliest retain-until date and the modes seen. */
  retention: { modes: string[]; earliestRetainUntil?: string };
  /** The session events of the record (`room.session.start`, `room.session`), in sequence order. */
  sessions: RecordedSession[];
}

/** Every version of every object under the case prefix, by key (newest first, as S3 lists them). */
async function listVersions(
  account: AccountCalls<{ s3: 'listObjectVersions' }>,
  bucket: string,
  caseId: string,
): Promise<Map<string, Version[]>> {
  const out = new Map<string, Version[]>();
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const r = await account.s3.listObjectVersions({
      Bucket: bucket,
      Prefix: casePrefix(caseId),
      ...(keyMarker ? { KeyMarker: keyMarker } : {}),
      ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
    });
    const add = (key: string | undefined, v: Version) => {
      if (!key) return;
      const list = out.get(key) ?? [];
      list.push(v);
      out.set(key, list);
    };
    for (const v of r.Versions ?? [])
      add(v.Key, {
        versionId: v.VersionId ?? 'null',
        isLatest: v.IsLatest === true,
        deleteMarker: false,
        lastModified: v.LastModified ? new Date(v.LastModified).getTime() : 0,
      });
    for (const d of r.DeleteMarkers ?? [])
      add(d.Key, {
        versionId: d.VersionId ?? 'null',
        isLatest: d.IsLatest === true,
        deleteMarker: true,
        lastModified: d.LastModified ? new Date(d.LastModified).getTime() : 0,
      });
    keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
    versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
  } while (keyMarker);
  for (const list of out.values())
    list.sort((a, b) => Number(b.isLatest) - Number(a.isLatest) || b.lastModified - a.lastModified);
  return out;
}

/** Verify the custody record of a case in the vault. Read-only. */
export async function verifyCaseInVault(
  account: VaultVerifyAccount,
  opts: VaultVerifyOptions,
): Promise<VaultVerifyResult> {
  const bucket = await resolveVaultBucket(account, opts.bucket);
  const reporter = opts.reporter ?? silentReporter;
  const caseId = opts.caseId;
  const findings = new Findings();
  const chain = new ChainChecker(caseId, findings);
  const retention = new RetentionSeen(findings);

  reporter.progress({ kind: 'step', message: `listing every version under s3://${bucket}/${casePrefix(caseId)}` });
  const versions = await listVersions(account, bucket, caseId);
  // Unknown cases are unknown: no event object (in any version) means there is no such case here,
  // and an empty record must not "verify".
  if (![...versions.keys()].some((k) => k.startsWith(custodyPrefix(caseId))))
    throw await unknownCaseError(account, bucket, caseId);

  const { signing, key, der } = await readSigningKey(account, bucket);
  const read: VaultRead = { account, bucket, caseId, versions, findings, chain, retention };
  const manifestBytes = await readManifest(read, opts.onManifest);
  const lanes = new LaneSet(caseId, (code, seq, message) => findings.add(code, seq, message));
  chain.lanes = lanes;
  chain.onLaneEvent = opts.onLaneEvent;
  await readLanes(read, lanes, opts);
  await verifyEvents(read, opts, reporter);
  lanes.reportUncommitted();
  if (chain.sessions.length)
    reporter.progress({ kind: 'step', message: `checking the session transcripts of case ${caseId}` });
  const transcripts = await checkVaultTranscripts(account, chain, findings, {
    ...(opts.transcriptFile ? { transcriptFile: opts.transcriptFile } : {}),
    onRetention: (seq, what, got) => retention.check(seq, what, got, false),
  });

  const manifest = checkManifest({
    caseId,
    bucket,
    bytes: manifestBytes,
    key,
    ...(signing ? { expectedKeyId: signing.arn } : {}),
    chain,
    findings,
  });
  if (!signing && manifestBytes)
    findings.add(
      'SIGNATURE_INVALID',
      null,
      `the vault's signing key ${signingKeyAlias(bucket)} does not exist, so the manifest signature cannot be verified`,
    );

  const head = chain.head();
  return {
    ...verifyResult(
      caseId,
      chain,
      findings,
      `s3://${bucket}/${casePrefix(caseId)}`,
      VAULT_CHECKS,
      {
        'events.chain': `${chain.events} event(s) link from genesis to ${head.hash.slice(0, 16)}…`,
        'manifest.signature': signing ? `signed by ${signing.arn}` : 'ok',
      },
      transcripts,
    ),
    bucket,
    ...(signing ? { signingKeyArn: signing.arn } : {}),
    ...(der ? { publicKeyDer: der } : {}),
    ...(manifest ? { manifest } : {}),
    retention: retention.summary(),
    sessions: chain.sessions,
  };
}

/** What the steps of {@link verifyCaseInVault} share: the listing, and where they report. */
interface VaultRead {
  account: VaultVerifyAccount;
  bucket: string;
  caseId: string;
  versions: Map<string, Version[]>;
  findings: Findings;
  chain: ChainChecker;
  retention: RetentionSeen;
}

/** The vault's signing key and its public key (absent when the alias or the key is gone). */
async function readSigningKey(
  account: VaultVerifyAccount,
  bucket: string,
): Promise<{ signing: Awaited<ReturnType<typeof describeKeyAlias>>; key?: KeyObject; der?: Buffer }> {
  const signing = await describeKeyAlias(account, signingKeyAlias(bucket));
  if (!signing) return { signing };
  try {
    const pub = await account.kms.getPublicKey({ KeyId: signing.arn });
    const der = Buffer.from(pub.PublicKey!);
    return { signing, key: publicKey(der), der };
  } catch (e) {
    if (!isAwsCode(e, 'NotFoundException')) throw e;
    return { signing };
  }
}

/** Object Lock retention of each stored version: a version without it is a finding; the current versions' modes and earliest date are summed up. */
class RetentionSeen {
  private readonly modes = new Set<string>();
  private earliest: number | undefined;

  constructor(private readonly findings: Findings) {}

  check(seq: number | null, what: string, got: { lockMode?: string; retainUntil?: Date }, current: boolean): void {
    if (!got.lockMode || !got.retainUntil) {
      this.findings.add(
        'RETENTION_MISSING',
        seq,
        `${what} carries no Object Lock retention${got.lockMode ? ` date (mode ${got.lockMode})` : ''}: it can be deleted`,
      );
      return;
    }
    if (current) {
      this.modes.add(got.lockMode);
      const t = got.retainUntil.getTime();
      if (this.earliest === undefined || t < this.earliest) this.earliest = t;
    }
  }

  summary(): VaultVerifyResult['retention'] {
    return {
      modes: [...this.modes].sort(),
      ...(this.earliest !== undefined ? { earliestRetainUntil: new Date(this.earliest).toISOString() } : {}),
    };
  }
}

/** The manifest first (small): its head tells the chain checker which point to remember. Its current bytes, if readable. */
async function readManifest(r: VaultRead, onManifest: VaultVerifyOptions['onManifest']): Promise<Buffer | undefined> {
  const mKey = manifestKey(r.caseId);
  const current = (r.versions.get(mKey) ?? [])[0];
  if (!current || current.deleteMarker) return undefined;
  const got = await getBytes(r.account, r.bucket, mKey, current.versionId === 'null' ? undefined : current.versionId);
  if (!got) return undefined;
  r.retention.check(null, 'the manifest', got, false);
  try {
    const head = (JSON.parse(got.body.toString('utf8')) as CaseManifest).head;
    if (head && Number.isInteger(head.seq)) r.chain.watch = head.seq;
  } catch {
    // reported by checkManifest
  }
  await onManifest?.(got.body);
  return got.body;
}

/** Every version of `key` (listed newest first) and the stored bytes of each that is not a delete marker. */
async function readVersions(r: VaultRead, key: string): Promise<{ vs: Version[]; bodies: StoredVersion[] }> {
  const vs = r.versions.get(key)!;
  const bodies = await Promise.all(
    vs
      .filter((v) => !v.deleteMarker)
      .map(async (v) => ({
        v,
        got: await getBytes(r.account, r.bucket, key, v.versionId === 'null' ? undefined : v.versionId),
      })),
  );
  return { vs, bodies };
}

/**
 * Every lane object (every version): a delete marker or a second version is reported as for an
 * event (a second version at a lane position is a fork), the current version is checked and kept
 * in `lanes` for the checkpoints of the main chain to commit.
 */
async function readLanes(r: VaultRead, lanes: LaneSet, opts: VaultVerifyOptions): Promise<void> {
  const keys = [...r.versions.keys()].filter((k) => k.startsWith(lanesPrefix(r.caseId))).sort();
  const read = await mapPool(keys, opts.concurrency ?? 16, async (key) => ({ key, ...(await readVersions(r, key)) }));
  for (const x of read) {
    if (!x.ok) throw x.error;
    const { key, vs, bodies } = x.value;
    const at = laneOfKey(r.caseId, key);
    if (!at) {
      r.findings.add('SEQUENCE_MISMATCH', null, `${key} is under the lanes of the case but is not a lane object key`);
      continue;
    }
    const what = `lane ${at.lane} object ${at.first}`;
    if (vs[0]?.deleteMarker)
      r.findings.add('EVENT_DELETED', null, `${what} was deleted: its key's current version is a delete marker`);
    const present = bodies.filter((b) => b.got);
    for (const extra of present.slice(0, -1))
      r.findings.add(
        'EXTRA_VERSION',
        null,
        `${what} has another version (${extra.v.versionId}) written over the original (${present[present.length - 1]!.v.versionId}): two writers at one lane position`,
      );
    for (const [idx, b] of present.entries())
      r.retention.check(null, `${what} (version ${b.v.versionId})`, b.got!, idx === 0);
    const current = present[0];
    if (!current) continue;
    lanes.addObject(at.lane, at.first, current.got!.body);
    await opts.onLaneObject?.(at.lane, at.first, current.got!.body);
  }
  lanes.order();
}

/** Every event key, in sequence order, read in bounded windows: each version's bytes and retention, the current one through the chain. */
async function verifyEvents(r: VaultRead, opts: VaultVerifyOptions, reporter: Reporter): Promise<void> {
  const eventKeys = [...r.versions.keys()].flatMap((k) => {
    const seq = seqOfKey(r.caseId, k);
    return seq === undefined ? [] : [{ key: k, seq }];
  });
  eventKeys.sort((a, b) => a.seq - b.seq);
  reporter.progress({ kind: 'step', message: `verifying ${eventKeys.length} event object(s) of case ${r.caseId}` });

  const window = opts.window ?? 256;
  for (let i = 0; i < eventKeys.length; i += window) {
    const slice = eventKeys.slice(i, i + window);
    const read = await mapPool(slice, opts.concurrency ?? 16, async ({ key, seq }) => ({
      seq,
      ...(await readVersions(r, key)),
    }));
    for (const x of read) {
      if (!x.ok) throw x.error;
      await checkEventVersions(r, x.value, opts.onEvent);
    }
    reporter.progress({
      kind: 'item',
      item: `case ${r.caseId}`,
      phase: 'verifying events',
      percent: (Math.min(i + window, eventKeys.length) / Math.max(1, eventKeys.length)) * 100,
    });
  }
}

type StoredVersion = { v: Version; got: Awaited<ReturnType<typeof getBytes>> };

/** One event key: a delete marker, versions written over the original, retention; the current version goes through the chain. */
async function checkEventVersions(
  r: VaultRead,
  { seq, vs, bodies }: { seq: number; vs: Version[]; bodies: StoredVersion[] },
  onEvent: VaultVerifyOptions['onEvent'],
): Promise<void> {
  const { findings } = r;
  if (vs[0]?.deleteMarker)
    findings.add(
      'EVENT_DELETED',
      seq,
      `event ${seq} was deleted: its key's current version is a delete marker (the original version is still in the vault)`,
    );
  const present = bodies.filter((b) => b.got);
  if (present.length > 1) {
    const original = present[present.length - 1]!;
    for (const extra of present.slice(0, -1)) {
      findings.add(
        'EXTRA_VERSION',
        seq,
        `event ${seq} has another version (${extra.v.versionId}) written over the original (${original.v.versionId})${extra.got!.body.equals(original.got!.body) ? ', with the same bytes' : ', with different bytes'}`,
      );
    }
  }
  for (const [idx, b] of present.entries())
    r.retention.check(seq, `event ${seq} (version ${b.v.versionId})`, b.got!, idx === 0);
  const current = present[0];
  if (!current) {
    findings.add('SEQUENCE_GAP', seq, `event ${seq} has no readable version`);
    return;
  }
  const ev = r.chain.add(seq, current.got!.body);
  await onEvent?.(seq, current.got!.body, ev);
}
