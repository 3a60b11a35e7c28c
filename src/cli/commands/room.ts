/**
 * `cleanroom room up | verify | status | list | down`: parse, call the room workflows, render.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { handle, parseNumberOption, withBucket, withCase } from './common.js';
import { renderChecks, table, roomJson } from '../render.js';
import {
  auditRoom,
  listRooms,
  roomDown,
  pluginMissingError,
  roomSessions,
  roomShell,
  roomStatus,
  roomTools,
  roomUp,
  type RoomSessionsResult,
  type RoomShellResult,
  type RoomToolsResult,
  type RoomUpResult,
} from '../../workflows/room/index.js';
import { processSessionPlugin } from '../session-plugin.js';
import { sessionLine } from '../../custody/room-sessions.js';
import type { ToolkitArch } from '../../domain/toolkit.js';
import { roomStackName } from '../../domain/case-id.js';
import { checkRegion } from '../../aws/region.js';
import type { AuditCheck } from '../../domain/room.js';

interface CaseArgs extends GlobalArgs {
  case: string;
  bucket?: string;
}
interface UpArgs extends CaseArgs {
  az?: string;
  instanceType?: string;
  ami?: string;
  toolkit?: string;
}
interface VerifyArgs extends CaseArgs {
  strict: boolean;
}
interface ShellArgs extends CaseArgs {
  portForward?: string;
  transcriptWaitSeconds?: string;
}
interface DownArgs extends CaseArgs {
  detachEvidence: boolean;
}
interface SessionsArgs extends CaseArgs {
  record: boolean;
}
interface ToolsArgs extends GlobalArgs {
  out?: string;
  publish: boolean;
  python: string;
  arch: ToolkitArch;
  package?: string[];
  name?: string;
  default: boolean;
  bucket?: string;
}

function checksJson(checks: readonly AuditCheck[]) {
  return checks.map((c) => ({ id: c.id, ok: c.ok, detail: c.detail, severity: c.severity ?? 'critical' }));
}

function auditSummary(ok: boolean, checks: readonly AuditCheck[], strict: boolean): string {
  const failed = checks.filter((c) => !c.ok && c.severity !== 'warning').length;
  const warned = checks.filter((c) => !c.ok && c.severity === 'warning').length;
  return ok
    ? `Audit PASSED: ${checks.length} checks${warned ? `, ${warned} warning(s)${strict ? '' : ' (fail only with --strict)'}` : ''}.`
    : `Audit FAILED: ${failed} critical finding(s)${warned ? `, ${warned} warning(s)${strict ? ' (--strict)' : ''}` : ''} of ${checks.length} checks. Evidence must not go into this room until they are fixed.`;
}

function upText(r: RoomUpResult): string {
  const i = r.room;
  const head =
    r.change === 'unchanged'
      ? r.upToDate
        ? `Room ${i.stackName} is up to date: nothing changed.`
        : `Room ${i.stackName}: the stack is up to date${r.corrections.length ? `; ${r.corrections.length} guard rail(s) restored` : ''}${r.guestTools.uploaded ? `; ${r.guestTools.uploaded} guest tool(s) uploaded` : ''}.`
      : `Room ${i.stackName} ${r.change} (${i.stackStatus}).${r.corrections.length ? ` ${r.corrections.length} guard rail(s) restored.` : ''}`;
  const lines = [
    head,
    `  availability zone  ${i.availabilityZone ?? '-'}`,
    `  VPC / subnet       ${i.vpcId ?? '-'} / ${i.subnetId ?? '-'}`,
    `  forensic instance  ${i.instanceId ?? '-'}`,
    `  forensics group    ${i.forensicsSecurityGroupId ?? '-'}`,
    `  toolkit            ${toolkitLine(r.toolkit)}`,
    auditSummary(r.audit.ok, r.audit.checks, false),
  ];
  const notable = r.audit.checks.filter((c) => !c.ok);
  if (notable.length) lines.push(renderChecks(notable));
  return lines.join('\n');
}

/** The toolkit in one line: id, tools and versions, what the room says — or none and why. */
function toolkitLine(t: {
  toolkitId?: string;
  tools: readonly { name: string; version: string }[];
  reason?: string;
  problem?: string;
  inRoom?: { status: string; detail: string };
}): string {
  if (!t.toolkitId) return `none${t.reason ? ` (${t.reason})` : ''}`;
  const tools = t.tools.map((x) => `${x.name} ${x.version}`).join(', ');
  const inRoom = t.inRoom
    ? `; in the room: ${t.inRoom.status}${t.inRoom.status === 'installed' ? '' : ` (${t.inRoom.detail})`}`
    : '';
  return `${t.toolkitId}${tools ? `: ${tools}` : ''}${t.problem ? ` (${t.problem})` : ''}${inRoom}`;
}

export function roomCommands(y: Argv, io: HostIo): Argv {
  const subcommands = [
    roomUpCommand,
    roomVerifyCommand,
    roomStatusCommand,
    roomSessionsCommand,
    roomListCommand,
    roomShellCommand,
    roomDownCommand,
    roomToolsCommand,
  ];
  return y.command('room', 'the clean room of a case: up, verify, status, sessions, list, shell, down, tools', (room) =>
    subcommands
      .reduce((cmd, add) => add(cmd, io), room)
      .demandCommand(1, 'Name a room command: up, verify, status, sessions, list, shell, down or tools.'),
  );
}

function roomUpCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'up',
    'create or update the room of a case, restore its guard rails, and audit it',
    (c) =>
      withBucket(withCase(c))
        .option('az', {
          type: 'string',
          describe: 'Availability Zone of a new room (default: the first that offers the instance type)',
        })
        .option('instance-type', {
          type: 'string',
          describe: 'instance type of the forensic instance (default m5.large)',
        })
        .option('ami', {
          type: 'string',
          describe: 'AMI id of the forensic instance (default: the latest Amazon Linux 2023)',
        })
        .option('toolkit', {
          type: 'string',
          describe:
            "forensic toolkit the room installs: default (the vault's published default; none published: no tools, with a warning), none, or a toolkit id / tools/toolkits/<id>/ (default: default for a new room; an existing room keeps its own)",
        }),
    handle<UpArgs, unknown>(io, async (ctx, args) => {
      // roomUp checks the flags before any AWS call, and the region before the custody record is opened.
      const account = await ctx.forensicAccount();
      const r = await roomUp(
        {
          account,
          custody: () => ctx.custody(args.case, args.bucket, { use: 'start', command: 'room up' }),
          reporter: ctx.reporter,
          clock: ctx.clock,
        },
        {
          caseId: args.case,
          ...(args.az ? { availabilityZone: args.az } : {}),
          ...(args.instanceType ? { instanceType: args.instanceType } : {}),
          ...(args.ami ? { amiId: args.ami } : {}),
          ...(args.toolkit !== undefined ? { toolkit: args.toolkit } : {}),
          ...(args.bucket ? { bucket: args.bucket } : {}),
          signal: ctx.abort.signal,
        },
      );
      return {
        data: {
          ...roomJson(r.room),
          change: r.change,
          upToDate: r.upToDate,
          ...(r.changeSetId ? { changeSetId: r.changeSetId } : {}),
          changes: r.changes,
          corrections: r.corrections,
          guestTools: r.guestTools,
          toolkit: r.toolkit,
          audit: { ok: r.audit.ok, checks: checksJson(r.audit.checks) },
        },
        text: upText(r),
        // A toolkit that does not match its manifest in the room is a verification problem (3),
        // one that failed to install a failed operation (1); the audit's findings come first.
        exitCode:
          !r.audit.ok || r.toolkit.inRoom?.status === 'mismatch' ? 3 : r.toolkit.inRoom?.status === 'failed' ? 1 : 0,
      };
    }),
  );
}

function roomVerifyCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'verify',
    'audit the live room against its invariants (changes nothing); exit 3 on a critical finding',
    (c) =>
      withCase(c).option('strict', {
        type: 'boolean',
        default: false,
        describe: 'count warnings (network ACL, flow logs) as failures',
      }),
    handle<VerifyArgs, unknown>(io, async (ctx, args) => {
      const account = await ctx.forensicAccount();
      await checkRegion(account);
      const a = await auditRoom(account, args.case, { strict: args.strict });
      return {
        data: {
          case: args.case,
          stackName: roomStackName(args.case),
          ok: a.ok,
          strict: args.strict,
          checks: checksJson(a.checks),
        },
        text: `${renderChecks(a.checks)}\n${auditSummary(a.ok, a.checks, args.strict)}`,
        exitCode: a.ok ? 0 : 3,
      };
    }),
  );
}

function roomStatusCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'status',
    'the room of a case: stack, network, instance, attached evidence, forensic toolkit',
    (c) => withCase(c),
    handle<CaseArgs, unknown>(io, async (ctx, args) => {
      const account = await ctx.forensicAccount();
      await checkRegion(account);
      const s = await roomStatus(account, args.case);
      const base = s.room ? roomJson(s.room) : roomJson({ case: args.case, stackName: roomStackName(args.case) });
      const data = {
        ...base,
        exists: !!s.room,
        instanceState: s.instanceState ?? null,
        instanceType: s.instanceType ?? null,
        imageId: s.imageId ?? null,
        evidence: s.evidence,
        leftovers: s.leftovers,
        createdAt: s.createdAt ?? null,
        updatedAt: s.updatedAt ?? null,
        toolkit: s.toolkit ?? null,
      };
      const text = s.room
        ? [
            `Room ${s.room.stackName}: ${s.room.stackStatus}`,
            table([
              ['availability zone', s.room.availabilityZone ?? '-'],
              ['VPC', s.room.vpcId ?? '-'],
              ['subnet', s.room.subnetId ?? '-'],
              [
                'forensic instance',
                `${s.room.instanceId ?? '-'}${s.instanceState ? ` (${s.instanceState}${s.instanceType ? `, ${s.instanceType}` : ''})` : ''}`,
              ],
              ['forensics group', s.room.forensicsSecurityGroupId ?? '-'],
              [
                'evidence attached',
                s.evidence.length
                  ? s.evidence.map((e) => `${e.volumeId}${e.evidenceId ? ` (${e.evidenceId})` : ''}`).join(', ')
                  : 'none',
              ],
              ...(s.toolkit ? [['toolkit', toolkitLine(s.toolkit)] as [string, string]] : []),
            ]),
          ].join('\n')
        : [
            `Case ${args.case} has no room (no stack ${roomStackName(args.case)} in ${account.region}).`,
            ...s.leftovers.map((l) => `  left: ${l.kind} ${l.id} — ${l.why}`),
          ].join('\n');
      return { data, text };
    }),
  );
}

function sessionsText(r: RoomSessionsResult): string {
  const lines = [
    r.recorded.length
      ? `Case ${r.case}: ${r.recorded.length} session(s) in the custody record:`
      : `Case ${r.case}: no session in the custody record.`,
    ...r.recorded.map(
      (s) =>
        `  #${s.seq} ${sessionLine(s)}${s.inSessionManager ? '' : ' [not in Session Manager’s history (it keeps 30 days)]'}`,
    ),
  ];
  if (r.unrecorded.length) {
    lines.push(
      `${r.unrecorded.length} session(s) Session Manager knows to ${r.instances.join(', ')} are NOT in the custody record (started past \`cleanroom room shell\`):`,
      ...r.unrecorded.map(
        (m) =>
          `  ${m.sessionId}  owner ${m.owner ?? '?'}  ${m.startedAt ?? '?'} – ${m.endedAt ?? (m.state === 'Active' ? 'still active' : '?')}  ${m.status ?? ''}${m.document ? `  (${m.document})` : ''}`,
      ),
    );
    if (r.recordedNow.length)
      lines.push(
        `Recorded now as room.session (found: true): ${r.recordedNow.map((x) => `${x.sessionId} #${x.seq}${x.transcript ? ` transcript sha256 ${x.transcript.sha256}` : ' (no transcript)'}`).join(', ')}.`,
      );
    for (const n of r.notRecorded) lines.push(`Not recorded: ${n.sessionId} — ${n.why}.`);
    if (!r.recordedNow.length && !r.notRecorded.length)
      lines.push(`Record them with: cleanroom room sessions --case ${r.case} --record`);
  } else
    lines.push(
      r.instances.length
        ? `Session Manager knows no session to ${r.instances.join(', ')} that the record does not hold.`
        : 'The case has no room instance and no recorded session: nothing to ask Session Manager about.',
    );
  return lines.join('\n');
}

function roomSessionsCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'sessions',
    "the sessions of a case's room: the custody record reconciled with Session Manager's history; exit 3 when Session Manager knows a session the record does not",
    (c) =>
      withBucket(withCase(c)).option('record', {
        type: 'boolean',
        default: false,
        describe: 'record each ended session the record lacks as room.session (found: true), with its transcript',
      }),
    handle<SessionsArgs, unknown>(io, async (ctx, args) => {
      const account = await ctx.forensicAccount();
      await checkRegion(account);
      const r = await roomSessions(
        {
          account,
          custody: () => ctx.custody(args.case, args.bucket, { use: 'change', command: 'room sessions' }),
          reporter: ctx.reporter,
        },
        {
          caseId: args.case,
          record: args.record,
          ...(args.bucket ? { bucket: args.bucket } : {}),
          signal: ctx.abort.signal,
        },
      );
      const { seal: _seal, ...data } = r;
      return { data, text: sessionsText(r), exitCode: r.ok ? 0 : 3 };
    }),
  );
}

function roomListCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'list',
    'the rooms of all cases in the account and region',
    (c) => c,
    handle<GlobalArgs, unknown>(io, async (ctx) => {
      const account = await ctx.forensicAccount();
      await checkRegion(account);
      const rooms = await listRooms(account);
      const text = rooms.length
        ? table([
            ['CASE', 'STACK', 'STATUS', 'AZ', 'INSTANCE'],
            ...rooms.map((r) => [
              r.case,
              r.stackName ?? '-',
              r.stackStatus,
              r.availabilityZone ?? '-',
              r.instanceId ?? '-',
            ]),
          ])
        : `No rooms in ${account.region}.`;
      return { data: { region: account.region, rooms }, text };
    }),
  );
}

function shellText(r: RoomShellResult): string {
  const s = r.session;
  const t = s.transcript;
  return [
    `Session ${s.sessionId} to ${s.instanceId} ${s.status} (${s.startedAt} – ${s.endedAt}), recorded in the custody record of case ${r.case}.`,
    t
      ? `  transcript  s3://${t.bucket}/${t.key}${t.versionId ? ` (version ${t.versionId})` : ''}, ${t.bytes} bytes, SHA-256 ${t.sha256}`
      : `  transcript  none${s.reason ? `: ${s.reason}` : ''}`,
  ].join('\n');
}

function roomShellCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'shell',
    'open a recorded Session Manager session to the forensic instance (transcript to the vault)',
    (c) =>
      withBucket(withCase(c))
        .option('port-forward', {
          type: 'string',
          describe: 'LOCAL:REMOTE — forward a local port to a port of the forensic instance (no shell)',
        })
        .option('transcript-wait-seconds', {
          type: 'string',
          describe: 'how long to wait for Session Manager to put the transcript into the vault (default 300)',
        }),
    handle<ShellArgs, unknown>(io, async (ctx, args) => {
      const plugin = processSessionPlugin({
        env: process.env,
        outputToStderr: args.json,
        foreground: (on) => {
          ctx.childHasTerminal = on;
        },
      });
      const wait =
        args.transcriptWaitSeconds !== undefined
          ? parseNumberOption(
              { flag: '--transcript-wait-seconds', unit: 'seconds', integer: true, min: 1, max: 3600 },
              args.transcriptWaitSeconds,
            )
          : undefined;
      // The plugin is looked for before the account is opened: without it, no AWS call at all.
      if (!(await plugin.locate())) throw pluginMissingError();
      const r = await roomShell(
        {
          account: await ctx.forensicAccount(),
          custody: () => ctx.custody(args.case, args.bucket, { use: 'change', command: 'room shell' }),
          plugin,
          reporter: ctx.reporter,
          clock: ctx.clock,
          profile: args.profile ?? '',
          ...ssmEndpoint(process.env),
        },
        {
          caseId: args.case,
          ...(args.portForward !== undefined ? { portForward: args.portForward } : {}),
          ...(wait !== undefined ? { budgets: { transcriptMs: wait * 1000 } } : {}),
          signal: ctx.abort.signal,
        },
      );
      return { data: { case: r.case, session: r.session, seal: r.seal }, text: shellText(r) };
    }),
  );
}

/** The SSM endpoint the plugin is handed (the SDK's own endpoint variables, as the AWS CLI's --endpoint-url). */
function ssmEndpoint(env: NodeJS.ProcessEnv): { ssmEndpoint?: string } {
  const url = env['AWS_ENDPOINT_URL_SSM'] ?? env['AWS_ENDPOINT_URL'];
  return url ? { ssmEndpoint: url } : {};
}

function roomDownCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'down',
    'delete the room of a case (the evidence is kept); refuses while evidence is attached',
    (c) =>
      withBucket(withCase(c)).option('detach-evidence', {
        type: 'boolean',
        default: false,
        describe: 'detach attached evidence volumes first (they are kept)',
      }),
    handle<DownArgs, unknown>(io, async (ctx, args) => {
      const account = await ctx.forensicAccount();
      const r = await roomDown(
        {
          account,
          custody: () => ctx.custody(args.case, args.bucket, { use: 'change', command: 'room down' }),
          reporter: ctx.reporter,
          clock: ctx.clock,
          approve: ctx.approve,
        },
        { caseId: args.case, detachEvidence: args.detachEvidence, signal: ctx.abort.signal },
      );
      const { seal: _seal, ...data } = r;
      const lines = [
        r.alreadyGone
          ? `Case ${r.case} has no room stack ${r.stackName}: nothing to take down.`
          : `Room ${r.stackName} deleted (DELETE_COMPLETE).`,
      ];
      for (const d of r.detached) lines.push(`  detached ${d.volumeId}${d.evidenceId ? ` (${d.evidenceId})` : ''}`);
      for (const l of r.leftovers) lines.push(`  left: ${l.kind} ${l.id} — ${l.why}`);
      return { data, text: lines.join('\n') };
    }),
  );
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function toolsText(r: RoomToolsResult): string {
  const m = r.manifest;
  const wheels = m.files.filter((f) => f.name.startsWith('wheels/'));
  const lines = [
    `Toolkit ${r.toolkitId} (${m.name}): ${wheels.length} wheels, ${MB(m.files.reduce((n, f) => n + f.bytes, 0))}, for CPython ${m.target.python} on manylinux ${m.target.arch}${r.reused ? ` — reused the wheelhouse in ${r.dir}, nothing downloaded` : ''}.`,
    table(m.tools.map((t) => [`  ${t.name}`, t.version])),
    `  manifest SHA-256  ${r.manifestSha256}`,
    r.dir ? `  wheelhouse        ${r.dir}` : '  wheelhouse        not kept (a temporary folder; --out DIR keeps it)',
  ];
  const p = r.published;
  if (p) {
    const up = p.files.filter((f) => f.uploaded).length;
    lines.push(
      `Published to s3://${p.bucket}/${p.prefix}: ${up} file(s) uploaded, ${p.files.length - up} already there${p.manifestKept ? ', its manifest kept from the earlier build' : ''}.`,
      p.pointer
        ? `The default toolkit is now ${r.toolkitId} (s3://${p.bucket}/${p.pointer.key}): \`room up --toolkit default\` installs it.`
        : `The default toolkit was not changed (--no-default): \`room up --toolkit ${r.toolkitId}\` installs this one.`,
    );
  } else lines.push('Not published: add --publish to upload it to the vault.');
  return lines.join('\n');
}

function roomToolsCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'tools',
    "build the forensic toolkit's wheelhouse (Dissect, Volatility 3, pytsk3) for the room's Python; --publish puts it in the vault",
    (c) =>
      withBucket(c)
        .option('out', { type: 'string', describe: 'keep the wheelhouse in this folder (reused when it matches)' })
        .option('publish', {
          type: 'boolean',
          default: false,
          describe: "upload it to the vault's tools/toolkits/<id>/ and make it the default",
        })
        .option('python', {
          type: 'string',
          default: 'python3',
          describe: "the local Python whose pip downloads the wheels (the room's is CPython 3.11)",
        })
        .option('arch', {
          type: 'string',
          choices: ['x86_64', 'aarch64'],
          default: 'x86_64',
          describe: "the room instance's architecture",
        })
        .option('package', {
          type: 'string',
          array: true,
          describe: 'a package (pip requirement) to add to the default set; repeatable',
        })
        .option('name', { type: 'string', describe: 'the name in the manifest (default cleanroom-toolkit)' })
        .option('default', {
          type: 'boolean',
          default: true,
          describe: 'with --publish, point tools/toolkits/default.json at it (--no-default leaves the default)',
        }),
    handle<ToolsArgs, unknown>(io, async (ctx, args) => {
      const r = await roomTools(
        { ...(args.publish ? { account: await ctx.forensicAccount() } : {}), reporter: ctx.reporter },
        {
          ...(args.out ? { out: args.out } : {}),
          publish: args.publish,
          setDefault: args.default,
          python: args.python,
          arch: args.arch,
          ...(args.package ? { packages: args.package } : {}),
          ...(args.name ? { name: args.name } : {}),
          ...(args.bucket ? { bucket: args.bucket } : {}),
          signal: ctx.abort.signal,
        },
      );
      return { data: r, text: toolsText(r) };
    }),
  );
}
