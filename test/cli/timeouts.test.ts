/**
 * An endpoint that never answers does not hang the CLI. The real `cleanroom` binary, pointed by
 * AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) at a server in this file that accepts connections and
 * never answers — plain TCP, or TLS that completes the handshake and then says nothing — with the
 * user-facing `--request-timeout-seconds`: exit 1, one ENDPOINT_TIMEOUT error naming the endpoint
 * (host:port), the call and the time waited. The time bound asserted is generous: it ended.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { cli } from '../custody/helpers.js';

const aws = await useLocalAws(t);

/** Accepts every connection (TCP, or TLS with the local AWS's certificate) and never answers. */
async function silent(
  t: Test,
  kind: 'tcp' | 'tls',
): Promise<{ hostPort: string; url: string; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let n = 0;
  const keep = (s: net.Socket) => {
    n++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server =
    kind === 'tcp'
      ? net.createServer(keep)
      : tls.createServer(
          {
            cert: fs.readFileSync(path.join(aws.leafDir, 'leaf.pem')),
            key: fs.readFileSync(path.join(aws.leafDir, 'leaf.key')),
          },
          keep,
        );
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    hostPort: `127.0.0.1:${port}`,
    url: `${kind === 'tcp' ? 'http' : 'https'}://127.0.0.1:${port}`,
    connections: () => n,
  };
}

const timed = async (args: string[], env: NodeJS.ProcessEnv) => {
  const started = Date.now();
  const r = await cli(undefined, args, env);
  return { ...r, ms: Date.now() - started };
};

t.test('a TCP endpoint that never answers: `room list` exits 1 with ENDPOINT_TIMEOUT within the budget', async (t) => {
  const s = await silent(t, 'tcp');
  const r = await timed(
    ['room', 'list', '--request-timeout-seconds', '2', '--json'],
    aws.env({ AWS_ENDPOINT_URL: s.url }),
  );
  t.equal(r.code, 1, r.stderr);
  const err = r.json().error;
  t.equal(err.code, 'ENDPOINT_TIMEOUT');
  t.match(
    err.message,
    new RegExp(
      `^The AWS endpoint at ${s.hostPort} did not answer \\w+ \\w+ within 2 s \\(waited [\\d.]+ s, retries included\\)`,
    ),
  );
  t.match(err.details, { endpoint: s.hostPort, budgetMs: 2000 });
  t.match(r.stderr, /error: The AWS endpoint at 127\.0\.0\.1:\d+ did not answer/);
  // The first call is the region check (EC2 DescribeRegions): no answer is not a bad region.
  t.notMatch(err.message, /cannot be used|not an AWS region/);
  t.ok(s.connections() >= 1);
  t.ok(r.ms < 60_000, `it ended (${r.ms} ms)`);
});

t.test('TLS that completes the handshake, then nothing: `vault verify` exits 1 with ENDPOINT_TIMEOUT', async (t) => {
  const s = await silent(t, 'tls');
  const r = await timed(['vault', 'verify', '--request-timeout-seconds', '2'], aws.env({ AWS_ENDPOINT_URL: s.url }));
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, new RegExp(`error: The AWS endpoint at ${s.hostPort} did not answer \\w+ \\w+ within 2 s`));
  t.ok(r.ms < 60_000, `it ended (${r.ms} ms)`);
});

t.test('only S3 is silent (AWS_ENDPOINT_URL_S3): the error names S3, its endpoint and the operation', async (t) => {
  t.equal((await cli(aws, ['vault', 'init'])).code, 0, 'vault init');
  const s = await silent(t, 'tcp');
  const r = await timed(
    ['vault', 'verify', '--request-timeout-seconds', '3', '--json'],
    aws.env({ AWS_ENDPOINT_URL_S3: s.url }),
  );
  t.equal(r.code, 1, r.stderr);
  const err = r.json().error;
  t.equal(err.code, 'ENDPOINT_TIMEOUT');
  t.match(err.message, new RegExp(`The AWS endpoint at ${s.hostPort} did not answer s3 \\w+ within 3 s`));
  t.equal(err.details.service, 's3');
  t.ok(r.ms < 60_000, `it ended (${r.ms} ms)`);
});

t.test(
  'an endpoint whose name does not resolve (DNS): exit 1 naming it, not "region cannot be used" (exit 2)',
  async (t) => {
    const r = await timed(
      ['room', 'list', '--json'],
      aws.env({ AWS_ENDPOINT_URL: 'https://aws.cleanroom.invalid:8443' }),
    );
    t.equal(r.code, 1, r.stderr);
    const err = r.json().error;
    t.equal(err.code, 'AWS_NetworkError');
    t.match(err.message, /^Could not reach AWS at aws\.cleanroom\.invalid:8443 for \w+ \w+ \(.*(ENOTFOUND|EAI_AGAIN)/);
    t.notMatch(err.message, /cannot be used/);
  },
);

t.test('--request-timeout-seconds must be a positive number (exit 2, before any AWS call)', async (t) => {
  const s = await silent(t, 'tcp');
  for (const bad of ['0', '-5', 'soon']) {
    const r = await timed(
      ['room', 'list', '--request-timeout-seconds', bad, '--json'],
      aws.env({ AWS_ENDPOINT_URL: s.url }),
    );
    t.equal(r.code, 2, `${bad}: exit 2 (${r.stderr.trim()})`);
    t.equal(r.json().error.code, 'INVALID_TIMEOUT', bad);
    t.match(r.json().error.message, /--request-timeout-seconds .* is not a positive number of seconds/);
  }
  t.equal(s.connections(), 0, 'no AWS call was made');
});
