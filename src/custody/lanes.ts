/**
 * Lanes: many writers on one case without contention (docs/custody.md, "Many writers on one case").
 *
 * A writer that opens the record with `lane` appends to its own lane,
 * `cases/<case>/custody/lanes/<lane>/<first seq>.json`: each object is the RFC 8785 form of a JSON
 * array of 1–k custody events (group commit), each with `lane` and its position in the lane as
 * `seq`, chained by `prevHash` within the lane; the first event's `prevHash` is the main-chain head
 * the writer saw when it opened the lane (its anchor: "happened after"). A `custody.checkpoint`
 * event of the main chain commits lane heads (`outcome.details.lanes: [{ lane, seq, hash }]`);
 * the record's total order is the main chain, each checkpoint's newly committed lane events right
 * before it (lanes in the order the checkpoint names them, each in lane order). A writer names
 * them by the time of their first uncommitted event (then by id), so steps that ran one after the
 * other keep that order in the record; a checkpoint written before this rule named them by id,
 * which the rule reads the same way.
 *
 * {@link LaneSet} holds the lane objects of a case and checks them; the writer (case-custody.ts)
 * and both verifiers (vault and bundle) use it, so the three read one order.
 */
import { canonicalize } from './canonical.js';
import { GENESIS_PREV_HASH, eventHash, hashEquals, type CustodyEvent } from './event.js';
import { eventSchemaErrors } from './schema.js';
import type { FindingCode } from './finding-codes.js';

/** The action of a checkpoint event. */
export const CHECKPOINT_ACTION = 'custody.checkpoint';

/** A lane head as a checkpoint commits it. */
export interface LaneHead {
  lane: string;
  seq: number;
  hash: string;
}

/** Where a lane problem is reported (a verifier's findings; the writer's "broken"). */
export type LaneReport = (code: FindingCode, seq: number | null, message: string) => void;

interface Lane {
  /** Objects by first seq, as stored. */
  objects: Map<number, CustodyEvent[]>;
  /** The lane's events in order (1..n) once {@link LaneSet.order} ran; gaps stop it. */
  events: CustodyEvent[];
  /** Highest seq committed by a checkpoint so far. */
  committed: number;
}

/** The lane heads a checkpoint event names, or undefined when it names none in the right shape. */
export function checkpointHeads(ev: Pick<CustodyEvent, 'outcome'>): LaneHead[] | undefined {
  const lanes = (ev.outcome?.details as { lanes?: unknown } | undefined)?.lanes;
  if (!Array.isArray(lanes)) return undefined;
  const ok = lanes.every(
    (h) =>
      h &&
      typeof h === 'object' &&
      typeof (h as LaneHead).lane === 'string' &&
      Number.isSafeInteger((h as LaneHead).seq) &&
      typeof (h as LaneHead).hash === 'string',
  );
  return ok ? (lanes as LaneHead[]) : undefined;
}

export class LaneSet {
  private readonly lanes = new Map<string, Lane>();
  /** Main-chain event hashes seen so far (a lane's anchor must be one of them, or genesis). */
  private readonly mainHashes = new Set<string>([GENESIS_PREV_HASH]);

  constructor(
    readonly caseId: string,
    private readonly report: LaneReport,
  ) {}

  get size(): number {
    return this.lanes.size;
  }

  /** The last event of a lane, as far as its objects are known. */
  head(lane: string): CustodyEvent | undefined {
    const l = this.lanes.get(lane);
    return l?.events[l.events.length - 1];
  }

  has(lane: string, seq: number): boolean {
    return (this.lanes.get(lane)?.events.length ?? 0) >= seq;
  }

  /** Check and keep one lane object's stored bytes. Returns its events (none when unreadable). */
  addObject(lane: string, first: number, bytes: Buffer | string): CustodyEvent[] {
    const where = `lane ${lane} object ${first}`;
    const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      this.report('SCHEMA_INVALID', null, `${where} is not JSON (${(e as Error).message})`);
      return [];
    }
    if (!Array.isArray(arr) || arr.length === 0) {
      this.report('SCHEMA_INVALID', null, `${where} is not a non-empty array of events`);
      return [];
    }
    let canonical: string | undefined;
    try {
      canonical = canonicalize(arr);
    } catch (e) {
      this.report('SCHEMA_INVALID', null, `${where} cannot be canonicalised: ${(e as Error).message}`);
    }
    if (canonical !== undefined && canonical !== text)
      this.report('NOT_CANONICAL', null, `${where} is not stored in its RFC 8785 canonical form`);
    const events = arr as CustodyEvent[];
    for (const [i, ev] of events.entries()) {
      const at = `lane ${lane} event ${first + i}`;
      const errors = eventSchemaErrors(ev);
      if (errors.length)
        this.report(
          'SCHEMA_INVALID',
          null,
          `${at} does not match the custody event schema: ${errors.slice(0, 3).join('; ')}`,
        );
      if (!ev || typeof ev !== 'object') continue;
      if (ev.lane !== lane || ev.seq !== first + i || ev.case !== this.caseId)
        this.report(
          'SEQUENCE_MISMATCH',
          null,
          `${where} holds event ${JSON.stringify(ev.seq)} of lane ${JSON.stringify(ev.lane)}, case ${JSON.stringify(ev.case)} at position ${first + i}`,
        );
      let recomputed = '';
      try {
        recomputed = eventHash(ev);
      } catch {
        // reported as SCHEMA_INVALID above
      }
      if (!hashEquals(recomputed, String(ev.hash)))
        this.report('HASH_MISMATCH', null, `${at}: the recomputed hash differs from the stored hash`);
      if (i > 0 && !hashEquals(String(ev.prevHash), String(events[i - 1]!.hash)))
        this.report('CHAIN_LINK_MISMATCH', null, `${at} does not link to lane event ${first + i - 1}`);
    }
    const l = this.lane(lane);
    if (l.objects.has(first)) {
      this.report('SEQUENCE_DUPLICATE', null, `${where} occurs twice`);
      return [];
    }
    l.objects.set(first, events);
    return events;
  }

  private lane(id: string): Lane {
    let l = this.lanes.get(id);
    if (!l) {
      l = { objects: new Map(), events: [], committed: 0 };
      this.lanes.set(id, l);
    }
    return l;
  }

  /**
   * Put every lane's objects in order and check they join: each object starts right after the
   * one before, links onto its last event. (Call after adding objects, before committing.)
   */
  order(): void {
    for (const [id, l] of this.lanes) {
      const firsts = [...l.objects.keys()].sort((a, b) => a - b);
      const events: CustodyEvent[] = [];
      for (const first of firsts) {
        const objEvents = l.objects.get(first)!;
        if (first !== events.length + 1) {
          this.report(
            first > events.length + 1 ? 'SEQUENCE_GAP' : 'SEQUENCE_DUPLICATE',
            null,
            first > events.length + 1
              ? `lane ${id} events ${events.length + 1}–${first - 1} are missing`
              : `lane ${id} object ${first} overlaps the events before it (up to ${events.length})`,
          );
          break;
        }
        const prev = events[events.length - 1];
        if (prev && !hashEquals(String(objEvents[0]!.prevHash), String(prev.hash)))
          this.report(
            'CHAIN_LINK_MISMATCH',
            null,
            `lane ${id} event ${first} does not link to lane event ${first - 1}`,
          );
        events.push(...objEvents);
      }
      l.events = events;
    }
  }

  /** A main-chain event was checked (its recomputed hash): later lane anchors may name it. */
  sawMain(hash: string): void {
    this.mainHashes.add(hash);
  }

  /**
   * A checkpoint at main-chain `seq`: check each head it names (the lane exists, holds that event,
   * the head moves the lane forward) and hand the newly committed lane events, lanes in the order
   * the checkpoint names them and each in lane order, to `fold`.
   */
  commit(seq: number, ev: CustodyEvent, fold: (laneEvent: CustodyEvent) => void): void {
    const heads = checkpointHeads(ev);
    if (!heads) {
      this.report(
        'CHECKPOINT_INVALID',
        seq,
        `checkpoint ${seq} names no lane heads ({ lanes: [{ lane, seq, hash }] })`,
      );
      return;
    }
    const named = new Set<string>();
    for (const h of heads) {
      if (named.has(h.lane)) {
        this.report('CHECKPOINT_INVALID', seq, `checkpoint ${seq} names lane ${h.lane} twice`);
        continue;
      }
      named.add(h.lane);
      const l = this.lanes.get(h.lane);
      const at = l?.events[h.seq - 1];
      if (!l || !at) {
        this.report(
          'CHECKPOINT_INVALID',
          seq,
          `checkpoint ${seq} commits lane ${h.lane} at ${h.seq}, which is not in the record`,
        );
        continue;
      }
      if (!hashEquals(String(at.hash), String(h.hash))) {
        this.report(
          'CHECKPOINT_INVALID',
          seq,
          `checkpoint ${seq} commits lane ${h.lane} at ${h.seq} with another hash than the lane's event`,
        );
        continue;
      }
      if (h.seq <= l.committed) {
        this.report(
          'CHECKPOINT_INVALID',
          seq,
          `checkpoint ${seq} moves lane ${h.lane} backwards (or nowhere): to ${h.seq}, already committed to ${l.committed}`,
        );
        continue;
      }
      if (l.committed === 0 && !this.mainHashes.has(String(l.events[0]!.prevHash)))
        this.report(
          'CHAIN_LINK_MISMATCH',
          seq,
          `lane ${h.lane} does not start from a main-chain event before checkpoint ${seq} (its first prevHash)`,
        );
      for (const e of l.events.slice(l.committed, h.seq)) fold(e);
      l.committed = h.seq;
    }
  }

  /**
   * The lanes with events no checkpoint committed yet, by the time of their first such event, then
   * by id: the order a checkpoint names them in, so the record keeps the order the writers ran in.
   */
  private uncommittedLanes(): Array<[string, Lane]> {
    const first = (l: Lane) => String(l.events[l.committed]?.time ?? '');
    return [...this.lanes]
      .filter(([, l]) => l.events.length > l.committed)
      .sort(([a, la], [b, lb]) => {
        const ta = first(la);
        const tb = first(lb);
        return ta < tb ? -1 : ta > tb ? 1 : a < b ? -1 : a > b ? 1 : 0;
      });
  }

  /** The heads of lanes with events no checkpoint committed yet (what a checkpoint now would name, in its order). */
  uncommittedHeads(): LaneHead[] {
    return this.uncommittedLanes().map(([lane, l]) => {
      const last = l.events[l.events.length - 1]!;
      return { lane, seq: last.seq, hash: last.hash };
    });
  }

  /** The events no checkpoint committed yet, in the order a checkpoint now would commit them. */
  uncommittedEvents(): CustodyEvent[] {
    return this.uncommittedLanes().flatMap(([, l]) => l.events.slice(l.committed));
  }

  /** Report every lane event no checkpoint committed (LANE_UNCOMMITTED). */
  reportUncommitted(): void {
    for (const h of this.uncommittedHeads()) {
      const l = this.lanes.get(h.lane)!;
      this.report(
        'LANE_UNCOMMITTED',
        null,
        `lane ${h.lane} events ${l.committed + 1}–${h.seq} are committed by no checkpoint: no signature covers them (\`cleanroom custody seal\` commits them)`,
      );
    }
  }
}
