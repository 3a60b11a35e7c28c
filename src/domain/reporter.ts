/**
 * How workflows talk to whoever runs them. Workflows never print: they emit typed events through
 * a {@link Reporter} the caller supplies (the CLI draws them; a library user may ignore them).
 */
export type ProgressEvent =
  | { kind: 'step'; message: string }
  | { kind: 'item'; item: string; phase: string; percent?: number; message?: string }
  | { kind: 'stack-event'; stackName: string; logicalId: string; status: string; reason?: string; time?: string };

export interface Reporter {
  /** Progress of a long operation (stack events, snapshot percent, steps). */
  progress(event: ProgressEvent): void;
  /** Something the user should know but that does not stop the work. */
  warn(message: string): void;
  /** Detail shown with --verbose. */
  debug(message: string): void;
}

/** A reporter that drops everything: for library users and tests that don't care. */
export const silentReporter: Reporter = {
  progress() {},
  warn() {},
  debug() {},
};
