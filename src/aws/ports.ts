/**
 * Narrow per-service client ports. Each port has one method per SDK command cleanroom sends
 * (see `commands.ts`), typed with that command's input and output. Workflows depend on these;
 * unit tests hand-write fakes of the few methods a workflow calls.
 */
import type {
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

/** Any SDK command class (its input and output are read with `In` and `Out`). */
export type CommandClass = abstract new (...a: never) => unknown;
type In<C extends CommandClass> = NonNullable<ConstructorParameters<C>[0]>;
type Out<C> = C extends abstract new (
  ...a: never
) => { resolveMiddleware(...a: never): (...b: never) => Promise<{ output: infer O }> }
  ? O
  : never;

/** A port: one async method per command in the table. */
export type PortOf<T extends Record<string, CommandClass>> = {
  [K in keyof T]: (input: In<T[K]>) => Promise<Out<T[K]>>;
};

export type CfnPort = PortOf<typeof CFN_COMMANDS>;
export type Ec2Port = PortOf<typeof EC2_COMMANDS>;
export type S3Port = PortOf<typeof S3_COMMANDS>;
export type KmsPort = PortOf<typeof KMS_COMMANDS>;
export type StsPort = PortOf<typeof STS_COMMANDS>;
export type SsmPort = PortOf<typeof SSM_COMMANDS>;
export type IamPort = PortOf<typeof IAM_COMMANDS>;
export type AsgPort = PortOf<typeof ASG_COMMANDS>;
export type ElbPort = PortOf<typeof ELB_COMMANDS>;
export type ClbPort = PortOf<typeof CLB_COMMANDS>;
export type EbsPort = PortOf<typeof EBS_COMMANDS>;
export type SfnPort = PortOf<typeof SFN_COMMANDS>;
export type SnsPort = PortOf<typeof SNS_COMMANDS>;

/** How a presigned URL is signed: how long it lives, and (for tests) the moment it is signed at. */
export interface PresignOptions {
  /** Seconds the URL is valid from `signingDate` (SigV4 allows 1 to 604,800: seven days). */
  expiresInSeconds: number;
  /** When the signature is made (default now); a date in the past makes a URL that has already expired. */
  signingDate?: Date;
}

/** A presigning port: one method per command of the table, answering the presigned URL of that request. */
export type PresignOf<T extends Record<string, CommandClass>> = {
  [K in keyof T]: (input: In<T[K]>, options: PresignOptions) => Promise<string>;
};

/**
 * S3 requests handed to someone else as presigned URLs, signed with the account's credentials
 * (memory capture: the compromised host PUTs the image's parts and GETs the tool, never holding
 * a credential). Typed from the S3 table's own entries, so the IAM policy check sees s3:PutObject
 * (UploadPart) and s3:GetObject for them like any other call of the account.
 */
export type S3PresignPort = PresignOf<Pick<typeof S3_COMMANDS, 'uploadPart' | 'getObject'>>;

/** The names of an account's ports. */
export type PortName =
  | 'cfn'
  | 'ec2'
  | 's3'
  | 'kms'
  | 'sts'
  | 'ssm'
  | 'iam'
  | 'autoscaling'
  | 'elb'
  | 'clb'
  | 'ebs'
  | 'sfn'
  | 'sns'
  | 's3Presign';

/**
 * An account narrowed to the calls a function makes: `AccountCalls<{ s3: 'getObject'; kms:
 * 'getPublicKey' | 'describeKey' }>` has an `s3` port with `getObject` only and a `kms` port with
 * those two (each a `Pick<>` of the port). A whole {@link AwsAccount} is one; a unit test hands in
 * a fake of exactly the named methods. The ports stay on their account (`account.s3.getObject(…)`),
 * so the IAM policy check still attributes every call.
 */
export type AccountCalls<P extends { [K in PortName]?: keyof AwsAccount[K] }> = {
  readonly [K in keyof AwsAccount as K extends keyof P ? K : never]: K extends PortName
    ? Pick<AwsAccount[K], Extract<P[K], keyof AwsAccount[K]>>
    : never;
};

/** Everything cleanroom can do in one account and region. */
export interface AwsAccount {
  readonly region: string;
  /** The account id, from STS GetCallerIdentity (cached). */
  accountId(): Promise<string>;
  /** The caller's ARN: the custody record's actor. */
  callerArn(): Promise<string>;
  readonly cfn: CfnPort;
  readonly ec2: Ec2Port;
  readonly s3: S3Port;
  readonly kms: KmsPort;
  readonly sts: StsPort;
  readonly ssm: SsmPort;
  readonly iam: IamPort;
  readonly autoscaling: AsgPort;
  readonly elb: ElbPort;
  /** Classic Load Balancers. */
  readonly clb: ClbPort;
  readonly ebs: EbsPort;
  /** Step Functions (the automation's executions). */
  readonly sfn: SfnPort;
  /** The responders' topic (the automated response's notifications). */
  readonly sns: SnsPort;
  /** S3 requests presigned for another party (memory capture's part and tool URLs). */
  readonly s3Presign: S3PresignPort;
  /**
   * The same EC2 and KMS ports with the SDK's own retries off, for creates that take no idempotency
   * token (CreateSnapshot(s), CopySnapshot, KMS CreateKey): a blind retry after a lost answer would
   * create a second resource, so the caller looks for its own result (by tag) before trying again.
   * Optional: hand-written fakes leave it out and the caller falls back to the account itself,
   * written `(account.single ?? account).ec2.createSnapshot(…)` so the IAM policy check sees the call.
   */
  readonly single?: { readonly ec2: Ec2Port; readonly kms: KmsPort };
}

/** {@link AccountCalls} with the account's id and region: what most narrowed callers take. */
export type AccountWith<M extends { [P in PortName]?: keyof AwsAccount[P] }> = Pick<
  AwsAccount,
  'accountId' | 'region'
> &
  AccountCalls<M>;
