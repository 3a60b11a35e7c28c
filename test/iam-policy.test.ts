/**
 * The IAM policies in templates/iam/ are checked against the SDK commands the code actually sends:
 * every `account.<port>.<method>(` call in src/ must be granted, and nothing is granted that no code
 * sends (least privilege). IAM action names differ from SDK command names in places (S3 mostly);
 * those mappings are listed here with the AWS "Actions, resources, and condition keys" pages as source.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { SERVICE_TABLES } from '../src/aws/commands.js';
import { iamAction } from '../src/aws/errors.js';
import { ROOT } from './harness/local-aws.js';

/** Port property name on AwsAccount → IAM service prefix. */
const PORTS: Record<string, keyof typeof SERVICE_TABLES> = {
  cfn: 'cloudformation', ec2: 'ec2', s3: 's3', kms: 'kms', sts: 'sts', ssm: 'ssm', iam: 'iam', autoscaling: 'autoscaling', elb: 'elasticloadbalancing', ebs: 'ebs',
};

/** SDK operation → IAM actions, where they differ (Service Authorization Reference). */
const IAM_NAMES: Record<string, string[]> = {
  's3:ListObjectsV2': ['s3:ListBucket'],
  's3:HeadBucket': ['s3:ListBucket'],
  's3:HeadObject': ['s3:GetObject', 's3:GetObjectVersion'],
  's3:GetObject': ['s3:GetObject', 's3:GetObjectVersion'],
  's3:ListObjectVersions': ['s3:ListBucketVersions'],
  's3:GetObjectLockConfiguration': ['s3:GetBucketObjectLockConfiguration'],
  's3:PutObjectLockConfiguration': ['s3:PutBucketObjectLockConfiguration'],
  's3:GetPublicAccessBlock': ['s3:GetBucketPublicAccessBlock'],
  's3:PutPublicAccessBlock': ['s3:PutBucketPublicAccessBlock'],
  's3:GetBucketEncryption': ['s3:GetEncryptionConfiguration'],
  's3:PutBucketEncryption': ['s3:PutEncryptionConfiguration'],
  's3:PutObject': ['s3:PutObject', 's3:PutObjectRetention'],
  's3:CreateBucket': ['s3:CreateBucket', 's3:PutBucketObjectLockConfiguration', 's3:PutBucketVersioning'],
  's3:GetObjectRetention': ['s3:GetObjectRetention'],
  'sts:GetCallerIdentity': [], // needs no permission
  'elasticloadbalancing:DescribeTargetHealth': ['elasticloadbalancing:DescribeTargetHealth'],
};

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : []));
}

/** Every `<something>.<port>.<method>(` in src/, as `service:Operation`. */
function operationsSent(): Set<string> {
  const ops = new Set<string>();
  const re = new RegExp(`\\.(${Object.keys(PORTS).join('|')})\\.(\\w+)\\(`, 'g');
  for (const f of walk(path.join(ROOT, 'src'))) {
    if (f.includes(`${path.sep}cli${path.sep}`)) continue;
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(re)) {
      const service = PORTS[m[1]!]!;
      const table = SERVICE_TABLES[service] as Record<string, unknown>;
      if (!(m[2]! in table)) continue; // not a port call (e.g. a local variable named ec2)
      ops.add(iamAction(service, m[2]!));
    }
  }
  return ops;
}

function granted(file: string): Set<string> {
  const doc = JSON.parse(fs.readFileSync(path.join(ROOT, 'templates/iam', file), 'utf8'));
  const out = new Set<string>();
  for (const st of doc.Statement) {
    if (st.Effect !== 'Allow') continue;
    for (const a of [st.Action].flat()) out.add(a);
  }
  return out;
}

function needed(ops: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const op of ops) for (const a of IAM_NAMES[op] ?? [op]) out.add(a);
  return out;
}

t.test('the cleanroom operator policy grants every action the code sends, and nothing else', async (t) => {
  const ops = operationsSent();
  t.ok(ops.size > 40, `found ${ops.size} operations in src/`);
  const need = needed(ops);
  const have = granted('cleanroom-operator-policy.json');
  const missing = [...need].filter((a) => !have.has(a)).sort();
  const extra = [...have].filter((a) => !need.has(a) && !a.startsWith('CFN-RESOURCE:')).sort();
  t.same(missing, [], 'actions the code sends but the policy does not grant');
  t.same(extra, [], 'actions the policy grants but no code sends');
});

t.test('every operation the code sends is in the command table (the adapters can send it)', async (t) => {
  for (const op of operationsSent()) {
    const [svc, name] = op.split(':') as [keyof typeof SERVICE_TABLES, string];
    const method = name.charAt(0).toLowerCase() + name.slice(1);
    t.ok(method in (SERVICE_TABLES[svc] as object), `${op} is in src/aws/commands.ts`);
  }
});
