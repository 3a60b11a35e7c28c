import t from 'tap';
import { translateAwsError, iamAction, isAwsCode } from '../../src/aws/errors.js';
import { AwsError, UsageError } from '../../src/domain/errors.js';

const sdkError = (name: string, status: number, message = 'm') => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status, requestId: 'req-1' } });

t.test('access denied names the IAM action to grant and keeps the cause', async (t) => {
  const cause = sdkError('UnauthorizedOperation', 403, 'You are not authorized to perform this operation.');
  const e = translateAwsError('ec2', 'createSnapshots', {}, cause) as AwsError;
  t.ok(e instanceof AwsError);
  t.equal(e.exitCode, 1);
  t.match(e.message, /ec2:CreateSnapshots/);
  t.equal(e.cause, cause);
  t.ok(isAwsCode(e, 'UnauthorizedOperation'));
});

t.test('unknown ids are bad input (exit 2)', async (t) => {
  const e = translateAwsError('ec2', 'describeInstances', {}, sdkError('InvalidInstanceID.NotFound', 400, "The instance ID 'i-1' does not exist")) as AwsError;
  t.equal(e.exitCode, 2);
  t.equal(e.awsCode, 'InvalidInstanceID.NotFound');
});

t.test('missing credentials become a usage error that says how to configure them', async (t) => {
  const e = translateAwsError('sts', 'getCallerIdentity', {}, Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
  t.ok(e instanceof UsageError);
  t.match(e.message, /--profile/);
});

t.test('other failures keep the service, operation and HTTP status', async (t) => {
  const e = translateAwsError('cloudformation', 'describeStacks', {}, sdkError('InternalFailure', 500, 'boom'));
  t.match(e.message, /cloudformation describeStacks failed \(HTTP 500\): boom/);
  t.equal(iamAction('ec2', 'describeInstances'), 'ec2:DescribeInstances');
});
