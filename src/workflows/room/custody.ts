/** How room workflows get their custody record: given, or opened when the first change is about to be made. */
import type { CustodyRecorder } from '../../custody/recorder.js';
import type { CustodySource } from '../../custody/session.js';

/**
 * A recorder, or how to open one. The CLI passes the opener so that bad input (a wrong AZ, a
 * missing vault, evidence still attached) is refused before the record is even read.
 */
export type { CustodySource } from '../../custody/session.js';

export async function openCustody(c: CustodySource): Promise<CustodyRecorder> {
  return typeof c === 'function' ? c() : c;
}
