/**
 * One writer per case: a lease object in the vault, `cases/<case>/lease.json` (outside the events
 * prefix, so verification ignores it), taken by the commands that change a case's AWS state.
 *
 * Every write is one conditional PUT, so two holders can never both believe they hold it:
 * - absent                       → PUT `If-None-Match: *`
 * - released, expired, or its holder is known to be gone → PUT `If-Match: <ETag of the version read>`
 * - held by someone else         → refuse ({@link CaseBusyError}, exit 1), naming the holder
 * A holder renews (`renew()`, `If-Match` its own last ETag) well before expiry — an explicit call,
 * no timer inside the library (the CLI host runs a heartbeat; a Step Functions host renews per
 * state) — and a renewal that finds the lease taken reports {@link LeaseLostError}: stop working.
 * `release()` writes `released: true` (`If-Match`). Every write bumps `generation`, so no two
 * versions have the same bytes (and ETag). The vault's Object Lock keeps every version: the lease's
 * history is a record of who held the case.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AwsAccount } from '../aws/ports.js';
import { isAwsCode } from '../aws/errors.js';
import { CleanroomError } from '../domain/errors.js';
import { casePrefix } from '../domain/vault-name.js';
import { LOCK_SCOPE_PATTERN, vaultWideScope } from '../domain/exclusive.js';
import { checksumSha256 } from './store.js';

export const LEASE_SCHEMA = 'cleanroom.case-lease.v1';
/** Default time a lease lasts without renewal. */
export const DEFAULT_LEASE_TTL_MS = 10 * 60_000;
/** Default renewal interval (the CLI heartbeat): well before expiry. */
export const DEFAULT_LEASE_RENEW_MS = 3 * 60_000;

/** `cases/<case>/lease.json`. */
export function leaseKey(caseId: string): string {
  return `${casePrefix(caseId)}lease.json`;
}

/** Where a case's locks are: `cases/<case>/locks/`. */
export function locksPrefix(caseId: string): string {
  return `${casePrefix(caseId)}locks/`;
}

/** The lock object of a scope (src/domain/exclusive.ts): `cases/<case>/locks/<kind>/<name>.json`. */
export function lockKey(caseId: string, scope: string): string {
  if (!LOCK_SCOPE_PATTERN.test(scope))
    throw new CleanroomError('INTERNAL', `${JSON.stringify(scope)} is not a lock scope (<kind>:<name>).`);
  const at = scope.indexOf(':');
  return `${locksPrefix(caseId)}${scope.slice(0, at)}/${scope.slice(at + 1)}.json`;
}

/** Where the vault-wide locks are: `locks/` (beside `cases/`, no case's own). */
export const VAULT_LOCKS_PREFIX = 'locks/';

/**
 * The vault-wide lock object of a scope naming what is not a case's own (src/domain/exclusive.ts):
 * `locks/<account>/<region>/<kind>/<name>.json` — every case of the vault takes this one object.
 */
export function vaultLockKey(scope: string): string {
  const v = vaultWideScope(scope);
  if (!v)
    throw new CleanroomError(
      'INTERNAL',
      `${JSON.stringify(scope)} is not a vault-wide lock scope (<kind>:<name>@<account>.<region>).`,
    );
  return `${VAULT_LOCKS_PREFIX}${v.account}/${v.region}/${v.kind}/${v.name}.json`;
}

/** The object a lease or lock document lives in: the case's lease, the case's lock of its scope, or the vault-wide lock. */
function objectKey(o: Pick<LeaseOptions, 'caseId' | 'scope' | 'vaultWide'>): string {
  if (!o.scope) return leaseKey(o.caseId);
  return o.vaultWide ? vaultLockKey(o.scope) : lockKey(o.caseId, o.scope);
}

/** The lease document as stored. */
export interface LeaseDocument {
  schema: typeof LEASE_SCHEMA;
  case: string;
  /** Unique per holder: caller ARN + host + pid + random (CLI), or an execution id given by the host. */
  owner: string;
  /** What the holder is doing (`acquire`, `case close`, …). */
  command: string;
  /** A lock's scope (`instance:i-…`, `room:…`; src/domain/exclusive.ts); absent for the case's lease. */
  scope?: string;
  /** The STS caller ARN of the holder, when known. */
  actor?: string;
  /** Where the holder runs (a CLI host fills these; they let a rerun on the same machine see that the holder died). */
  host?: string;
  pid?: number;
  /** When the holder's machine booted (ISO): with `host`, tells a rerun on the same machine from one on another machine of the same name. */
  bootedAt?: string;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  /** Bumped on every write. */
  generation: number;
  released: boolean;
  releasedAt?: string;
}

/** Why a lease was taken from a previous holder that had not released it. */
export interface LeaseTakeover {
  previous: LeaseDocument;
  reason: 'expired' | 'holder-gone';
}

/** Who takes the lease: written into the lease document as given. */
export type LeaseHolder = Pick<LeaseDocument, 'owner' | 'command' | 'actor' | 'host' | 'pid' | 'bootedAt'>;

export interface LeaseOptions extends LeaseHolder {
  /** The forensic account (only its S3 port: GetObject and PutObject of the lease key; a fake in unit tests). */
  account: Pick<AwsAccount, 's3'>;
  bucket: string;
  /** SSE-KMS key of the vault (its bucket policy refuses uploads without SSE-KMS). */
  vaultKeyArn: string;
  caseId: string;
  /**
   * A lock of one scope of the case (`cases/<case>/locks/<kind>/<name>.json`) instead of the case's
   * lease: the same algorithm on another object.
   */
  scope?: string;
  /**
   * With `scope` (one naming what is not a case's own): the vault-wide lock of it
   * ({@link vaultLockKey}), which every case of the vault takes, instead of the case's.
   */
  vaultWide?: boolean;
  /** How long the lease lasts without renewal (default 10 min). */
  ttlMs?: number;
  now?: () => Date;
  /**
   * Whether the holder of an unexpired lease is known to be gone (e.g. a process on this machine
   * that no longer runs); its lease is then taken over at once, and the take-over recorded.
   */
  holderGone?: (held: LeaseDocument) => boolean | Promise<boolean>;
}

/** Another holder has the case (exit 1). */
export class CaseBusyError extends CleanroomError {
  /**
   * `key`: the object found held (default the case's lease or lock of `held`); `forCase`: the case
   * of the writer refused, when it is not the holder's (a vault-wide lock another case holds).
   */
  constructor(
    readonly held: LeaseDocument,
    bucket: string,
    key: string = objectKey({ caseId: held.case, ...(held.scope ? { scope: held.scope } : {}) }),
    forCase: string = held.case,
  ) {
    const what = held.scope ? `its lock ${held.scope}` : 'its lease';
    const holder = `holder ${held.actor ?? held.owner}${held.host ? ` on ${held.host}${held.pid ? `, pid ${held.pid}` : ''}` : ''}`;
    const other = forCase !== held.case;
    super(
      'CASE_BUSY',
      `${other ? `Case ${forCase} has to wait: case ${held.case}'s \`${held.command}\` holds the lock ${held.scope}` : `Case ${held.case} is busy: \`${held.command}\` holds ${what}`} (${holder}) since ${held.acquiredAt}, until ${held.expiresAt} unless it renews it (s3://${bucket}/${key}). ${other ? 'Every case of this vault takes this lock, and only one writer at a time may change what it guards' : held.scope ? 'Only one writer at a time may change what it guards' : 'Only one command at a time may change a case'}: nothing was changed. Run this command again when that one has finished (or, if it died, after ${what.slice(4)} expires at ${held.expiresAt}).`,
      {
        exitCode: 1,
        details: {
          caseId: forCase,
          ...(other ? { holderCase: held.case } : {}),
          ...(held.scope ? { scope: held.scope } : {}),
          bucket,
          holder: held.owner,
          actor: held.actor,
          command: held.command,
          host: held.host,
          pid: held.pid,
          since: held.acquiredAt,
          until: held.expiresAt,
        },
      },
    );
  }
}

/** The lease was taken by someone else (it expired before it was renewed): stop changing the case. */
export class LeaseLostError extends CleanroomError {
  constructor(caseId: string, bucket: string, owner: string, taker?: LeaseDocument, scope?: string, key?: string) {
    super(
      'CASE_LEASE_LOST',
      `This command lost the ${scope ? `lock ${scope}` : 'lease'} of case ${caseId} (s3://${bucket}/${key ?? objectKey({ caseId, ...(scope ? { scope } : {}) })})${taker ? ` to \`${taker.command}\` (holder ${taker.actor ?? taker.owner}) at ${taker.acquiredAt}` : ''}: it could not renew it before it expired, so it stops changing the case. Check what that command did (\`cleanroom custody log --case ${caseId}\`), then run this command again.`,
      {
        exitCode: 1,
        details: {
          caseId,
          bucket,
          owner,
          ...(taker ? { takenBy: taker.owner, takenByCommand: taker.command, takenAt: taker.acquiredAt } : {}),
        },
      },
    );
  }
}

/** A unique owner id for a CLI process: caller ARN + host + pid + random. */
export function processOwnerId(actor: string): string {
  return `${actor}|${os.hostname()}|${process.pid}|${randomBytes(6).toString('hex')}`;
}

/** When this machine booted (ISO, to the second): `os.uptime()` back from now. */
export function machineBootedAt(now: Date = new Date()): string {
  return new Date(Math.round((now.getTime() - os.uptime() * 1000) / 1000) * 1000).toISOString();
}

/**
 * How far apart two readings of one boot time may be. `os.uptime()` read at different moments
 * drifts by a second or so; two machines of the same host name booted within this window of each
 * other would be taken for one — the pid check below then still has to find the holder gone.
 */
const SAME_BOOT_MS = 120_000;

/**
 * True when `held` was taken by a process on this machine that no longer runs: same host name,
 * same boot (a host name alone is not a machine: containers and cloned images share them), and its
 * pid is not running. Anything less certain is not "gone": the lease then has to expire.
 */
export function localHolderGone(held: LeaseDocument): boolean {
  if (!held.host || held.host !== os.hostname() || !held.pid || held.pid === process.pid) return false;
  if (!held.bootedAt || Math.abs(Date.parse(held.bootedAt) - Date.parse(machineBootedAt())) > SAME_BOOT_MS)
    return false;
  try {
    process.kill(held.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** How many times taking the lease retries when another writer changed it in between. */
const MAX_ATTEMPTS = 5;

/** A lease held on a case (after {@link acquireCaseLease}). */
export class CaseLease {
  private etag: string;
  private lost: LeaseLostError | undefined;
  private releasedFlag = false;

  constructor(
    private readonly o: LeaseOptions,
    private doc: LeaseDocument,
    etag: string,
    /** Set when the lease was taken from a holder that had not released it. */
    readonly takeover: LeaseTakeover | undefined,
  ) {
    this.etag = etag;
  }

  get document(): LeaseDocument {
    return this.doc;
  }

  get owner(): string {
    return this.doc.owner;
  }

  /** The object it is: the case's lease, a lock of the case, or a vault-wide lock. */
  get key(): string {
    return objectKey(this.o);
  }

  /** A vault-wide lock (taken by every case of the vault) rather than the case's own object. */
  get vaultWide(): boolean {
    return Boolean(this.o.scope && this.o.vaultWide);
  }

  /** Set once a renewal found the lease taken by someone else. */
  get lostError(): LeaseLostError | undefined {
    return this.lost;
  }

  get released(): boolean {
    return this.releasedFlag;
  }

  /** Throw if the lease was lost (callers check before each change). */
  assertHeld(): void {
    if (this.lost) throw this.lost;
  }

  private now(): Date {
    return (this.o.now ?? (() => new Date()))();
  }

  /** Extend the lease by its TTL. Throws {@link LeaseLostError} (and remembers it) when it was taken. */
  async renew(): Promise<void> {
    this.assertHeld();
    if (this.releasedFlag) return;
    const now = this.now();
    const next: LeaseDocument = {
      ...this.doc,
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + (this.o.ttlMs ?? DEFAULT_LEASE_TTL_MS)).toISOString(),
      generation: this.doc.generation + 1,
    };
    await this.write(next);
  }

  /** Give the lease back (`released: true`). A lost lease is not written to. */
  async release(): Promise<void> {
    if (this.lost || this.releasedFlag) return;
    const now = this.now();
    await this.write({
      ...this.doc,
      released: true,
      releasedAt: now.toISOString(),
      renewedAt: now.toISOString(),
      generation: this.doc.generation + 1,
    });
    this.releasedFlag = true;
  }

  private async write(next: LeaseDocument): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        this.etag = await putLease(this.o, next, { ifMatch: this.etag });
        this.doc = next;
        return;
      } catch (e) {
        if (!isAwsCode(e, 'PreconditionFailed', 'ConditionalRequestConflict', 'NoSuchKey', 'NotFound')) throw e;
      }
      // Our ETag is not the current one: someone else wrote, or our own last write landed
      // without us seeing its answer.
      const cur = await readLease(this.o);
      if (cur && cur.doc.owner === this.doc.owner && !cur.doc.released) {
        this.etag = cur.etag;
        this.doc = { ...cur.doc };
        next = { ...next, generation: cur.doc.generation + 1 };
        continue;
      }
      this.lost = new LeaseLostError(this.o.caseId, this.o.bucket, this.doc.owner, cur?.doc, this.o.scope, this.key);
      throw this.lost;
    }
    throw new CleanroomError(
      'LEASE_CONTENTION',
      `Could not write the ${this.o.scope ? `lock ${this.o.scope}` : 'lease'} of case ${this.o.caseId}: it kept changing under this command. Run it again.`,
      { details: { caseId: this.o.caseId } },
    );
  }
}

/** The fields the lease logic decides on, with their types. */
function isLeaseDocument(d: unknown): d is LeaseDocument {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return false;
  const l = d as Partial<LeaseDocument>;
  return (
    typeof l.owner === 'string' &&
    typeof l.released === 'boolean' &&
    Number.isInteger(l.generation) &&
    typeof l.expiresAt === 'string' &&
    !Number.isNaN(Date.parse(l.expiresAt))
  );
}

async function readLease(
  o: Pick<LeaseOptions, 'account' | 'bucket' | 'caseId' | 'scope' | 'vaultWide'>,
): Promise<{ doc: LeaseDocument; etag: string } | undefined> {
  try {
    const r = await o.account.s3.getObject({ Bucket: o.bucket, Key: objectKey(o) });
    const text = Buffer.from((await r.Body!.transformToByteArray()) as Uint8Array).toString('utf8');
    let doc: LeaseDocument;
    try {
      doc = JSON.parse(text) as LeaseDocument;
      if (!isLeaseDocument(doc)) throw new Error('not a lease');
    } catch {
      // An unreadable lease protects nothing: treat it as released (it is overwritten conditionally).
      // JSON that is not a lease too: `null` would crash every command of the case, and a lease
      // with no expiry would keep it busy forever.
      doc = {
        schema: LEASE_SCHEMA,
        case: o.caseId,
        owner: '(unreadable)',
        command: '(unreadable)',
        acquiredAt: new Date(0).toISOString(),
        renewedAt: new Date(0).toISOString(),
        expiresAt: new Date(0).toISOString(),
        generation: 0,
        released: true,
      };
    }
    return { doc, etag: r.ETag ?? '' };
  } catch (e) {
    if (isAwsCode(e, 'NoSuchKey', 'NotFound')) return undefined;
    throw e;
  }
}

async function putLease(
  o: LeaseOptions,
  doc: LeaseDocument,
  cond: { ifMatch?: string; create?: boolean },
): Promise<string> {
  const body = Buffer.from(JSON.stringify(doc), 'utf8');
  const r = await o.account.s3.putObject({
    Bucket: o.bucket,
    Key: objectKey(o),
    Body: body,
    ContentType: 'application/json',
    ChecksumAlgorithm: 'SHA256',
    ChecksumSHA256: checksumSha256(body),
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: o.vaultKeyArn,
    BucketKeyEnabled: true,
    ...(cond.create ? { IfNoneMatch: '*' } : {}),
    ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}),
  });
  return r.ETag ?? '';
}

/**
 * Take the lease of a case, or throw {@link CaseBusyError} when someone else holds it. Taking over
 * an expired lease (or one whose holder is gone) succeeds and says so in `takeover`: the caller
 * records it as a custody event.
 */
export async function acquireCaseLease(o: LeaseOptions): Promise<CaseLease> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = (o.now ?? (() => new Date()))();
    const cur = await readLease(o);
    const mine = (generation: number): LeaseDocument => ({
      schema: LEASE_SCHEMA,
      case: o.caseId,
      owner: o.owner,
      command: o.command,
      ...(o.scope ? { scope: o.scope } : {}),
      ...(o.actor ? { actor: o.actor } : {}),
      ...(o.host ? { host: o.host } : {}),
      ...(o.pid ? { pid: o.pid } : {}),
      ...(o.bootedAt ? { bootedAt: o.bootedAt } : {}),
      acquiredAt: now.toISOString(),
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + (o.ttlMs ?? DEFAULT_LEASE_TTL_MS)).toISOString(),
      generation,
      released: false,
    });
    let takeover: LeaseTakeover | undefined;
    if (cur && !cur.doc.released && cur.doc.owner !== o.owner) {
      if (Date.parse(cur.doc.expiresAt) <= now.getTime()) takeover = { previous: cur.doc, reason: 'expired' };
      else if (o.holderGone && (await o.holderGone(cur.doc))) takeover = { previous: cur.doc, reason: 'holder-gone' };
      else throw new CaseBusyError(cur.doc, o.bucket, objectKey(o), o.caseId);
    }
    const doc = mine((cur?.doc.generation ?? 0) + 1);
    try {
      const etag = await putLease(o, doc, cur ? { ifMatch: cur.etag } : { create: true });
      return new CaseLease(o, doc, etag, takeover);
    } catch (e) {
      // Someone else wrote the lease between our read and our write: read it again.
      if (!isAwsCode(e, 'PreconditionFailed', 'ConditionalRequestConflict', 'NoSuchKey', 'NotFound')) throw e;
    }
  }
  throw new CleanroomError(
    'LEASE_CONTENTION',
    `Could not take the ${o.scope ? `${o.vaultWide ? 'vault-wide ' : ''}lock ${o.scope}` : 'lease'} of case ${o.caseId}: it kept changing under this command. Run it again.`,
    { details: { caseId: o.caseId } },
  );
}

/** True while a lease or lock is held: not released and not expired by `now`. */
export function isHeld(doc: LeaseDocument, now: Date): boolean {
  return !doc.released && Date.parse(doc.expiresAt) > now.getTime();
}

/**
 * Take the locks of `scopes` of a case (each as the lease is taken: {@link acquireCaseLease} with
 * its scope), in a fixed order — a scope naming what is not a case's own its vault-wide lock too,
 * right after the case's — then read the case's lease: its holder covers every scope of the case,
 * so while another holds it the case is busy. A busy lock or lease gives back the locks taken so
 * far and throws {@link CaseBusyError} naming the holder, and its case when it is another
 * (nothing waits, so two writers can never deadlock).
 *
 * With {@link refuseWhileLocked} on the lease's side (take the lease, then look at the locks) one
 * of two writers racing always sees the other: each writes its own object before it reads the
 * other's, and S3 reads what was written before them. The case's own object of a vault-wide scope
 * is what a command holding the lease sees; the vault-wide one is what another case's writer sees.
 */
export async function acquireCaseLocks(o: LeaseOptions, scopes: readonly string[]): Promise<CaseLease[]> {
  return takeLocks(o, scopes, true);
}

/**
 * Take only the vault-wide locks of `scopes` (those naming what is not a case's own), for a writer
 * holding the case's lease: the lease covers the case's own objects, not another case's writers.
 */
export async function acquireVaultLocks(o: LeaseOptions, scopes: readonly string[]): Promise<CaseLease[]> {
  return takeLocks(o, scopes, false);
}

async function takeLocks(o: LeaseOptions, scopes: readonly string[], ofCase: boolean): Promise<CaseLease[]> {
  const taken: CaseLease[] = [];
  try {
    for (const scope of [...new Set(scopes)].sort()) {
      if (ofCase) taken.push(await acquireCaseLease({ ...o, scope, vaultWide: false }));
      if (vaultWideScope(scope)) taken.push(await acquireCaseLease({ ...o, scope, vaultWide: true }));
    }
    if (!ofCase) return taken;
    const { scope: _ignored, vaultWide: _also, ...caseLease } = o;
    const lease = await readLease(caseLease);
    const now = (o.now ?? (() => new Date()))();
    if (lease && lease.doc.owner !== o.owner && isHeld(lease.doc, now)) throw new CaseBusyError(lease.doc, o.bucket);
    return taken;
  } catch (e) {
    await Promise.all(taken.map((l) => l.release().catch(() => undefined)));
    throw e;
  }
}

/** The locks of a case (`cases/<case>/locks/`) held now, with the key of each; `except` an owner's own. */
export async function heldLocks(
  o: Pick<LeaseOptions, 'account' | 'bucket' | 'caseId' | 'now'>,
  except?: string,
): Promise<LeaseDocument[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await o.account.s3.listObjectsV2({
      Bucket: o.bucket,
      Prefix: locksPrefix(o.caseId),
      ...(token ? { ContinuationToken: token } : {}),
    });
    for (const x of r.Contents ?? []) if (x.Key?.endsWith('.json')) keys.push(x.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  const now = (o.now ?? (() => new Date()))();
  const docs = await Promise.all(
    keys.map(async (key) => {
      const at = key.slice(locksPrefix(o.caseId).length, -'.json'.length);
      const scope = at.replace('/', ':');
      if (!LOCK_SCOPE_PATTERN.test(scope)) return undefined;
      return (await readLease({ account: o.account, bucket: o.bucket, caseId: o.caseId, scope }))?.doc;
    }),
  );
  return docs.filter((d): d is LeaseDocument => Boolean(d && d.owner !== except && isHeld(d, now)));
}

/**
 * After taking the case's lease: refuse (CASE_BUSY naming the holder, the lease given back) while
 * another writer holds a lock of the case — a Step Functions step changing one instance or the room.
 */
export async function refuseWhileLocked(lease: CaseLease, o: LeaseOptions): Promise<void> {
  const held = await heldLocks(o, lease.owner);
  if (!held.length) return;
  await lease.release().catch(() => undefined);
  throw new CaseBusyError(held[0]!, o.bucket);
}

/** What holds a case now: its lease (when held) and its held locks, each as its document says. */
export async function heldOnCase(
  o: Pick<LeaseOptions, 'account' | 'bucket' | 'caseId' | 'now'>,
): Promise<LeaseDocument[]> {
  const lease = await readLease(o);
  const now = (o.now ?? (() => new Date()))();
  return [...(lease && isHeld(lease.doc, now) ? [lease.doc] : []), ...(await heldLocks(o))];
}
