/**
 * The idempotency keys of acquisition's custody events. They are a lasting contract inside an
 * immutable record: acquire finds its earlier steps by them on a rerun, and close finds the
 * sharing copies acquire retired (or not) by them, so both read them from here.
 */

/** Idempotency keys of the acquisition steps (each names the resource it is about). */
export const acquireKeys = {
  snapshot: (eid: string, snap: string) => `acquire:snapshot:${eid}:${snap}`,
  sharingCopy: (eid: string, snap: string) => `acquire:sharing-copy:${eid}:${snap}`,
  share: (eid: string, snap: string) => `acquire:share:${eid}:${snap}`,
  forensicCopy: (eid: string, snap: string) => `acquire:forensic-copy:${eid}:${snap}`,
  preserved: (eid: string, snap: string) => `acquire:preserved:${eid}:${snap}`,
  retireSharingCopy: (eid: string, snap: string) => `acquire:sharing-copy-retire:${eid}:${snap}`,
};
