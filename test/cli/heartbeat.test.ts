/**
 * The CLI's heartbeat renews the case's lease and every lock held with it then — an instance's
 * vault-wide lock is held for all of isolate's or acquire's work on it, longer than a lock's TTL — and
 * says so when one was taken.
 */
import t from 'tap';
import { renewHeld } from '../../src/cli/context.js';
import { LeaseLostError, type CaseLease } from '../../src/custody/lease.js';

function held(scope: string | undefined, fail?: Error) {
  const h = {
    renewed: 0,
    document: { scope },
    renew: async () => {
      h.renewed++;
      if (fail) throw fail;
    },
  };
  return h;
}

t.test('one beat renews the lease and each lock held now', async (t) => {
  const lease = held(undefined);
  const lock = held('instance:i-0123456789abcdef0@111111111111.us-east-1');
  const warned: string[] = [];
  let stopped = false;
  renewHeld(
    { caseId: 'IR-B', lease: lease as unknown as CaseLease, locks: [lock as unknown as CaseLease] },
    { warn: (m) => warned.push(m) },
    () => {
      stopped = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  t.equal(lease.renewed, 1);
  t.equal(lock.renewed, 1, 'the instance lock is kept, not left to expire');
  t.same(warned, []);
  t.equal(stopped, false);
});

t.test('a lock taken or not renewed: warned, the lease goes on being renewed', async (t) => {
  const lease = held(undefined);
  const taken = held(
    'instance:i-0123456789abcdef0@111111111111.us-east-1',
    new LeaseLostError('IR-B', 'vault', 'me', undefined, 'instance:i-0123456789abcdef0@111111111111.us-east-1'),
  );
  const flaky = held('asg:web@111111111111.us-east-1', new Error('timeout'));
  const warned: string[] = [];
  let stopped = false;
  renewHeld(
    { caseId: 'IR-B', lease: lease as unknown as CaseLease, locks: [taken, flaky] as unknown as CaseLease[] },
    { warn: (m) => warned.push(m) },
    () => {
      stopped = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  t.equal(stopped, false);
  t.equal(warned.length, 2);
  t.match(warned.join('\n'), /lost the lock instance:i-0123456789abcdef0/);
  t.match(
    warned.join('\n'),
    /could not renew the lock asg:web@111111111111\.us-east-1 of case IR-B \(will try again\): timeout/,
  );
});
