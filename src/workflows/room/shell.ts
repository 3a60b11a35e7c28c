/**
 * `room shell`: the recorded way into a case's room — an AWS Systems Manager Session Manager session
 * to the forensic instance, through the room's own session documents, with its start and end in the
 * case's custody record.
 *
 * 1. The Session Manager plugin is found first (the {@link SessionPlugin} port): without it nothing
 *    is called and nothing recorded (SESSION_PLUGIN_MISSING, exit 2, the install step).
 * 2. The room stack names the instance and the documents (`ShellDocumentName`,
 *    `PortForwardDocumentName`); StartSession with the shell document (or the port-forward document
 *    with `--port-forward LOCAL:REMOTE`); `room.session.start` recorded (who, the session id, the
 *    document, the target, where the transcript will be).
 * 3. The plugin runs the session exactly as the AWS CLI starts it (aws-cli
 *    awscli/customizations/sessionmanager.py: `session-manager-plugin <StartSession response>
 *    <region> StartSession <profile> <request> <ssm endpoint>`), the terminal its own.
 * 4. When it exits: TerminateSession (the session may already be over), then the transcript
 *    Session Manager writes to `cases/<case>/sessions/<session id>.log` is awaited (bounded), read,
 *    hashed (SHA-256) and written again as a new version under the case key with its SHA-256 for S3
 *    to check (the SSM agent uploads with the bucket's default encryption, the vault key; S3
 *    re-encrypts an object only by writing it again — a CopyObject would do it too but carries no
 *    checksum S3 verifies, and moto refuses it into a bucket with default retention; the agent's
 *    version stays under Object Lock), held under Object Lock retention, and
 *    `room.session` recorded: `closed` with the transcript, or `failed` with the reason (the
 *    transcript never came or could not be read, or the plugin failed) — then SESSION_FAILED, exit 1.
 *    A port-forward session carries no shell and so no transcript.
 */
import { createHash } from 'node:crypto';
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import { isAwsCode } from '../../aws/errors.js';
import { withCustodySession, type CustodySource, type SealState } from '../../custody/session.js';
import type { SessionTranscript as RecordedSessionTranscript } from '../../custody/room-sessions.js';
import { checksumSha256, getBytes } from '../../custody/store.js';
import { abortableClock } from '../../domain/abort.js';
import { assertCaseId, roomStackName } from '../../domain/case-id.js';
import { CleanroomError, TimeoutError, UsageError, asError } from '../../domain/errors.js';
import { idempotencyKeys } from '../../domain/idempotency-keys.js';
import type { CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import { systemClock, waitFor, type Clock } from '../../domain/waiter.js';
import { resourceRef } from '../../resources/refs.js';
import { readRoomStack, roomInfo } from '../../resources/stacks.js';

/** Where the Session Manager plugin is documented (the install step names it). */
export const SESSION_PLUGIN_DOCS =
  'https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html';

/** The environment variable that names the plugin when it is not on PATH. */
export const SESSION_PLUGIN_ENV = 'CLEANROOM_SESSION_MANAGER_PLUGIN';

/** The plugin's command line, as the AWS CLI builds it. */
export interface PluginInvocation {
  /** The plugin executable. */
  path: string;
  /** `[<StartSession response JSON>, region, 'StartSession', profile or '', <request JSON>, <ssm endpoint URL>]`. */
  args: string[];
}

/** How the plugin runs: a port, so tests and other hosts can replace it. */
export interface SessionPlugin {
  /** The plugin's path, or undefined when it is not installed. Called before any AWS call. */
  locate(): Promise<string | undefined>;
  /**
   * Run the session: the terminal is the plugin's, Ctrl-C goes to it. Resolves when the plugin
   * exits, with its exit code (a failure to start rejects).
   */
  run(invocation: PluginInvocation, signal?: AbortSignal): Promise<{ exitCode: number | null; signal?: string }>;
}

/** A record that knows its vault (the CLI's case record): the transcript's retention follows it. */
export type ShellRecorder = CustodyRecorder & {
  readonly vaultTarget?: { bucket: string; lockMode: 'GOVERNANCE' | 'COMPLIANCE'; retentionDays: number };
};

/** What room shell calls. */
export type ShellAccount = Pick<AwsAccount, 'region' | 'accountId' | 'callerArn'> &
  AccountCalls<{
    cfn: 'describeStacks';
    ssm: 'startSession' | 'terminateSession';
    s3: 'headObject' | 'getObject' | 'putObject' | 'putObjectRetention';
  }>;

export interface RoomShellDeps {
  account: ShellAccount;
  custody: CustodySource;
  plugin: SessionPlugin;
  reporter?: Reporter;
  clock?: Clock;
  /** The profile the plugin passes on to its own AWS calls ('' = the default chain), as the AWS CLI does. */
  profile?: string;
  /** The SSM endpoint the plugin talks to (default `https://ssm.<region>.amazonaws.com`). */
  ssmEndpoint?: string;
  /** The transcript's Object Lock when the record does not name its vault's (default GOVERNANCE, 365 days). */
  retention?: { lockMode: 'GOVERNANCE' | 'COMPLIANCE'; retentionDays: number };
}

export interface RoomShellOptions {
  caseId: string;
  /** `LOCAL:REMOTE`: forward a local port to a port of the forensic instance (no shell, no transcript). */
  portForward?: string;
  budgets?: { transcriptMs?: number; transcriptPollMs?: number; afterPluginFailureMs?: number };
  signal?: AbortSignal;
}

/** The transcript of a session, as `room shell` records it: what verification reads, and more. */
export interface SessionTranscript extends RecordedSessionTranscript {
  /** The KMS key the recorded version is encrypted with. */
  kmsKeyId?: string;
  /** The version the SSM agent uploaded (under the vault key), kept by Object Lock. */
  uploadedVersionId?: string;
  retainUntil?: string;
}

/** `room.session`'s `outcome.details.session`: the contract p4 reads. */
export interface SessionRecord {
  sessionId: string;
  instanceId: string;
  document: string;
  kind: 'shell' | 'port-forward';
  portForward?: { local: number; remote: number };
  actor: string;
  startedAt: string;
  endedAt: string;
  transcript: SessionTranscript | null;
  status: 'closed' | 'failed';
  reason?: string;
}

export interface RoomShellResult {
  case: string;
  session: SessionRecord;
  seal: SealState;
}

/**
 * How long `room shell` waits for the transcript: `transcriptMs` after a session that ended normally;
 * `afterPluginFailureMs` (at most `transcriptMs`) after the plugin failed — the agent may still
 * upload what it has when the session is terminated, but a session that never ran has nothing to
 * upload, and the analyst should not wait minutes to learn that.
 */
export const DEFAULT_SHELL_BUDGETS = {
  transcriptMs: 5 * 60_000,
  transcriptPollMs: 5_000,
  afterPluginFailureMs: 30_000,
};

/** The transcript's key: Session Manager writes `<s3KeyPrefix><session id>.log`. */
export function transcriptKey(caseId: string, sessionId: string): string {
  return `cases/${caseId}/sessions/${sessionId}.log`;
}

/** `LOCAL:REMOTE` → the two ports (exit 2 on anything else). */
export function parsePortForward(spec: string): { local: number; remote: number } {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(spec.trim());
  const local = m ? Number(m[1]) : Number.NaN;
  const remote = m ? Number(m[2]) : Number.NaN;
  if (!m || local > 65535 || remote < 1 || remote > 65535)
    throw new UsageError(
      'INVALID_VALUE',
      `--port-forward ${JSON.stringify(spec)} is not LOCAL:REMOTE: give the port on this machine (0 for any free one) and the port on the forensic instance, e.g. --port-forward 8080:80.`,
      { details: { portForward: spec } },
    );
  return { local, remote };
}

/** The install step, when the plugin is missing. */
export function pluginMissingError(): UsageError {
  return new UsageError(
    'SESSION_PLUGIN_MISSING',
    `room shell needs the AWS Session Manager plugin (session-manager-plugin), which is not on PATH. Install it (${SESSION_PLUGIN_DOCS}; e.g. on Debian/Ubuntu: curl -o session-manager-plugin.deb https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb && sudo dpkg -i session-manager-plugin.deb; macOS: brew install --cask session-manager-plugin), or name it with ${SESSION_PLUGIN_ENV}=/path/to/session-manager-plugin. Nothing was called and nothing recorded.`,
    { details: { docs: SESSION_PLUGIN_DOCS, env: SESSION_PLUGIN_ENV } },
  );
}

/** Open a recorded session to the room of a case (see the module comment). */
export async function roomShell(deps: RoomShellDeps, o: RoomShellOptions): Promise<RoomShellResult> {
  const caseId = assertCaseId(o.caseId);
  const portForward = o.portForward !== undefined ? parsePortForward(o.portForward) : undefined;
  // Before any AWS call or record.
  const pluginPath = await deps.plugin.locate();
  if (!pluginPath) throw pluginMissingError();
  return withCustodySession(deps.custody, o.signal, async (s) => {
    const clock = abortableClock(deps.clock ?? systemClock, o.signal);
    const { account } = deps;
    const stack = await readRoomStack(account, caseId);
    if (!stack)
      throw new UsageError(
        'ROOM_NOT_UP',
        `Case ${caseId} has no room: there is no stack ${roomStackName(caseId)} in ${account.region}. Run \`cleanroom room up --case ${caseId}\` first.`,
        { details: { caseId } },
      );
    const info = roomInfo(caseId, stack);
    const document = portForward ? info.portForwardDocumentName : info.shellDocumentName;
    if (!info.instanceId || !document || !info.vaultBucket)
      throw new CleanroomError(
        'ROOM_OUTPUTS_MISSING',
        `The room stack ${stack.stackName} does not name its forensic instance, its ${portForward ? 'PortForwardDocumentName' : 'ShellDocumentName'} or its vault: it was built before room shell existed. Run \`cleanroom room up --case ${caseId}\` to update it.`,
        { details: { caseId, stackName: stack.stackName } },
      );
    const actor = await account.callerArn();
    const custody = (await s.open()) as ShellRecorder;
    const run: ShellRun = {
      deps,
      caseId,
      instanceId: info.instanceId,
      document,
      bucket: info.vaultBucket,
      caseKeyArn: info.caseKeyArn,
      portForward,
      actor,
      custody,
      rec: new StepRecorder(custody, deps.reporter ?? silentReporter),
      clock,
      ref: await refBuilder(account),
    };
    const session = await runSession(run, pluginPath, o);
    if (session.status === 'failed')
      throw new CleanroomError(
        'SESSION_FAILED',
        `The session ${session.sessionId} to ${session.instanceId} failed: ${session.reason}. It is recorded as failed in the custody record of case ${caseId}.`,
        { details: { caseId, session } },
      );
    return { case: caseId, session };
  });
}

interface ShellRun {
  deps: RoomShellDeps;
  caseId: string;
  instanceId: string;
  document: string;
  bucket: string;
  caseKeyArn: string | undefined;
  portForward: { local: number; remote: number } | undefined;
  actor: string;
  custody: ShellRecorder;
  rec: StepRecorder;
  clock: Clock;
  ref: (type: string, id: string) => ResourceRef;
}

async function refBuilder(account: ShellAccount): Promise<(type: string, id: string) => ResourceRef> {
  const accountId = await account.accountId();
  return (type, id) => resourceRef(type, id, accountId, account.region);
}

async function runSession(run: ShellRun, pluginPath: string, o: RoomShellOptions): Promise<SessionRecord> {
  const { deps, rec } = run;
  const { account } = deps;
  const kind = run.portForward ? 'port-forward' : 'shell';
  const request = {
    Target: run.instanceId,
    DocumentName: run.document,
    Reason: `cleanroom room shell, case ${run.caseId}`,
    ...(run.portForward
      ? {
          Parameters: {
            portNumber: [String(run.portForward.remote)],
            localPortNumber: [String(run.portForward.local)],
          },
        }
      : {}),
  };
  const started = await account.ssm.startSession(request);
  const sessionId = started.SessionId!;
  const startedAt = new Date(run.clock.now()).toISOString();
  const key = kind === 'shell' ? transcriptKey(run.caseId, sessionId) : undefined;
  const base = {
    sessionId,
    instanceId: run.instanceId,
    document: run.document,
    kind,
    ...(run.portForward ? { portForward: run.portForward } : {}),
    actor: run.actor,
    startedAt,
  } as const;
  const resources = [run.ref('ec2:instance', run.instanceId), run.ref('ssm:session', sessionId)];
  try {
    await rec.record(
      idempotencyKeys.room.sessionStart(sessionId),
      'room.session.start',
      resources,
      {
        status: 'succeeded',
        details: { session: { ...base, expectedTranscript: key ? { bucket: run.bucket, key } : null } },
      },
      { document: run.document, target: run.instanceId },
    );
  } catch (e) {
    // No session runs unrecorded.
    await account.ssm.terminateSession({ SessionId: sessionId }).catch(() => undefined);
    throw e;
  }
  rec.step(
    `session ${sessionId} to ${run.instanceId} (${run.document})${key ? `; its transcript goes to s3://${run.bucket}/${key}` : `; forwarding localhost:${run.portForward!.local} to port ${run.portForward!.remote}`}`,
  );

  let pluginFailure: string | undefined;
  try {
    const r = await deps.plugin.run({
      path: pluginPath,
      args: [
        JSON.stringify({ SessionId: sessionId, TokenValue: started.TokenValue, StreamUrl: started.StreamUrl }),
        account.region,
        'StartSession',
        deps.profile ?? '',
        JSON.stringify(request),
        deps.ssmEndpoint ?? `https://ssm.${account.region}.amazonaws.com`,
      ],
    });
    if (r.exitCode !== 0)
      pluginFailure = `the Session Manager plugin ended with ${r.exitCode === null ? `signal ${r.signal ?? '?'}` : `exit code ${r.exitCode}`}`;
  } catch (e) {
    pluginFailure = `the Session Manager plugin could not run: ${asError(e).message}`;
  }
  // The session may be over already (the plugin terminates it on exit): terminating again is harmless.
  await account.ssm.terminateSession({ SessionId: sessionId }).catch((e: unknown) => {
    rec.warn(
      `could not terminate session ${sessionId} (Session Manager ends it after its idle timeout): ${asError(e).message}`,
    );
  });
  const endedAt = new Date(run.clock.now()).toISOString();

  let transcript: SessionTranscript | null = null;
  let reason = pluginFailure;
  if (key) {
    try {
      transcript = await collectTranscript(run, key, o, pluginFailure !== undefined);
    } catch (e) {
      reason = [pluginFailure, `the transcript s3://${run.bucket}/${key} ${asError(e).message}`]
        .filter(Boolean)
        .join('; ');
    }
  } else {
    reason = [pluginFailure, 'port forwarding carries no shell transcript'].filter(Boolean).join('; ');
  }
  const status: SessionRecord['status'] = pluginFailure || (key && !transcript) ? 'failed' : 'closed';
  const session: SessionRecord = {
    ...base,
    endedAt,
    transcript,
    status,
    ...(reason ? { reason } : {}),
  };
  await rec.record(
    idempotencyKeys.room.session(sessionId),
    'room.session',
    transcript ? [...resources, run.ref('s3:object', `${transcript.bucket}/${transcript.key}`)] : resources,
    status === 'closed'
      ? { status: 'succeeded', details: { session } }
      : { status: 'failed', error: { code: 'SESSION_FAILED', message: reason ?? 'failed' }, details: { session } },
  );
  return session;
}

/** Wait for the transcript, put it under the case key and Object Lock, hash it. Throws with the reason. */
async function collectTranscript(
  run: ShellRun,
  key: string,
  o: RoomShellOptions,
  pluginFailed: boolean,
): Promise<SessionTranscript> {
  const { account } = run.deps;
  const given = { ...DEFAULT_SHELL_BUDGETS, ...o.budgets };
  const budgets = {
    ...given,
    transcriptMs: pluginFailed ? Math.min(given.transcriptMs, given.afterPluginFailureMs) : given.transcriptMs,
  };
  const uploaded = await waitFor(
    async () => {
      try {
        const h = await account.s3.headObject({ Bucket: run.bucket, Key: key });
        return { state: 'done', value: h.VersionId };
      } catch (e) {
        if (isAwsCode(e, 'NotFound', 'NoSuchKey')) return { state: 'pending', detail: 'not uploaded yet' };
        return { state: 'failed', error: asError(e) };
      }
    },
    {
      description: `the session transcript s3://${run.bucket}/${key}`,
      budgetMs: budgets.transcriptMs,
      intervalMs: budgets.transcriptPollMs,
      maxIntervalMs: budgets.transcriptPollMs,
      clock: run.clock,
      onPending: (_d, _p, elapsed) =>
        run.rec.step(
          `waiting for Session Manager to upload the transcript (${Math.round(elapsed / 1000)}s of ${Math.round(budgets.transcriptMs / 1000)}s)`,
        ),
    },
  ).catch((e: unknown) => {
    throw new Error(
      e instanceof TimeoutError
        ? `never appeared in the vault within ${Math.round(budgets.transcriptMs / 1000)}s (is session logging reaching the vault? \`cleanroom room verify\` checks it)`
        : `could not be read: ${asError(e).message}`,
    );
  });
  const retention = run.custody.vaultTarget ?? run.deps.retention ?? { lockMode: 'GOVERNANCE', retentionDays: 365 };
  const until = new Date(run.clock.now() + retention.retentionDays * 86_400_000);
  const got = await getBytes(account, run.bucket, key, uploaded);
  if (!got) throw new Error('disappeared from the vault before it could be read');
  const sha256 = createHash('sha256').update(got.body);
  let versionId = got.versionId;
  let retainUntil = got.retainUntil;
  let kmsKeyId: string | undefined;
  if (run.caseKeyArn) {
    // The same bytes again, as a new version under the case key, with S3 checking their SHA-256
    // on arrival (x-amz-checksum-sha256): the recorded hash is the case-key version's, proved by S3.
    try {
      const put = await account.s3.putObject({
        Bucket: run.bucket,
        Key: key,
        Body: got.body,
        ContentType: 'text/plain',
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: checksumSha256(got.body),
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: run.caseKeyArn,
        ObjectLockMode: retention.lockMode,
        ObjectLockRetainUntilDate: until,
      });
      versionId = put.VersionId ?? versionId;
      retainUntil = until;
      kmsKeyId = run.caseKeyArn;
    } catch (e) {
      run.rec.warn(`the transcript s3://${run.bucket}/${key} stays under the vault key: ${asError(e).message}`);
    }
  }
  // The bucket's default retention locks the agent's upload; one without it (or shorter) gets it here.
  if (!retainUntil || retainUntil.getTime() < until.getTime() - 86_400_000) {
    await account.s3.putObjectRetention({
      Bucket: run.bucket,
      Key: key,
      ...(versionId ? { VersionId: versionId } : {}),
      Retention: { Mode: retention.lockMode, RetainUntilDate: until },
    });
    retainUntil = until;
  }
  return {
    bucket: run.bucket,
    key,
    ...(versionId ? { versionId } : {}),
    sha256: sha256.digest('hex'),
    bytes: got.body.length,
    ...(kmsKeyId ? { kmsKeyId } : {}),
    ...(got.versionId && got.versionId !== versionId ? { uploadedVersionId: got.versionId } : {}),
    retainUntil: retainUntil.toISOString(),
  };
}
