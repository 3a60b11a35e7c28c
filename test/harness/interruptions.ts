/**
 * Simulated process kills for resumability tests on fakes: a kill right after the k-th mutating
 * call, or just before the k-th custody write. Once killed, every further call of the fake throws
 * {@link Crash} (the process is gone); `revive()` starts "the next run". Test worlds extend this.
 */
import type { MemoryRecorder, CustodyEntry } from '../../src/domain/recorder.js';

/** The simulated kill. */
export class Crash extends Error {
  constructor() {
    super('process killed');
  }
}

export class Interruptions {
  dead = false;
  /** Kill the process right after the k-th mutating AWS call (1-based), or before the k-th custody write. */
  crashAfterMutation?: number;
  crashBeforeRecord?: number;
  mutationCount = 0;
  recordCount = 0;

  /** A recorder whose writes can be interrupted (and fail once the process is dead). */
  interruptible(recorder: MemoryRecorder): MemoryRecorder {
    const record = recorder.record.bind(recorder);
    recorder.record = async (entry: CustodyEntry) => {
      this.alive();
      if (this.crashBeforeRecord !== undefined && ++this.recordCount === this.crashBeforeRecord) {
        this.dead = true;
        throw new Crash();
      }
      return record(entry);
    };
    return recorder;
  }

  /** Every call of a fake starts here: a dead process makes no call. */
  alive(): void {
    if (this.dead) throw new Crash();
  }

  /** Every mutating call of a fake ends here. */
  afterMutation(_op?: string): void {
    if (this.crashAfterMutation !== undefined && ++this.mutationCount === this.crashAfterMutation) {
      this.dead = true;
      throw new Crash();
    }
  }

  /** The next run: alive again, no kill scheduled. */
  revive(): void {
    this.dead = false;
    this.crashAfterMutation = undefined;
    this.crashBeforeRecord = undefined;
    this.mutationCount = 0;
    this.recordCount = 0;
  }
}
