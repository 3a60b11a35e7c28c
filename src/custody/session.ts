/**
 * The record of a case as one workflow run holds it — the library's guarantee that a workflow which
 * appended custody events leaves the manifest sealed over them: on success, on failure, and when
 * stopped by its AbortSignal. What the workflow returns carries `seal` ({@link SealState}); an error
 * it throws after the record was opened carries `details.sealed` (and `details.sealReason` when it
 * could not seal).
 *
 * The run opens the record lazily (`open()`, after the inputs are checked), checks the signal at
 * each step boundary (`checkpoint()`), and seals on the way out. Whoever opened the record (the
 * CLI, or a caller's {@link openCaseCustody}) keeps its lease and releases it.
 */
import { CleanroomError } from '../domain/errors.js';
import { interruptedAt, isInterrupted, throwIfAborted } from '../domain/abort.js';
import type { CustodyRecorder } from '../domain/recorder.js';
import { lockScopes, type LockWhere } from '../domain/exclusive.js';

/** A recorder, or how to open one (after the inputs are checked, so bad input never reads the record). */
export type CustodySource = CustodyRecorder | (() => Promise<CustodyRecorder>);

/** Whether the manifest seals the record's head after the run, and if not, why. */
export interface SealState {
  sealed: boolean;
  reason?: string;
}

/** A recorder whose manifest can be sealed (the vault's record; a MemoryRecorder has none). */
interface Sealable {
  readonly dirty: boolean;
  sealManifest(): Promise<unknown>;
}

function isSealable(c: unknown): c is Sealable {
  return typeof (c as Partial<Sealable> | undefined)?.sealManifest === 'function' && 'dirty' in (c as object);
}

/** Seal the manifest of a record that needs it; never throws (says why not instead). */
export async function sealRecord(c: CustodyRecorder | undefined): Promise<SealState> {
  if (!c) return { sealed: false, reason: 'the record was not opened: nothing was recorded' };
  if (!isSealable(c)) return { sealed: false, reason: 'this recorder keeps no signed manifest' };
  if (!c.dirty) return { sealed: true };
  try {
    await c.sealManifest();
    return { sealed: true };
  } catch (e) {
    return { sealed: false, reason: (e as Error).message };
  }
}

export class CustodySession {
  private opened: Promise<CustodyRecorder> | undefined;
  private recorder: CustodyRecorder | undefined;

  constructor(
    private readonly source: CustodySource | undefined,
    readonly signal?: AbortSignal,
  ) {
    // A record handed over already open is the run's from the start (it may need sealing already).
    if (source && typeof source !== 'function') this.recorder = source;
  }

  /** Open the record (once); refused when the run has been stopped. */
  open(): Promise<CustodyRecorder> {
    this.checkpoint('opening the custody record');
    const src = this.source;
    if (!src)
      return Promise.reject(
        new CleanroomError('NO_CUSTODY', 'This workflow needs the case custody record (deps.custody) for a real run.'),
      );
    this.opened ??= (typeof src === 'function' ? src() : Promise.resolve(src)).then((r) => (this.recorder = r));
    return this.opened;
  }

  /** A step boundary: throw INTERRUPTED when the signal has fired. */
  checkpoint(stage?: string): void {
    throwIfAborted(this.signal, stage);
  }

  /** True once the record was opened (an error before that touched no record). */
  get isOpen(): boolean {
    return this.recorder !== undefined;
  }

  /** Seal what the run appended (or what an earlier run left unsealed). */
  seal(): Promise<SealState> {
    return sealRecord(this.recorder);
  }
}

/**
 * Run a workflow body with its record and seal on the way out. The result gains `seal`; an error
 * gains `details.sealed`/`details.sealReason`, and an error of a stopped run becomes INTERRUPTED.
 */
export async function withCustodySession<T extends object>(
  source: CustodySource | undefined,
  signal: AbortSignal | undefined,
  body: (s: CustodySession) => Promise<T>,
): Promise<T & { seal: SealState }> {
  const session = new CustodySession(source, signal);
  let result: T;
  try {
    result = await body(session);
  } catch (e) {
    const err = signal?.aborted && !isInterrupted(e) ? interruptedAt(undefined, e) : e;
    const seal = await session.seal();
    if (err instanceof CleanroomError && session.isOpen) {
      const details = err.details as Record<string, unknown>;
      details['sealed'] = seal.sealed;
      if (seal.reason) details['sealReason'] = seal.reason;
    }
    throw err;
  }
  return { ...result, seal: await session.seal() };
}

/**
 * Hold the `instance:` lock (src/domain/exclusive.ts) of each instance while `fn` changes them, when
 * the record takes locks: a record opened with the case's lease (the CLI) takes the vault-wide
 * objects, so another case's command or automation step on the same instance finds it busy; the
 * automation's steps hold the lock already (their record hands out none). All are taken before `fn`
 * runs — a busy one is CASE_BUSY naming the other case, before anything changed — and given back
 * after, also when `fn` fails or is stopped.
 */
export function withInstanceLocks<T>(
  custody: CustodyRecorder,
  instanceIds: readonly string[],
  where: LockWhere,
  fn: () => Promise<T>,
): Promise<T> {
  if (!custody.withLocks || !instanceIds.length) return fn();
  return custody.withLocks(
    instanceIds.map((id) => lockScopes.instance(id, where)),
    fn,
  );
}
