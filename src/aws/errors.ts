import { AwsError, CleanroomError, UsageError } from '../domain/errors.js';

/**
 * The one place where SDK errors become cleanroom errors. Keeps the cause, names the service and
 * operation, and turns the common failure families into messages that say what to do.
 */
export function translateAwsError(
  service: string,
  operation: string,
  _input: unknown,
  e: unknown,
  endpoint?: string,
): Error {
  if (e instanceof CleanroomError) return e;
  const err = e as {
    name?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number; requestId?: string };
  };
  const name = err?.name ?? 'Error';
  const code = err?.Code ?? name;
  const status = err?.$metadata?.httpStatusCode;
  const what = `${service} ${operation}`;
  const raw = err?.message ?? String(e);

  if (name === 'CredentialsProviderError' || /Could not load credentials|Unable to locate credentials/i.test(raw)) {
    return new UsageError(
      'NO_CREDENTIALS',
      `No AWS credentials were found for ${what}: configure them the usual way (AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or --role-arn) and run the command again.`,
      { cause: e, details: { service, operation } },
    );
  }
  if (/Region is missing|region is missing/i.test(raw)) {
    return new UsageError('NO_REGION', `No AWS region is set for ${what}: pass --region or set AWS_REGION.`, {
      cause: e,
      details: { service, operation },
    });
  }
  const at = endpoint ? ` at ${endpoint}` : '';
  const netDetails = { service, operation, ...(endpoint ? { endpoint } : {}) };
  if (err?.name === 'TimeoutError' || (err as { code?: string })?.code === 'ETIMEDOUT') {
    return new AwsError(
      service,
      operation,
      'TimeoutError',
      `The AWS endpoint${at} did not answer ${what} in time (${raw.replace(/^@smithy\/node-http-handler - /, '')}), after every retry. Check the network, a proxy (HTTPS_PROXY) or the endpoint (AWS_ENDPOINT_URL), and try again.`,
      { cause: e, code: 'ENDPOINT_TIMEOUT', details: netDetails },
    );
  }
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|CERT_|certificate/.test(
      `${raw} ${(err as { code?: string })?.code ?? ''}`,
    )
  ) {
    return new AwsError(
      service,
      operation,
      'NetworkError',
      `Could not reach AWS${at} for ${what} (${raw}); check the network or the endpoint (AWS_ENDPOINT_URL) and try again.`,
      { cause: e, details: netDetails },
    );
  }
  // The SDK could not parse the answer — e.g. an HTML error page from a proxy or load balancer in
  // front of the endpoint. Its message is a parser error plus a debugging hint for developers
  // ("Deserialization error: ... inspect the hidden field {error}.$response"), which tells a user
  // nothing: say what came back instead. The cause keeps the SDK error and its $response.
  if (err && typeof err === 'object' && '$response' in err && /Deserialization error/.test(raw)) {
    return new AwsError(
      service,
      operation,
      'UnreadableResponse',
      `${what} failed${status ? ` (HTTP ${status})` : ''}: the answer was not an AWS response (${describeBody(e)}). The endpoint, or a proxy in front of it, failed: try again, and check the endpoint (AWS_ENDPOINT_URL, proxy settings) if it persists.`,
      {
        cause: e,
        details: { requestId: err?.$metadata?.requestId },
      },
    );
  }
  if (
    /AccessDenied|UnauthorizedOperation|AuthorizationError|AccessDeniedException|Forbidden/.test(code) ||
    status === 403
  ) {
    return new AwsError(
      service,
      operation,
      code,
      `Access denied for ${what}: the caller lacks the permission ${iamAction(service, operation)} (${raw}). Grant it (see templates/iam/) and run the command again.`,
      { cause: e, details: { requestId: err?.$metadata?.requestId } },
    );
  }
  // Ids the user gave that AWS does not know, malformed ids, bad parameters: bad input (exit 2).
  if (
    /NotFound|Malformed|InvalidParameter|ValidationError|InvalidInput|NoSuchBucket|NotFoundException|InvalidZone|InvalidRequest/.test(
      code,
    )
  ) {
    return new AwsError(service, operation, code, `${what} refused the request: ${raw}`, { cause: e, exitCode: 2 });
  }
  return new AwsError(service, operation, code, `${what} failed${status ? ` (HTTP ${status})` : ''}: ${raw}`, {
    cause: e,
    details: { requestId: err?.$metadata?.requestId },
  });
}

/**
 * A call that used up its whole time budget (every attempt and back-off): ENDPOINT_TIMEOUT, exit 1,
 * naming the endpoint, the call and the time waited.
 */
export function endpointTimeout(
  service: string,
  operation: string,
  endpoint: string | undefined,
  waitedMs: number,
  budgetMs: number,
): AwsError {
  const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return new AwsError(
    service,
    operation,
    'TimeoutError',
    `The AWS endpoint${endpoint ? ` at ${endpoint}` : ''} did not answer ${service} ${operation} within ${secs(budgetMs)} (waited ${secs(waitedMs)}, retries included): the call was abandoned. Check the network, a proxy (HTTPS_PROXY) or the endpoint (AWS_ENDPOINT_URL), and try again; a slow but working link can be given more time with --request-timeout-seconds (library: the account's timeouts.operationMs).`,
    {
      code: 'ENDPOINT_TIMEOUT',
      details: { service, operation, ...(endpoint ? { endpoint } : {}), waitedMs, budgetMs },
    },
  );
}

/** True when a call failed because the endpoint could not be reached or did not answer in time. */
export function isNetworkFailure(e: unknown): boolean {
  return e instanceof AwsError && (e.awsCode === 'NetworkError' || e.awsCode === 'TimeoutError');
}

/** What an unparseable answer was, in a few words: an HTML page's title, else its content type, else the parser's complaint. */
function describeBody(e: unknown): string {
  const x = e as { message?: string; $responseBodyText?: unknown; $response?: { headers?: Record<string, string> } };
  const body = typeof x.$responseBodyText === 'string' ? x.$responseBodyText : '';
  const title = /<title>([^<]{1,200})<\/title>/i.exec(body)?.[1]?.trim();
  if (title) return `an HTML page titled "${title}"`;
  const type = x.$response?.headers?.['content-type'];
  if (type) return `a ${type} body`;
  return (x.message ?? '').split('\n')[0]!.trim();
}

/** `ec2:DescribeInstances` from ('ec2', 'describeInstances'). */
export function iamAction(service: string, operation: string): string {
  return `${service}:${operation.charAt(0).toUpperCase()}${operation.slice(1)}`;
}

/** True when an error is the AWS error code given (after translation or not). */
export function isAwsCode(e: unknown, ...codes: string[]): boolean {
  if (e instanceof AwsError) return codes.includes(e.awsCode);
  const x = e as { name?: string; Code?: string };
  return codes.includes(x?.Code ?? '') || codes.includes(x?.name ?? '');
}

/**
 * True when a call failed in a way that may succeed if sent again: throttling, a 5xx, a lost
 * connection. Bad input, access denied and not-found are not transient.
 */
export function isTransientAwsError(e: unknown): boolean {
  if (!(e instanceof AwsError)) return false;
  if (
    /Throttl|RequestLimitExceeded|SlowDown|TooManyRequests|RequestThrottled|NetworkError|InternalError|InternalFailure|ServiceUnavailable|Unavailable|TimeoutError|RequestTimeout/.test(
      e.awsCode,
    )
  )
    return true;
  const status = (e.cause as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 500;
}
