/**
 * `case close` killed (SIGKILL) at the k-th AWS request and run again, as acquire-crash does for
 * acquisition: the rerun finishes the close, the end state is that of an uninterrupted close, and
 * the record holds the same events (compared by idempotency key) with none twice. The kill points
 * spread over the first half of a close here (detach, the written-to check snapshots, the volume
 * deletions); close-crash-late.test.ts covers the second half. Each point needs a fully acquired
 * case of its own, which is what bounds how many fit in one file.
 */
import t from 'tap';
import { crashAndRerun } from './close-helpers.js';

t.test(
  'killed at several points in the first half of a close, then rerun: the same end state, no duplicate events',
  (t) => crashAndRerun(t, [0, 0.05, 0.2, 0.4], 'IR-kill'),
);
