/** How room workflows get their custody record: given, or opened when the first change is about to be made. */
import type { CustodyRecorder } from '../../domain/recorder.js';

/**
 * A recorder, or how to open one. The CLI passes the opener so that bad input (a wrong AZ, a
 * missing vault, evidence still attached) is refused before the record is even read.
 */
export type CustodySource = CustodyRecorder | (() => Promise<CustodyRecorder>);

export async function openCustody(c: CustodySource): Promise<CustodyRecorder> {
  return typeof c === 'function' ? c() : c;
}
