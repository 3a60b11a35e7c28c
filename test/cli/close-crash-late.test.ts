/**
 * `case close` killed (SIGKILL) at the k-th AWS request and run again, as acquire-crash does for
 * acquisition: the rerun finishes the close, the end state is that of an uninterrupted close, and
 * the record holds the same events (compared by idempotency key) with none twice. This file: kill
 * points over the second half of a close (volume deletions, retaining the evidence snapshots, the
 * stack deletion, the keys, the closing event and the seal); close-crash.test.ts covers the first
 * half. Each point needs a fully acquired case of its own, which bounds how many fit in one file.
 */
import t from 'tap';
import { crashAndRerun } from './close-helpers.js';

t.test(
  'killed at several points in the second half of a close, then rerun: the same end state, no duplicate events',
  (t) => crashAndRerun(t, [0.6, 0.8, 1], 'IR-late'),
);
