/**
 * Builds an {@link AwsAccount}: the SDK clients of one account/region from one configuration
 * (credentials chain, profile or assumed role, one retry strategy), wrapped as ports whose every
 * call goes through {@link translateAwsError}.
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
import { EBSClient } from '@aws-sdk/client-ebs';
import { fromIni, fromTemporaryCredentials, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsAccount, PortOf } from './ports.js';
import { CFN_COMMANDS, EC2_COMMANDS, S3_COMMANDS, KMS_COMMANDS, STS_COMMANDS, SSM_COMMANDS, IAM_COMMANDS, ASG_COMMANDS, ELB_COMMANDS, EBS_COMMANDS } from './commands.js';
import { translateAwsError } from './errors.js';
import { loadSharedConfigFiles } from '@smithy/core/config';
import { UsageError } from '../domain/errors.js';

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
}

type Sendable = { send(command: unknown): Promise<unknown> };

/** Wrap an SDK client as a port of the given command table. */
export function makePort<T extends Record<string, abstract new (...a: any) => any>>(service: string, client: Sendable, table: T, onCall?: (s: string, o: string) => void): PortOf<T> {
  const port: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [op, Cmd] of Object.entries(table)) {
    const Ctor = Cmd as unknown as new (input: unknown) => unknown;
    port[op] = async (input: unknown) => {
      onCall?.(service, op);
      try {
        return await client.send(new Ctor(input ?? {}));
      } catch (e) {
        throw translateAwsError(service, op, input, e);
      }
    };
  }
  return port as PortOf<T>;
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
  throw new UsageError('NO_REGION', 'No AWS region is set: pass --region or set AWS_REGION (or a region in your profile).');
}

/** Build the account object. Region validity is checked by the caller (see `checkRegion`). */
export async function openAccount(opts: AccountOptions = {}): Promise<AwsAccount> {
  const region = await resolveRegion(opts);
  const maxAttempts = opts.maxAttempts ?? 8;
  let credentials = opts.profile ? fromIni({ profile: opts.profile }) : fromNodeProviderChain();
  if (opts.roleArn) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(opts.roleArn)) {
      throw new UsageError('INVALID_ROLE_ARN', `Role ARN ${JSON.stringify(opts.roleArn)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).`);
    }
    credentials = fromTemporaryCredentials({
      masterCredentials: credentials,
      params: { RoleArn: opts.roleArn, RoleSessionName: opts.sessionName ?? 'cleanroom', DurationSeconds: 3600 },
      clientConfig: { region },
    });
  }
  const common = { region, credentials, maxAttempts, retryMode: 'adaptive' as const };
  const on = opts.onCall;
  const sts = makePort('sts', new STSClient(common), STS_COMMANDS, on);
  let identity: Promise<{ account: string; arn: string }> | undefined;
  const whoami = () =>
    (identity ??= sts.getCallerIdentity({}).then((r) => ({ account: r.Account ?? '', arn: r.Arn ?? '' })).catch((e) => {
      identity = undefined;
      throw e;
    }));
  return {
    region,
    accountId: async () => (await whoami()).account,
    callerArn: async () => (await whoami()).arn,
    sts,
    cfn: makePort('cloudformation', new CloudFormationClient(common), CFN_COMMANDS, on),
    ec2: makePort('ec2', new EC2Client(common), EC2_COMMANDS, on),
    s3: makePort('s3', new S3Client(common), S3_COMMANDS, on),
    kms: makePort('kms', new KMSClient(common), KMS_COMMANDS, on),
    ssm: makePort('ssm', new SSMClient(common), SSM_COMMANDS, on),
    iam: makePort('iam', new IAMClient(common), IAM_COMMANDS, on),
    autoscaling: makePort('autoscaling', new AutoScalingClient(common), ASG_COMMANDS, on),
    elb: makePort('elasticloadbalancing', new ElasticLoadBalancingV2Client(common), ELB_COMMANDS, on),
    ebs: makePort('ebs', new EBSClient(common), EBS_COMMANDS, on),
    single: {
      ec2: makePort('ec2', new EC2Client({ ...common, maxAttempts: 1 }), EC2_COMMANDS, on),
      kms: makePort('kms', new KMSClient({ ...common, maxAttempts: 1 }), KMS_COMMANDS, on),
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
  const known = [...new Set([...Object.keys(files.configFile ?? {}), ...Object.keys(files.credentialsFile ?? {})])].sort();
  const where = `${process.env.AWS_CONFIG_FILE ?? '~/.aws/config'} or ${process.env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}`;
  throw new UsageError(
    'PROFILE_NOT_FOUND',
    `Profile ${profile} (${flag}) is not in ${where}${known.length ? ` (profiles there: ${known.join(', ')})` : ' (no profiles there)'}: check the name, or create it with \`aws configure --profile ${profile}\`.`,
    { details: { profile, option: flag } },
  );
}
