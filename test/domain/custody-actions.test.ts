/**
 * The custody action vocabulary (src/domain/custody-actions.ts): code can record only a declared
 * action (the type; checked here with @ts-expect-error, which `npm run typecheck` enforces), every
 * declared action has its row in docs/custody.md and no row names an undeclared one, and every action
 * of a case written by an earlier version is still a declared word.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { CUSTODY_ACTIONS, CUSTODY_ACTION_LIST, isCustodyAction } from '../../src/domain/custody-actions.js';
import { MemoryRecorder } from '../../src/domain/recorder.js';
import { StepRecorder } from '../../src/domain/step-recorder.js';
import { idempotencyKeys } from '../../src/domain/idempotency-keys.js';
import { ROOT } from '../../local-aws/local-aws.js';

/** The `Action` column of the "Custody actions" table in docs/custody.md. */
function documentedActions(): string[] {
  const md = fs.readFileSync(path.join(ROOT, 'docs/custody.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith('Custody actions'));
  if (!section) throw new Error('docs/custody.md has no "## Custody actions" section');
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

t.test('every declared action is documented in docs/custody.md, once, and nothing else is', async (t) => {
  const documented = documentedActions();
  t.ok(documented.length >= CUSTODY_ACTION_LIST.length, `${documented.length} rows`);
  t.same([...documented].sort(), [...CUSTODY_ACTION_LIST].sort());
  t.equal(new Set(documented).size, documented.length, 'no action documented twice');
});

t.test("this issue's actions are declared up front", async (t) => {
  for (const a of [
    'evidence.hash',
    'evidence.hash.check',
    'evidence.export.start',
    'evidence.export',
    'evidence.room-hash',
  ])
    t.ok(isCustodyAction(a), a);
  t.notOk(isCustodyAction('evidence.hashed'));
  t.notOk(isCustodyAction('toString'), 'not fooled by Object.prototype');
  for (const [a, doc] of Object.entries(CUSTODY_ACTIONS)) {
    t.match(a, /^[a-z]+(\.[a-z-]+)+$/, `${a}: a dotted verb`);
    t.ok(doc.length > 10 && !doc.includes('\n'), `${a}: a one-line doc`);
  }
});

t.test('the recorders take only declared actions', async (t) => {
  const custody = new MemoryRecorder();
  await custody.record({ action: 'evidence.hash', resources: [], outcome: { status: 'succeeded' } });
  // @ts-expect-error an undeclared action does not compile
  await custody.record({ action: 'evidence.hashed', resources: [], outcome: { status: 'succeeded' } });
  const run = new StepRecorder(custody);
  // @ts-expect-error nor through the step recorder
  await run.record(idempotencyKeys.room.down('stack'), 'room.destroyed', [], { status: 'succeeded' });
  t.same(
    custody.events().map((e) => e.action),
    ['evidence.hash', 'evidence.hashed', 'room.destroyed'],
    'the type is the guard: the recorder itself stores what it is given',
  );
});

t.test('every action of a case written by an earlier version is a declared word', async (t) => {
  const dir = path.join(ROOT, 'test/fixtures/pre-change-case/bundle/events');
  const actions = new Set(
    fs
      .readdirSync(dir)
      .map((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { action: string }).action),
  );
  t.ok(actions.size > 5, `${actions.size} distinct actions`);
  for (const a of actions) t.ok(isCustodyAction(a), `${a} is declared`);
});
