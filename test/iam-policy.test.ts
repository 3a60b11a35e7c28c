/**
 * The IAM policies in templates/iam/ are checked against the AWS calls the code actually sends.
 *
 * 1. Every port call in src/ (outside src/cli/) is found with the TypeScript type checker
 *    (test/iam/port-calls.ts), and a port reached in any form the scan cannot follow (destructured,
 *    aliased, passed around, a detached method, the SDK used directly) fails the test.
 * 2. Each call is attributed to the account(s) it runs in, by the explicit rules below; a module
 *    or an account variable the rules do not know fails the test, so a new workflow is classified
 *    on purpose.
 * 3. SDK operations become IAM actions (names that differ, and the permissions AWS checks on the
 *    caller's behalf: tag-on-create, iam:PassRole, KMS through EBS and S3, …), each with its AWS
 *    documentation source. CloudFormation's handler permissions for every resource type of
 *    templates/room.yaml (templates/iam/cloudformation-handler-permissions.json) are needed by the
 *    forensic role, which deploys the room with its own credentials (no service role).
 * 4. Each policy grants exactly what its account needs: nothing missing, nothing extra.
 * 5. Both documents pass a real IAM policy linter (parliament): every action exists and every
 *    condition key applies to its action; the linter check itself is shown to fail on a misspelled
 *    action and on a misapplied condition key.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT } from '../local-aws/local-aws.js';
import { PortCallScanner, type AccountKind, type Rules, type ScanResult } from './iam/port-calls.js';
import {
  allowedActions,
  allowedDirectly,
  awsSpecificParameterType,
  handlerPermissions,
  iamActionsFor,
  list,
  parliament,
  pinnedVersion,
  acceptedBecause,
  linterSar,
  readPolicy,
  templateTypes,
  type HandlerData,
  type ImpliedMap,
  type NameMap,
  type PolicyDocument,
} from './iam/policy-model.js';
import { CUSTODY_WRITER } from '../src/lambda/calls.js';
import { AUTOMATION_TEMPLATE, STEP_BASICS, STEP_ROLES, inModules, roleModules } from './iam/automation-roles.js';
import { yamlParse } from 'yaml-cfn';

const POLICY_DIR = path.join(ROOT, 'templates/iam');
/**
 * The policy documents of each account's role. One document per account would exceed IAM's quota
 * of 6,144 characters per managed policy (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
 * so each role gets several, split by what they are for; the role needs all of its documents.
 */
const POLICIES: Record<AccountKind, string[]> = {
  forensic: [
    'cleanroom-forensic-policy.json',
    'cleanroom-forensic-vault-setup-policy.json',
    'cleanroom-forensic-room-policy.json',
    'cleanroom-forensic-room-cloudformation-policy.json',
    'cleanroom-forensic-automation-policy.json',
  ],
  source: [
    'cleanroom-source-policy.json',
    'cleanroom-source-evidence-policy.json',
    'cleanroom-source-release-policy.json',
  ],
};
const MANAGED_POLICY_MAX_CHARS = 6144;
/**
 * The case analyst's policy (`room shell`): not a role of its own account but a narrower principal
 * in the forensic account, which may open recorded sessions to its case's room and write their
 * record, and nothing else. Its case is the principal's `cleanroom:case` tag.
 */
const ANALYST_POLICY = 'cleanroom-room-analyst-policy.json';
/**
 * What `room shell` runs, by module: the workflow, the room stack read, the caller's identity, and
 * the case's custody record as a writer (open with the lease, append, seal, against the vault's
 * compliance gate). The analyst needs the calls of these and nothing more.
 */
const ANALYST_MODULES = ['src/workflows/room/shell.ts', 'src/resources/stacks.ts', ...CUSTODY_WRITER];
/**
 * Linter findings that are a deliberate, documented risk of one document (and only of it).
 * vault init writes the vault's bucket policy and public access block; whoever may do that can
 * change who reads the vault. That is why these permissions are a document of their own, for the
 * role (or the moment) that sets the vault up, not for day-to-day work.
 */
const ACCEPTED_RISKS: Record<string, { issue: string; why: string }> = {
  'cleanroom-forensic-vault-setup-policy.json': {
    issue: 'RESOURCE_POLICY_PRIVILEGE_ESCALATION',
    why: 'vault init sets the bucket policy of the vault (TLS only, SSE-KMS uploads only); attach this document only where vault init runs',
  },
};
const policyPath = (f: string) => path.join(POLICY_DIR, f);
/** All statements of an account's documents, as one document. */
const accountPolicy = (account: AccountKind): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: POLICIES[account].flatMap((f) => readPolicy(policyPath(f)).doc.Statement),
});
const HANDLER_DATA = path.join(POLICY_DIR, 'cloudformation-handler-permissions.json');
/**
 * The automation deployer: whoever runs `automation deploy | remove | run | status | approve |
 * reject` (a principal of the forensic account, like the analyst: these documents alone suffice).
 * It needs what those commands send (the modules below) and what CloudFormation does with its
 * credentials for the automation stack's resource types (no service role, as for the room).
 * Two documents: together they exceed one managed policy's size.
 */
const DEPLOYER_POLICIES = [
  'cleanroom-automation-deployer-policy.json',
  'cleanroom-automation-deployer-cloudformation-policy.json',
];
/** What the automation commands run: the workflows, the stack helpers they use, the vault and the case records they write. */
const DEPLOYER_MODULES = [
  'src/workflows/automation/',
  'src/aws/region.ts',
  'src/resources/stack-deploy.ts',
  'src/resources/stack-delete.ts',
  'src/resources/stack-activity.ts',
  'src/resources/stacks.ts',
  'src/resources/vault-object.ts',
  ...CUSTODY_WRITER,
];
const ROOM_TEMPLATE = path.join(ROOT, 'templates/room.yaml');
const REQUIREMENTS = path.join(ROOT, 'scripts/local-aws/requirements.txt');

// ------------------------------------------------------------------------------------------------
// Which account each call runs in. Explicit: a module or variable not listed here fails the test.
// ------------------------------------------------------------------------------------------------

const BOTH = ['forensic', 'source'] as const;

export const RULES: Rules = {
  modules: {
    'src/aws/account.ts': {
      accounts: BOTH,
      why: 'accountId()/callerArn() ask STS who the caller is, in every account cleanroom opens',
    },
    'src/aws/region.ts': {
      accounts: ['forensic'],
      why: 'checkRegion: room up/down check the forensic Region (isolate checks the source Region itself)',
    },
    'src/custody/': { accounts: ['forensic'], why: 'the custody record lives in the vault of the forensic account' },
    'src/workflows/vault/': { accounts: ['forensic'], why: 'the evidence vault is in the forensic account' },
    'src/workflows/room/': { accounts: ['forensic'], why: 'the clean room is a stack in the forensic account' },
    'src/resources/': {
      byVariable: true,
      why: 'shared reads (volumes, snapshots): their account comes from the caller',
    },
    'src/resources/case-key.ts': {
      accounts: ['forensic'],
      why: 'the case key encrypts the forensic copies and the room',
    },
    'src/resources/toolkit.ts': {
      accounts: ['forensic'],
      why: 'the forensic toolkits live in the vault of the forensic account',
    },
    'src/resources/stacks.ts': { accounts: ['forensic'], why: 'the room stack is in the forensic account' },
    'src/resources/stack-activity.ts': {
      accounts: ['forensic'],
      why: 'the events of the room stack, in the forensic account',
    },
    'src/resources/stack-deploy.ts': {
      accounts: ['forensic'],
      why: 'room up and automation deploy create and execute change sets of their stacks, in the forensic account',
    },
    'src/resources/vault-object.ts': {
      accounts: ['forensic'],
      why: 'objects put into the vault (guest tools, the automation code), in the forensic account',
    },
    'src/resources/stack-delete.ts': {
      accounts: ['forensic'],
      why: 'room down and case close delete the room stack, in the forensic account',
    },
    'src/workflows/automation/': {
      accounts: ['forensic'],
      why: 'the operator side of the automation (run, status, approve): its stack, state machines, the fleet and the vault are in the forensic account',
    },
    'src/workflows/isolate/': { accounts: ['source'], why: 'isolate contains the compromised instance where it runs' },
    'src/workflows/close/': {
      byVariable: true,
      why: 'close works in the forensic account and schedules temporary keys in source accounts; generic helpers: their account comes from the caller',
    },
    'src/evidence/volume-compare.ts': {
      byVariable: true,
      why: 'compares snapshots in whichever account the caller passes',
    },
    'src/evidence/content-hash.ts': {
      byVariable: true,
      why: 'reads and hashes a snapshot in whichever account the caller passes',
    },
    'src/workflows/acquire/': {
      byVariable: true,
      why: 'acquisition names its accounts: deps.source / c.source, run.forensic, and generic helpers taking `account`',
    },
    'src/workflows/evidence/': { byVariable: true, why: 'evidence attach/detach/list work in deps.forensic' },
    'src/lambda/': {
      accounts: ['forensic'],
      why: "the automated response's functions run in the forensic account and publish to its responders' topic",
    },
    'src/evidence/memory-upload.ts': {
      accounts: ['forensic'],
      why: "memory capture's multipart upload into the vault (the host only PUTs to presigned part URLs), in the forensic account",
    },
    'src/evidence/memory-tool.ts': {
      accounts: ['forensic'],
      why: 'the memory capture tool (AVML) and its pointer in the vault of the forensic account',
    },
    'src/workflows/memory/': {
      byVariable: true,
      why: 'memory capture reads the instance and runs its script over SSM in deps.source; the vault is deps.forensic',
    },
    'src/evidence/': {
      byVariable: true,
      why: 'evidence steps work in run.forensic / deps.forensic; the watcher polls whichever account registered a wait',
    },
  },
  properties: {
    'CloseDeps.account': { accounts: ['forensic'], why: 'CloseDeps documents it as the forensic account' },
    'CloseRun.account': { accounts: ['forensic'], why: 'CloseRun is built from CloseDeps.account' },
    'CloseDeps.sourceAccounts': {
      accounts: ['source'],
      why: 'the source accounts whose temporary sharing keys close schedules',
    },
    'AwsAccount.single': { sameAsOwner: true, why: 'the same account with the SDK retries off (ports.ts)' },
    'AcquireDeps.forensic': { accounts: ['forensic'], why: 'AcquireDeps documents it as the forensic account' },
    'AcquireDeps.source': { accounts: ['source'], why: 'the account of the compromised instance' },
    'PipelineContext.source': { accounts: ['source'], why: 'acquire/index.ts fills it with deps.source' },
    'ResolveContext.source': { accounts: ['source'], why: 'acquire/index.ts fills it with deps.source' },
    'ResolveContext.sourceInRegion': {
      accounts: ['source'],
      why: 'the source account opened in another Region (to say where a missing instance is)',
    },
    'EvidenceRun.forensic': {
      accounts: ['forensic'],
      why: 'EvidenceRun is built from the forensic account of its deps',
    },
    'GuestCommandRun.forensic': {
      accounts: ['forensic'],
      why: 'a guest command runs on the room instance, in the forensic account (EvidenceRun, room up, room status)',
    },
    'EvidenceDeps.forensic': { accounts: ['forensic'], why: 'evidence attach/detach work on the forensic instance' },
    'HashEvidenceStepDeps.forensic': {
      accounts: ['forensic'],
      why: 'the resumable acquisition hash reads the forensic snapshot of record (hashEvidenceStep, the automation hash step)',
    },
    'MemoryCaptureDeps.source': {
      accounts: ['source'],
      why: 'memory capture reads the compromised instance and sends it the capture command where it runs',
    },
    'MemoryCaptureDeps.forensic': {
      accounts: ['forensic'],
      why: 'memory capture uploads the image into the vault of the forensic account',
    },
    'ExportDeps.forensic': {
      accounts: ['forensic'],
      why: 'evidence export reads the forensic snapshot (EBS direct) and uploads its image into the vault, both in the forensic account',
    },
  },
  parameters: {
    'src/evidence/watch.ts#describe.account': {
      sameAs: 'src/evidence/watch.ts#ResourceWatcher.watch.account',
      why: 'the watcher polls, per account, what snapshotCompleted()/volume() registered through watch()',
    },
    'src/workflows/evidence/list.ts#listEvidence.deps.forensic': {
      accounts: ['forensic'],
      why: 'evidence list reads the working volumes in the forensic account (an entry point taking an anonymous deps object)',
    },
    'src/evidence/detach.ts#detachAndWait.account': {
      accounts: ['forensic'],
      why: 'the one detach-and-wait: evidence detach, room down and case close detach working volumes from the forensic instance',
    },
    'src/evidence/detach.ts#pollDetached.account': {
      sameAs: 'src/evidence/detach.ts#detachAndWait.account',
      why: 'polls the volume detachAndWait detached',
    },
    'src/workflows/close/keys.ts#scheduleKeyDeletions.account': {
      sameAs: 'src/workflows/close/keys.ts#findTemporaryKeys.account',
      why: 'close schedules the keys findTemporaryKeys found, in the account it found them in (close/index.ts pairs them in sourceKeys)',
    },
  },
};

// ------------------------------------------------------------------------------------------------
// SDK operation → IAM actions (Service Authorization Reference and the API references).
// ------------------------------------------------------------------------------------------------

const SAR_S3 = 'https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html';

export const IAM_NAMES: NameMap = {
  's3:HeadBucket': {
    actions: ['s3:ListBucket'],
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html (Permissions: s3:ListBucket)',
  },
  's3:ListObjectsV2': {
    actions: ['s3:ListBucket'],
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (Permissions: s3:ListBucket)',
  },
  's3:ListObjectVersions': {
    actions: ['s3:ListBucketVersions'],
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html (s3:ListBucketVersions)',
  },
  's3:GetObject': {
    actions: ['s3:GetObject', 's3:GetObjectVersion'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (a VersionId needs s3:GetObjectVersion; the custody store reads by version)',
  },
  's3:HeadObject': {
    actions: ['s3:GetObject'],
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html (Permissions: s3:GetObject)',
  },
  's3:CreateMultipartUpload': {
    actions: ['s3:PutObject'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html (Permissions: s3:PutObject)',
  },
  's3:UploadPart': {
    actions: ['s3:PutObject'],
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html (Permissions: s3:PutObject)',
  },
  's3:CompleteMultipartUpload': {
    actions: ['s3:PutObject'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html (Permissions: s3:PutObject)',
  },
  's3:ListParts': {
    actions: ['s3:ListMultipartUploadParts'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html (Permissions: s3:ListMultipartUploadParts)',
  },
  's3:ListMultipartUploads': {
    actions: ['s3:ListBucketMultipartUploads'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html (Permissions: s3:ListBucketMultipartUploads)',
  },
  's3:CopyObject': {
    actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html (Permissions: s3:GetObject on the source — s3:GetObjectVersion with a versionId — and s3:PutObject on the destination)',
  },
  's3:GetObjectLockConfiguration': { actions: ['s3:GetBucketObjectLockConfiguration'], source: SAR_S3 },
  's3:PutObjectLockConfiguration': { actions: ['s3:PutBucketObjectLockConfiguration'], source: SAR_S3 },
  's3:GetPublicAccessBlock': { actions: ['s3:GetBucketPublicAccessBlock'], source: SAR_S3 },
  's3:PutPublicAccessBlock': { actions: ['s3:PutBucketPublicAccessBlock'], source: SAR_S3 },
  's3:GetBucketEncryption': { actions: ['s3:GetEncryptionConfiguration'], source: SAR_S3 },
  's3:PutBucketEncryption': { actions: ['s3:PutEncryptionConfiguration'], source: SAR_S3 },
  'sts:GetCallerIdentity': {
    actions: [],
    source:
      'https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html ("No permissions are required to perform this operation")',
  },
};

const EC2_TAG_ON_CREATE =
  'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html (tag on create needs ec2:CreateTags; SAR lists it as a dependent action)';
const EBS_KMS = {
  actions: [
    'kms:CreateGrant',
    'kms:Decrypt',
    'kms:DescribeKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
  ],
  source:
    'https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html#ebs-encryption-permissions ("Permissions for IAM users": EBS uses the KMS key on the caller\'s behalf)',
};
const EBS_DIRECT_KMS = {
  actions: ['kms:Decrypt'],
  source:
    'https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html (reading encrypted snapshots through the EBS direct APIs needs the KMS key)',
};
const PASS_INSTANCE_ROLE = {
  actions: ['iam:PassRole'],
  source:
    'https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html#roles-usingrole-ec2instance-permissions (associating an instance profile passes its role; SAR lists iam:PassRole as a dependent action)',
};

/** IAM action → what AWS also checks when the caller does it. */
export const IMPLIED: ImpliedMap = {
  's3:CreateBucket': {
    actions: ['s3:PutBucketObjectLockConfiguration', 's3:PutBucketVersioning'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html (ObjectLockEnabledForBucket needs s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning)',
  },
  's3:PutObject': {
    actions: ['s3:PutObjectRetention', 'kms:GenerateDataKey'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html (a retain-until date on upload needs s3:PutObjectRetention); https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (an SSE-KMS upload needs kms:GenerateDataKey)',
  },
  's3:GetObject': {
    actions: ['kms:Decrypt'],
    source:
      'https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (reading an SSE-KMS object needs kms:Decrypt)',
  },
  'ec2:CreateSnapshot': { actions: ['ec2:CreateTags'], source: EC2_TAG_ON_CREATE },
  'ec2:CreateSnapshots': { actions: ['ec2:CreateTags'], source: EC2_TAG_ON_CREATE },
  'ec2:CopySnapshot': {
    actions: ['ec2:CreateTags', ...EBS_KMS.actions],
    source: `${EC2_TAG_ON_CREATE}; ${EBS_KMS.source}`,
  },
  'ec2:CreateVolume': {
    actions: ['ec2:CreateTags', ...EBS_KMS.actions],
    source: `${EC2_TAG_ON_CREATE}; ${EBS_KMS.source}`,
  },
  'ec2:CreateSecurityGroup': { actions: ['ec2:CreateTags'], source: EC2_TAG_ON_CREATE },
  'ec2:CreateNetworkAcl': { actions: ['ec2:CreateTags'], source: EC2_TAG_ON_CREATE },
  'ec2:ReplaceIamInstanceProfileAssociation': PASS_INSTANCE_ROLE,
  'ec2:AssociateIamInstanceProfile': PASS_INSTANCE_ROLE,
  'ebs:ListChangedBlocks': EBS_DIRECT_KMS,
  'ebs:ListSnapshotBlocks': EBS_DIRECT_KMS,
  'ebs:GetSnapshotBlock': EBS_DIRECT_KMS,
  'iam:AddRoleToInstanceProfile': {
    actions: ['iam:PassRole'],
    source:
      'https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddRoleToInstanceProfile.html ("The caller of this operation must be granted the PassRole permission on the IAM role")',
  },
  'iam:CreateRole': {
    actions: ['iam:TagRole'],
    source:
      'https://docs.aws.amazon.com/IAM/latest/UserGuide/access_iam-tags.html#access_iam-tags_create (tags on create need iam:TagRole)',
  },
  'iam:CreateInstanceProfile': {
    actions: ['iam:TagInstanceProfile'],
    source:
      'https://docs.aws.amazon.com/IAM/latest/UserGuide/access_iam-tags.html#access_iam-tags_create (tags on create need iam:TagInstanceProfile)',
  },
  'kms:CreateKey': {
    actions: ['kms:TagResource'],
    source:
      'https://docs.aws.amazon.com/kms/latest/developerguide/tag-permissions.html ("To add tags while creating a KMS key, the principal must have [kms:TagResource] in an IAM policy")',
  },
  'cloudformation:DescribeStacks': {
    actions: ['cloudformation:ListStacks'],
    source:
      'https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html (without StackName — room list — "This requires ListStacks and DescribeStacks permissions")',
  },
};

/**
 * What AWS checks on the caller's behalf when CloudFormation's handlers make these calls, beyond
 * the handler's own list (the handler permissions do not name the KMS key use or the DNS association).
 */
export const IMPLIED_VIA_CLOUDFORMATION: ImpliedMap = {
  'ec2:RunInstances': {
    actions: EBS_KMS.actions,
    source: `${EBS_KMS.source} (the room instance's root volume is encrypted with the case key)`,
  },
  'ec2:CreateVpcEndpoint': {
    actions: ['route53:AssociateVPCWithHostedZone'],
    source:
      "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html (CreateVpcEndpoint: dependent action route53:AssociateVPCWithHostedZone; the room's interface endpoints enable private DNS)",
  },
};

/**
 * Real actions the linter's action database (parliament 1.6.4, Service Authorization Reference
 * of April 2025) does not know yet. Each must still be reported unknown by the linter (else the
 * entry is stale and fails), and only these may be.
 */
export const NEWER_THAN_LINTER: Record<string, string> = {
  'ec2:CreateVpcEncryptionControl':
    'EC2 API operation of VPC Encryption Controls (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpcEncryptionControl.html); EC2 API operations are IAM actions of the same name; AWS::EC2::VPC lists it in its create handler',
  'ec2:DescribeVpcEncryptionControls':
    'EC2 API operation of VPC Encryption Controls (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEncryptionControls.html); AWS::EC2::VPC lists it in its read handler',
};

/**
 * Condition keys the linter's database does not know for an action although AWS documents them
 * (the linter's finding, as it words it → why the key is real). Each must still be reported (else
 * the entry is stale and fails), and only these may be.
 */
export const CONDITIONS_NEWER_THAN_LINTER: Record<string, string> = {
  'Unknown condition ssm:SessionDocumentAccessCheck for action ssm:StartSession':
    'https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html (StartSession: condition key ssm:SessionDocumentAccessCheck); Session Manager user guide, "Enforce a session document permission check for the AWS CLI" (https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-sessiondocumentaccesscheck.html)',
};

// ------------------------------------------------------------------------------------------------

const scanner = new PortCallScanner(
  ROOT,
  fs.readdirSync(path.join(ROOT, 'test/iam/fixtures')).map((f) => path.join(ROOT, 'test/iam/fixtures', f)),
);
const scan: ScanResult = scanner.scan(scanner.productFiles(), RULES);
const handlerData = JSON.parse(fs.readFileSync(HANDLER_DATA, 'utf8')) as HandlerData;
const room = templateTypes(ROOM_TEMPLATE);
const automationStack = templateTypes(path.join(ROOT, AUTOMATION_TEMPLATE));

const where = (f: { file: string; line: number; message: string }) => `${f.file}:${f.line}: ${f.message}`;

/** SDK operations sent in an account. */
function operationsIn(account: AccountKind): Set<string> {
  return new Set(scan.calls.filter((c) => c.accounts.includes(account)).map((c) => c.operation));
}

/** Every IAM action an account's role needs, with why. */
function neededBy(account: AccountKind): Map<string, string[]> {
  const need = iamActionsFor(operationsIn(account), IAM_NAMES, IMPLIED);
  if (account === 'forensic') {
    const cfn = handlerPermissions(handlerData, room.resourceTypes);
    for (const p of room.parameterTypes.filter(awsSpecificParameterType))
      for (const a of handlerData.parameterTypes[p]?.permissions ?? [])
        cfn.set(a, [...(cfn.get(a) ?? []), `parameter type ${p}`]);
    const closed = iamActionsFor(cfn.keys(), {}, IMPLIED_VIA_CLOUDFORMATION);
    for (const [a, why] of closed) {
      if (a in handlerData.notIamActions) continue;
      need.set(a, [...(need.get(a) ?? []), ...(cfn.get(a) ?? why).map((w) => `CloudFormation: ${w}`)]);
    }
  }
  return need;
}

// CLEANROOM_IAM_NEEDS=<file>: write what each account needs, and why, for whoever edits the policies.
if (process.env['CLEANROOM_IAM_NEEDS']) {
  const dump = Object.fromEntries(
    (['forensic', 'source'] as const).map((a) => [
      a,
      Object.fromEntries([...neededBy(a)].sort(([x], [y]) => x.localeCompare(y))),
    ]),
  );
  fs.writeFileSync(process.env['CLEANROOM_IAM_NEEDS'], `${JSON.stringify(dump, null, 2)}\n`);
}

t.test('every AWS call in src/ is reached in a form the scan can attribute', async (t) => {
  t.same(
    scan.escapes.map(where),
    [],
    'ports reached other than <account>.<port>.<method>(…), or the SDK used outside src/aws/',
  );
  t.same(scan.unclassified, [], 'modules with AWS calls that no module rule classifies');
  t.same(scan.unattributed.map(where), [], 'calls whose account the rules do not decide');
  t.same(scan.unusedRules, [], 'rules nothing uses (remove them, or the code they described moved)');
  const cli = scanner.scan(scanner.cliFiles(), {
    modules: { 'src/cli/': { byVariable: true, why: 'the host calls workflows' } },
    properties: {},
    parameters: {},
  });
  t.same(
    [...cli.calls.map((c) => `${c.file}:${c.line} ${c.operation}`), ...cli.escapes.map(where)],
    [],
    'src/cli/ (left out of the scan above) sends no AWS call and reaches no port itself',
  );
  const moduleRulesUsed = Object.keys(RULES.modules).filter(
    (k) => !scanner.productFiles().some((f) => f === k || (k.endsWith('/') && f.startsWith(k))),
  );
  t.same(moduleRulesUsed, [], 'module rules that match no file');
});

t.test('the scan sees the calls it must (it is not comparing nothing)', async (t) => {
  const has = (op: string, account: AccountKind) =>
    scan.calls.some((c) => c.operation === op && c.accounts.includes(account));
  t.ok(scan.calls.length > 100, `${scan.calls.length} port calls found`);
  t.ok(has('cloudformation:CreateChangeSet', 'forensic'), 'room up creates a change set in the forensic account');
  t.ok(has('ec2:ModifyInstanceAttribute', 'source'), 'isolate protects the instance in the source account');
  t.ok(
    has('ebs:GetSnapshotBlock', 'forensic'),
    'close reads snapshot blocks (volume-compare, reached through CloseRun.account)',
  );
  t.ok(
    has('ebs:ListSnapshotBlocks', 'source') && has('ebs:ListSnapshotBlocks', 'forensic'),
    'acquire hashes the source snapshot in the source account and the forensic copy in the forensic account (content-hash.ts, followed through its call sites)',
  );
  t.ok(
    has('kms:ScheduleKeyDeletion', 'source'),
    'close schedules temporary keys in the source account (parameter rule sameAs)',
  );
  t.notOk(has('cloudformation:CreateChangeSet', 'source'), 'nothing deploys a stack in the source account');
  t.notOk(has('ec2:DeleteVolume', 'source'), 'close deletes working volumes in the forensic account only');
  t.ok(
    has('ec2:CreateSnapshots', 'source') && !has('ec2:CreateSnapshots', 'forensic'),
    'acquisition snapshots the compromised instance in the source account',
  );
  t.ok(
    has('ec2:CopySnapshot', 'source') && has('ec2:CopySnapshot', 'forensic'),
    'the sharing copy is made in the source account, the forensic copy in the forensic account',
  );
  t.ok(
    has('ssm:SendCommand', 'forensic') && has('ssm:SendCommand', 'source'),
    'the read-only check runs on the room instance in the forensic account; memory capture on the compromised instance in the source account',
  );
  t.ok(
    has('ec2:DescribeSnapshots', 'source') && has('ec2:DescribeSnapshots', 'forensic'),
    'the watcher polls snapshots in both accounts (parameter rule sameAs)',
  );
});

t.test('the scan fails on code that hides a port from it', async (t) => {
  const fx = (f: string) => `test/iam/fixtures/${f}`;
  const rules: Rules = {
    modules: {
      'test/iam/fixtures/forensic-helper.ts': { accounts: ['forensic'], why: 'fixture: a module classified forensic' },
      'test/iam/fixtures/': { byVariable: true, why: 'fixture' },
    },
    properties: {
      'FixtureDeps.source': { accounts: ['source'], why: 'fixture' },
      'FixtureDeps.forensic': { accounts: ['forensic'], why: 'fixture' },
      'FixtureDeps.forensicOnce': { accounts: ['forensic'], why: 'fixture' },
    },
    parameters: {},
  };
  const escapes = (file: string) => scanner.scan([fx(file)], rules).escapes.map((e) => e.message);
  for (const [file, what] of [
    ['port-destructured.ts', 'const { ec2 } = account'],
    ['port-aliased.ts', 'const e = account.ec2'],
    ['port-passed-to-helper.ts', 'helper(account.ec2)'],
    ['method-detached.ts', 'const f = account.ec2.describeVolumes; account.ec2.describeVolumes.call(…)'],
    ['method-destructured.ts', 'const { describeVolumes } = account.ec2'],
    ['port-element-access.ts', "account['ec2'].describeVolumes(…)"],
    ['sdk-imported.ts', "import { EC2Client } from '@aws-sdk/client-ec2'"],
    ['port-through-any.ts', '(account as any).ec2.describeVolumes(…)'],
  ] as const) {
    t.ok(escapes(file).length > 0, `${what} is reported (${escapes(file).slice(0, 2).join(' | ')})`);
  }

  const canonical = scanner.scan([fx('canonical.ts')], rules);
  t.same(canonical.escapes, [], 'the canonical forms are not escapes');
  t.same(canonical.unattributed.map(where), [], 'the canonical forms are attributed');
  const acc = (op: string) =>
    [...new Set(canonical.calls.filter((c) => c.operation === op).flatMap((c) => c.accounts))].sort();
  t.same(acc('ec2:CreateSnapshot'), ['source'], 'deps.source.ec2.createSnapshot runs in the source account');
  t.same(
    acc('ec2:CopySnapshot'),
    ['forensic'],
    '(deps.forensicOnce ?? deps.forensic).ec2.copySnapshot runs in the forensic account',
  );
  t.same(
    acc('ec2:DescribeSnapshots'),
    ['forensic', 'source'],
    'a helper taking `account`, called with both, runs in both',
  );
  t.same(
    acc('ec2:CreateTags'),
    ['source'],
    'o.account of an anonymous options object is followed into the object literals passed',
  );

  const unknownVar = scanner.scan([fx('account-from-callback.ts')], rules);
  t.ok(
    unknownVar.unattributed.some((f) => /cannot tell which account/.test(f.message)),
    'an account from a callback parameter is unattributed, not guessed',
  );

  const inconsistent = scanner.scan([fx('forensic-helper.ts'), fx('calls-forensic-helper-with-source.ts')], rules);
  t.ok(
    inconsistent.unattributed.some((f) =>
      /classified forensic but this call is reached with the .*source/.test(f.message),
    ),
    'a forensic module reached with the source account is reported',
  );

  const unclassified = scanner.scan([fx('canonical.ts')], { ...rules, modules: {} });
  t.same(unclassified.unclassified, [fx('canonical.ts')], 'a module no rule classifies is reported');

  const stale = scanner.scan([fx('canonical.ts')], {
    ...rules,
    properties: { ...rules.properties, 'Gone.account': { accounts: ['forensic'], why: 'stale' } },
  });
  t.ok(stale.unusedRules.includes('property Gone.account'), 'a rule nothing uses is reported');
});

t.test(
  'the CloudFormation data covers every resource type and AWS-specific parameter type of the room template',
  async (t) => {
    const types = [...new Set([...room.resourceTypes, ...automationStack.resourceTypes])];
    t.same(
      types.filter((r) => !handlerData.resourceTypes[r]),
      [],
      'resource types of the room and the automation stack without handler permissions in the data file',
    );
    t.same(
      Object.keys(handlerData.resourceTypes).filter((r) => !types.includes(r)),
      [],
      'data file entries for types the templates no longer use',
    );
    for (const [type, e] of Object.entries(handlerData.resourceTypes)) {
      t.ok(
        e.source?.repository && /^[0-9a-f]{40}$/.test(e.source.commit) && e.source.url.includes(e.source.commit),
        `${type}: the schema's repository, path and commit are recorded`,
      );
      for (const h of ['create', 'delete'] as const)
        t.ok((e.handlers[h] ?? []).length > 0, `${type}: has ${h} handler permissions`);
    }
    const special = room.parameterTypes.filter(awsSpecificParameterType);
    t.same(
      special.filter((p) => !handlerData.parameterTypes[p]),
      [],
      'AWS-specific parameter types without the permissions CloudFormation uses to resolve them',
    );
    t.ok(special.length >= 2, `the template has AWS-specific parameter types (${special.join(', ')})`);
  },
);

for (const account of ['forensic', 'source'] as const) {
  t.test(`the ${account}-account policy grants every action its account needs, and nothing else`, async (t) => {
    const doc = accountPolicy(account);
    const need = neededBy(account);
    const have = allowedActions(doc);
    const missing = [...need.keys()].filter((a) => !have.has(a)).sort();
    const extra = [...have].filter((a) => !need.has(a)).sort();
    t.same(
      missing.map((a) => `${a} (${need.get(a)!.slice(0, 3).join('; ')})`),
      [],
      'needed but not granted',
    );
    t.same(extra, [], 'granted but nothing needs it');
    // What the code sends itself must not depend on arriving through CloudFormation.
    const direct = iamActionsFor(operationsIn(account), IAM_NAMES, IMPLIED);
    const directly = allowedDirectly(doc);
    t.same(
      [...direct.keys()].filter((a) => !directly.has(a)).sort(),
      [],
      'sent by cleanroom itself but granted only through CloudFormation (aws:CalledVia)',
    );
  });
}

/** What the analyst's principal needs: the IAM actions of the calls `room shell` makes (ANALYST_MODULES). */
function neededByAnalyst(): Map<string, string[]> {
  const ops = scan.calls
    .filter((c) => c.accounts.includes('forensic'))
    .filter((c) => ANALYST_MODULES.some((m) => c.file === m || (m.endsWith('/') && c.file.startsWith(m))))
    .map((c) => c.operation);
  const need = iamActionsFor(new Set(ops), IAM_NAMES, IMPLIED);
  // DescribeStacks without a stack name (room list) needs ListStacks; room shell always names its stack.
  need.delete('cloudformation:ListStacks');
  return need;
}

/** What the analyst is granted beyond room shell's own calls, each with why. */
const ANALYST_EXTRA: Record<string, string> = {
  'ssm:ResumeSession':
    'the Session Manager plugin resumes a session whose connection dropped, with the same credentials (SSM API Reference, ResumeSession)',
  'ssm:DescribeSessions': 'the analyst sees the sessions of the room (Session Manager history)',
  'ssm:GetDocument': "the analyst can read the case's session documents (what a session records, and where)",
};

t.test(
  "the analyst's policy grants what room shell needs, nothing else, and only for the principal's case",
  async (t) => {
    const { doc, text } = readPolicy(policyPath(ANALYST_POLICY));
    const need = neededByAnalyst();
    const have = allowedActions(doc);
    t.ok(
      need.has('ssm:StartSession') && need.has('s3:PutObject') && need.has('kms:Sign'),
      'the scan sees room shell and its record',
    );
    t.same([...need.keys()].filter((a) => !have.has(a)).sort(), [], 'needed by room shell but not granted');
    t.same(
      [...have].filter((a) => !need.has(a) && !(a in ANALYST_EXTRA)).sort(),
      [],
      'granted but neither room shell nor a documented extra needs it',
    );
    t.ok(text.replace(/\s+/g, '').length <= MANAGED_POLICY_MAX_CHARS, 'within the managed-policy size');
    const start = doc.Statement.filter((s) => list(s.Action).includes('ssm:StartSession'));
    t.ok(
      start.every((s) =>
        list(s.Resource).every(
          (r) =>
            (/^arn:aws:ec2:\*:\*:instance\/\*$/.test(r) &&
              JSON.stringify(s.Condition ?? {}).includes(
                '"ssm:resourceTag/cleanroom:case":"${aws:PrincipalTag/cleanroom:case}"',
              )) ||
            r === 'arn:aws:ssm:*:*:document/cleanroom-${aws:PrincipalTag/cleanroom:case}-*',
        ),
      ),
      "StartSession only on instances tagged with the principal's case, and only with that case's documents",
    );
    t.ok(
      start.some((s) => JSON.stringify(s.Condition ?? {}).includes('"ssm:SessionDocumentAccessCheck":"true"')),
      'the document check is demanded (no session with the default, unrecorded document)',
    );
    const terminate = doc.Statement.filter((s) => list(s.Action).includes('ssm:TerminateSession'));
    t.same(
      terminate.flatMap((s) => list(s.Resource)),
      ['arn:aws:ssm:*:*:session/${aws:userid}-*'],
      "sessions ended or resumed: only the caller's own",
    );
    const writes = doc.Statement.filter((s) => list(s.Action).some((a) => /^s3:Put/.test(a)));
    t.ok(
      writes.every((s) => list(s.Resource).every((r) => r.endsWith('/cases/${aws:PrincipalTag/cleanroom:case}/*'))),
      "the vault is written only under the principal's case",
    );
    t.same(
      lintDefects(doc, doc, new Set(Object.keys(NEWER_THAN_LINTER))),
      [],
      'the linter finds nothing (every action exists, every condition key applies)',
    );
  },
);

if (process.env['CLEANROOM_IAM_NEEDS_ANALYST'])
  fs.writeFileSync(
    process.env['CLEANROOM_IAM_NEEDS_ANALYST'],
    `${JSON.stringify(Object.fromEntries([...neededByAnalyst()].sort(([x], [y]) => x.localeCompare(y))), null, 2)}\n`,
  );

t.test('the policy documents are explicit, scoped and deployable', async (t) => {
  const documents = fs
    .readdirSync(POLICY_DIR)
    .filter((f) => /^cleanroom-.*-policy\.json$/.test(f))
    .sort();
  t.same(
    documents,
    [...Object.values(POLICIES).flat(), ANALYST_POLICY, ...DEPLOYER_POLICIES].sort(),
    'every policy document in templates/iam/ belongs to one role, and every listed one exists',
  );
  for (const [account, files] of Object.entries(POLICIES)) {
    for (const file of files) {
      const { text, doc } = readPolicy(policyPath(file));
      t.equal(doc.Version, '2012-10-17', `${file}: policy language version`);
      // IAM does not count white space (reference_iam-quotas.html).
      const size = text.replace(/\s+/g, '').length;
      t.ok(
        size <= MANAGED_POLICY_MAX_CHARS,
        `${file}: ${size} characters, within IAM's ${MANAGED_POLICY_MAX_CHARS} per managed policy`,
      );
      for (const s of doc.Statement) {
        t.same(
          list(s.Action).filter((a) => a.includes('*')),
          [],
          `${file} ${s.Sid}: actions are named, not wildcarded`,
        );
        t.notOk('NotAction' in s || 'NotResource' in s, `${file} ${s.Sid}: no NotAction/NotResource`);
      }
    }
    const sids = accountPolicy(account as AccountKind).Statement.map((s) => s.Sid ?? '');
    t.same(
      sids.filter((s) => !/^[A-Za-z0-9]{6,}$/.test(s)),
      [],
      `${account}: every statement has a Sid that says what it is for`,
    );
    t.same(
      sids.filter((s, i) => sids.indexOf(s) !== i),
      [],
      `${account}: Sids are unique across the role's documents`,
    );
  }
});

/** Destructive actions must carry the case tag condition (and KMS keys of the case key may never be deleted). */
t.test('destructive actions are scoped to what a case made', async (t) => {
  const destructive = /^(ec2:(Delete|Terminate|Detach|Lock)|kms:ScheduleKeyDeletion|cloudformation:DeleteStack)/;
  for (const account of ['forensic', 'source'] as const) {
    const doc = accountPolicy(account);
    for (const s of doc.Statement.filter((x) => x.Effect === 'Allow')) {
      const acts = list(s.Action).filter((a) => destructive.test(a));
      if (!acts.length) continue;
      const cond = JSON.stringify(s.Condition ?? {});
      const scoped =
        /aws:ResourceTag\/cleanroom:case/.test(cond) ||
        /aws:CalledVia/.test(cond) ||
        list(s.Resource).every((r) => /cleanroom-/.test(r));
      t.ok(
        scoped,
        `${account} ${s.Sid}: ${acts.join(', ')} only on resources tagged cleanroom:case (or named cleanroom-*, or only through CloudFormation)`,
      );
    }
  }
  for (const account of ['forensic', 'source'] as const) {
    const deny = accountPolicy(account).Statement.find(
      (s) => s.Effect === 'Deny' && list(s.Action).includes('kms:ScheduleKeyDeletion'),
    );
    t.match(
      JSON.stringify(deny?.Condition ?? {}),
      /alias\/cleanroom\/case\//,
      `${account}: a Deny keeps the case keys (alias/cleanroom/case/*) from being scheduled for deletion`,
    );
  }
});

// ------------------------------------------------------------------------------------------------
// The linter.
// ------------------------------------------------------------------------------------------------

const PARLIAMENT_PIN = pinnedVersion(REQUIREMENTS, 'parliament');
{
  // The pinned linter lives in the project venv; scripts/setup-venv installs it when the pin changes.
  let installed: string | undefined;
  try {
    installed = execFileSync(
      path.join(ROOT, '.venv/bin/python'),
      ['-c', 'import importlib.metadata as m; print(m.version("parliament"))'],
      { encoding: 'utf8' },
    ).trim();
  } catch {
    installed = undefined;
  }
  if (installed !== PARLIAMENT_PIN)
    execFileSync('bash', [path.join(ROOT, 'scripts/setup-venv')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const sar = linterSar(ROOT);

/**
 * Findings of the linter on a policy document that are defects (see acceptedBecause for the two
 * kinds that are not). `role` is all of the role's statements: IAM evaluates them together.
 */
function lintDefects(
  doc: PolicyDocument,
  role: PolicyDocument,
  allowUnknown: ReadonlySet<string>,
  acceptedIssue?: string,
): string[] {
  return parliament(ROOT, JSON.stringify(doc))
    .filter(
      (f) => !(f.issue === 'UNKNOWN_ACTION' && allowUnknown.has(String(f.detail).replace(/^Unknown action /, ''))),
    )
    .filter((f) => f.issue !== acceptedIssue)
    .filter((f) => !(f.issue === 'UNKNOWN_CONDITION_FOR_ACTION' && String(f.detail) in CONDITIONS_NEWER_THAN_LINTER))
    .filter((f) => !acceptedBecause(f, role, sar))
    .map((f) => `${f.issue}: ${JSON.stringify(f.detail)}`);
}

t.test('both policies pass the IAM policy linter (parliament)', async (t) => {
  t.ok(PARLIAMENT_PIN, 'parliament is pinned in scripts/local-aws/requirements.txt');
  const newer = new Set(Object.keys(NEWER_THAN_LINTER));
  const unknownToLinter = new Set<string>();
  const unknownConditions = new Set<string>();
  for (const [account, files] of Object.entries(POLICIES)) {
    const role = accountPolicy(account as AccountKind);
    for (const file of files) {
      const { doc } = readPolicy(policyPath(file));
      const findings = parliament(ROOT, JSON.stringify(doc));
      for (const f of findings.filter((x) => x.issue === 'UNKNOWN_ACTION'))
        unknownToLinter.add(String(f.detail).replace(/^Unknown action /, ''));
      for (const f of findings.filter((x) => x.issue === 'UNKNOWN_CONDITION_FOR_ACTION'))
        unknownConditions.add(String(f.detail));
      const risk = ACCEPTED_RISKS[file];
      t.same(
        lintDefects(doc, role, newer, risk?.issue),
        [],
        `${file}: every action exists, every condition key applies to its action, every resource matches its action`,
      );
      if (risk)
        t.ok(
          findings.some((f) => f.issue === risk.issue),
          `${file}: ${risk.issue} is reported, and accepted only here: ${risk.why}`,
        );
      for (const f of findings) {
        const why = acceptedBecause(f, role, sar);
        if (why) t.pass(`${file}: ${f.issue} ${JSON.stringify(f.detail)} is not a defect: ${why}`);
      }
    }
  }
  for (const a of newer)
    t.ok(
      unknownToLinter.has(a),
      `${a} is still unknown to the linter and still granted (else drop it from NEWER_THAN_LINTER): ${NEWER_THAN_LINTER[a]}`,
    );
  for (const [c, why] of Object.entries(CONDITIONS_NEWER_THAN_LINTER))
    t.ok(unknownConditions.has(c), `"${c}" is still reported by the linter and still used (else drop it): ${why}`);
  for (const [a, why] of Object.entries(handlerData.notIamActions)) {
    const f = parliament(
      ROOT,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Sid: 'Probe', Effect: 'Allow', Action: a, Resource: '*' }],
      }),
    );
    t.ok(
      f.some((x) => x.issue === 'UNKNOWN_ACTION'),
      `${a} is left out because it is no IAM action (${why}); the linter agrees`,
    );
  }
});

t.test(
  'the linter check fails on a misspelled action, a misapplied condition key, and an unscoped resource type',
  async (t) => {
    const newer = new Set(Object.keys(NEWER_THAN_LINTER));
    const { doc } = readPolicy(policyPath(POLICIES.forensic[0]!));
    const role = accountPolicy('forensic');
    t.same(lintDefects(doc, role, newer), [], 'the unmodified document is clean (the mutations below are what fails)');
    const mutated = (m: PolicyDocument) =>
      lintDefects(m, { ...role, Statement: [...role.Statement, ...m.Statement] }, newer);

    const misspelled: PolicyDocument = structuredClone(doc);
    const target = misspelled.Statement.find((s) => list(s.Action).includes('ec2:DescribeInstances'))!;
    target.Action = list(target.Action).map((a) => (a === 'ec2:DescribeInstances' ? 'ec2:DescribeInstance' : a));
    t.ok(
      mutated(misspelled).some((d) => /UNKNOWN_ACTION: "Unknown action ec2:DescribeInstance"/.test(d)),
      'ec2:DescribeInstance (sic) is a defect',
    );

    const misapplied: PolicyDocument = structuredClone(doc);
    misapplied.Statement.push({
      Sid: 'MisappliedCondition',
      Effect: 'Allow',
      Action: 'ec2:DescribeInstances',
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } },
    });
    t.ok(
      mutated(misapplied).some((d) => /UNKNOWN_CONDITION_FOR_ACTION.*kms:ViaService/.test(d)),
      'kms:ViaService on ec2:DescribeInstances is a defect',
    );

    const uncovered: PolicyDocument = structuredClone(doc);
    uncovered.Statement.push({
      Sid: 'HalfScoped',
      Effect: 'Allow',
      Action: 'ec2:CreateSnapshots',
      Resource: 'arn:aws:ec2:*:*:volume/*',
    });
    t.ok(
      mutated(uncovered).some((d) => /RESOURCE_MISMATCH.*ec2:CreateSnapshots/.test(d)),
      'CreateSnapshots on volumes only, with nothing granting it on instances and snapshots, is a defect',
    );
  },
);

// ------------------------------------------------------------------------------------------------
// The automation deployer (templates/iam/cleanroom-automation-deployer-*.json).
// ------------------------------------------------------------------------------------------------

/** Every IAM action the automation deployer needs, with why. */
function neededByDeployer(): Map<string, string[]> {
  const ops = scan.calls
    .filter((c) => c.accounts.includes('forensic') && inModules(c.file, DEPLOYER_MODULES))
    .map((c) => c.operation);
  const need = iamActionsFor(new Set(ops), IAM_NAMES, IMPLIED);
  // DescribeStacks without a stack name (room list) needs ListStacks; the automation stack is always named.
  need.delete('cloudformation:ListStacks');
  const cfn = handlerPermissions(handlerData, automationStack.resourceTypes);
  for (const [a, why] of iamActionsFor(cfn.keys(), {}, IMPLIED_VIA_CLOUDFORMATION)) {
    if (a in handlerData.notIamActions) continue;
    need.set(a, [...(need.get(a) ?? []), ...(cfn.get(a) ?? why).map((w) => `CloudFormation (automation stack): ${w}`)]);
  }
  return need;
}

if (process.env['CLEANROOM_IAM_NEEDS_DEPLOYER'])
  fs.writeFileSync(
    process.env['CLEANROOM_IAM_NEEDS_DEPLOYER'],
    `${JSON.stringify(Object.fromEntries([...neededByDeployer()].sort(([x], [y]) => x.localeCompare(y))), null, 2)}\n`,
  );

t.test(
  "the automation deployer's documents grant what its commands and CloudFormation need, and nothing else",
  async (t) => {
    const docs = DEPLOYER_POLICIES.map((f) => ({ file: f, ...readPolicy(policyPath(f)) }));
    const doc: PolicyDocument = { Version: '2012-10-17', Statement: docs.flatMap((d) => d.doc.Statement) };
    const need = neededByDeployer();
    const have = allowedActions(doc);
    t.ok(
      ['cloudformation:CreateChangeSet', 'states:StartExecution', 'states:SendTaskSuccess', 's3:PutObject'].every((a) =>
        need.has(a),
      ),
      'the scan sees deploy, run and approve',
    );
    t.ok(
      ['lambda:CreateFunction', 'states:CreateStateMachine', 'iam:CreateRole', 'events:PutRule'].every((a) =>
        need.has(a),
      ),
      "the data gives CloudFormation's handler permissions of the automation stack",
    );
    t.same(
      [...need.keys()]
        .filter((a) => !have.has(a))
        .sort()
        .map((a) => `${a} (${need.get(a)!.slice(0, 2).join('; ')})`),
      [],
      'needed but not granted',
    );
    t.same([...have].filter((a) => !need.has(a)).sort(), [], 'granted but nothing needs it');
    const direct = iamActionsFor(
      new Set(scan.calls.filter((c) => inModules(c.file, DEPLOYER_MODULES)).map((c) => c.operation)),
      IAM_NAMES,
      IMPLIED,
    );
    const directly = allowedDirectly(doc);
    t.same(
      [...direct.keys()].filter((a) => a !== 'cloudformation:ListStacks' && !directly.has(a)).sort(),
      [],
      'sent by the commands themselves but granted only through CloudFormation (aws:CalledVia)',
    );
    const sids = doc.Statement.map((s) => s.Sid ?? '');
    t.same(
      sids.filter((s, i) => !/^[A-Za-z0-9]{6,}$/.test(s) || sids.indexOf(s) !== i),
      [],
      'every statement has its own Sid',
    );
    for (const d of docs) {
      const size = d.text.replace(/\s+/g, '').length;
      t.ok(size <= MANAGED_POLICY_MAX_CHARS, `${d.file}: ${size} characters, within a managed policy`);
      t.same(
        d.doc.Statement.flatMap((s) => list(s.Action)).filter((a) => a.includes('*')),
        [],
        `${d.file}: actions are named, not wildcarded`,
      );
      t.same(
        lintDefects(d.doc, doc, new Set(Object.keys(NEWER_THAN_LINTER))),
        [],
        `${d.file}: the linter finds nothing`,
      );
    }
    const pass = doc.Statement.filter((s) => list(s.Action).includes('iam:PassRole'));
    t.ok(pass.length > 0, 'PassRole is granted');
    for (const s of pass) {
      t.same(list(s.Resource), ['arn:aws:iam::*:role/cleanroom-automation-*'], `${s.Sid}: only the stack's roles`);
      t.match(JSON.stringify(s.Condition ?? {}), /iam:PassedToService/, `${s.Sid}: to the service that uses it`);
    }
    const destructive =
      /^(iam:(Delete|Detach|Put)|lambda:Delete|states:Delete|sns:DeleteTopic|sqs:DeleteQueue|events:(DeleteRule|RemoveTargets)|logs:Delete|cloudformation:DeleteStack)/;
    for (const s of doc.Statement.filter((x) => x.Effect === 'Allow')) {
      const acts = list(s.Action).filter((a) => destructive.test(a));
      if (!acts.length) continue;
      t.ok(
        list(s.Resource).every((r) => /cleanroom/.test(r)),
        `${s.Sid}: ${acts.join(', ')} only on cleanroom's names`,
      );
    }
  },
);

// ------------------------------------------------------------------------------------------------
// The automation stack's step roles (templates/automation.yaml): each grants what its steps' code
// sends (test/iam/automation-roles.ts: the modules each step runs), the CloudFormation handler
// permissions of the room for the step that deploys it, the basics, and nothing else.
// ------------------------------------------------------------------------------------------------

/** Every IAM action a step role needs, with why. */
function neededByStepRole(role: string): Map<string, string[]> {
  const modules = roleModules(role);
  const ops = scan.calls.filter((c) => inModules(c.file, modules)).map((c) => c.operation);
  const need = iamActionsFor(new Set(ops), IAM_NAMES, IMPLIED);
  // DescribeStacks without a stack name (room list) needs ListStacks; no step lists stacks.
  need.delete('cloudformation:ListStacks');
  if (inModules('src/workflows/room/up.ts', modules) && role === STEP_ROLES.room) {
    const cfn = handlerPermissions(handlerData, room.resourceTypes);
    for (const p of room.parameterTypes.filter(awsSpecificParameterType))
      for (const a of handlerData.parameterTypes[p]?.permissions ?? [])
        cfn.set(a, [...(cfn.get(a) ?? []), `parameter type ${p}`]);
    for (const [a, why] of iamActionsFor(cfn.keys(), {}, IMPLIED_VIA_CLOUDFORMATION)) {
      if (a in handlerData.notIamActions) continue;
      need.set(a, [...(need.get(a) ?? []), ...(cfn.get(a) ?? why).map((w) => `CloudFormation (room stack): ${w}`)]);
    }
  }
  for (const [a, why] of Object.entries(STEP_BASICS)) need.set(a, [...(need.get(a) ?? []), why]);
  return need;
}

const automationRoles = [...new Set(Object.values(STEP_ROLES))];

if (process.env['CLEANROOM_IAM_NEEDS_AUTOMATION'])
  fs.writeFileSync(
    process.env['CLEANROOM_IAM_NEEDS_AUTOMATION'],
    `${JSON.stringify(
      Object.fromEntries(automationRoles.map((r) => [r, Object.fromEntries([...neededByStepRole(r)].sort())])),
      null,
      2,
    )}\n`,
  );

/** The statements a role of the automation template is granted (inline, and the template's managed policies it attaches). */
function automationRoleStatements(role: string): PolicyDocument['Statement'] {
  const doc = yamlParse(fs.readFileSync(path.join(ROOT, AUTOMATION_TEMPLATE), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, any> }>;
  };
  const r = doc.Resources[role];
  if (r?.Type !== 'AWS::IAM::Role') return [];
  const inline = (r.Properties['Policies'] ?? []).flatMap(
    (p: { PolicyDocument: PolicyDocument }) => p.PolicyDocument.Statement,
  );
  const managed = (r.Properties['ManagedPolicyArns'] ?? []).flatMap((m: { Ref?: string }) =>
    m.Ref ? (doc.Resources[m.Ref]?.Properties['PolicyDocument']?.Statement ?? []) : [],
  );
  return [...inline, ...managed];
}

t.test('each automation step role grants what its steps send, and nothing else', async (t) => {
  t.same(automationRoles.sort(), [
    'AcquireRole',
    'ApprovalRole',
    'AttachRole',
    'HashRole',
    'IsolateRole',
    'NotifyRole',
    'ResolveRole',
    'RoomRole',
  ]);
  for (const role of automationRoles) {
    const statements = automationRoleStatements(role);
    t.ok(statements.length > 0, `${role} is in the template`);
    const doc: PolicyDocument = { Version: '2012-10-17', Statement: statements };
    const need = neededByStepRole(role);
    const have = allowedActions(doc);
    t.same(
      [...need.keys()]
        .filter((a) => !have.has(a))
        .sort()
        .map((a) => `${a} (${need.get(a)!.slice(0, 2).join('; ')})`),
      [],
      `${role}: needed but not granted`,
    );
    t.same([...have].filter((a) => !need.has(a)).sort(), [], `${role}: granted but no step of it needs it`);
    t.same(
      statements.flatMap((s) => list(s.Action)).filter((a) => a.includes('*')),
      [],
      `${role}: actions are named, not wildcarded`,
    );
  }
  t.ok(neededByStepRole('RoomRole').has('cloudformation:CreateChangeSet'), 'the scan sees room up in the room step');
  t.ok(neededByStepRole('IsolateRole').has('ec2:CreateSecurityGroup'), 'the scan sees isolate in the isolate step');
  t.notOk(neededByStepRole('HashRole').has('ec2:CreateSecurityGroup'), 'and not in the hash step');
});
