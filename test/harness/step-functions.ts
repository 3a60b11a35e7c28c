/**
 * Helpers for tests that run state machines, Lambda code and EventBridge rules on the local AWS
 * (docs/local-aws.md, "Step Functions, Lambda and EventBridge"). Polling here always has a budget
 * and fails with what it saw; it is not a sleep standing in for a condition.
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  type ExecutionListItem,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { zipSync } from 'fflate';

/** A Lambda deployment package: file name → text, zipped deterministically (fixed mtimes). */
export function lambdaZip(files: Record<string, string>): Uint8Array {
  const mtime = new Date('2020-01-01T00:00:00Z');
  return zipSync(
    Object.fromEntries(
      Object.entries(files).map(([name, text]) => [name, [new TextEncoder().encode(text), { mtime }]]),
    ),
  );
}

/** Ask `probe` every 100 ms until it says done; fail after the budget with what it last saw. */
export async function poll<T>(
  what: string,
  budgetMs: number,
  probe: () => Promise<{ done: boolean; value: T }>,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let last: T | undefined;
  for (;;) {
    const { done, value } = await probe();
    if (done) return value;
    last = value;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${budgetMs} ms; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** DescribeExecution until the execution is no longer RUNNING (or `until` says so); fails after the budget. */
export function waitForExecution(
  sfn: SFNClient,
  executionArn: string,
  opts: { budgetMs?: number; until?: (d: DescribeExecutionCommandOutput) => boolean } = {},
): Promise<DescribeExecutionCommandOutput> {
  const until = opts.until ?? ((d) => d.status !== 'RUNNING');
  return poll(`execution ${executionArn}`, opts.budgetMs ?? 60_000, async () => {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { done: until(d), value: d };
  });
}

/** ListExecutions of a state machine until at least `count` exist (e.g. started by an EventBridge rule). */
export function waitForExecutions(
  sfn: SFNClient,
  stateMachineArn: string,
  opts: { count?: number; budgetMs?: number } = {},
): Promise<ExecutionListItem[]> {
  const count = opts.count ?? 1;
  return poll(`${count} execution(s) of ${stateMachineArn}`, opts.budgetMs ?? 30_000, async () => {
    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    return { done: executions.length >= count, value: executions };
  });
}

/** The execution's whole history, oldest first. */
export async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** A fault armed in the local AWS (`fault_injection` patch, docs/local-aws.md): the next `count` matching requests fail. */
export interface Fault {
  /** HTTP method, e.g. PUT. */
  method?: string;
  /** A regular expression the request path must match. */
  path?: string;
  /** The operation: a query request's Action, or the operation of a JSON request's X-Amz-Target. */
  target?: string;
  /** Text the request body must contain. */
  bodyContains?: string;
  count: number;
  /** Default 500 InternalError. */
  status?: number;
  code?: string;
  message?: string;
}

/** Arm a fault in the local AWS at `endpoint`; returns its id. Test-only: no such AWS API. */
export async function armFault(endpoint: string, f: Fault): Promise<string> {
  const r = await fetch(`${endpoint}/moto-api/cleanroom/faults`, { method: 'POST', body: JSON.stringify(f) });
  const text = await r.text();
  if (!r.ok) throw new Error(`armFault: HTTP ${r.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** The faults armed in the local AWS, each with how many requests it failed (`fired`) and has left. */
export async function armedFaults(
  endpoint: string,
): Promise<Array<Fault & { id: string; fired: number; remaining: number }>> {
  const r = await fetch(`${endpoint}/moto-api/cleanroom/faults`);
  return ((await r.json()) as { faults: Array<Fault & { id: string; fired: number; remaining: number }> }).faults;
}
