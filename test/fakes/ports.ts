/**
 * Hand-written fakes of the narrow ports (src/aws/ports.ts) for unit tests: each fake is typed as
 * the `AccountCalls<…>`/`Pick<…>` the code under test declares, so a call it did not declare does
 * not compile, and an AWS error is the one a real port throws (the SDK error passed through
 * src/aws/errors.ts `translateAwsError`).
 */
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { AccountCalls, AwsAccount, PortName } from '../../src/aws/ports.js';
import { translateAwsError } from '../../src/aws/errors.js';
import type { Readable } from 'node:stream';
import type { GetSnapshotBlockCommandOutput } from '@aws-sdk/client-ebs';

/** The error a port throws when AWS answers `code` (status 400 unless given: 503 for throttling). */
export function awsError(
  service: string,
  operation: string,
  code: string,
  message = code,
  status = /Throttl|SlowDown/.test(code) ? 503 : 400,
): Error {
  const sdk = Object.assign(new Error(message), {
    name: code,
    $metadata: { httpStatusCode: status, requestId: 'req-1' },
  });
  return translateAwsError(service, operation, {}, sdk);
}

/**
 * A stateful fake of some of a port's methods (`FakePort<Pick<Ec2Port, 'createTags' | …>>`): each
 * takes its SDK command's input and answers its output without `$metadata` (no caller reads it), so
 * a fake that drifts from the SDK shapes does not compile.
 */
export type FakePort<P> = {
  [K in keyof P]: P[K] extends (input: infer I) => Promise<infer O>
    ? (input: I) => Promise<Omit<O, '$metadata'>>
    : never;
};

/**
 * A stateful fake account: its identity, and per port the calls a test fakes
 * (`FakeCalls<{ ec2: 'describeInstances' | 'createTags'; iam: 'getRole' }>`), each a {@link FakePort}.
 */
export type FakeCalls<P extends { [K in PortName]?: keyof AwsAccount[K] }> = Pick<
  AwsAccount,
  'region' | 'accountId' | 'callerArn'
> & {
  readonly [K in keyof P & PortName]: FakePort<Pick<AwsAccount[K], Extract<P[K], keyof AwsAccount[K]>>>;
};

/**
 * An SDK output from the fields a test sets (the fakes never fill `$metadata`), checked against the
 * output the caller expects. `T` comes from where the answer goes only (NoInfer), and in an async
 * function that is `Output | PromiseLike<Output>`: the promise half is dropped, or any fields would do.
 */
export const out = <T>(x: NoInfer<T extends PromiseLike<unknown> ? never : Omit<T, '$metadata'>>): T =>
  ({ $metadata: {}, ...x }) as T;

/**
 * A streaming SDK body (`Body`, `BlockData`) from a stream or bytes, both of which the code under test
 * reads: the SDK types it as its own Node stream with mixins, which a fake does not build.
 */
export const sdkStream = (x: Readable | Uint8Array): NonNullable<GetSnapshotBlockCommandOutput['BlockData']> =>
  x as never;

/** Every call a fake received, as `op` → inputs in order. */
export class Calls {
  readonly list: Array<{ op: string; input: unknown }> = [];
  add(op: string, input: unknown): void {
    this.list.push({ op, input });
  }
  of<T = Record<string, unknown>>(op: string): T[] {
    return this.list.filter((c) => c.op === op).map((c) => c.input as T);
  }
}

/**
 * Makes an injected failure: `fail.set('getObject', (input, n) => error | undefined)` — the n-th
 * call (from 1) of `op` throws what the rule returns.
 */
export class Faults {
  private readonly rules = new Map<string, (input: Record<string, unknown>, n: number) => Error | undefined>();
  private readonly counts = new Map<string, number>();
  set(op: string, rule: (input: Record<string, unknown>, n: number) => Error | undefined): void {
    this.rules.set(op, rule);
  }
  check(op: string, input: unknown): void {
    const n = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, n);
    const e = this.rules.get(op)?.(input as Record<string, unknown>, n);
    if (e) throw e;
  }
}

/** An account's identity, as the fakes of every test give it. */
export const IDENTITY: Pick<AwsAccount, 'accountId' | 'region' | 'callerArn'> = {
  region: 'us-east-1',
  accountId: async () => '123456789012',
  callerArn: async () => 'arn:aws:sts::123456789012:assumed-role/Custodian/alice',
};

/** A KMS signing key (ECC_NIST_P256, SIGN_VERIFY) under an alias. */
export interface FakeKey {
  alias: string;
  arn: string;
  privateKey: KeyObject;
  publicDer: Buffer;
}

export function signingKey(alias: string, id = 'k-sign'): FakeKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    alias,
    arn: `arn:aws:kms:us-east-1:123456789012:key/${id}`,
    privateKey,
    publicDer: publicKey.export({ format: 'der', type: 'spki' }) as Buffer,
  };
}

/** KMS DescribeKey / GetPublicKey / Sign over the keys given (by alias or ARN); unknown → NotFoundException. */
export function fakeKms(
  keys: FakeKey[],
  calls = new Calls(),
  faults = new Faults(),
): AccountCalls<{ kms: 'describeKey' | 'getPublicKey' | 'sign' }>['kms'] {
  const find = (op: string, id: string | undefined) => {
    const k = keys.find((x) => x.alias === id || x.arn === id);
    if (!k) throw awsError('kms', op, 'NotFoundException', `Key '${id}' does not exist`);
    return k;
  };
  return {
    describeKey: async (i) => {
      calls.add('describeKey', i);
      faults.check('describeKey', i);
      const k = find('describeKey', i.KeyId);
      return out({
        KeyMetadata: {
          KeyId: k.arn.split('/')[1]!,
          Arn: k.arn,
          KeyState: 'Enabled',
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          KeyManager: 'CUSTOMER',
        },
      });
    },
    getPublicKey: async (i) => {
      calls.add('getPublicKey', i);
      faults.check('getPublicKey', i);
      return out({
        KeyId: find('getPublicKey', i.KeyId).arn,
        PublicKey: new Uint8Array(find('getPublicKey', i.KeyId).publicDer),
      });
    },
    sign: async (i) => {
      calls.add('sign', i);
      faults.check('sign', i);
      const k = find('sign', i.KeyId);
      return out({
        KeyId: k.arn,
        Signature: new Uint8Array(cryptoSign('sha256', Buffer.from(i.Message!), k.privateKey)),
        SigningAlgorithm: 'ECDSA_SHA_256',
      });
    },
  };
}

/** One stored version of an S3 object (or a delete marker). */
export interface StoredVersion {
  versionId: string;
  body?: Buffer;
  deleteMarker?: boolean;
  lastModified: Date;
  lockMode?: 'COMPLIANCE' | 'GOVERNANCE';
  retainUntil?: Date;
}

/**
 * A versioned S3 bucket in memory, answering as S3 documents: ListObjectVersions lists keys in
 * order and each key's versions newest first, `pageSize` entries a page, resuming after
 * KeyMarker + VersionIdMarker (after the whole key when only KeyMarker is given); GetObject of a
 * key whose current version is a delete marker is NoSuchKey; ListObjectsV2 lists current objects
 * (CommonPrefixes with a Delimiter), `pageSize` a page.
 */
export class FakeBucket {
  readonly objects = new Map<string, StoredVersion[]>();
  readonly calls = new Calls();
  readonly faults = new Faults();
  private clock = Date.parse('2026-12-01T00:00:00Z');
  private nextVersion = 1;
  constructor(
    readonly name: string,
    public pageSize = 1000,
  ) {}

  /** Store a new version of `key` (the current one from now on). */
  put(
    key: string,
    body: Buffer,
    lock: { mode?: 'COMPLIANCE' | 'GOVERNANCE'; retainUntil?: Date } | null = {
      mode: 'COMPLIANCE',
      retainUntil: new Date('2033-12-01T00:00:00Z'),
    },
  ): StoredVersion {
    const v: StoredVersion = {
      versionId: `v${String(this.nextVersion++).padStart(4, '0')}`,
      body,
      lastModified: new Date((this.clock += 1000)),
      ...(lock?.mode ? { lockMode: lock.mode } : {}),
      ...(lock?.retainUntil ? { retainUntil: lock.retainUntil } : {}),
    };
    this.objects.set(key, [...(this.objects.get(key) ?? []), v]);
    return v;
  }

  /** Delete `key` as a versioned bucket does: a delete marker becomes its current version. */
  deleteMarker(key: string): void {
    this.objects.set(key, [
      ...(this.objects.get(key) ?? []),
      {
        versionId: `v${String(this.nextVersion++).padStart(4, '0')}`,
        deleteMarker: true,
        lastModified: new Date((this.clock += 1000)),
      },
    ]);
  }

  /** Remove one version for good (what a Governance bypass or an expired retention allows). */
  removeVersion(key: string, versionId: string): void {
    this.objects.set(
      key,
      (this.objects.get(key) ?? []).filter((v) => v.versionId !== versionId),
    );
  }

  private current(key: string): StoredVersion | undefined {
    return this.objects.get(key)?.at(-1);
  }

  readonly s3: AccountCalls<{ s3: 'listObjectVersions' | 'getObject' | 'listObjectsV2' }>['s3'] = {
    listObjectVersions: async (i) => {
      this.calls.add('listObjectVersions', i);
      this.faults.check('listObjectVersions', i);
      const all = [...this.objects.keys()]
        .filter((k) => k.startsWith(i.Prefix ?? ''))
        .sort()
        .flatMap((key) =>
          this.objects
            .get(key)!
            .map((v, idx, list) => ({ key, v, latest: idx === list.length - 1 }))
            .reverse(),
        );
      let start = 0;
      if (i.KeyMarker) {
        const at = i.VersionIdMarker
          ? all.findIndex((e) => e.key === i.KeyMarker && e.v.versionId === i.VersionIdMarker)
          : -1;
        start = at >= 0 ? at + 1 : all.findIndex((e) => e.key > i.KeyMarker!);
        if (start < 0) start = all.length;
      }
      const page = all.slice(start, start + Math.min(this.pageSize, i.MaxKeys ?? 1000));
      const truncated = start + page.length < all.length;
      const last = page.at(-1);
      const entry = (e: (typeof page)[number]) => ({
        Key: e.key,
        VersionId: e.v.versionId,
        IsLatest: e.latest,
        LastModified: e.v.lastModified,
      });
      return out({
        Versions: page.filter((e) => !e.v.deleteMarker).map(entry),
        DeleteMarkers: page.filter((e) => e.v.deleteMarker).map(entry),
        IsTruncated: truncated,
        ...(truncated && last ? { NextKeyMarker: last.key, NextVersionIdMarker: last.v.versionId } : {}),
      });
    },
    getObject: async (i) => {
      this.calls.add('getObject', i);
      this.faults.check('getObject', i);
      const v = i.VersionId ? this.objects.get(i.Key!)?.find((x) => x.versionId === i.VersionId) : this.current(i.Key!);
      if (!v) throw awsError('s3', 'getObject', i.VersionId ? 'NoSuchVersion' : 'NoSuchKey');
      if (v.deleteMarker)
        throw i.VersionId
          ? awsError(
              's3',
              'getObject',
              'MethodNotAllowed',
              'The specified method is not allowed against this resource.',
              405,
            )
          : awsError('s3', 'getObject', 'NoSuchKey');
      const body = v.body!;
      return out({
        // Bytes at once, or a stream of chunks (as the SDK's Node body is): both read the same bytes.
        Body: {
          transformToByteArray: async () => new Uint8Array(body),
          async *[Symbol.asyncIterator]() {
            for (let at = 0; at < body.length; at += 1024) yield new Uint8Array(body.subarray(at, at + 1024));
          },
        } as never,
        VersionId: v.versionId,
        ...(v.lockMode ? { ObjectLockMode: v.lockMode } : {}),
        ...(v.retainUntil ? { ObjectLockRetainUntilDate: v.retainUntil } : {}),
      });
    },
    listObjectsV2: async (i) => {
      this.calls.add('listObjectsV2', i);
      this.faults.check('listObjectsV2', i);
      const keys = [...this.objects.keys()]
        .filter((k) => k.startsWith(i.Prefix ?? '') && !this.current(k)?.deleteMarker)
        .sort();
      const prefixes = new Set<string>();
      const contents: string[] = [];
      for (const k of keys) {
        const rest = k.slice((i.Prefix ?? '').length);
        const cut = i.Delimiter ? rest.indexOf(i.Delimiter) : -1;
        if (cut >= 0) prefixes.add(`${i.Prefix ?? ''}${rest.slice(0, cut + 1)}`);
        else contents.push(k);
      }
      const start = i.ContinuationToken ? Number(i.ContinuationToken) : 0;
      const size = Math.min(this.pageSize, i.MaxKeys ?? 1000);
      const page = contents.slice(start, start + size);
      const truncated = start + size < contents.length;
      return out({
        Contents: page.map((Key) => ({ Key })),
        ...(i.Delimiter ? { CommonPrefixes: [...prefixes].map((Prefix) => ({ Prefix })) } : {}),
        IsTruncated: truncated,
        KeyCount: page.length,
        ...(truncated ? { NextContinuationToken: String(start + size) } : {}),
      });
    },
  };
}
