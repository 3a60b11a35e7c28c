import type { Argv } from 'yargs';
import { runCommand, type Handler, type HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { UsageError } from '../../domain/errors.js';
import { throwFromCheck } from '../usage.js';
import type { ErrorCode } from '../../domain/errors.js';
import { evidenceBudgets } from '../../evidence/budgets.js';

/** Wire a yargs handler to the host: run, render, set the exit code. */
export function handle<A extends GlobalArgs, T>(io: HostIo, handler: Handler<A, T>) {
  return async (argv: unknown) => {
    process.exitCode = await runCommand(argv as A, handler, io);
  };
}

/** `--case ID` (required). */
export function withCase<T>(y: Argv<T>) {
  return y.option('case', { type: 'string', demandOption: true, describe: 'case id (letters, digits, hyphens)' });
}

/** `--bucket NAME` (the vault; default cleanroom-evidence-<account>-<region>). */
export function withBucket<T>(y: Argv<T>) {
  return y.option('bucket', {
    type: 'string',
    describe: 'evidence vault bucket (default: cleanroom-evidence-<account id>-<region>)',
  });
}

/** Source-account options of isolate and acquire. */
export function withSource<T>(y: Argv<T>) {
  return y
    .option('source-profile', {
      type: 'string',
      describe: 'profile for the source account of the compromised instance',
    })
    .option('source-role-arn', { type: 'string', describe: 'role to assume in the source account' })
    .option('source-region', {
      type: 'string',
      describe: 'region of the compromised instance (default: the forensic region)',
    })
    .conflicts('source-profile', 'source-role-arn');
}

/** What a numeric option accepts, in the user's words. */
export interface NumberSpec {
  /** The flag as typed, e.g. `--retention-days`. */
  flag: string;
  /** Its unit, plural: `days`, `minutes`, `volumes`. */
  unit: string;
  /** Whole numbers only. */
  integer?: boolean;
  min: number;
  max?: number;
  /** The error code (stable; default INVALID_VALUE). */
  code?: ErrorCode;
}

/**
 * Parse a numeric option from the string the user typed (yargs' `type: 'number'` turns "abc" into
 * NaN and loses it): refused with exit 2, code INVALID_VALUE, naming the flag, its unit and range,
 * and echoing the input.
 */
export function parseNumberOption(spec: NumberSpec, raw: unknown): number {
  const range = spec.max !== undefined ? `${spec.min}–${spec.max}` : `${spec.min} or more`;
  const what = `${spec.flag} must be ${spec.integer ? 'a whole number' : 'a number'} of ${spec.unit} (${range})`;
  if (Array.isArray(raw)) {
    throw new UsageError(
      spec.code ?? 'INVALID_VALUE',
      `${spec.flag} was given ${raw.length} times (${raw.map((r) => JSON.stringify(String(r))).join(', ')}): give it once.`,
      { details: { option: spec.flag, value: raw.map(String) } },
    );
  }
  const s = raw === undefined || raw === null || typeof raw === 'boolean' ? '' : String(raw).trim();
  const ok = spec.integer ? /^\+?\d+$/.test(s) : /^\+?(\d+(\.\d*)?|\.\d+)$/.test(s);
  const n = ok ? Number(s) : NaN;
  if (!Number.isFinite(n) || n < spec.min || (spec.max !== undefined && n > spec.max)) {
    throw new UsageError(
      spec.code ?? 'INVALID_VALUE',
      `${what}, got ${JSON.stringify(typeof raw === 'boolean' || raw === undefined ? '' : String(raw))}.`,
      { details: { option: spec.flag, value: typeof raw === 'boolean' || raw === undefined ? '' : String(raw) } },
    );
  }
  return n;
}

/** A yargs option for a number, checked by {@link parseNumberOption} (keeps the raw string). */
export function numberOption(spec: NumberSpec, describe: string) {
  return {
    type: 'string' as const,
    requiresArg: false,
    describe,
    coerce: (raw: unknown) => {
      try {
        return parseNumberOption(spec, raw);
      } catch (e) {
        throwFromCheck(e as UsageError);
      }
    },
  };
}

/** Budget options shared by acquire and evidence attach/detach. */
export function withBudgets<T>(y: Argv<T>) {
  return y
    .option(
      'budget-minutes',
      numberOption(
        { flag: '--budget-minutes', unit: 'minutes', min: 0, code: 'INVALID_BUDGET' },
        'time budget of each snapshot/copy wait, fixed part (default 30)',
      ),
    )
    .option(
      'budget-minutes-per-gib',
      numberOption(
        { flag: '--budget-minutes-per-gib', unit: 'minutes per GiB', min: 0, code: 'INVALID_BUDGET' },
        'added to each snapshot/copy wait per GiB of the volume (default 1)',
      ),
    )
    .option(
      'readonly-check-seconds',
      numberOption(
        { flag: '--readonly-check-seconds', unit: 'seconds', min: 0, code: 'INVALID_BUDGET' },
        'how long to wait for the forensic instance to report the attached disks read-only (default 60)',
      ),
    );
}

/** The budget flags as the library's overrides (it holds the defaults and what each covers). */
export function budgetsFrom(a: {
  budgetMinutes?: number;
  budgetMinutesPerGib?: number;
  readonlyCheckSeconds?: number;
}) {
  return evidenceBudgets({
    ...(a.budgetMinutes !== undefined ? { minutes: a.budgetMinutes } : {}),
    ...(a.budgetMinutesPerGib !== undefined ? { minutesPerGiB: a.budgetMinutesPerGib } : {}),
    ...(a.readonlyCheckSeconds !== undefined ? { readOnlyCheckSeconds: a.readonlyCheckSeconds } : {}),
  });
}
