/**
 * Where the flat SHA-256 of a disk is computed: off the event loop, in a small pool of worker
 * threads (one per core), so that hashing many disks at once neither stalls every other call of
 * the run (a 1 GiB disk is ~0.6 s of one core at SHA-NI speed, done in one synchronous burst on the
 * event loop before) nor leaves the machine's other cores idle.
 *
 * SHA-256 is sequential, so one disk's hash (a session) lives on one thread and its bytes reach it in
 * order; many sessions share the pool. Bytes are copied to the thread (a 512 KiB block costs a
 * memcpy, ~1/20 of hashing it); a run of zeros travels as a count and is hashed there from a zero
 * buffer. At most {@link IN_FLIGHT_BYTES} of a session's copied bytes wait in a thread: past that,
 * `update` returns a promise (backpressure to the in-order reader). A cancel sets the session's
 * flag in shared memory: the thread stops within 4 MiB of zeros or one block and skips the
 * session's queued work. A thread that fails fails its sessions with
 * HASH_WORKER_FAILED and is replaced on the next use. Idle threads do not keep the process alive.
 *
 * {@link inThreadSha256} computes the same digest on the calling thread (no workers).
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CleanroomError } from '../domain/errors.js';

/** One flat SHA-256 being computed, fed in order. */
export interface Sha256Session {
  /** Hash these bytes next (copied: the caller may reuse the buffer). A promise: wait before more. */
  update(data: Uint8Array): undefined | Promise<void>;
  /** Hash `n` zero bytes next. */
  zeros(n: number): undefined | Promise<void>;
  /** The hex digest of everything fed; the session is closed. */
  digest(): Promise<string>;
  /** Drop the session: its queued work is skipped, `digest` is no longer available. */
  cancel(): void;
}

/** Opens flat SHA-256 sessions. */
export interface Sha256Pool {
  open(): Sha256Session;
}

/** At most this many copied bytes of one session wait in its thread before `update` asks the caller to wait. */
export const IN_FLIGHT_BYTES = 8 * 2 ** 20;
/** A run of zeros is sent in chunks of at most this many bytes (one message each). */
export const ZERO_CHUNK = 64 * 2 ** 20;

const ZERO_BUFFER_BYTES = 4 * 2 ** 20;
let zeroBuffer: Buffer | undefined;

function updateZeros(h: { update(b: Uint8Array): unknown }, n: number): void {
  zeroBuffer ??= Buffer.alloc(ZERO_BUFFER_BYTES);
  for (let left = n; left > 0; left -= ZERO_BUFFER_BYTES)
    h.update(zeroBuffer.subarray(0, Math.min(left, ZERO_BUFFER_BYTES)));
}

/** The flat SHA-256 on the calling thread (what {@link hashSnapshot} did before the pool; tests compare the two). */
export const inThreadSha256: Sha256Pool = {
  open() {
    let h: ReturnType<typeof createHash> | undefined = createHash('sha256');
    const live = () => {
      if (!h) throw new RangeError('the SHA-256 session is closed');
      return h;
    };
    return {
      update(data) {
        live().update(data);
        return undefined;
      },
      zeros(n) {
        updateZeros(live(), n);
        return undefined;
      },
      async digest() {
        const hex = live().digest('hex');
        h = undefined;
        return hex;
      },
      cancel() {
        h = undefined;
      },
    };
  },
};

/**
 * The thread's program (CommonJS, evaluated: nothing to resolve next to a bundled or compiled
 * file). Messages: open, data (acked with the bytes), zeros, digest, cancel; a session it does not
 * hold (cancelled) is skipped.
 */
export const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
const ZB = ${ZERO_BUFFER_BYTES};
let zero;
// A session cancelled while its work is queued: its flag is set at once (shared memory), the
// queued messages behind it are skipped.
const live = (s) => {
  const x = sessions.get(s);
  if (x && Atomics.load(x.cancelled, 0) !== 0) sessions.delete(s);
  return sessions.get(s);
};
parentPort.on('message', (m) => {
  const x = m.op === 'open' ? undefined : live(m.s);
  switch (m.op) {
    case 'open':
      sessions.set(m.s, { h: createHash('sha256'), cancelled: new Int32Array(m.cancelled) });
      return;
    case 'data':
      if (x) x.h.update(m.data);
      parentPort.postMessage({ s: m.s, op: 'ack', bytes: m.data.byteLength, hashed: x ? m.data.byteLength : 0 });
      return;
    case 'zeros': {
      let done = 0;
      if (x) {
        zero ??= Buffer.alloc(ZB);
        for (; done < m.n && Atomics.load(x.cancelled, 0) === 0; done += ZB)
          x.h.update(zero.subarray(0, Math.min(m.n - done, ZB)));
      }
      parentPort.postMessage({ s: m.s, op: 'ack', bytes: 0, hashed: Math.min(done, m.n) });
      return;
    }
    case 'digest':
      sessions.delete(m.s);
      parentPort.postMessage({ s: m.s, op: 'digest', hex: x ? x.h.digest('hex') : null });
      return;
    case 'cancel':
      sessions.delete(m.s);
      return;
    default:
      throw new Error('unknown message ' + String(m.op));
  }
});
`;

export interface WorkerPoolOptions {
  /** Threads (default: the cores this process may use, os.availableParallelism()). */
  threads?: number;
  /** The thread's program (tests: one that fails). */
  source?: string;
}

interface Slot {
  worker: Worker;
  sessions: Map<number, SessionState>;
  failed?: Error;
}

interface SessionState {
  inFlight: number;
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
  digest?: { resolve: (hex: string) => void; reject: (e: Error) => void };
  error?: Error;
}

/** A pool of hashing threads (module comment). */
export class WorkerSha256Pool implements Sha256Pool {
  readonly threads: number;
  private readonly slots: Array<Slot | undefined>;
  private readonly source: string;
  private next = 1;
  /** Bytes the threads have hashed (data and zeros; a cancelled session's skipped work not counted). */
  bytesHashed = 0;

  constructor(o: WorkerPoolOptions = {}) {
    this.threads = o.threads ?? Math.max(1, availableParallelism());
    if (!Number.isInteger(this.threads) || this.threads < 1)
      throw new RangeError(`threads must be a positive integer, got ${this.threads}`);
    this.slots = new Array(this.threads).fill(undefined);
    this.source = o.source ?? WORKER_SOURCE;
  }

  open(): Sha256Session {
    const slot = this.pick();
    const id = this.next++;
    const st: SessionState = { inFlight: 0, waiters: [] };
    slot.sessions.set(id, st);
    slot.worker.ref();
    const cancelled = new Int32Array(new SharedArrayBuffer(4));
    slot.worker.postMessage({ s: id, op: 'open', cancelled: cancelled.buffer });
    let closed = false;
    const post = (m: Record<string, unknown>, transfer: ArrayBuffer[] = []) => {
      if (closed) throw new RangeError('the SHA-256 session is closed');
      if (st.error) throw st.error;
      slot.worker.postMessage({ s: id, ...m }, transfer);
    };
    const close = () => {
      closed = true;
      slot.sessions.delete(id);
      if (slot.sessions.size === 0) slot.worker.unref();
    };
    const wait = (): undefined | Promise<void> =>
      st.inFlight > IN_FLIGHT_BYTES
        ? new Promise((resolve, reject) => st.waiters.push({ resolve, reject }))
        : undefined;
    return {
      update(data) {
        // A copy, moved to the thread: the caller's buffer stays the caller's (read or reused after this).
        const copy = new Uint8Array(data);
        post({ op: 'data', data: copy }, [copy.buffer]);
        st.inFlight += data.byteLength;
        return wait();
      },
      zeros(n) {
        for (let left = n; left > 0; left -= ZERO_CHUNK) post({ op: 'zeros', n: Math.min(left, ZERO_CHUNK) });
        return undefined;
      },
      digest() {
        return new Promise<string>((resolve, reject) => {
          post({ op: 'digest' });
          st.digest = { resolve, reject };
        });
      },
      cancel() {
        if (closed) return;
        Atomics.store(cancelled, 0, 1);
        if (!slot.failed) slot.worker.postMessage({ s: id, op: 'cancel' });
        close();
      },
    };
  }

  /** Stop every thread (open sessions fail with HASH_WORKER_FAILED). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  /** An idle thread, else a new one while below `threads`, else the one with the fewest sessions. */
  private pick(): Slot {
    let best: number | undefined;
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots[k];
      if (!s || s.failed) return this.spawn(k);
      if (s.sessions.size === 0) return s;
      if (best === undefined || s.sessions.size < this.slots[best]!.sessions.size) best = k;
    }
    return this.slots[best!]!;
  }

  private spawn(k: number): Slot {
    const worker = new Worker(this.source, { eval: true, execArgv: [] });
    worker.unref();
    const slot: Slot = { worker, sessions: new Map() };
    this.slots[k] = slot;
    worker.on('message', (m: { s: number; op: string; bytes?: number; hashed?: number; hex?: string | null }) => {
      this.bytesHashed += m.hashed ?? 0;
      const st = slot.sessions.get(m.s);
      if (!st) return;
      if (m.op === 'ack') {
        st.inFlight -= m.bytes ?? 0;
        if (st.inFlight <= IN_FLIGHT_BYTES) for (const w of st.waiters.splice(0)) w.resolve();
      } else if (m.op === 'digest') {
        slot.sessions.delete(m.s);
        if (slot.sessions.size === 0) worker.unref();
        if (m.hex) st.digest?.resolve(m.hex);
        else st.digest?.reject(new RangeError('the SHA-256 session was cancelled'));
      }
    });
    const fail = (cause: Error) => {
      if (slot.failed) return;
      const e = new CleanroomError(
        'HASH_WORKER_FAILED',
        `The thread computing SHA-256 failed: ${cause.message}. Run the command again: nothing recorded is lost, the hash is made anew.`,
        { cause, details: { sessions: slot.sessions.size } },
      );
      slot.failed = e;
      for (const st of slot.sessions.values()) {
        st.error = e;
        for (const w of st.waiters.splice(0)) w.reject(e);
        st.digest?.reject(e);
      }
      slot.sessions.clear();
      if (this.slots[k] === slot) this.slots[k] = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`it exited (code ${code})`)));
    return slot;
  }
}

let shared: WorkerSha256Pool | undefined;

/** The process's one pool, made on first use (threads: os.availableParallelism()). */
export function sharedSha256Pool(): WorkerSha256Pool {
  shared ??= new WorkerSha256Pool();
  return shared;
}
