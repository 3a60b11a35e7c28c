/**
 * The roles of the automation stack's functions (templates/automation.yaml): which role each
 * handler runs as, and so which modules' AWS calls that role must allow — the handler's modules
 * (src/lambda/calls.ts, HANDLER_MODULES: what the handler reaches, kept with the handlers) plus the
 * custody record as a writer, which every handler is.
 */
import { CUSTODY_WRITER, HANDLER_MODULES } from '../../src/lambda/calls.js';
import type { HandlerName } from '../../src/lambda/types.js';

export const AUTOMATION_TEMPLATE = 'templates/automation.yaml';

/** Handler → the role (logical id in the template). notify and summarize send the same calls: one role. */
export const STEP_ROLES: Record<HandlerName, string> = {
  resolve: 'ResolveRole',
  isolate: 'IsolateRole',
  requestApproval: 'ApprovalRole',
  acquire: 'AcquireRole',
  hash: 'HashRole',
  room: 'RoomRole',
  attach: 'AttachRole',
  notify: 'NotifyRole',
  summarize: 'NotifyRole',
};

/** The module prefixes whose calls a role's handlers send. */
export function roleModules(role: string): string[] {
  const handlers = (Object.keys(STEP_ROLES) as HandlerName[]).filter((h) => STEP_ROLES[h] === role);
  return [...new Set([...CUSTODY_WRITER, ...handlers.flatMap((h) => HANDLER_MODULES[h].modules)])];
}

/** True when `file` is one of `modules` (a file, or a folder prefix ending in /). */
export function inModules(file: string, modules: readonly string[]): boolean {
  return modules.some((m) => file === m || (m.endsWith('/') && file.startsWith(m)));
}

/** What every step's role has besides its handler's calls: its log and its dead letters. */
export const STEP_BASICS: Record<string, string> = {
  'logs:CreateLogStream': 'the function writes its log to /cleanroom/automation',
  'logs:PutLogEvents': 'the function writes its log to /cleanroom/automation',
  'sqs:SendMessage': "a failed asynchronous invocation goes to the dead-letter queue (the function's role sends it)",
};
