/**
 * Time-bounded I/O at the library level (`openAccount`'s `timeouts`): an endpoint that accepts the
 * connection and never answers, one that sends the headers of an answer and then stalls in the
 * body, and one that swallows the STS AssumeRole of `roleArn` — each call ends with ENDPOINT_TIMEOUT
 * (exit 1) naming the endpoint, the call and the time waited, instead of hanging. The servers are
 * plain TCP/HTTP servers in this file (no local AWS needed). Time assertions are generous upper
 * bounds: the point is that the call ends.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import http from 'node:http';
import { DEFAULT_TIMEOUTS, openAccount, resolveTimeouts } from '../../src/aws/account.js';
import { translateAwsError } from '../../src/aws/errors.js';
import { AwsError, UsageError } from '../../src/domain/errors.js';

/** A TCP server that accepts every connection and never writes a byte. */
async function silentServer(t: Test): Promise<{ endpoint: string; hostPort: string; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, hostPort: `127.0.0.1:${port}`, connections: () => n };
}

const env = { ...process.env };
t.beforeEach(() => {
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
});
t.teardown(() => {
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  Object.assign(process.env, env);
});

const failure = async (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('TEST FAILURE: the call succeeded');
    },
    (e: unknown) => e,
  );

t.test("the defaults are coldsnap's, a short operation budget caps the others, bad values are refused", async (t) => {
  t.same({ ...DEFAULT_TIMEOUTS }, { connectMs: 10_000, readMs: 12_000, attemptMs: 20_000, operationMs: 120_000 });
  t.same(resolveTimeouts({ operationMs: 3000 }), { connectMs: 3000, readMs: 3000, attemptMs: 3000, operationMs: 3000 });
  t.same(resolveTimeouts({ attemptMs: 5000 }), { ...DEFAULT_TIMEOUTS, attemptMs: 5000 });
  t.equal(
    resolveTimeouts({ operationMs: 1e12 }).operationMs,
    2 ** 31 - 1,
    'a limit past what a Node timer holds is that limit, not an immediate timeout',
  );
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const e = await failure(openAccount({ region: 'us-east-1', timeouts: { operationMs: bad } }));
    t.ok(e instanceof UsageError, `operationMs=${bad} refused`);
    t.equal((e as UsageError).code, 'INVALID_TIMEOUT');
  }
});

t.test(
  'an endpoint that accepts the connection and never answers: ENDPOINT_TIMEOUT within the operation budget, retries included',
  async (t) => {
    const silent = await silentServer(t);
    process.env.AWS_ENDPOINT_URL = silent.endpoint;
    const account = await openAccount({ region: 'us-east-1', timeouts: { operationMs: 1500 } });
    const started = Date.now();
    const e = (await failure(account.ec2.describeRegions({ AllRegions: true }))) as AwsError;
    const took = Date.now() - started;
    t.ok(e instanceof AwsError, String(e));
    t.equal(e.code, 'ENDPOINT_TIMEOUT');
    t.equal(e.exitCode, 1);
    t.match(
      e.message,
      new RegExp(
        `The AWS endpoint at ${silent.hostPort} did not answer ec2 describeRegions within 1\\.5 s \\(waited 1\\.\\d s, retries included\\)`,
      ),
    );
    t.match(e.details, { service: 'ec2', operation: 'describeRegions', endpoint: silent.hostPort, budgetMs: 1500 });
    t.ok(took < 15_000, `it ended (${took} ms)`);
    t.ok(silent.connections() >= 1, 'the request reached the server');
  },
);

t.test(
  'each attempt has its own limit: with a long budget, the attempts time out and the SDK error becomes ENDPOINT_TIMEOUT naming the endpoint',
  async (t) => {
    const silent = await silentServer(t);
    process.env.AWS_ENDPOINT_URL = silent.endpoint;
    const account = await openAccount({
      region: 'us-east-1',
      maxAttempts: 2,
      timeouts: { attemptMs: 400, readMs: 400, operationMs: 600_000 },
    });
    const started = Date.now();
    const e = (await failure(account.cfn.describeStacks({}))) as AwsError;
    t.ok(e instanceof AwsError, String(e));
    t.equal(e.code, 'ENDPOINT_TIMEOUT');
    t.match(
      e.message,
      new RegExp(`The AWS endpoint at ${silent.hostPort} did not answer cloudformation describeStacks in time`),
    );
    t.ok(Date.now() - started < 60_000, 'it ended long before the operation budget');
    t.ok(silent.connections() >= 2, `retried (${silent.connections()} connections)`);
  },
);

t.test(
  'the assumed role (--role-arn): an STS that never answers AssumeRole fails the call in time instead of hanging',
  async (t) => {
    const silent = await silentServer(t);
    process.env.AWS_ENDPOINT_URL = silent.endpoint;
    // A long operation budget: only the credential provider's own client limits can end this early.
    const account = await openAccount({
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::111111111111:role/responder',
      maxAttempts: 1,
      timeouts: { attemptMs: 400, readMs: 400, operationMs: 600_000 },
    });
    const started = Date.now();
    const e = await failure(account.ec2.describeInstances({}));
    t.ok(e instanceof AwsError, String(e));
    t.ok(Date.now() - started < 60_000, `it ended (${Date.now() - started} ms)`);
    t.equal((e as AwsError).code, 'ENDPOINT_TIMEOUT');
    t.match(
      (e as AwsError).message,
      `The AWS endpoint at ${silent.hostPort} did not answer ec2 describeInstances in time`,
      'names the STS endpoint the credentials waited for',
    );
  },
);

t.test(
  'a body that stalls after the headers: reading it fails with ENDPOINT_TIMEOUT (by the operation budget, or by the read limit)',
  async (t) => {
    const open = new Set<http.ServerResponse>();
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1048576', etag: '"x"' });
      res.write(Buffer.alloc(1024));
      open.add(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const r of open) r.destroy();
      server.close();
    });
    const { port } = server.address() as net.AddressInfo;
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
    for (const [what, timeouts, message] of [
      ['operation budget', { operationMs: 1500, readMs: 600_000 }, /did not answer s3 getObject within 1\.5 s/],
      [
        'read limit',
        { operationMs: 600_000, readMs: 500 },
        /did not answer s3 getObject in time \(the request socket timed out after 500 ms of inactivity/,
      ],
    ] as const) {
      const account = await openAccount({ region: 'us-east-1', maxAttempts: 1, timeouts });
      const started = Date.now();
      const r = await account.s3.getObject({ Bucket: 'vault', Key: 'cases/x/events/1.json' });
      const e = (await failure(r.Body!.transformToByteArray())) as AwsError;
      t.ok(e instanceof AwsError, `${what}: ${String(e)}`);
      t.equal(e.code, 'ENDPOINT_TIMEOUT', what);
      t.match(e.message, message, what);
      t.match(e.message, `127.0.0.1:${port}`, `${what}: names the endpoint`);
      t.ok(Date.now() - started < 60_000, `${what}: it ended`);
    }
  },
);

t.test('a refused connection names the endpoint (AWS_NetworkError, exit 1)', async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
  const account = await openAccount({ region: 'us-east-1', maxAttempts: 1 });
  const e = (await failure(account.ec2.describeRegions({}))) as AwsError;
  t.equal(e.code, 'AWS_NetworkError');
  t.equal(e.exitCode, 1);
  t.match(
    e.message,
    new RegExp(`Could not reach AWS at 127\\.0\\.0\\.1:${port} for ec2 describeRegions \\(.*ECONNREFUSED`),
  );
  t.equal(
    translateAwsError(
      'ec2',
      'describeRegions',
      {},
      Object.assign(new Error('getaddrinfo ENOTFOUND ec2.xx.amazonaws.com'), { code: 'ENOTFOUND' }),
    ).constructor,
    AwsError,
  );
});
