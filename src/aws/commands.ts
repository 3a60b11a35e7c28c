/**
 * The SDK commands cleanroom sends, per service. This table is the single source of truth for
 * (a) the narrow port interfaces workflows depend on, (b) the adapters that send them, and
 * (c) the IAM policy test that checks `templates/iam/*.json` grants exactly these actions.
 */
import * as cfn from '@aws-sdk/client-cloudformation';
import * as ec2 from '@aws-sdk/client-ec2';
import * as s3 from '@aws-sdk/client-s3';
import * as kms from '@aws-sdk/client-kms';
import * as sts from '@aws-sdk/client-sts';
import * as ssm from '@aws-sdk/client-ssm';
import * as iam from '@aws-sdk/client-iam';
import * as asg from '@aws-sdk/client-auto-scaling';
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import * as clb from '@aws-sdk/client-elastic-load-balancing';
import * as ebs from '@aws-sdk/client-ebs';
import * as sfn from '@aws-sdk/client-sfn';
import * as sns from '@aws-sdk/client-sns';

export const CFN_COMMANDS = {
  describeStacks: cfn.DescribeStacksCommand,
  describeStackEvents: cfn.DescribeStackEventsCommand,
  describeStackResources: cfn.DescribeStackResourcesCommand,
  createChangeSet: cfn.CreateChangeSetCommand,
  describeChangeSet: cfn.DescribeChangeSetCommand,
  executeChangeSet: cfn.ExecuteChangeSetCommand,
  deleteChangeSet: cfn.DeleteChangeSetCommand,
  deleteStack: cfn.DeleteStackCommand,
  listStacks: cfn.ListStacksCommand,
} as const;

export const EC2_COMMANDS = {
  describeRegions: ec2.DescribeRegionsCommand,
  describeAvailabilityZones: ec2.DescribeAvailabilityZonesCommand,
  describeInstances: ec2.DescribeInstancesCommand,
  describeVolumes: ec2.DescribeVolumesCommand,
  describeSnapshots: ec2.DescribeSnapshotsCommand,
  describeSnapshotAttribute: ec2.DescribeSnapshotAttributeCommand,
  createSnapshot: ec2.CreateSnapshotCommand,
  createSnapshots: ec2.CreateSnapshotsCommand,
  copySnapshot: ec2.CopySnapshotCommand,
  modifySnapshotAttribute: ec2.ModifySnapshotAttributeCommand,
  deleteSnapshot: ec2.DeleteSnapshotCommand,
  lockSnapshot: ec2.LockSnapshotCommand,
  describeLockedSnapshots: ec2.DescribeLockedSnapshotsCommand,
  createVolume: ec2.CreateVolumeCommand,
  attachVolume: ec2.AttachVolumeCommand,
  detachVolume: ec2.DetachVolumeCommand,
  deleteVolume: ec2.DeleteVolumeCommand,
  createTags: ec2.CreateTagsCommand,
  describeVpcs: ec2.DescribeVpcsCommand,
  describeSubnets: ec2.DescribeSubnetsCommand,
  describeRouteTables: ec2.DescribeRouteTablesCommand,
  describeInternetGateways: ec2.DescribeInternetGatewaysCommand,
  describeEgressOnlyInternetGateways: ec2.DescribeEgressOnlyInternetGatewaysCommand,
  describeNatGateways: ec2.DescribeNatGatewaysCommand,
  describeVpcPeeringConnections: ec2.DescribeVpcPeeringConnectionsCommand,
  describeTransitGatewayVpcAttachments: ec2.DescribeTransitGatewayVpcAttachmentsCommand,
  describeVpcEndpoints: ec2.DescribeVpcEndpointsCommand,
  describeNetworkAcls: ec2.DescribeNetworkAclsCommand,
  describeFlowLogs: ec2.DescribeFlowLogsCommand,
  describeSecurityGroups: ec2.DescribeSecurityGroupsCommand,
  describeSecurityGroupRules: ec2.DescribeSecurityGroupRulesCommand,
  describeNetworkInterfaces: ec2.DescribeNetworkInterfacesCommand,
  createSecurityGroup: ec2.CreateSecurityGroupCommand,
  revokeSecurityGroupEgress: ec2.RevokeSecurityGroupEgressCommand,
  revokeSecurityGroupIngress: ec2.RevokeSecurityGroupIngressCommand,
  modifyNetworkInterfaceAttribute: ec2.ModifyNetworkInterfaceAttributeCommand,
  modifyInstanceAttribute: ec2.ModifyInstanceAttributeCommand,
  modifyInstanceMetadataOptions: ec2.ModifyInstanceMetadataOptionsCommand,
  describeIamInstanceProfileAssociations: ec2.DescribeIamInstanceProfileAssociationsCommand,
  replaceIamInstanceProfileAssociation: ec2.ReplaceIamInstanceProfileAssociationCommand,
  associateIamInstanceProfile: ec2.AssociateIamInstanceProfileCommand,
  createNetworkAcl: ec2.CreateNetworkAclCommand,
  replaceNetworkAclAssociation: ec2.ReplaceNetworkAclAssociationCommand,
  stopInstances: ec2.StopInstancesCommand,
  // isolate release
  startInstances: ec2.StartInstancesCommand,
  deleteTags: ec2.DeleteTagsCommand,
  deleteSecurityGroup: ec2.DeleteSecurityGroupCommand,
  disassociateIamInstanceProfile: ec2.DisassociateIamInstanceProfileCommand,
  // room up / room verify
  describeVpnGateways: ec2.DescribeVpnGatewaysCommand,
  describeCarrierGateways: ec2.DescribeCarrierGatewaysCommand,
  describeManagedPrefixLists: ec2.DescribeManagedPrefixListsCommand,
  describeInstanceTypeOfferings: ec2.DescribeInstanceTypeOfferingsCommand,
  describeImages: ec2.DescribeImagesCommand,
  authorizeSecurityGroupEgress: ec2.AuthorizeSecurityGroupEgressCommand,
  authorizeSecurityGroupIngress: ec2.AuthorizeSecurityGroupIngressCommand,
  // acquire / evidence attach
  describeInstanceTypes: ec2.DescribeInstanceTypesCommand,
  // isolate (also authorizeSecurityGroupIngress/Egress above)
  describeInstanceAttribute: ec2.DescribeInstanceAttributeCommand,
} as const;

export const S3_COMMANDS = {
  createBucket: s3.CreateBucketCommand,
  headBucket: s3.HeadBucketCommand,
  getObjectLockConfiguration: s3.GetObjectLockConfigurationCommand,
  putObjectLockConfiguration: s3.PutObjectLockConfigurationCommand,
  getBucketVersioning: s3.GetBucketVersioningCommand,
  putBucketVersioning: s3.PutBucketVersioningCommand,
  getBucketEncryption: s3.GetBucketEncryptionCommand,
  putBucketEncryption: s3.PutBucketEncryptionCommand,
  getPublicAccessBlock: s3.GetPublicAccessBlockCommand,
  putPublicAccessBlock: s3.PutPublicAccessBlockCommand,
  getBucketPolicy: s3.GetBucketPolicyCommand,
  putBucketPolicy: s3.PutBucketPolicyCommand,
  getBucketTagging: s3.GetBucketTaggingCommand,
  putBucketTagging: s3.PutBucketTaggingCommand,
  putObject: s3.PutObjectCommand,
  getObject: s3.GetObjectCommand,
  headObject: s3.HeadObjectCommand,
  getObjectRetention: s3.GetObjectRetentionCommand,
  listObjectsV2: s3.ListObjectsV2Command,
  listObjectVersions: s3.ListObjectVersionsCommand,
  // evidence export --to-vault: the raw image by multipart upload, resumable, retention set after
  createMultipartUpload: s3.CreateMultipartUploadCommand,
  uploadPart: s3.UploadPartCommand,
  listMultipartUploads: s3.ListMultipartUploadsCommand,
  listParts: s3.ListPartsCommand,
  completeMultipartUpload: s3.CompleteMultipartUploadCommand,
  abortMultipartUpload: s3.AbortMultipartUploadCommand,
  putObjectRetention: s3.PutObjectRetentionCommand,
  // room up --toolkit: the toolkit copied server-side into the case
  copyObject: s3.CopyObjectCommand,
} as const;

export const KMS_COMMANDS = {
  createKey: kms.CreateKeyCommand,
  describeKey: kms.DescribeKeyCommand,
  createAlias: kms.CreateAliasCommand,
  listAliases: kms.ListAliasesCommand,
  getKeyRotationStatus: kms.GetKeyRotationStatusCommand,
  enableKeyRotation: kms.EnableKeyRotationCommand,
  getKeyPolicy: kms.GetKeyPolicyCommand,
  putKeyPolicy: kms.PutKeyPolicyCommand,
  createGrant: kms.CreateGrantCommand,
  listGrants: kms.ListGrantsCommand,
  retireGrant: kms.RetireGrantCommand,
  scheduleKeyDeletion: kms.ScheduleKeyDeletionCommand,
  tagResource: kms.TagResourceCommand,
  listResourceTags: kms.ListResourceTagsCommand,
  sign: kms.SignCommand,
  verify: kms.VerifyCommand,
  getPublicKey: kms.GetPublicKeyCommand,
  listKeys: kms.ListKeysCommand,
  updateAlias: kms.UpdateAliasCommand,
} as const;

export const STS_COMMANDS = {
  getCallerIdentity: sts.GetCallerIdentityCommand,
} as const;

export const SSM_COMMANDS = {
  sendCommand: ssm.SendCommandCommand,
  getCommandInvocation: ssm.GetCommandInvocationCommand,
  // memory capture stopped (the signal, or a failure) while its command may still run on the host
  cancelCommand: ssm.CancelCommandCommand,
  describeInstanceInformation: ssm.DescribeInstanceInformationCommand,
  // room shell / room verify: Session Manager's control plane and the room's session documents
  startSession: ssm.StartSessionCommand,
  terminateSession: ssm.TerminateSessionCommand,
  // room shell's checks and room sessions (Session Manager's own list of the room's sessions)
  describeSessions: ssm.DescribeSessionsCommand,
  getDocument: ssm.GetDocumentCommand,
} as const;

export const IAM_COMMANDS = {
  getInstanceProfile: iam.GetInstanceProfileCommand,
  createInstanceProfile: iam.CreateInstanceProfileCommand,
  createRole: iam.CreateRoleCommand,
  getRole: iam.GetRoleCommand,
  addRoleToInstanceProfile: iam.AddRoleToInstanceProfileCommand,
  putRolePolicy: iam.PutRolePolicyCommand,
  getRolePolicy: iam.GetRolePolicyCommand,
  tagRole: iam.TagRoleCommand,
} as const;

export const ASG_COMMANDS = {
  describeAutoScalingInstances: asg.DescribeAutoScalingInstancesCommand,
  detachInstances: asg.DetachInstancesCommand,
  // isolate release --rejoin-asg
  attachInstances: asg.AttachInstancesCommand,
  // isolate
  describeAutoScalingGroups: asg.DescribeAutoScalingGroupsCommand,
} as const;

export const ELB_COMMANDS = {
  describeTargetGroups: elb.DescribeTargetGroupsCommand,
  describeTargetHealth: elb.DescribeTargetHealthCommand,
  deregisterTargets: elb.DeregisterTargetsCommand,
  // isolate release --reregister
  registerTargets: elb.RegisterTargetsCommand,
} as const;

/**
 * Classic Load Balancers (the ELB API before target groups): isolate deregisters the instance from
 * the ones that list it, release --reregister puts it back. Same IAM prefix as ELBv2.
 */
export const CLB_COMMANDS = {
  describeLoadBalancers: clb.DescribeLoadBalancersCommand,
  deregisterInstancesFromLoadBalancer: clb.DeregisterInstancesFromLoadBalancerCommand,
  registerInstancesWithLoadBalancer: clb.RegisterInstancesWithLoadBalancerCommand,
} as const;

export const EBS_COMMANDS = {
  listSnapshotBlocks: ebs.ListSnapshotBlocksCommand,
  listChangedBlocks: ebs.ListChangedBlocksCommand,
  getSnapshotBlock: ebs.GetSnapshotBlockCommand,
} as const;

/**
 * Step Functions, as the operator's commands use it: `automation run` starts the fleet execution,
 * `automation status` reads executions, `automation approve | reject` answers a paused one's task token.
 */
export const SFN_COMMANDS = {
  startExecution: sfn.StartExecutionCommand,
  describeExecution: sfn.DescribeExecutionCommand,
  listExecutions: sfn.ListExecutionsCommand,
  getExecutionHistory: sfn.GetExecutionHistoryCommand,
  sendTaskSuccess: sfn.SendTaskSuccessCommand,
  sendTaskFailure: sfn.SendTaskFailureCommand,
} as const;

/** The automated response (src/lambda): the responders' topic. */
export const SNS_COMMANDS = {
  publish: sns.PublishCommand,
} as const;

/**
 * IAM service prefix of each table, for the policy check. Two tables may share a prefix (the ELB
 * APIs, classic and v2, are both `elasticloadbalancing`): the key then carries a `#` and a suffix,
 * which the policy check drops.
 */
export const SERVICE_TABLES = {
  cloudformation: CFN_COMMANDS,
  ec2: EC2_COMMANDS,
  s3: S3_COMMANDS,
  kms: KMS_COMMANDS,
  sts: STS_COMMANDS,
  ssm: SSM_COMMANDS,
  iam: IAM_COMMANDS,
  autoscaling: ASG_COMMANDS,
  elasticloadbalancing: ELB_COMMANDS,
  'elasticloadbalancing#classic': CLB_COMMANDS,
  ebs: EBS_COMMANDS,
  states: SFN_COMMANDS,
  sns: SNS_COMMANDS,
} as const;
