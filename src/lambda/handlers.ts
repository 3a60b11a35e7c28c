/**
 * The Lambda entry (bundled by esbuild into `index.mjs`): one named handler per step of the
 * automated response, `index.<name>` in templates/automation.yaml. Each is the step of steps.ts
 * wrapped by the host (host.ts) over the real world (library.ts), built on the first invocation of
 * a cold start. Input and output: src/lambda/types.ts; the state machines that call them:
 * templates/automation/response.asl.json and fleet.asl.json.
 */
import { stepHandler, type LambdaHandler, type LambdaWorld } from './host.js';
import { lambdaWorld } from './library.js';
import { STEPS } from './steps.js';
import type { HandlerName } from './types.js';

export type { CaseRef, Finding, FindingSource, IsolationPolicy, StepResult, Pending } from './types.js';
export { HANDLER_NAMES } from './types.js';

let world: LambdaWorld | undefined;
const theWorld = (): LambdaWorld => (world ??= lambdaWorld());

/** The handlers over a given world (tests call them in-process with a world of their own). */
export function makeHandlers(w: () => LambdaWorld, marginMs?: number): Record<HandlerName, LambdaHandler> {
  const h = <N extends HandlerName>(name: N) =>
    stepHandler(name, w, STEPS[name] as Parameters<typeof stepHandler>[2], marginMs);
  return {
    resolve: h('resolve'),
    isolate: h('isolate'),
    requestApproval: h('requestApproval'),
    acquire: h('acquire'),
    hash: h('hash'),
    room: h('room'),
    attach: h('attach'),
    notify: h('notify'),
    summarize: h('summarize'),
  };
}

const handlers = makeHandlers(theWorld);

export const resolve = handlers.resolve;
export const isolate = handlers.isolate;
export const requestApproval = handlers.requestApproval;
export const acquire = handlers.acquire;
export const hash = handlers.hash;
export const room = handlers.room;
export const attach = handlers.attach;
export const notify = handlers.notify;
export const summarize = handlers.summarize;
