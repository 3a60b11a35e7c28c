/**
 * Builds an {@link AwsAccount}: the SDK clients of one account/region from one configuration
 * (credentials chain, profile or assumed role, one retry strategy, one set of time limits),
 * wrapped as ports whose every call goes through {@link translateAwsError}.
 *
 * Time limits (the same fix as awslabs/coldsnap's for an endpoint that accepts a connection and
 * never answers): every client — the credential providers' STS clients included — connects within
 * `connectMs`, fails a socket silent for `readMs` (also while a streamed body is read), gives each
 * attempt `attemptMs` to answer, and each port call has `operationMs` in all, retries, credential
 * resolution and the reading of a streamed body (S3 GetObject, EBS GetSnapshotBlock) included.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { STSClient } from '@aws-sdk/client-sts';
import { SSMClient } from '@aws-sdk/client-ssm';
import { IAMClient } from '@aws-sdk/client-iam';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import { EBSClient } from '@aws-sdk/client-ebs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { fromIni, fromTemporaryCredentials, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsAccount, CommandClass, PortOf, PresignOf, PresignOptions } from './ports.js';
import {
  CFN_COMMANDS,
  EC2_COMMANDS,
  S3_COMMANDS,
  KMS_COMMANDS,
  STS_COMMANDS,
  SSM_COMMANDS,
  IAM_COMMANDS,
  ASG_COMMANDS,
  ELB_COMMANDS,
  CLB_COMMANDS,
  EBS_COMMANDS,
  SFN_COMMANDS,
  SNS_COMMANDS,
} from './commands.js';
import { endpointTimeout, translateAwsError } from './errors.js';
import { loadSharedConfigFiles } from '@smithy/core/config';
import { CleanroomError, UsageError } from '../domain/errors.js';

export interface AccountOptions {
  region?: string;
  profile?: string;
  roleArn?: string;
  /** Session name for an assumed role; shows up as the actor in CloudTrail and custody. */
  sessionName?: string;
  /** SDK retry attempts per call (adaptive mode: client-side rate limiting on throttles). */
  maxAttempts?: number;
  /** Observe every call (the benchmark counts API calls; --verbose logs them). */
  onCall?: (service: string, operation: string) => void;
  /** Time limits of every AWS call, in milliseconds; see {@link DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<IoTimeouts>;
}

/** How long an AWS call may take (milliseconds). */
export interface IoTimeouts {
  /** To establish the TCP connection. */
  connectMs: number;
  /** A connection silent this long fails the attempt: while waiting for the answer, and while reading a streamed body. */
  readMs: number;
  /** One attempt, from sending the request to the answer's headers. */
  attemptMs: number;
  /** One call in all: every retry and its back-off, credential resolution, and the reading of a streamed body. */
  operationMs: number;
}

/** coldsnap's limits: 12 s without a byte, 20 s per attempt, 120 s per operation (connect: 10 s). */
export const DEFAULT_TIMEOUTS: Readonly<IoTimeouts> = Object.freeze({
  connectMs: 10_000,
  readMs: 12_000,
  attemptMs: 20_000,
  operationMs: 120_000,
});

/**
 * The limits to use: the defaults, overridden by the caller's. An `operationMs` below a default
 * also caps the others (a 5 s budget is not outlived by a 20 s attempt). Refuses (exit 2) a limit
 * that is not a positive number of milliseconds.
 */
export function resolveTimeouts(given: Partial<IoTimeouts> = {}): IoTimeouts {
  for (const [k, v] of Object.entries(given)) {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new UsageError(
        'INVALID_TIMEOUT',
        `Time limit ${k}=${JSON.stringify(v)} is not a positive number of milliseconds.`,
        { details: { [k]: v } },
      );
    }
  }
  // Node timers hold at most 2^31-1 ms (about 24.8 days); a longer limit is that.
  const operationMs = Math.min(given.operationMs ?? DEFAULT_TIMEOUTS.operationMs, MAX_TIMER_MS);
  const cap = (k: 'connectMs' | 'readMs' | 'attemptMs') =>
    Math.min(given[k] ?? Math.min(DEFAULT_TIMEOUTS[k], operationMs), MAX_TIMER_MS);
  return { connectMs: cap('connectMs'), readMs: cap('readMs'), attemptMs: cap('attemptMs'), operationMs };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** The request handler of every client of an account (and of its credential providers). */
function requestHandler(t: IoTimeouts): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: t.connectMs,
    socketTimeout: t.readMs,
    requestTimeout: t.attemptMs,
    throwOnRequestTimeout: true,
  });
}

type Sendable = { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };

/** What a port needs to bound its calls: the operation budget and where the client sends them. */
export interface PortIo {
  operationMs: number;
  /** `host:port` of the client's last request (for the error of a call that timed out). */
  endpoint?: () => string | undefined;
}

/**
 * Wrap an SDK client as a port of the given command table. Each call has `io.operationMs` in all: past it the call is aborted and fails with ENDPOINT_TIMEOUT (exit 1),
 * whatever the SDK's retries are doing; a streamed body in the answer must be read within the
 * same budget, or its stream fails with the same error.
 */
export function makePort<T extends Record<string, CommandClass>>(
  service: string,
  client: Sendable,
  table: T,
  onCall: ((s: string, o: string) => void) | undefined,
  io: PortIo,
): PortOf<T> {
  const port: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [op, Cmd] of Object.entries(table)) {
    const Ctor = Cmd as unknown as new (input: unknown) => unknown;
    port[op] = async (input: unknown) => {
      onCall?.(service, op);
      const started = Date.now();
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      let body: ReturnType<typeof streamOf>;
      const budget = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = endpointTimeout(service, op, io.endpoint?.(), Date.now() - started, io.operationMs);
          body?.destroy(e); // first, so that the reader sees this error rather than the abort's
          abort.abort(e);
          reject(e);
        }, io.operationMs);
      });
      budget.catch(() => {});
      let out: unknown;
      try {
        out = await Promise.race([client.send(new Ctor(input ?? {}), { abortSignal: abort.signal }), budget]);
      } catch (e) {
        clearTimeout(timer);
        if (abort.signal.aborted) throw abort.signal.reason as Error;
        throw translateAwsError(service, op, input, e, io.endpoint?.());
      }
      // A streamed body (S3 GetObject, EBS GetSnapshotBlock) is read after the call returns: the
      // budget runs on until the stream ends, then fails the stream rather than leave a read hanging.
      body = streamOf(out);
      const stream = body;
      if (!stream) {
        clearTimeout(timer);
        return out;
      }
      // The budget does not keep the process alive for a body nobody reads.
      timer?.unref();
      const done = () => clearTimeout(timer);
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', done);
      // A failure while the body is read (the socket fell silent for readMs, the connection was
      // reset) reaches the reader as a cleanroom error naming the endpoint and the call.
      const destroy = stream.destroy.bind(stream);
      stream.destroy = (e?: Error) =>
        destroy(e && !(e instanceof CleanroomError) ? translateAwsError(service, op, input, e, io.endpoint?.()) : e);
      return out;
    };
  }
  return port as PortOf<T>;
}

/** SigV4's longest presigned URL: seven days. */
const MAX_PRESIGN_SECONDS = 604_800;

/**
 * Wrap an S3 client as a presigning port of the given commands: each method answers the presigned
 * URL of that request (no call is sent). The client should not add flexible checksums to requests
 * that do not require them (`requestChecksumCalculation: 'WHEN_REQUIRED'`): a checksum of an empty
 * body signed into a part URL would make S3 refuse every real part PUT to it.
 */
export function makePresignPort<T extends Record<string, CommandClass>>(
  service: string,
  client: Parameters<typeof getSignedUrl>[0],
  table: T,
  onCall: ((s: string, o: string) => void) | undefined,
): PresignOf<T> {
  const port: Record<string, (input: unknown, o: PresignOptions) => Promise<string>> = {};
  for (const [op, Cmd] of Object.entries(table)) {
    const Ctor = Cmd as unknown as new (input: unknown) => Parameters<typeof getSignedUrl>[1];
    port[op] = async (input: unknown, o: PresignOptions) => {
      if (
        !(Number.isInteger(o.expiresInSeconds) && o.expiresInSeconds >= 1 && o.expiresInSeconds <= MAX_PRESIGN_SECONDS)
      )
        throw new CleanroomError(
          'INTERNAL',
          `A presigned URL lives 1 to ${MAX_PRESIGN_SECONDS} seconds; ${o.expiresInSeconds} was asked for ${service} ${op}.`,
        );
      onCall?.(service, `presign:${op}`);
      try {
        return await getSignedUrl(client, new Ctor(input ?? {}), {
          expiresIn: o.expiresInSeconds,
          ...(o.signingDate ? { signingDate: o.signingDate } : {}),
        });
      } catch (e) {
        throw translateAwsError(service, op, input, e, undefined);
      }
    };
  }
  return port as PresignOf<T>;
}

/** The Node stream in an SDK output (`Body`, `BlockData`), if any. */
function streamOf(
  out: unknown,
): (NodeJS.ReadableStream & { destroy(e?: Error): void; destroyed?: boolean }) | undefined {
  if (!out || typeof out !== 'object') return undefined;
  for (const v of Object.values(out as Record<string, unknown>)) {
    const x = v as { pipe?: unknown; once?: unknown; destroy?: unknown } | undefined;
    if (
      x &&
      typeof x === 'object' &&
      typeof x.pipe === 'function' &&
      typeof x.once === 'function' &&
      typeof x.destroy === 'function'
    )
      return x as never;
  }
  return undefined;
}

/**
 * Remember where a client sends its requests (`host:port`), and name it on the errors it throws
 * — a timeout or a refused connection is about an endpoint, and the user needs to know which.
 */
function watchEndpoint(client: {
  middlewareStack: { add(mw: unknown, opts: unknown): void };
}): () => string | undefined {
  let last: string | undefined;
  watchStack(client.middlewareStack, (e) => (last = e));
  return () => last;
}

function watchStack(stack: { add(mw: unknown, opts: unknown): void }, seen: (endpoint: string) => void): void {
  stack.add(
    (next: (a: unknown) => Promise<unknown>) =>
      async (args: { request?: { hostname?: string; port?: number; protocol?: string } }) => {
        const r = args.request;
        if (r?.hostname) seen(`${r.hostname}:${r.port ?? (r.protocol === 'http:' ? 80 : 443)}`);
        return next(args);
      },
    { step: 'finalizeRequest', priority: 'low', name: 'cleanroomEndpointMiddleware', override: true },
  );
}

/** Resolve the region the SDK would use, or fail with a usage error naming the fix. */
export async function resolveRegion(opts: { region?: string; profile?: string }): Promise<string> {
  if (opts.region) return opts.region;
  try {
    // The SDK's own resolution (env, shared config of the profile), without a network call.
    const probe = new STSClient(opts.profile ? { profile: opts.profile } : {});
    const r = await probe.config.region();
    probe.destroy();
    if (r) return r;
  } catch {
    // fall through to the usage error below
  }
  throw new UsageError(
    'NO_REGION',
    'No AWS region is set: pass --region or set AWS_REGION (or a region in your profile).',
  );
}

/** Build the account object. Region validity is checked by the caller (see `checkRegion`). */
export async function openAccount(opts: AccountOptions = {}): Promise<AwsAccount> {
  const region = await resolveRegion(opts);
  const maxAttempts = opts.maxAttempts ?? 8;
  const timeouts = resolveTimeouts(opts.timeouts);
  // The credential providers' own clients (STS AssumeRole, SSO, a profile's role chain) get the
  // same limits, so that credential resolution cannot hang either. A call that times out before
  // its client sent anything was waiting for credentials: its error names the endpoint the
  // credential providers' clients last used (STS).
  let credentialsEndpoint: string | undefined;
  const clientConfig = { region, requestHandler: requestHandler(timeouts) };
  const clientPlugins = [
    {
      applyToStack: (stack: { add(mw: unknown, o: unknown): void }) =>
        watchStack(stack, (e) => (credentialsEndpoint = e)),
    },
  ];
  let credentials = opts.profile
    ? fromIni({ profile: opts.profile, clientConfig, clientPlugins })
    : fromNodeProviderChain({ clientConfig, clientPlugins });
  if (opts.roleArn) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(opts.roleArn)) {
      throw new UsageError(
        'INVALID_ROLE_ARN',
        `Role ARN ${JSON.stringify(opts.roleArn)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).`,
      );
    }
    credentials = fromTemporaryCredentials({
      masterCredentials: credentials,
      params: { RoleArn: opts.roleArn, RoleSessionName: opts.sessionName ?? 'cleanroom', DurationSeconds: 3600 },
      clientConfig,
      clientPlugins,
    });
  }
  // Each client gets its own handler (its own connection pool, as without one), all with the same limits.
  const common = { region, credentials, maxAttempts, retryMode: 'adaptive' as const };
  const on = opts.onCall;
  type Client = Sendable & { middlewareStack: { add(mw: unknown, o: unknown): void } };
  const port = <T extends Record<string, CommandClass>>(
    service: string,
    make: (config: typeof common & { requestHandler: NodeHttpHandler }) => Client,
    table: T,
  ) => {
    const client = make({ ...common, requestHandler: requestHandler(timeouts) });
    const own = watchEndpoint(client);
    return makePort(service, client, table, on, {
      operationMs: timeouts.operationMs,
      endpoint: () => own() ?? credentialsEndpoint,
    });
  };
  const sts = port('sts', (c) => new STSClient(c), STS_COMMANDS);
  let identity: Promise<{ account: string; arn: string }> | undefined;
  const whoami = () =>
    (identity ??= sts
      .getCallerIdentity({})
      .then((r) => ({ account: r.Account ?? '', arn: r.Arn ?? '' }))
      .catch((e) => {
        identity = undefined;
        throw e;
      }));
  return {
    region,
    accountId: async () => (await whoami()).account,
    callerArn: async () => (await whoami()).arn,
    sts,
    cfn: port('cloudformation', (c) => new CloudFormationClient(c), CFN_COMMANDS),
    ec2: port('ec2', (c) => new EC2Client(c), EC2_COMMANDS),
    s3: port('s3', (c) => new S3Client(c), S3_COMMANDS),
    kms: port('kms', (c) => new KMSClient(c), KMS_COMMANDS),
    ssm: port('ssm', (c) => new SSMClient(c), SSM_COMMANDS),
    iam: port('iam', (c) => new IAMClient(c), IAM_COMMANDS),
    autoscaling: port('autoscaling', (c) => new AutoScalingClient(c), ASG_COMMANDS),
    elb: port('elasticloadbalancing', (c) => new ElasticLoadBalancingV2Client(c), ELB_COMMANDS),
    clb: port('elasticloadbalancing', (c) => new ElasticLoadBalancingClient(c), CLB_COMMANDS),
    ebs: port('ebs', (c) => new EBSClient(c), EBS_COMMANDS),
    sfn: port('states', (c) => new SFNClient(c), SFN_COMMANDS),
    sns: port('sns', (c) => new SNSClient(c), SNS_COMMANDS),
    s3Presign: makePresignPort(
      's3',
      new S3Client({
        ...common,
        requestHandler: requestHandler(timeouts),
        requestChecksumCalculation: 'WHEN_REQUIRED',
      }),
      S3_COMMANDS,
      on,
    ),
    single: {
      ec2: port('ec2', (c) => new EC2Client({ ...c, maxAttempts: 1 }), EC2_COMMANDS),
      kms: port('kms', (c) => new KMSClient({ ...c, maxAttempts: 1 }), KMS_COMMANDS),
    },
  };
}

/**
 * Refuse a named profile that is in neither shared file (exit 2, PROFILE_NOT_FOUND), before any
 * call: otherwise the SDK reports it, at the first call, as "no credentials". `flag` is the option
 * it came from (--profile, --source-profile).
 */
export async function checkProfileExists(profile: string, flag: string): Promise<void> {
  const files = await loadSharedConfigFiles({ ignoreCache: true });
  if (profile in (files.configFile ?? {}) || profile in (files.credentialsFile ?? {})) return;
  const known = [
    ...new Set([...Object.keys(files.configFile ?? {}), ...Object.keys(files.credentialsFile ?? {})]),
  ].sort();
  const where = `${process.env.AWS_CONFIG_FILE ?? '~/.aws/config'} or ${process.env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}`;
  throw new UsageError(
    'PROFILE_NOT_FOUND',
    `Profile ${profile} (${flag}) is not in ${where}${known.length ? ` (profiles there: ${known.join(', ')})` : ' (no profiles there)'}: check the name, or create it with \`aws configure --profile ${profile}\`.`,
    { details: { profile, option: flag } },
  );
}
