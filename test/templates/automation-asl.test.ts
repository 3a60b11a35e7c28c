/**
 * The state machines of the automated response (templates/automation/*.asl.json): valid ASL
 * (asl-validator, which is shown to fail on a broken definition), as scripts/gen-automation-asl.mjs
 * writes them, every `${…}` placeholder one the automation template provides, every Task's input
 * what its handler's schema asks for, and the response flow run for real — the ASL, its JSONPaths,
 * its pending loops, its Choice and Catch states — with the real step handlers over a fake world
 * (aws-local-stepfunctions, Node ≥ 22; it has no task tokens and no ItemReader, so the approval
 * pause and the fleet's Distributed Map are run on the local AWS by the end-to-end tests instead).
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { StateMachine } from 'aws-local-stepfunctions';
import { UsageError } from '../../src/domain/errors.js';
import { WaitHandedOffError } from '../../src/domain/hand-off.js';
import { makeHandlers } from '../../src/lambda/handlers.js';
import { STEP_SCHEMAS } from '../../src/lambda/schemas.js';
import { DEFINITION_SUBSTITUTIONS } from '../../src/lambda/definitions.js';
import { HANDLER_NAMES, type HandlerName } from '../../src/lambda/types.js';
import type { Workflows } from '../../src/lambda/host.js';
import { EXECUTION, context, fakeWorld, guardDutyEvent } from '../lambda/fake-world.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'templates/automation', f), 'utf8'));
const response = read('response.asl.json');
const fleet = read('fleet.asl.json');
// asl-validator ships no types: its default export validates one definition.
const ASL_VALIDATOR = 'asl-validator';
const validate = ((await import(ASL_VALIDATOR)) as { default: (d: unknown) => unknown }).default as (d: unknown) => {
  isValid: boolean;
  errorsText: (sep?: string) => string;
};

type State = Record<string, any>;
/** Every state of a definition, nested ones (Map item processors) included. */
function allStates(def: { States: Record<string, State> }): Array<[string, State]> {
  return Object.entries(def.States).flatMap(([n, s]) => [
    [n, s] as [string, State],
    ...(s['ItemProcessor'] ? allStates(s['ItemProcessor']) : []),
  ]);
}

t.test('both definitions are valid ASL, and the validator fails a broken one', async (t) => {
  for (const [name, def] of [
    ['response', response],
    ['fleet', fleet],
  ] as const) {
    const r = validate(def);
    t.ok(r.isValid, `${name}: ${r.isValid ? 'valid' : r.errorsText('\n')}`);
  }
  const broken = structuredClone(response);
  broken.States.Acquire.Next = 'NoSuchState';
  t.notOk(validate(broken).isValid, 'a Next to a missing state is refused');
});

t.test('the files are what scripts/gen-automation-asl.mjs writes', async (t) => {
  t.doesNotThrow(() =>
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/gen-automation-asl.mjs'), '--check'], { stdio: 'pipe' }),
  );
  // One difference: a fleet child that fails before its case is resolved reports its item (which
  // names the run's case), so that the failure is recorded there.
  const inFleet = structuredClone(fleet.States.Fleet.ItemProcessor.States);
  t.equal(inFleet.NotifyResolveFailure.Parameters['item.$'], '$.event.item', 'a resolve failure names the item');
  delete inFleet.NotifyResolveFailure.Parameters['item.$'];
  t.same(inFleet, response.States, "the fleet's Distributed Map runs the response flow itself, state for state");
});

t.test('every placeholder is a substitution the automation template provides', async (t) => {
  for (const [file, def] of [
    ['response.asl.json', response],
    ['fleet.asl.json', fleet],
  ] as const) {
    const used = [...new Set([...JSON.stringify(def).matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!))].sort();
    t.ok(used.length > 0, `${file} uses placeholders`);
    t.same(
      used.filter((u) => !DEFINITION_SUBSTITUTIONS[file].includes(u)),
      [],
      `${file}: every placeholder is declared (${used.join(', ')})`,
    );
  }
  const template = path.join(ROOT, 'templates/automation.yaml');
  // The template has its own checks (cfn-lint and its tests); here: it provides what the files use.
  if (fs.existsSync(template)) {
    const text = fs.readFileSync(template, 'utf8');
    for (const [file, names] of Object.entries(DEFINITION_SUBSTITUTIONS))
      for (const n of names)
        t.match(text, new RegExp(`\\n\\s+${n}:`), `templates/automation.yaml provides ${n} (${file})`);
  }
});

/** The handler a Task calls: `${<Name>FunctionArn}` directly, or as the Payload of lambda:invoke. */
function handlerOf(s: State): HandlerName | undefined {
  const arn = String(s['Parameters']?.['FunctionName'] ?? s['Resource']);
  const m = /^\$\{(\w+)FunctionArn\}$/.exec(arn);
  if (!m) return undefined;
  const name = `${m[1]![0]!.toLowerCase()}${m[1]!.slice(1)}` as HandlerName;
  return HANDLER_NAMES.includes(name) ? name : undefined;
}

t.test('each Task gives its handler every field its schema requires, and retries and catches', async (t) => {
  const tasks = [...allStates(response), ...allStates(fleet)].filter(([, s]) => s['Type'] === 'Task');
  t.ok(tasks.length >= 12);
  for (const [name, s] of tasks) {
    const handler = handlerOf(s);
    t.ok(handler, `${name} calls a step handler`);
    if (!handler) continue;
    const params = (s['Resource'] as string).includes('waitForTaskToken')
      ? s['Parameters']['Payload']
      : s['Parameters'];
    const given = Object.keys(params ?? {}).map((k) => k.replace(/\.\$$/, ''));
    const required = (STEP_SCHEMAS[handler] as { required: string[] }).required;
    t.same(
      required.filter((r) => !given.includes(r)),
      [],
      `${name} → ${handler}: ${required.join(', ')}`,
    );
    const retried = (s['Retry'] ?? []).flatMap((r: State) => r['ErrorEquals']);
    for (const e of [
      'CASE_BUSY',
      'AWS_ThrottlingException',
      'Lambda.ServiceException',
      'Lambda.TooManyRequestsException',
    ])
      t.ok(retried.includes(e), `${name} retries ${e}`);
  }
  for (const [name, s] of allStates(response).filter(
    ([, x]) => x['Type'] === 'Task' && !/Notify/.test(x['Resource'] ?? ''),
  )) {
    if (/Item$/.test(name)) continue; // inside a Map: the Map's Catch takes the error
    t.ok(
      (s['Catch'] ?? []).some((c: State) => c['ErrorEquals'].includes('States.ALL') && /^Notify/.test(c['Next'])),
      `${name}: any other error is notified, then the execution fails`,
    );
  }
});

// ------------------------------------------------------------------------------------------------
// The response flow, run: the real ASL and the real handlers, the library workflows faked.
// ------------------------------------------------------------------------------------------------

const I = 'i-0abc1234def567890';

/** The definition as CloudFormation hands it to Step Functions: every placeholder substituted. */
const deployed = JSON.parse(
  JSON.stringify(response).replace(
    /\$\{(\w)(\w*)FunctionArn\}/g,
    (_, a: string, b: string) => `arn:aws:lambda:us-east-1:123456789012:function:cleanroom-${a.toLowerCase()}${b}`,
  ),
);

function run(workflows: Partial<Workflows>, input: unknown, env: Parameters<typeof fakeWorld>[1] = {}) {
  const world = fakeWorld(workflows, env);
  const h = makeHandlers(() => world);
  const local = (name: HandlerName) => (input: unknown) =>
    h[name](input, context(900_000, `cleanroom-${name}`)) as Promise<never>;
  const machine = new StateMachine(deployed);
  const waits = Object.fromEntries(
    allStates(response)
      .filter(([, s]) => s['Type'] === 'Wait')
      .map(([n]) => [n, 0]),
  );
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: {
        Resolve: local('resolve'),
        Isolate: local('isolate'),
        Acquire: local('acquire'),
        HashItem: local('hash'),
        Room: local('room'),
        AttachItem: local('attach'),
        Notify: local('notify'),
        NotifyFailure: local('notify'),
        NotifyResolveFailure: local('notify'),
        NotifyRejected: local('notify'),
      },
      waitTimeOverrides: waits,
    },
    context: { Execution: { Id: EXECUTION, Input: input as never, Name: 'run-1' } },
  });
  return { world, result: execution.result };
}

/** Library workflows that each answer pending once, then done (the loops must come back). */
function pendingOnce(): Partial<Workflows> & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const twice =
    <R>(name: string, done: () => R) =>
    async () => {
      calls[name] = (calls[name] ?? 0) + 1;
      if (calls[name] === 1) throw new WaitHandedOffError({ waitingFor: `${name} pending`, retryAfterSeconds: 5 });
      return done();
    };
  return {
    calls,
    isolate: twice('isolate', () => ({ alreadyIsolated: false, steps: [] })),
    acquire: twice('acquire', () => ({
      evidence: [
        { evidenceId: 'ev-root1', forensicSnapshotId: 'snap-1', sizeGiB: 1 },
        { evidenceId: 'ev-data2', forensicSnapshotId: 'snap-2', sizeGiB: 1 },
      ],
    })),
    hash: async (r) =>
      r.resume
        ? { done: true as const, sha256: `${r.evidenceId}`.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a') }
        : { done: false as const, state: { v: 1, nextBlock: 1 }, waitingFor: `hash ${r.evidenceId}` },
    room: twice('room', () => ({ stackName: 'cleanroom-x', instanceId: 'i-0fffffffffffffff0' })),
    attach: async (r) => ({ volumeId: `vol-${r.evidenceId}`, readOnly: 'confirmed', roomHash: 'verified' }),
  };
}

t.test('a GuardDuty finding, policy auto: every step, each pending loop taken, then notified', async (t) => {
  const w = pendingOnce();
  const { world, result } = run(w, guardDutyEvent());
  const out = (await result) as any;
  t.equal(out.outcome, 'succeeded');
  t.equal(out.case.instanceId, I);
  t.same(
    out.evidence.map((e: any) => e.evidenceId),
    ['ev-root1', 'ev-data2'],
  );
  t.ok(out.evidence.every((e: any) => /^[0-9a-f]{64}$/.test(e.sha256)));
  t.same(
    out.attached.map((a: any) => [a.evidenceId, a.volumeId]),
    [
      ['ev-root1', 'vol-ev-root1'],
      ['ev-data2', 'vol-ev-data2'],
    ],
  );
  t.same(w.calls, { isolate: 2, acquire: 2, room: 2 }, 'each pending step was called again and finished');
  t.same(
    world.records
      .get(out.case.caseId)!
      .events()
      .map((e) => e.action),
    ['automation.start', 'automation.notify'],
  );
  t.match(world.published[0]!.subject, /response succeeded/);
});

t.test('policy never: no isolation; the same finding again: Duplicate, nothing done', async (t) => {
  const w = pendingOnce();
  const { world, result } = run(w, guardDutyEvent(), { isolationPolicy: 'never' });
  t.equal(((await result) as any).outcome, 'succeeded');
  t.equal(w.calls['isolate'], undefined, 'isolate never called');
  // A second execution of the same finding, over the same record.
  const machine = new StateMachine(deployed);
  const h = makeHandlers(() => world);
  const again = machine.run(guardDutyEvent() as never, {
    overrides: {
      taskResourceLocalHandlers: { Resolve: (i: unknown) => h.resolve(i, context()) as Promise<never> },
    },
    context: { Execution: { Id: `${EXECUTION}-2`, Input: {}, Name: 'run-2' } },
  });
  const dup = (await again.result) as any;
  t.equal(dup.outcome, 'duplicate');
  t.equal(dup.firstExecution, EXECUTION);
});

t.test('an unknown instance: NotifyResolveFailure, then the execution fails with the code', async (t) => {
  const { world, result } = run(
    {
      checkInstance: async () => {
        throw new UsageError('INSTANCE_NOT_FOUND', `Instance ${I} does not exist in us-east-1.`);
      },
    },
    guardDutyEvent(),
  );
  const e = await result.then(
    () => undefined,
    (x: Error) => x,
  );
  t.equal((e as Error | undefined)?.name, 'ExecutionError', 'the execution failed');
  t.equal(((e as Error).cause as Error).name, 'INSTANCE_NOT_FOUND', 'at its Fail state, with the error of the step');
  t.equal(world.published.length, 1, 'the responders were told');
  t.match(world.published[0]!.message, /INSTANCE_NOT_FOUND/);
  t.equal(world.records.size, 0, 'no case for it');
});
