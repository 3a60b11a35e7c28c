import t from 'tap';
import { translateAwsError, iamAction, isAwsCode, isTransientAwsError } from '../../src/aws/errors.js';
import { AwsError, UsageError } from '../../src/domain/errors.js';

const sdkError = (name: string, status: number, message = 'm') =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status, requestId: 'req-1' } });

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
  const e = translateAwsError(
    'ec2',
    'describeInstances',
    {},
    sdkError('InvalidInstanceID.NotFound', 400, "The instance ID 'i-1' does not exist"),
  ) as AwsError;
  t.equal(e.exitCode, 2);
  t.equal(e.awsCode, 'InvalidInstanceID.NotFound');
});

t.test('missing credentials become a usage error that says how to configure them', async (t) => {
  const e = translateAwsError(
    'sts',
    'getCallerIdentity',
    {},
    Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
  );
  t.ok(e instanceof UsageError);
  t.match(e.message, /--profile/);
});

t.test('other failures keep the service, operation and HTTP status', async (t) => {
  const e = translateAwsError('cloudformation', 'describeStacks', {}, sdkError('InternalFailure', 500, 'boom'));
  t.match(e.message, /cloudformation describeStacks failed \(HTTP 500\): boom/);
  t.equal(iamAction('ec2', 'describeInstances'), 'ec2:DescribeInstances');
});

t.test(
  "an answer that is not an AWS response (an HTML error page from a proxy) says what came back, not the SDK parser's debugging hint",
  async (t) => {
    const { createServer } = await import('node:http');
    const { EBSClient, ListSnapshotBlocksCommand } = await import('@aws-sdk/client-ebs');
    const { EC2Client, DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
    const page = '<!doctype html>\n<html lang=en>\n<title>502 Bad Gateway</title>\n<h1>Bad Gateway</h1>\n';
    const server = createServer((_req, res) =>
      res.writeHead(502, { 'content-type': 'text/html; charset=utf-8' }).end(page),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const { port } = server.address() as { port: number };
    const cfg = {
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 1,
    };
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => {
          throw new Error('expected a failure');
        },
        (e: unknown) => e,
      );

    // A JSON protocol (EBS direct APIs): the SDK keeps no body text, only the content type.
    const json = translateAwsError(
      'ebs',
      'listSnapshotBlocks',
      {},
      await failure(new EBSClient(cfg).send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-1' }))),
    ) as AwsError;
    t.ok(json instanceof AwsError);
    t.equal(json.awsCode, 'UnreadableResponse');
    t.equal(
      json.message,
      'ebs listSnapshotBlocks failed (HTTP 502): the answer was not an AWS response (a text/html; charset=utf-8 body). The endpoint, or a proxy in front of it, failed: try again, and check the endpoint (AWS_ENDPOINT_URL, proxy settings) if it persists.',
    );
    t.ok(isTransientAwsError(json), 'a 5xx may succeed when sent again');

    // An XML protocol (EC2): the page's title.
    const xml = translateAwsError(
      'ec2',
      'describeInstances',
      {},
      await failure(new EC2Client(cfg).send(new DescribeInstancesCommand({}))),
    ) as AwsError;
    t.match(
      xml.message,
      /^ec2 describeInstances failed \(HTTP 502\): the answer was not an AWS response \(an HTML page titled "502 Bad Gateway"\)\./,
    );
    t.notMatch(`${json.message} ${xml.message}`, /Deserialization|\$response|Unexpected token/);
    t.equal(xml.exitCode, 1);
  },
);
