/**
 * The room audit's check ids are a closed, ordered list (ROOM_CHECK_IDS), as custody verify's and
 * the vault audit's are: a room that could not be read at all still reports every check, once,
 * in that order (each failed, "could not be checked"). No local AWS needed: the audit judges a
 * hand-made reading.
 */
import t from 'tap';
import { evaluateRoom, auditOk, ROOM_CHECK_IDS } from '../../../src/workflows/room/audit.js';
import { unreadableRoom } from './fixtures.js';
import { VAULT_CHECK_IDS } from '../../../src/custody/vault/audit.js';
import { VERIFY_CHECK_IDS } from '../../../src/custody/verify.js';

t.test('a room that could not be read reports every check of ROOM_CHECK_IDS, once, in order', async (t) => {
  const checks = evaluateRoom(unreadableRoom());
  t.same(
    checks.map((c) => c.id),
    ROOM_CHECK_IDS.filter((id) => id !== 'room.exists'),
    'every check but room.exists (which only a missing stack reports)',
  );
  t.equal(ROOM_CHECK_IDS[0], 'room.exists');
  t.equal(new Set(ROOM_CHECK_IDS).size, ROOM_CHECK_IDS.length, 'no id twice');
  t.notOk(auditOk(checks), 'and the audit fails');
  const unchecked = checks.filter((c) => c.id !== 'stack.complete');
  t.ok(
    unchecked.every((c) => !c.ok && c.detail.startsWith('could not be checked')),
    'each unread check fails as "could not be checked"',
  );
});

t.test('check ids are unique and dotted across the three audits', async (t) => {
  for (const [name, ids] of [
    ['room', ROOM_CHECK_IDS],
    ['vault', VAULT_CHECK_IDS],
    ['custody verify', VERIFY_CHECK_IDS],
  ] as const) {
    t.equal(new Set(ids).size, ids.length, `${name}: no id twice`);
    for (const id of ids) t.match(id, /^[a-z0-9-]+\.[a-z0-9-]+$/, `${name}: ${id} is area.check`);
  }
});
