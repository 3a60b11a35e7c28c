/**
 * What each automation step (a Lambda function of templates/automation.yaml) runs, and so which
 * AWS calls its role must allow: the step's entry modules and everything they import in src/ (the
 * import closure — an over-approximation by module: a step may not reach every function of a
 * module it imports, but a function it could reach is never missed).
 *
 * The map is written from the contract of issue 14 (each handler is a thin host over the named
 * workflow) until src/lambda/handlers.ts (p4) exists; then the entries are its imports.
 */
import fs from 'node:fs';
import path from 'node:path';

export const AUTOMATION_TEMPLATE = 'templates/automation.yaml';

/** The custody record as a writer (open, append, seal), which every step does. */
const CUSTODY = ['src/custody/case-custody.ts', 'src/custody/session.ts'];

/**
 * Handler name → the role (logical id in the template) and the modules it runs. Steps whose
 * calls are the same share a role.
 */
export const AUTOMATION_STEPS: Record<string, { role: string; modules: string[]; why: string }> = {
  resolve: {
    role: 'ResolveRole',
    modules: [...CUSTODY, 'src/workflows/acquire/resolve.ts'],
    why: 'turns the event into a case: finds the instance (and says where a missing one is), records automation.start',
  },
  isolate: { role: 'IsolateRole', modules: [...CUSTODY, 'src/workflows/isolate/index.ts'], why: 'isolateInstance' },
  requestApproval: {
    role: 'ApprovalRole',
    modules: [...CUSTODY],
    why: 'writes the task token under cases/<case>/automation/approvals/ and records the request',
  },
  acquire: { role: 'AcquireRole', modules: [...CUSTODY, 'src/workflows/acquire/index.ts'], why: 'acquireEvidence' },
  hash: { role: 'HashRole', modules: [...CUSTODY, 'src/workflows/evidence/hash.ts'], why: 'the flat SHA-256' },
  room: { role: 'RoomRole', modules: [...CUSTODY, 'src/workflows/room/up.ts'], why: 'roomUp' },
  attach: { role: 'AttachRole', modules: [...CUSTODY, 'src/workflows/evidence/index.ts'], why: 'attachEvidence' },
  notify: { role: 'NotifyRole', modules: [...CUSTODY], why: 'publishes to the topic, records automation.notify' },
  summarize: { role: 'NotifyRole', modules: [...CUSTODY], why: 'reads the record for the summary' },
};

/**
 * Calls a step makes that the scan cannot see yet (the SNS port is added with the handlers, p4),
 * by role, each with why.
 */
export const AUTOMATION_EXTRA: Record<string, Record<string, string>> = {
  ApprovalRole: { 'sns:Publish': 'tells the responders an approval is pending (the topic)' },
  NotifyRole: { 'sns:Publish': 'the summary to the responders (the topic)' },
};

/** What every step's role has besides its workflow: its logs and its dead letters. */
export const STEP_BASICS: Record<string, string> = {
  'logs:CreateLogStream': 'the function writes its log to /cleanroom/automation',
  'logs:PutLogEvents': 'the function writes its log to /cleanroom/automation',
  'sqs:SendMessage': "a failed asynchronous invocation goes to the dead-letter queue (the function's role sends it)",
};

/** Relative imports of a TypeScript module (static and dynamic), resolved to .ts files under root. */
function importsOf(root: string, file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const spec = m[1]!.replace(/\.js$/, '.ts');
    const rel = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    if (fs.existsSync(path.join(root, rel))) out.push(rel);
  }
  return out;
}

/** Every src/ module the entries import, directly or not (the entries included). */
export function importClosure(root: string, entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    if (!fs.existsSync(path.join(root, f)))
      throw new Error(`${f} does not exist (update test/iam/automation-roles.ts)`);
    seen.add(f);
    todo.push(...importsOf(root, f));
  }
  return seen;
}
