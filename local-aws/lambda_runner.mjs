// The Node.js "runtime" of the local AWS (fidelity patch patches/lambda_invoke_node.py): runs one
// invocation of a nodejs* Lambda function's deployed code, as the AWS Lambda Node.js runtime does.
//   node lambda_runner.mjs <task root> <handler> <result file> <invoked function ARN> <request id>
// The event is read from stdin; the context comes from the LAMBDA_RUNNER_* variables; the outcome is
// written to <result file> as {"ok": true, "result": ...} or {"ok": false, "errorType", "errorMessage",
// "trace"} — never to stdout, which (with stderr) is the function's log, as in AWS.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [taskRoot, handlerSpec, resultFile, invokedFunctionArn, awsRequestId] = process.argv.slice(2);
const env = process.env;
const deadline = Number(env.LAMBDA_RUNNER_DEADLINE_MS);
for (const k of Object.keys(env))
  if (k.startsWith('LAMBDA_RUNNER_') && k !== 'LAMBDA_RUNNER_DEADLINE_MS') delete env[k];

function finish(outcome) {
  writeFileSync(resultFile, JSON.stringify(outcome));
  process.exit(0);
}

function failure(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    ok: false,
    errorType: e.name || 'Error',
    errorMessage: e.message,
    trace: String(e.stack ?? '').split('\n'),
  };
}

// The handler's module: "<file>.<export>" where <file> is .js, .mjs or .cjs under the task root.
const dot = handlerSpec.lastIndexOf('.');
const modBase = path.join(taskRoot, handlerSpec.slice(0, dot));
const exportName = handlerSpec.slice(dot + 1);
const file = ['.js', '.mjs', '.cjs'].map((ext) => modBase + ext).find((f) => existsSync(f));
if (!file) {
  finish({
    ok: false,
    errorType: 'Runtime.ImportModuleError',
    errorMessage: `Error: Cannot find module '${handlerSpec.slice(0, dot)}'`,
    trace: [],
  });
}

process.on('uncaughtException', (e) => finish(failure(e)));
process.on('unhandledRejection', (e) => finish(failure(e)));

let mod;
try {
  mod = await import(pathToFileURL(file).href);
} catch (e) {
  finish({ ...failure(e), errorType: 'Runtime.ImportModuleError' });
}
const handler = mod[exportName] ?? mod.default?.[exportName];
if (typeof handler !== 'function') {
  finish({
    ok: false,
    errorType: 'Runtime.HandlerNotFound',
    errorMessage: `${path.basename(file)}.${exportName} is undefined or not exported`,
    trace: [],
  });
}

const input = readFileSync(0, 'utf8');
const event = input.length ? JSON.parse(input) : {};
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: env.AWS_LAMBDA_FUNCTION_NAME,
  functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
  invokedFunctionArn,
  memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId,
  logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
  logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: () => {},
  fail: () => {},
  succeed: () => {},
};

try {
  const result = await handler(event, context);
  finish({ ok: true, result: result === undefined ? null : result });
} catch (e) {
  finish(failure(e));
}
