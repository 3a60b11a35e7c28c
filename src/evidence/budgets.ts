/**
 * The wait budgets of acquisition and evidence attach/detach, in a host's units. The defaults are
 * the library's ({@link DEFAULT_EVIDENCE_BUDGETS}: 30 min + 1 min per GiB for each snapshot or copy
 * wait, 10 min for a volume, 5 min of retries for one API call, 60 s for the read-only check, 5 min +
 * 1 min per GiB for the in-room hash of one disk); a
 * host overrides any of them. The CLI only maps its flags (--budget-minutes,
 * --budget-minutes-per-gib, --readonly-check-seconds) onto {@link EvidenceBudgetOverrides}.
 */
import { UsageError } from '../domain/errors.js';
import { DEFAULT_EVIDENCE_BUDGETS, type EvidenceBudgets } from './run.js';

export { DEFAULT_EVIDENCE_BUDGETS, type EvidenceBudgets } from './run.js';

/** What a host may override, in minutes and seconds. */
export interface EvidenceBudgetOverrides {
  /**
   * Fixed part of each snapshot or copy wait. It also caps the volume waits (default 10 min) and
   * the retries of one API call (default 5 min), so a short budget is short everywhere.
   */
  minutes?: number;
  /** Added to each snapshot or copy wait per GiB of the volume. */
  minutesPerGiB?: number;
  /** How long the forensic instance has to report the attached disks read-only. */
  readOnlyCheckSeconds?: number;
  /** Fixed part of the in-room hash of one evidence disk (default 5). */
  roomHashMinutes?: number;
  /** Added to it per GiB of the disk (default 1: about 17 MiB/s, a volume still loading from its snapshot). */
  roomHashMinutesPerGiB?: number;
}

/**
 * The budgets (milliseconds) for these overrides, over the library defaults. A value that is not a
 * number ≥ 0 is refused (INVALID_BUDGET, exit 2).
 */
export function evidenceBudgets(o: EvidenceBudgetOverrides = {}): EvidenceBudgets {
  for (const [name, v] of Object.entries(o)) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new UsageError('INVALID_BUDGET', `The wait budget ${name} must be a number ≥ 0, got ${String(v)}.`, {
        details: { budget: name, value: String(v) },
      });
    }
  }
  const d = DEFAULT_EVIDENCE_BUDGETS;
  const fixedMs = o.minutes !== undefined ? o.minutes * 60_000 : undefined;
  return {
    waitBaseMs: fixedMs ?? d.waitBaseMs,
    waitPerGiBMs: o.minutesPerGiB !== undefined ? o.minutesPerGiB * 60_000 : d.waitPerGiBMs,
    volumeMs: fixedMs !== undefined ? Math.min(d.volumeMs, fixedMs) : d.volumeMs,
    apiMs: fixedMs !== undefined ? Math.min(d.apiMs, fixedMs) : d.apiMs,
    readOnlyCheckMs: o.readOnlyCheckSeconds !== undefined ? o.readOnlyCheckSeconds * 1000 : d.readOnlyCheckMs,
    roomHashBaseMs: o.roomHashMinutes !== undefined ? o.roomHashMinutes * 60_000 : d.roomHashBaseMs,
    roomHashPerGiBMs: o.roomHashMinutesPerGiB !== undefined ? o.roomHashMinutesPerGiB * 60_000 : d.roomHashPerGiBMs,
  };
}
