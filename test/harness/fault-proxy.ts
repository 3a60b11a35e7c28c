/**
 * A fault-injecting proxy in front of the local AWS. Tests point the SDK (or the CLI) at
 * `proxy.endpoint` instead of moto's, then script faults per service/action: throttling
 * (RequestLimitExceeded / ThrottlingException), 5xx, connection resets, slow answers, access
 * denied, rewritten answers (a snapshot that stays `pending` for a while, or ends in `error`),
 * and a hook on the k-th call (to SIGKILL the CLI at a chosen point). It also logs every call.
 *
 * It speaks TLS with moto's own leaf certificate (signed by the test CA), so nothing in the
 * product changes when a test puts it in the path.
 */
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalAws } from '../../local-aws/local-aws.js';

/** One API call as the proxy saw it. */
export interface SeenCall {
  n: number;
  service: string;
  action: string;
  body: string;
}

export type Fault =
  | { kind: 'throttle' }
  | { kind: 'error'; status: number; code: string; message?: string }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  | { kind: 'rewrite'; fn: (body: string, call: SeenCall) => string };

export interface FaultRule {
  service?: string;
  /** API action (EC2/query `Action=`, JSON `X-Amz-Target` suffix, or `METHOD /path` for REST). */
  action?: string | RegExp;
  when?: (call: SeenCall) => boolean;
  fault: Fault;
  /** Apply to this many matching calls, then stop (default: every one). */
  times?: number;
  /** Skip this many matching calls before applying. */
  after?: number;
}

export interface FaultProxy {
  endpoint: string;
  calls: SeenCall[];
  add(rule: FaultRule): void;
  clear(): void;
  /** Run `fn` just before the n-th call (1-based) is forwarded; the call is held until fn settles. */
  onCall(n: number, fn: (call: SeenCall) => void | Promise<void>): void;
  /** Run `fn` just before the first call from now on that `when` picks is forwarded (held as in onCall). */
  onFirst(when: (call: SeenCall) => boolean, fn: (call: SeenCall) => void | Promise<void>): void;
  /** Calls per `service:action`. */
  count(service?: string, action?: string): number;
  close(): Promise<void>;
}

const QUERY_SERVICES = new Set([
  'cloudformation',
  'sts',
  'iam',
  'autoscaling',
  'elasticloadbalancing',
  'monitoring',
  'sns',
  'sqs',
]);

function serviceOf(req: IncomingMessage): string {
  const auth = String(req.headers.authorization ?? '');
  const m = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  return m?.[1] ?? 'unknown';
}

function actionOf(_service: string, req: IncomingMessage, body: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop() ?? target;
  const fromQuery =
    new URLSearchParams(body).get('Action') ?? new URL(req.url ?? '/', 'https://x').searchParams.get('Action');
  if (fromQuery) return fromQuery;
  return `${req.method} ${new URL(req.url ?? '/', 'https://x').pathname}`;
}

/** An error body in the protocol of the service, as the SDK expects to parse it. */
export function errorResponse(
  service: string,
  code: string,
  message: string,
): { contentType: string; body: string; headers?: Record<string, string> } {
  if (service === 'ec2') {
    return {
      contentType: 'text/xml',
      body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`,
    };
  }
  if (QUERY_SERVICES.has(service)) {
    return {
      contentType: 'text/xml',
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>`,
    };
  }
  if (service === 's3') {
    return {
      contentType: 'application/xml',
      body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`,
    };
  }
  return {
    contentType: 'application/x-amz-json-1.1',
    body: JSON.stringify({ __type: code, message }),
    headers: { 'x-amzn-errortype': code },
  };
}

function throttleFor(service: string): { status: number; code: string; message: string } {
  if (service === 'ec2') return { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' };
  if (service === 's3') return { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };
  return { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' };
}

export async function startFaultProxy(aws: LocalAws): Promise<FaultProxy> {
  const upstream = new URL(aws.endpoint);
  const rules: Array<FaultRule & { seen: number; applied: number }> = [];
  const hooks = new Map<number, (c: SeenCall) => void | Promise<void>>();
  const firsts: Array<{ when: (c: SeenCall) => boolean; fn: (c: SeenCall) => void | Promise<void> }> = [];
  const calls: SeenCall[] = [];
  const agent = new https.Agent({ keepAlive: true });

  const server = https.createServer(
    {
      key: fs.readFileSync(path.join(aws.leafDir, 'leaf.key')),
      cert: fs.readFileSync(path.join(aws.leafDir, 'leaf.pem')),
    },
    async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      try {
        for await (const c of req) chunks.push(c as Buffer);
      } catch {
        return; // the client went away mid-request (a test killed it): nothing to forward
      }
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const service = serviceOf(req);
      const call: SeenCall = { n: calls.length + 1, service, action: actionOf(service, req, body), body };
      calls.push(call);
      const hook = hooks.get(call.n);
      if (hook) await hook(call);
      const first = firsts.findIndex((f) => f.when(call));
      if (first >= 0) await firsts.splice(first, 1)[0]!.fn(call);

      const rewrites: Array<(b: string, c: SeenCall) => string> = [];
      for (const r of rules) {
        if (r.service && r.service !== service) continue;
        if (r.action && !(typeof r.action === 'string' ? r.action === call.action : r.action.test(call.action)))
          continue;
        if (r.when && !r.when(call)) continue;
        r.seen += 1;
        if (r.seen <= (r.after ?? 0)) continue;
        if (r.times !== undefined && r.applied >= r.times) continue;
        r.applied += 1;
        const f = r.fault;
        if (f.kind === 'reset') {
          req.socket.destroy();
          return;
        }
        if (f.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, f.ms));
        if (f.kind === 'throttle' || f.kind === 'error') {
          const e =
            f.kind === 'throttle'
              ? throttleFor(service)
              : { status: f.status, code: f.code, message: f.message ?? f.code };
          const er = errorResponse(service, e.code, e.message);
          res.writeHead(e.status, { 'content-type': er.contentType, ...(er.headers ?? {}) });
          res.end(er.body);
          return;
        }
        if (f.kind === 'rewrite') rewrites.push(f.fn);
      }

      const headers = { ...req.headers, host: upstream.host };
      const up = https.request(
        { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent },
        async (ures) => {
          // Connection and Keep-Alive are hop-by-hop (RFC 9110 §7.6.1): moto's server closes every
          // connection, AWS keeps them open — the client side of the proxy keeps them open, as AWS.
          delete ures.headers.connection;
          delete ures.headers['keep-alive'];
          if (rewrites.length === 0) {
            res.writeHead(ures.statusCode ?? 502, ures.headers);
            ures.pipe(res);
            return;
          }
          const parts: Buffer[] = [];
          for await (const c of ures) parts.push(c as Buffer);
          let text = Buffer.concat(parts).toString('utf8');
          for (const fn of rewrites) text = fn(text, call);
          const h = { ...ures.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          res.writeHead(ures.statusCode ?? 502, { ...h, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
      );
      up.on('error', () => res.destroy());
      up.end(raw);
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    calls,
    add: (rule) => rules.push({ ...rule, seen: 0, applied: 0 }),
    clear: () => {
      rules.length = 0;
      hooks.clear();
      firsts.length = 0;
    },
    onCall: (n, fn) => hooks.set(n, fn),
    onFirst: (when, fn) => firsts.push({ when, fn }),
    count: (service, action) =>
      calls.filter((c) => (!service || c.service === service) && (!action || c.action === action)).length,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
