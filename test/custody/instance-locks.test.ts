/**
 * withInstanceLocks: the `instance:` locks a command takes around an instance's work — through the
 * record's own `withLocks` (a record opened with the case's lease takes the vault-wide objects), or
 * none when the record hands out no locks (an automation step's, which holds them already).
 */
import t from 'tap';
import { withInstanceLocks } from '../../src/custody/session.js';
import { CleanroomError } from '../../src/domain/errors.js';
import { MemoryRecorder } from '../../src/domain/recorder.js';

const HERE = { account: '111111111111', region: 'eu-west-1' };

/** A record that takes locks: what it was asked for, and whether the work ran inside them. */
function lockingRecord(busy?: string) {
  const asked: string[][] = [];
  const r = Object.assign(new MemoryRecorder(), {
    async withLocks<T>(scopes: readonly string[], fn: () => Promise<T>): Promise<T> {
      asked.push([...scopes]);
      if (busy && scopes.some((s) => s.includes(busy)))
        throw new CleanroomError('CASE_BUSY', `case IR-A holds the lock instance:${busy}`);
      return fn();
    },
  });
  return { r, asked };
}

t.test("every instance's scope, with where it is, all at once before the work", async (t) => {
  const { r, asked } = lockingRecord();
  const out = await withInstanceLocks(r, ['i-0123456789abcdef0', 'i-0123456789abcdef1'], HERE, async () => 'done');
  t.equal(out, 'done');
  t.same(asked, [
    ['instance:i-0123456789abcdef0@111111111111.eu-west-1', 'instance:i-0123456789abcdef1@111111111111.eu-west-1'],
  ]);
});

t.test('one instance busy: CASE_BUSY, the work never runs', async (t) => {
  const { r } = lockingRecord('i-0123456789abcdef1');
  let ran = false;
  await t.rejects(
    withInstanceLocks(r, ['i-0123456789abcdef0', 'i-0123456789abcdef1'], HERE, async () => {
      ran = true;
    }),
    { code: 'CASE_BUSY' },
  );
  t.equal(ran, false);
});

t.test('a record that hands out no locks, or no instance: the work just runs', async (t) => {
  t.equal(await withInstanceLocks(new MemoryRecorder(), ['i-0123456789abcdef0'], HERE, async () => 1), 1);
  const { r, asked } = lockingRecord();
  t.equal(await withInstanceLocks(r, [], HERE, async () => 2), 2);
  t.same(asked, [], 'no lock asked for with --volume only');
});
