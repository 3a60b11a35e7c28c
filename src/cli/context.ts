/**
 * What a command handler gets: parsed globals, a reporter that draws on stderr, lazily opened AWS
 * accounts (forensic and source), confirmation prompts, and the custody record of a case.
 * Handlers return a result; the host renders it (JSON or text) and maps errors to exit codes.
 */
import { createInterface } from 'node:readline/promises';
import { checkProfileExists, openAccount, type AccountOptions } from '../aws/account.js';
import { checkRegionName } from '../aws/region.js';
import type { AwsAccount } from '../aws/ports.js';
import { UsageError } from '../domain/errors.js';
import type { Approve } from '../domain/approval.js';
import type { Reporter } from '../domain/reporter.js';
import { systemClock, type Clock } from '../domain/waiter.js';
import { StderrReporter } from './render.js';
import { openCaseCustody, type CaseCustody } from '../custody/case-custody.js';
import os from 'node:os';
import {
  DEFAULT_LEASE_RENEW_MS,
  LeaseLostError,
  localHolderGone,
  machineBootedAt,
  processOwnerId,
} from '../custody/lease.js';

/**
 * How a command uses a case's record: `read` it (the case must exist), `change` it (must exist,
 * and the command takes the case's lease), or `start` it (may create the case; takes the lease).
 */
/**
 * How a command uses a case's record: `read` (no appends), `change` / `start` (appends, holding the
 * case's lease: one command changing the case's AWS state at a time), `append` (appends its own
 * events without the lease — for a command that changes nothing another command could race, like
 * `room shell`, whose session may last hours and must not keep the case from other commands;
 * concurrent appends are safe: docs/custody.md, "Many writers on one case").
 */
export type CustodyUse =
  | { use: 'read' }
  | { use: 'change' | 'start'; command: string }
  /** `mayStart`: the command may be the case's first (automation run: its fleet's executions take the case's lease themselves). */
  | { use: 'append'; command: string; mayStart?: boolean };

export interface GlobalArgs {
  region?: string;
  profile?: string;
  roleArn?: string;
  json: boolean;
  yes: boolean;
  verbose: boolean;
  /** The most one AWS call may take, retries included (AccountOptions.timeouts.operationMs). */
  requestTimeoutSeconds?: number;
}

export interface SourceArgs {
  sourceProfile?: string;
  sourceRoleArn?: string;
  sourceRegion?: string;
}

export class CliContext {
  readonly reporter: StderrReporter;
  private forensic?: Promise<AwsAccount>;
  private readonly custodies = new Map<string, Promise<CaseCustody>>();
  private readonly heartbeats: NodeJS.Timeout[] = [];
  /** API calls made, by `service:Operation` (shown with --verbose). */
  readonly calls = new Map<string, number>();
  /** The head seq of each custody record when this command opened it. */
  /** The hashes of the events each record held when this command opened it. */
  private readonly atOpen = new Map<CaseCustody, Set<string>>();
  /**
   * True while a child process (room shell's Session Manager plugin) has the terminal: Ctrl-C is
   * the child's (it passes it to the remote shell) and does not stop the command.
   */
  childHasTerminal = false;
  /** Aborted on Ctrl-C (SIGINT): waiters that take a signal stop at once. */
  readonly abort = new AbortController();
  /**
   * The clock handed to workflows: every wait between polls ends at once on Ctrl-C, so an
   * interrupted command stops making calls while the host re-seals its record.
   */
  readonly clock: Clock = {
    now: () => systemClock.now(),
    sleep: (ms, signal) =>
      systemClock.sleep(ms, signal ? AbortSignal.any([signal, this.abort.signal]) : this.abort.signal),
  };

  constructor(
    readonly args: GlobalArgs,
    readonly io: {
      stdout: NodeJS.WritableStream;
      stderr: NodeJS.WritableStream;
      stdin: NodeJS.ReadableStream;
      isTTY: boolean;
    },
  ) {
    this.reporter = new StderrReporter({ json: args.json, verbose: args.verbose, tty: io.isTTY, stderr: io.stderr });
  }

  private accountOptions(o: AccountOptions): AccountOptions {
    const seconds = this.args.requestTimeoutSeconds;
    if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
      throw new UsageError(
        'INVALID_TIMEOUT',
        `--request-timeout-seconds ${JSON.stringify(seconds)} is not a positive number of seconds: give the most one AWS call may take, retries included (default 120).`,
        { details: { requestTimeoutSeconds: seconds } },
      );
    }
    return {
      ...o,
      ...(seconds !== undefined ? { timeouts: { operationMs: seconds * 1000 } } : {}),
      onCall: (s, op) => {
        const k = `${s}:${op}`;
        this.calls.set(k, (this.calls.get(k) ?? 0) + 1);
        this.reporter.debug(`call ${k}`);
      },
    };
  }

  /** The forensic account (globals --region/--profile/--role-arn). */
  forensicAccount(): Promise<AwsAccount> {
    this.forensic ??= (async () => {
      if (this.args.profile) await checkProfileExists(this.args.profile, '--profile');
      const account = await openAccount(
        this.accountOptions({
          region: this.args.region,
          profile: this.args.profile,
          roleArn: this.args.roleArn,
          sessionName: 'cleanroom-forensic',
        }),
      );
      checkRegionName(
        account.region,
        this.args.region ? '--region' : "AWS_REGION (or the profile's region), or pass --region",
      );
      return account;
    })();
    return this.forensic;
  }

  /**
   * The source account of a compromised instance. Without source options it is the forensic
   * account itself (same-account response).
   */
  async sourceAccount(s: SourceArgs): Promise<AwsAccount> {
    if (s.sourceProfile && s.sourceRoleArn) {
      throw new UsageError('CONFLICTING_SOURCE', 'Give either --source-profile or --source-role-arn, not both.');
    }
    if (
      !s.sourceProfile &&
      !s.sourceRoleArn &&
      (!s.sourceRegion || s.sourceRegion === (await this.forensicAccount()).region)
    ) {
      return this.forensicAccount();
    }
    if (s.sourceProfile) await checkProfileExists(s.sourceProfile, '--source-profile');
    const account = await openAccount(
      this.accountOptions({
        region: s.sourceRegion ?? this.args.region,
        profile: s.sourceProfile ?? (s.sourceRoleArn ? this.args.profile : undefined) ?? this.args.profile,
        roleArn: s.sourceRoleArn,
        sessionName: 'cleanroom-source',
      }),
    );
    checkRegionName(
      account.region,
      s.sourceRegion
        ? '--source-region'
        : this.args.region
          ? '--region'
          : "AWS_REGION (or the profile's region), or pass --region",
    );
    return account;
  }

  /**
   * The custody record of a case in the vault (opened once per command). Unknown cases are refused
   * (UNKNOWN_CASE) unless the command starts a case; a command that changes the case takes its
   * lease (CASE_BUSY when another command holds it) and renews it on a heartbeat until the host
   * releases it at the end of the command.
   */
  custody(caseId: string, bucket: string | undefined, how: CustodyUse): Promise<CaseCustody> {
    const key = `${caseId}|${bucket ?? ''}`;
    let c = this.custodies.get(key);
    if (!c) {
      c = this.forensicAccount()
        .then(async (account) => {
          const lease =
            how.use === 'read' || how.use === 'append'
              ? undefined
              : {
                  owner: processOwnerId(await account.callerArn()),
                  command: how.command,
                  host: os.hostname(),
                  pid: process.pid,
                  bootedAt: machineBootedAt(),
                  holderGone: localHolderGone,
                };
          const opened = await openCaseCustody(account, {
            caseId,
            bucket,
            reporter: this.reporter,
            mustExist: how.use !== 'start' && !(how.use === 'append' && how.mayStart),
            ...(lease ? { lease } : {}),
          });
          if (opened.lease) this.heartbeat(opened);
          return opened;
        })
        .then((custody) => {
          this.atOpen.set(custody, new Set(custody.events().map((e) => e.hash)));
          return custody;
        });
      this.custodies.set(key, c);
      c.catch(() => this.custodies.delete(key));
    }
    return c;
  }

  /** Renew the lease (and the locks held with it) every few minutes; never keeps the process alive. */
  private heartbeat(c: CaseCustody): void {
    const timer = setInterval(() => {
      renewHeld(c, this.reporter, () => clearInterval(timer));
    }, DEFAULT_LEASE_RENEW_MS);
    timer.unref();
    this.heartbeats.push(timer);
  }

  /**
   * Stop the heartbeats and give back every lease this command took. Returns the first lease found
   * lost (taken by another command while this one held it — on a renewal, an append or this
   * release): the command then did not have the case to itself, which must not end as a success.
   */
  async releaseLeases(): Promise<LeaseLostError | undefined> {
    for (const t of this.heartbeats.splice(0)) clearInterval(t);
    let lost: LeaseLostError | undefined;
    for (const c of await this.openedCustodies()) {
      try {
        await c.releaseLease();
      } catch (e) {
        if (e instanceof LeaseLostError) lost ??= e;
        else
          this.reporter.warn(
            `could not release the lease of case ${c.caseId} (it expires by itself): ${(e as Error).message}`,
          );
      }
      lost ??= c.lease?.lostError;
    }
    return lost;
  }

  /** The custody events this command appended, by case (what an interrupted run reports). */
  async recordedThisRun(): Promise<Array<{ case: string; seq: number; lane?: string; action: string }>> {
    const out: Array<{ case: string; seq: number; lane?: string; action: string }> = [];
    for (const c of await this.openedCustodies()) {
      // By hash, not by number: a group commit's events are numbered within their lane.
      const before = this.atOpen.get(c) ?? new Set<string>();
      for (const e of c.events())
        if (!before.has(e.hash))
          out.push({ case: c.caseId, seq: e.seq, ...(e.lane ? { lane: e.lane } : {}), action: e.action });
    }
    return out;
  }

  /** Every custody record opened by this command (the host re-signs their manifests at the end). */
  async openedCustodies(): Promise<CaseCustody[]> {
    const out: CaseCustody[] = [];
    for (const c of this.custodies.values()) {
      try {
        out.push(await c);
      } catch {
        // failed to open: nothing was appended through it
      }
    }
    return out;
  }

  /**
   * The CLI's answer to a workflow's approval request ({@link Approve}): with --yes, yes. Without a
   * TTY: refuse (exit 2), as the contract says, so a script never deletes by accident. Otherwise
   * the question is asked on the terminal.
   */
  readonly approve: Approve = async (request) => {
    if (this.args.yes) return true;
    if (!this.io.isTTY) {
      throw new UsageError(
        'CONFIRMATION_REQUIRED',
        `${request.question}\nThis is destructive and there is no terminal to confirm on: run again with --yes.`,
      );
    }
    const rl = createInterface({ input: this.io.stdin, output: this.io.stderr });
    const answer = await rl.question(`${request.question}\nProceed? [y/N] `);
    rl.close();
    return /^y(es)?$/i.test(answer.trim());
  };
}

/**
 * One heartbeat: renew the case's lease and each lock held with it now (an instance's vault-wide lock
 * lasts as long as isolate's or acquire's work on it, longer than a lock's TTL). A lease found taken
 * calls `lost` (stop renewing) and warns; a lock found taken warns, and the record refuses to go on.
 */
export function renewHeld(
  c: Pick<CaseCustody, 'caseId' | 'lease' | 'locks'>,
  reporter: Pick<Reporter, 'warn'>,
  lost: () => void,
): void {
  c.lease?.renew().catch((e: unknown) => {
    if (e instanceof LeaseLostError) {
      lost();
      reporter.warn(e.message);
    } else {
      reporter.warn(`could not renew the lease of case ${c.caseId} (will try again): ${(e as Error).message}`);
    }
  });
  for (const l of c.locks)
    l.renew().catch((e: unknown) =>
      reporter.warn(
        e instanceof LeaseLostError
          ? e.message
          : `could not renew the lock ${l.document.scope} of case ${c.caseId} (will try again): ${(e as Error).message}`,
      ),
    );
}
