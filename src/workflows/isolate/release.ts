/**
 * `isolate release`: give an isolated instance back, as it was before isolation, from the case's
 * custody record — the `previousState` the isolation recorded before it changed anything.
 *
 * 0. Refuse before any change: a malformed id; a record that fails its chain check or whose
 *    recorded state is missing or malformed (RELEASE_STATE_INVALID, exit 3); an instance this case
 *    never isolated (NOT_ISOLATED, exit 2); something recorded that no longer exists — a security
 *    group, the instance profile, a target group, a Classic Load Balancer, the Auto Scaling group —
 *    named, unless `skipMissing` (RELEASE_TARGET_MISSING, exit 1).
 * 1. Undo the isolation in reverse order, each step planned from what AWS says now, made, verified
 *    by reading AWS again, and recorded (`isolate.release.<step>`) under its idempotency key:
 *    start (only when isolate stopped it and it was running before), profile, network ACL (--nacl),
 *    groups on every interface, the case's isolation and transit groups deleted where nothing uses
 *    them, then with `reregister` the Classic Load Balancers and the target groups, with `rejoinAsg`
 *    the Auto Scaling group, then the attributes (shutdown behaviour, DeleteOnTermination), and
 *    last the tag: `cleanroom:quarantine` replaced by `cleanroom:released=<time>`, which says the
 *    release is done (as the quarantine tag, last in isolate, says the isolation is).
 * 2. Record the summary (`isolate.release`) with what was kept and what was skipped.
 *
 * Kept on purpose: termination protection (unless `unprotect`: the instance may still hold
 * evidence), and the revoke-older-sessions policy on the old role (it only denies credentials
 * issued before the isolation; the instance gets fresh ones from its profile).
 *
 * Idempotent and crash-safe: a step already in place plans no call (a step found in place but not
 * recorded — the process died between the call and the record — is recorded as found); releasing a
 * released instance changes nothing and records nothing. `dryRun` plans every step and returns the
 * calls without making any change or recording anything.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { CustodyRecorder, RecordedEvent, ResourceRef } from '../../domain/recorder.js';
import type { CustodyAction } from '../../domain/custody-actions.js';
import { withCustodySession, withInstanceLocks, type CustodySource, type SealState } from '../../custody/session.js';
import { abortableClock, isInterrupted } from '../../domain/abort.js';
import { isAwsCode } from '../../aws/errors.js';
import {
  CleanroomError,
  PartialFailureError,
  UsageError,
  VerificationFailedError,
  asError,
} from '../../domain/errors.js';
import { assertCaseId } from '../../domain/case-id.js';
import { parseIdempotencyKey } from '../../domain/idempotency-keys.js';
import { silentReporter, type Reporter } from '../../domain/reporter.js';
import { systemClock, waitFor, type Clock } from '../../domain/waiter.js';
import { TAG_CASE, TAG_QUARANTINE, TAG_RELEASED } from '../../domain/tags.js';
import { resourceRef } from '../../resources/refs.js';
import {
  StepCallError,
  describeCalls,
  execute,
  perTargetGroup,
  recordFoundInPlace,
  recordStepFailure,
  type CallRecord,
  type PlannedCall,
} from './calls.js';
import {
  describeInstance,
  findCaseGroups,
  interfacesOf,
  readAsg,
  readAssociation,
  readClassicRegistrations,
  readProtection,
  readRegistrations,
  subnetAcl,
  type InstanceState,
  type Registration,
} from './discover.js';
import {
  INSTANCE_ID_PATTERN,
  REVOKE_POLICY_NAME,
  isReleaseSummary,
  isolationUndone,
  keys,
  stepEvents,
} from './names.js';

/** The release steps, in the order they run (also the last segment of their idempotency keys). */
export type ReleaseStepId =
  | 'start'
  | 'profile'
  | 'network-acl'
  | 'groups'
  | 'cleanup'
  | 'elb'
  | 'targets'
  | 'asg'
  | 'attributes'
  | 'tag';

/** What to release, and how far. */
export interface ReleaseOptions {
  caseId: string;
  instanceId: string;
  /** Plan only: no change, nothing recorded. */
  dryRun?: boolean;
  /** Attach the instance to its Auto Scaling group again (it raises the group's desired capacity by one). */
  rejoinAsg?: boolean;
  /** Register the instance again in its target groups (ports as recorded) and Classic Load Balancers. */
  reregister?: boolean;
  /** Turn termination protection off again, when it was off before isolation. */
  unprotect?: boolean;
  /** Go on when something recorded no longer exists (each skip is recorded). */
  skipMissing?: boolean;
  budgets?: Partial<ReleaseBudgets>;
  /** Stops the run at the next step boundary (INTERRUPTED); what was recorded is sealed. */
  signal?: AbortSignal;
}

/** Time budgets of the waits inside release steps (milliseconds). */
export interface ReleaseBudgets {
  /** The instance to be listed by its Auto Scaling group again (AttachInstances is asynchronous). */
  asgAttachMs: number;
}

const DEFAULT_RELEASE_BUDGETS: ReleaseBudgets = { asgAttachMs: 5 * 60_000 };

/** What `releaseInstance` works with. */
export interface ReleaseDeps {
  /** The source account, in the instance's region. */
  account: AwsAccount;
  /** The case's custody record (read for a dry run too: the recorded state is what is restored). */
  custody: CustodySource;
  reporter?: Reporter;
  clock?: Clock;
}

/** A release step's outcome: done now, in place already, not applicable, failed, not reached, planned (dry run). */
export type ReleaseStepStatus = 'done' | 'already' | 'skipped' | 'failed' | 'not-run' | 'planned';

/** One step in the result document. */
export interface ReleaseStepReport {
  step: ReleaseStepId;
  title: string;
  status: ReleaseStepStatus;
  detail: string;
  calls: CallRecord[];
  /** The custody event of the step, when this run appended one. */
  seq?: number;
}

/** The result document (`--json`). */
export interface ReleaseResult {
  case: string;
  instanceId: string;
  sourceAccount: string;
  region: string;
  dryRun: boolean;
  /** Released before this run: nothing changed, nothing was recorded. */
  alreadyReleased: boolean;
  steps: ReleaseStepReport[];
  /** What was recorded but no longer exists, left out (`skipMissing`). */
  skippedMissing: string[];
  /** What release leaves in place on purpose, and why. */
  kept: string[];
  /** When the isolation released began (the first: when the state release restores was recorded; a later one: its first event). */
  isolatedAt: string;
  /** When the release was first recorded complete. */
  releasedAt?: string;
  previousState: InstanceState;
  warnings: string[];
  seal: SealState;
}

/** What every release step knows. */
interface ReleaseContext {
  account: AwsAccount;
  accountId: string;
  caseId: string;
  instanceId: string;
  before: InstanceState;
  options: ReleaseOptions;
  /** Recorded ids that no longer exist, by kind (`group`, `profile`, `target-group`, `elb`, `asg`, `interface`). */
  missing: Set<string>;
  /** What the isolation this release undoes recorded besides the state (read from its own events). */
  isolation: {
    stopped: boolean;
    /** The instance's run state before that isolation (the recorded state's, or — a later isolation — what its stop step found). */
    stateBefore: string;
    previousAcls: Record<string, { networkAclId: string; associationId: string }>;
  };
  /** The isolation this release undoes, as its keys name it (undefined: the first; see {@link isolationUndone}). */
  isolationSeq: number | undefined;
  budgets: ReleaseBudgets;
  clock: Clock;
  /** The `cleanroom:released` value (the time this release began). */
  releasedAt: string;
}

/** What a step found and will do. */
interface ReleasePlan {
  status: 'to-do' | 'in-place' | 'skipped';
  calls: PlannedCall[];
  detail: string;
  resources: ResourceRef[];
  details: Record<string, unknown>;
}

interface ReleaseStep {
  id: ReleaseStepId;
  title: string;
  action: CustodyAction;
  plan(ctx: ReleaseContext): Promise<ReleasePlan>;
  /** Read AWS again after the calls; throw when the step's state is not there. */
  verify(ctx: ReleaseContext, plan: ReleasePlan): Promise<Record<string, unknown>>;
  byHand(ctx: ReleaseContext): string;
}

const instanceRef = (ctx: ReleaseContext): ResourceRef =>
  resourceRef('ec2:instance', ctx.instanceId, ctx.accountId, ctx.account.region);
const ref = (ctx: ReleaseContext, type: string, id: string): ResourceRef =>
  resourceRef(type, id, ctx.accountId, ctx.account.region);
const missingKey = (kind: string, id: string) => `${kind} ${id}`;
const sameSet = (a: readonly string[], b: readonly string[]) =>
  JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

function notThere(step: ReleaseStepId, ctx: ReleaseContext, message: string): CleanroomError {
  return new CleanroomError('ISOLATION_NOT_CONFIRMED', `After release step ${step}, ${message}`, {
    details: { instanceId: ctx.instanceId, step },
  });
}

async function current(ctx: Pick<ReleaseContext, 'account' | 'instanceId'>) {
  const i = await describeInstance(ctx.account, ctx.instanceId);
  if (!i)
    throw new CleanroomError(
      'INSTANCE_GONE',
      `Instance ${ctx.instanceId} is no longer visible in ${ctx.account.region}.`,
      {
        details: { instanceId: ctx.instanceId },
      },
    );
  return {
    instance: i,
    interfaces: interfacesOf(i),
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value])),
  };
}

const inPlace = (detail: string, resources: ResourceRef[], details: Record<string, unknown> = {}): ReleasePlan => ({
  status: 'in-place',
  calls: [],
  detail,
  resources,
  details,
});
const notApplicable = (
  detail: string,
  resources: ResourceRef[],
  details: Record<string, unknown> = {},
): ReleasePlan => ({
  status: 'skipped',
  calls: [],
  detail,
  resources,
  details,
});

/** Start the instance again when isolate stopped it (--stop) and it was running before. */
const start: ReleaseStep = {
  id: 'start',
  title: 'Start the instance',
  action: 'isolate.release.start',
  async plan(ctx) {
    const r = [instanceRef(ctx)];
    const was = ctx.isolation.stateBefore;
    const wasRunning = was === 'running' || was === 'pending';
    if (!ctx.isolation.stopped || !wasRunning)
      return notApplicable(
        ctx.isolation.stopped
          ? `it was ${was} before isolation: left as it is`
          : 'isolate did not stop it: left as it is',
        r,
      );
    const state = (await current(ctx)).instance.State?.Name ?? 'unknown';
    if (state === 'running' || state === 'pending') return inPlace(`${ctx.instanceId} is ${state}`, r);
    return {
      status: 'to-do',
      calls: [
        {
          send: (a, i) => a.ec2.startInstances(i),
          input: { InstanceIds: [ctx.instanceId] },
          why: 'isolate stopped it and it was running before (it starts still contained; the steps below open it)',
        },
      ],
      detail: `start ${ctx.instanceId} (stopped by isolate, running before)`,
      resources: r,
      details: { stateBefore: state },
    };
  },
  async verify(ctx) {
    const state = (await current(ctx)).instance.State?.Name ?? 'unknown';
    if (state !== 'running' && state !== 'pending') throw notThere('start', ctx, `${ctx.instanceId} is ${state}.`);
    return { state };
  },
  byHand: (ctx) => `start ${ctx.instanceId}`,
};

/** The instance profile recorded before isolation (or none). */
const profile: ReleaseStep = {
  id: 'profile',
  title: 'Give the instance profile back',
  action: 'isolate.release.profile',
  async plan(ctx) {
    const was = ctx.before.profile;
    const gone = was && ctx.missing.has(missingKey('instance profile', was.name));
    const want = gone ? undefined : was;
    const now = await readAssociation(ctx.account, ctx.instanceId);
    const resources = [instanceRef(ctx), ...(was ? [resourceRef('iam:instance-profile', was.arn, ctx.accountId)] : [])];
    const skipped = gone ? { skippedMissing: [was.arn] } : {};
    if (want && now?.arn === want.arn) return inPlace(`instance profile ${want.name} is associated`, resources);
    if (!want && !now)
      return inPlace(
        gone ? `no instance profile (${was.name} no longer exists)` : 'no instance profile, as before',
        resources,
        skipped,
      );
    const calls: PlannedCall[] = [];
    if (want && now)
      calls.push({
        send: (a, i) => a.ec2.replaceIamInstanceProfileAssociation(i),
        input: { AssociationId: now.associationId, IamInstanceProfile: { Name: want.name } },
        why: `${ctx.instanceId} gets credentials of ${want.name} again`,
      });
    else if (want)
      calls.push({
        send: (a, i) => a.ec2.associateIamInstanceProfile(i),
        input: { InstanceId: ctx.instanceId, IamInstanceProfile: { Name: want.name } },
        why: `${ctx.instanceId} gets credentials of ${want.name} again`,
      });
    else if (now)
      calls.push({
        send: (a, i) => a.ec2.disassociateIamInstanceProfile(i),
        input: { AssociationId: now.associationId },
        why: gone
          ? `the recorded profile ${was!.name} no longer exists (--skip-missing): no profile rather than the quarantine one`
          : 'it had no instance profile before isolation',
      });
    return {
      status: 'to-do',
      calls,
      detail: want ? `associate instance profile ${want.name} again` : 'remove the quarantine instance profile',
      resources,
      details: { profileArn: want?.arn ?? null, replacedArn: now?.arn ?? null, ...skipped },
    };
  },
  async verify(ctx, plan) {
    const want = plan.details['profileArn'] as string | null;
    const now = await readAssociation(ctx.account, ctx.instanceId);
    if ((now?.arn ?? null) !== want)
      throw notThere(
        'profile',
        ctx,
        `${ctx.instanceId} is associated with ${now?.arn ?? 'no profile'}, not ${want ?? 'none'}.`,
      );
    return { profileArn: want };
  },
  byHand: (ctx) =>
    ctx.before.profile
      ? `associate instance profile ${ctx.before.profile.name} with ${ctx.instanceId} again`
      : `remove the quarantine instance profile from ${ctx.instanceId}`,
};

/** Each subnet's network ACL as it was before --nacl. */
const networkAcl: ReleaseStep = {
  id: 'network-acl',
  title: "Give the subnets' network ACLs back",
  action: 'isolate.release.network-acl',
  async plan(ctx) {
    const prev = Object.entries(ctx.isolation.previousAcls).sort();
    const resources = prev.map(([s]) => ref(ctx, 'ec2:subnet', s));
    if (!prev.length) return notApplicable('isolate did not replace a network ACL (no --nacl)', [instanceRef(ctx)]);
    const calls: PlannedCall[] = [];
    for (const [subnet, was] of prev) {
      const now = await subnetAcl(ctx.account, subnet);
      if (!now || now.networkAclId === was.networkAclId) continue;
      calls.push({
        send: (a, i) => a.ec2.replaceNetworkAclAssociation(i),
        input: { AssociationId: now.associationId, NetworkAclId: was.networkAclId },
        why: `subnet ${subnet} uses ${was.networkAclId} again (was the deny-all ${now.networkAclId})`,
      });
    }
    return calls.length
      ? {
          status: 'to-do',
          calls,
          detail: `associate ${prev.map(([s, a]) => `${s} with ${a.networkAclId}`).join(', ')} again`,
          resources,
          details: { acls: Object.fromEntries(prev.map(([s, a]) => [s, a.networkAclId])) },
        }
      : inPlace(`${prev.map(([s, a]) => `${s} uses ${a.networkAclId}`).join(', ')}`, resources);
  },
  async verify(ctx) {
    for (const [subnet, was] of Object.entries(ctx.isolation.previousAcls)) {
      const now = await subnetAcl(ctx.account, subnet);
      if (now?.networkAclId !== was.networkAclId)
        throw notThere(
          'network-acl',
          ctx,
          `subnet ${subnet} uses ${now?.networkAclId ?? 'no ACL'}, not ${was.networkAclId}.`,
        );
    }
    return { restored: true };
  },
  byHand: (ctx) =>
    `associate ${Object.entries(ctx.isolation.previousAcls)
      .map(([s, a]) => `${s} with ${a.networkAclId}`)
      .join(', ')} again`,
};

/** The groups each interface should carry again (recorded, minus those gone under skipMissing). */
function wantedGroups(ctx: ReleaseContext, groupIds: readonly string[]): string[] {
  return groupIds.filter((g) => !ctx.missing.has(missingKey('security group', g)));
}

/** The original security groups on every interface. */
const groups: ReleaseStep = {
  id: 'groups',
  title: 'Give every interface its security groups back',
  action: 'isolate.release.groups',
  async plan(ctx) {
    const { interfaces } = await current(ctx);
    const byId = new Map(interfaces.map((n) => [n.networkInterfaceId, n]));
    const calls: PlannedCall[] = [];
    const skipped: string[] = [];
    for (const was of ctx.before.interfaces) {
      const now = byId.get(was.networkInterfaceId);
      if (!now) {
        skipped.push(was.networkInterfaceId);
        continue;
      }
      const want = wantedGroups(ctx, was.groupIds);
      if (!want.length)
        throw new CleanroomError(
          'RELEASE_TARGET_MISSING',
          `None of the security groups ${was.networkInterfaceId} had before isolation (${was.groupIds.join(', ')}) exists any more: an interface needs one. Put it in a group by hand (ModifyNetworkInterfaceAttribute), then run release again.`,
          { details: { networkInterfaceId: was.networkInterfaceId, groupIds: was.groupIds } },
        );
      if (sameSet(now.groupIds, want)) continue;
      calls.push({
        send: (a, i) => a.ec2.modifyNetworkInterfaceAttribute(i),
        input: { NetworkInterfaceId: was.networkInterfaceId, Groups: want },
        why: `${was.networkInterfaceId} (device ${was.deviceIndex}) back in ${want.join(', ')}`,
      });
    }
    const resources = [
      instanceRef(ctx),
      ...ctx.before.interfaces.map((n) => ref(ctx, 'ec2:network-interface', n.networkInterfaceId)),
    ];
    const details = {
      interfaces: ctx.before.interfaces.map((n) => ({
        networkInterfaceId: n.networkInterfaceId,
        groupIds: wantedGroups(ctx, n.groupIds),
      })),
      ...(skipped.length ? { skippedMissing: skipped } : {}),
    };
    return calls.length
      ? { status: 'to-do', calls, detail: `put ${calls.length} interface(s) back in their groups`, resources, details }
      : inPlace('every interface carries its groups from before isolation', resources, details);
  },
  async verify(ctx) {
    const { interfaces } = await current(ctx);
    const byId = new Map(interfaces.map((n) => [n.networkInterfaceId, n]));
    const wrong = ctx.before.interfaces.filter((was) => {
      const now = byId.get(was.networkInterfaceId);
      return now && !sameSet(now.groupIds, wantedGroups(ctx, was.groupIds));
    });
    if (wrong.length)
      throw notThere(
        'groups',
        ctx,
        wrong
          .map(
            (n) =>
              `${n.networkInterfaceId} carries ${byId.get(n.networkInterfaceId)!.groupIds.join(', ') || 'no group'}`,
          )
          .join('; '),
      );
    return { interfaces: interfaces.map((n) => ({ networkInterfaceId: n.networkInterfaceId, groupIds: n.groupIds })) };
  },
  byHand: (ctx) =>
    `put ${ctx.before.interfaces.map((n) => `${n.networkInterfaceId} in ${n.groupIds.join(', ')}`).join('; ')}`,
};

/** The network interfaces (any instance's) that use a group. */
async function groupUsers(account: AwsAccount, groupId: string): Promise<string[]> {
  const r = await account.ec2.describeNetworkInterfaces({ Filters: [{ Name: 'group-id', Values: [groupId] }] });
  return (r.NetworkInterfaces ?? []).flatMap((n) => (n.NetworkInterfaceId ? [n.NetworkInterfaceId] : []));
}

/** The case's isolation and transit groups deleted where no interface uses them any more. */
const cleanup: ReleaseStep = {
  id: 'cleanup',
  title: "Delete the case's isolation groups no one uses",
  action: 'isolate.release.cleanup',
  async plan(ctx) {
    const calls: PlannedCall[] = [];
    const kept: Record<string, string[]> = {};
    const resources: ResourceRef[] = [];
    for (const vpc of [...new Set(ctx.before.interfaces.map((n) => n.vpcId))].sort()) {
      const found = await findCaseGroups(ctx.account, ctx.caseId, vpc);
      for (const g of [found.transit, found.isolation]) {
        if (!g) continue;
        resources.push(ref(ctx, 'ec2:security-group', g.groupId));
        // This instance's own interfaces leave the group in the groups step, before this one (a
        // dry run plans that too): only other interfaces keep it.
        const own = new Set(ctx.before.interfaces.map((n) => n.networkInterfaceId));
        const users = (await groupUsers(ctx.account, g.groupId)).filter((u) => !own.has(u));
        if (users.length) {
          kept[g.groupId] = users;
          continue;
        }
        calls.push({
          send: (a, i) => a.ec2.deleteSecurityGroup(i),
          input: { GroupId: g.groupId },
          why: `${g.role} group of case ${ctx.caseId} in ${vpc}: no network interface uses it any more`,
          alreadyIf: ['InvalidGroup.NotFound'],
        });
      }
    }
    const details = { deleted: calls.map((c) => c.input['GroupId']), kept };
    const keptText = Object.entries(kept)
      .map(([g, u]) => `${g} kept (still used by ${u.join(', ')})`)
      .join('; ');
    if (!calls.length)
      return Object.keys(kept).length
        ? inPlace(keptText, resources, details)
        : inPlace(`no isolation group of case ${ctx.caseId} is left in the instance's VPCs`, resources, details);
    return {
      status: 'to-do',
      calls,
      detail: `delete ${calls.map((c) => c.input['GroupId']).join(', ')}${keptText ? `; ${keptText}` : ''}`,
      resources,
      details,
    };
  },
  async verify(ctx, plan) {
    for (const id of plan.details['deleted'] as string[]) {
      const r = await ctx.account.ec2.describeSecurityGroups({ Filters: [{ Name: 'group-id', Values: [id] }] });
      if (r.SecurityGroups?.length) throw notThere('cleanup', ctx, `security group ${id} still exists.`);
    }
    return { deleted: plan.details['deleted'] };
  },
  byHand: (ctx) => `delete the security groups of case ${ctx.caseId} that no network interface uses`,
};

/** The Classic Load Balancers (with --reregister). */
const elb: ReleaseStep = {
  id: 'elb',
  title: 'Register with the Classic Load Balancers again',
  action: 'isolate.release.elb',
  async plan(ctx) {
    const was = ctx.before.classicLoadBalancers ?? [];
    const resources = [instanceRef(ctx), ...was.map((n) => ref(ctx, 'elasticloadbalancing:loadbalancer', n))];
    if (!was.length) return notApplicable('it was registered with no Classic Load Balancer', resources);
    if (!ctx.options.reregister)
      return notApplicable(`not asked (--reregister): left out of ${was.join(', ')}`, resources, {
        notRegistered: was,
      });
    const skipped = was.filter((n) => ctx.missing.has(missingKey('Classic Load Balancer', n)));
    const want = was.filter((n) => !skipped.includes(n));
    const now = await readClassicRegistrations(ctx.account, ctx.instanceId);
    const todo = want.filter((n) => !now.includes(n));
    const details = { classicLoadBalancers: want, ...(skipped.length ? { skippedMissing: skipped } : {}) };
    if (!todo.length)
      return inPlace(
        want.length ? `registered with ${want.join(', ')}` : 'nothing left to register with',
        resources,
        details,
      );
    return {
      status: 'to-do',
      calls: todo.map((name) => ({
        send: (a, i) => a.clb.registerInstancesWithLoadBalancer(i),
        input: { LoadBalancerName: name, Instances: [{ InstanceId: ctx.instanceId }] },
        why: `traffic from Classic Load Balancer ${name} again`,
      })),
      detail: `register with ${todo.join(', ')} again`,
      resources,
      details,
    };
  },
  async verify(ctx, plan) {
    const now = await readClassicRegistrations(ctx.account, ctx.instanceId);
    const left = (plan.details['classicLoadBalancers'] as string[]).filter((n) => !now.includes(n));
    if (left.length) throw notThere('elb', ctx, `${ctx.instanceId} is not registered with ${left.join(', ')}.`);
    return { registered: true };
  },
  byHand: (ctx) =>
    `register ${ctx.instanceId} with ${(ctx.before.classicLoadBalancers ?? []).join(', ')} (RegisterInstancesWithLoadBalancer)`,
};

const sameTarget = (a: Registration, b: Registration) =>
  a.targetGroupArn === b.targetGroupArn && a.id === b.id && (a.port ?? null) === (b.port ?? null);

/** The target groups (with --reregister), ports as recorded. */
const targets: ReleaseStep = {
  id: 'targets',
  title: 'Register in the target groups again',
  action: 'isolate.release.targets',
  async plan(ctx) {
    const was = ctx.before.registrations;
    const arns = [...new Set(was.map((r) => r.targetGroupArn))];
    const resources = [instanceRef(ctx), ...arns.map((a) => ref(ctx, 'elasticloadbalancing:target-group', a))];
    if (!was.length) return notApplicable('it was registered in no target group', resources);
    if (!ctx.options.reregister)
      return notApplicable(
        `not asked (--reregister): left out of ${[...new Set(was.map((r) => r.targetGroupName))].join(', ')}`,
        resources,
        { notRegistered: arns },
      );
    const skipped = arns.filter((a) => ctx.missing.has(missingKey('target group', a)));
    const want = was.filter((r) => !skipped.includes(r.targetGroupArn));
    const now = await readRegistrations(ctx.account, ctx.instanceId, ctx.before.interfaces);
    const todo = want.filter((r) => !now.some((n) => sameTarget(n, r)));
    const details = {
      registrations: want.map((r) => ({
        targetGroupArn: r.targetGroupArn,
        id: r.id,
        ...(r.port !== undefined ? { port: r.port } : {}),
      })),
      ...(skipped.length ? { skippedMissing: skipped } : {}),
    };
    if (!todo.length)
      return inPlace(want.length ? 'registered as recorded' : 'nothing left to register in', resources, details);
    const { calls, groupNames } = perTargetGroup(
      todo,
      (a, i) => a.elb.registerTargets(i),
      (name, rs) =>
        `traffic from target group ${name} again (${rs.map((r) => `${r.id}${r.port !== undefined ? `:${r.port}` : ''}`).join(', ')})`,
    );
    return {
      status: 'to-do',
      calls,
      detail: `register in ${groupNames.join(', ')} again`,
      resources,
      details,
    };
  },
  async verify(ctx, plan) {
    const now = await readRegistrations(ctx.account, ctx.instanceId, ctx.before.interfaces);
    const want = plan.details['registrations'] as Registration[];
    const left = want.filter((r) => !now.some((n) => sameTarget(n, r)));
    if (left.length)
      throw notThere(
        'targets',
        ctx,
        `not registered: ${left.map((r) => `${r.id} in ${r.targetGroupArn}`).join(', ')}.`,
      );
    return { registered: want.length };
  },
  byHand: (ctx) =>
    `register ${ctx.instanceId} in ${ctx.before.registrations.map((r) => `${r.targetGroupName} (${r.id}${r.port !== undefined ? `:${r.port}` : ''})`).join(', ')}`,
};

/** The Auto Scaling group (with --rejoin-asg). */
const asg: ReleaseStep = {
  id: 'asg',
  title: 'Rejoin the Auto Scaling group',
  action: 'isolate.release.asg',
  async plan(ctx) {
    const was = ctx.before.asg;
    const resources = [instanceRef(ctx), ...(was ? [ref(ctx, 'autoscaling:group', was.name)] : [])];
    if (!was) return notApplicable('it was in no Auto Scaling group', resources);
    if (!ctx.options.rejoinAsg)
      return notApplicable(`not asked (--rejoin-asg): left out of ${was.name}`, resources, { notRejoined: was.name });
    if (ctx.missing.has(missingKey('Auto Scaling group', was.name)))
      return notApplicable(`Auto Scaling group ${was.name} no longer exists (--skip-missing)`, resources, {
        skippedMissing: [was.name],
      });
    const now = await readAsg(ctx.account, ctx.instanceId);
    if (now)
      return inPlace(`in Auto Scaling group ${now.name} (${now.lifecycleState})`, resources, {
        autoScalingGroup: now.name,
      });
    return {
      status: 'to-do',
      calls: [
        {
          send: (a, i) => a.autoscaling.attachInstances(i),
          input: { AutoScalingGroupName: was.name, InstanceIds: [ctx.instanceId] },
          why: `back in ${was.name} (its desired capacity grows by one, as isolate lowered it by one)`,
        },
      ],
      detail: `attach to Auto Scaling group ${was.name}${was.lifecycleState === 'Standby' ? ' (it was in Standby before: it comes back InService)' : ''}`,
      resources,
      details: { autoScalingGroup: was.name, lifecycleStateBefore: was.lifecycleState },
    };
  },
  async verify(ctx, plan) {
    await waitFor(
      async () =>
        (await readAsg(ctx.account, ctx.instanceId))
          ? { state: 'done', value: true }
          : { state: 'pending', detail: 'not listed by the group yet' },
      {
        description: `${ctx.instanceId} to join Auto Scaling group ${plan.details['autoScalingGroup']}`,
        budgetMs: ctx.budgets.asgAttachMs,
        intervalMs: 2000,
        clock: ctx.clock,
        details: { instanceId: ctx.instanceId },
      },
    );
    return { attached: true };
  },
  byHand: (ctx) =>
    `attach ${ctx.instanceId} to Auto Scaling group ${ctx.before.asg?.name ?? '(none)'} (AttachInstances)`,
};

/** Shutdown behaviour and DeleteOnTermination as recorded; termination protection only with --unprotect. */
const attributes: ReleaseStep = {
  id: 'attributes',
  title: 'Give the attributes back',
  action: 'isolate.release.attributes',
  async plan(ctx) {
    const [p, { instance }] = await Promise.all([readProtection(ctx.account, ctx.instanceId), current(ctx)]);
    const calls: PlannedCall[] = [];
    const b = ctx.before;
    if (p.shutdownBehavior !== b.shutdownBehavior)
      // The Attribute/Value form, as isolate's protect step (docs/local-aws.md: the structured form's moto trap).
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: {
          InstanceId: ctx.instanceId,
          Attribute: 'instanceInitiatedShutdownBehavior',
          Value: b.shutdownBehavior,
        },
        why: `shutdown behaviour ${b.shutdownBehavior} again`,
      });
    const dot = new Map((instance.BlockDeviceMappings ?? []).map((m) => [m.Ebs?.VolumeId, m]));
    const change = b.volumes.filter((v) => {
      const m = dot.get(v.volumeId);
      return m && (m.Ebs?.DeleteOnTermination === true) !== v.deleteOnTermination;
    });
    if (change.length)
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: {
          InstanceId: ctx.instanceId,
          BlockDeviceMappings: change.map((v) => ({
            DeviceName: dot.get(v.volumeId)!.DeviceName,
            Ebs: { DeleteOnTermination: v.deleteOnTermination },
          })),
        },
        why: `DeleteOnTermination as recorded on ${change.map((v) => `${v.volumeId} (${v.deleteOnTermination})`).join(', ')}`,
      });
    if (ctx.options.unprotect && !b.disableApiTermination && p.disableApiTermination)
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: { InstanceId: ctx.instanceId, DisableApiTermination: { Value: false } },
        why: 'termination protection off, as before isolation (--unprotect)',
      });
    const details = {
      shutdownBehavior: b.shutdownBehavior,
      deleteOnTermination: Object.fromEntries(b.volumes.map((v) => [v.volumeId, v.deleteOnTermination])),
      disableApiTermination: ctx.options.unprotect ? b.disableApiTermination : p.disableApiTermination,
    };
    const resources = [instanceRef(ctx), ...b.volumes.map((v) => ref(ctx, 'ec2:volume', v.volumeId))];
    return calls.length
      ? {
          status: 'to-do',
          calls,
          detail: `shutdown behaviour ${b.shutdownBehavior}, DeleteOnTermination as recorded${ctx.options.unprotect ? ', termination protection as before' : ''}`,
          resources,
          details,
        }
      : inPlace('shutdown behaviour and DeleteOnTermination are as recorded', resources, details);
  },
  async verify(ctx, plan) {
    const [p, { instance }] = await Promise.all([readProtection(ctx.account, ctx.instanceId), current(ctx)]);
    if (p.shutdownBehavior !== ctx.before.shutdownBehavior)
      throw notThere(
        'attributes',
        ctx,
        `shutdown behaviour is ${p.shutdownBehavior}, not ${ctx.before.shutdownBehavior}.`,
      );
    const dot = new Map(
      (instance.BlockDeviceMappings ?? []).map((m) => [m.Ebs?.VolumeId, m.Ebs?.DeleteOnTermination === true]),
    );
    const wrong = ctx.before.volumes.filter(
      (v) => dot.has(v.volumeId) && dot.get(v.volumeId) !== v.deleteOnTermination,
    );
    if (wrong.length)
      throw notThere('attributes', ctx, `DeleteOnTermination differs on ${wrong.map((v) => v.volumeId).join(', ')}.`);
    if (p.disableApiTermination !== plan.details['disableApiTermination'])
      throw notThere('attributes', ctx, `termination protection is ${p.disableApiTermination ? 'on' : 'off'}.`);
    return { disableApiTermination: p.disableApiTermination };
  },
  byHand: (ctx) =>
    `set shutdown behaviour ${ctx.before.shutdownBehavior} and DeleteOnTermination ${ctx.before.volumes.map((v) => `${v.volumeId}=${v.deleteOnTermination}`).join(', ')} on ${ctx.instanceId}`,
};

/** The quarantine tag replaced by `cleanroom:released=<time>` (last). */
const tag: ReleaseStep = {
  id: 'tag',
  title: 'Tag the instance released',
  action: 'isolate.release.tag',
  async plan(ctx) {
    const { tags } = await current(ctx);
    const calls: PlannedCall[] = [];
    // A tag written by a run that died before recording it keeps its time.
    const released = tags[TAG_RELEASED] && tags[TAG_QUARANTINE] ? tags[TAG_RELEASED] : ctx.releasedAt;
    if (!tags[TAG_RELEASED])
      calls.push({
        send: (a, i) => a.ec2.createTags(i),
        input: { Resources: [ctx.instanceId], Tags: [{ Key: TAG_RELEASED, Value: released }] },
        why: `mark ${ctx.instanceId} released (first, so that a crash never leaves it with neither tag)`,
      });
    if (tags[TAG_QUARANTINE])
      calls.push({
        send: (a, i) => a.ec2.deleteTags(i),
        input: { Resources: [ctx.instanceId], Tags: [{ Key: TAG_QUARANTINE }] },
        why: `${ctx.instanceId} is no longer quarantined`,
      });
    return calls.length
      ? {
          status: 'to-do',
          calls,
          detail: `replace ${TAG_QUARANTINE} with ${TAG_RELEASED}=${released}`,
          resources: [instanceRef(ctx)],
          details: { quarantineTag: tags[TAG_QUARANTINE] ?? null, released },
        }
      : inPlace(`tagged ${TAG_RELEASED}=${tags[TAG_RELEASED]}`, [instanceRef(ctx)], { released: tags[TAG_RELEASED] });
  },
  async verify(ctx) {
    const { tags } = await current(ctx);
    if (tags[TAG_QUARANTINE] || !tags[TAG_RELEASED])
      throw notThere('tag', ctx, `${ctx.instanceId} does not carry ${TAG_RELEASED} without ${TAG_QUARANTINE}.`);
    return { released: tags[TAG_RELEASED] };
  },
  byHand: (ctx) => `delete tag ${TAG_QUARANTINE} of ${ctx.instanceId} and tag it ${TAG_RELEASED}=<time>`,
};

/** The release steps, in order (the reverse of isolation; the tag last, as in isolate). */
export const RELEASE_STEPS: readonly ReleaseStep[] = [
  start,
  profile,
  networkAcl,
  groups,
  cleanup,
  elb,
  targets,
  asg,
  attributes,
  tag,
];

/** Release one isolated instance; see the module comment. Seals the record on the way out. */
export async function releaseInstance(deps: ReleaseDeps, options: ReleaseOptions): Promise<ReleaseResult> {
  const caseId = assertCaseId(options.caseId);
  const instanceId = options.instanceId;
  if (typeof instanceId !== 'string' || !INSTANCE_ID_PATTERN.test(instanceId))
    throw new UsageError(
      'INVALID_INSTANCE_ID',
      `${JSON.stringify(instanceId)} is not an EC2 instance id (i- followed by 8 or 17 hexadecimal digits, for example i-0abc1234def567890).`,
      { details: { instanceId } },
    );
  return withCustodySession(deps.custody, options.signal, async (session) => {
    const reporter = deps.reporter ?? silentReporter;
    const warnings: string[] = [];
    const custody = await session.open();
    const isolationSeq = isolationUndone(custody.events(), instanceId);
    const { stateEvent, before, isolation } = recordedIsolation(custody, caseId, instanceId, isolationSeq);
    const { account } = deps;
    const accountId = await account.accountId();
    // The instance's own lock, vault-wide, from its read to the end: another case's writer on it waits.
    return withInstanceLocks(custody, [instanceId], { account: accountId, region: account.region }, async () => {
      reporter.progress({ kind: 'step', message: `reading ${instanceId} in account ${accountId}, ${account.region}` });
      const now = await current({ account, instanceId }).catch((e: unknown) => {
        if (e instanceof CleanroomError && e.code === 'INSTANCE_GONE')
          throw new UsageError(
            'INSTANCE_NOT_FOUND',
            `Instance ${instanceId} does not exist in account ${accountId}, ${account.region} any more: there is nothing to release. Check --source-region and the account.`,
            { details: { instanceId, account: accountId, region: account.region } },
          );
        throw e;
      });
      const state = now.instance.State?.Name ?? 'unknown';
      if (state === 'terminated' || state === 'shutting-down')
        throw new UsageError(
          'INSTANCE_TERMINATED',
          `Instance ${instanceId} is ${state}: there is nothing to release.`,
          {
            details: { instanceId, state },
          },
        );
      const otherCase = now.tags[TAG_CASE];
      if (now.tags[TAG_QUARANTINE] && otherCase && otherCase !== caseId)
        throw new UsageError(
          'ISOLATED_FOR_ANOTHER_CASE',
          `Instance ${instanceId} is quarantined for case ${otherCase} now (${TAG_QUARANTINE}=${now.tags[TAG_QUARANTINE]}): release it under that case. Nothing was changed.`,
          { details: { instanceId, caseId: otherCase } },
        );
      const clock = abortableClock(deps.clock ?? systemClock, session.signal);
      const ctx: ReleaseContext = {
        account,
        accountId,
        caseId,
        instanceId,
        before,
        options,
        missing: new Set(),
        isolation,
        isolationSeq,
        budgets: { ...DEFAULT_RELEASE_BUDGETS, ...options.budgets },
        clock,
        releasedAt: new Date(clock.now()).toISOString(),
      };
      // 0. What the record names that is gone: refused (before any change), or skipped and recorded.
      const missing = await findMissing(ctx);
      if (missing.length && !options.skipMissing)
        throw new CleanroomError(
          'RELEASE_TARGET_MISSING',
          `The isolation of ${instanceId} recorded ${missing.join(', ')}, which no longer ${missing.length === 1 ? 'exists' : 'exist'}: release cannot put ${instanceId} back as it was. Check what happened to ${missing.length === 1 ? 'it' : 'them'}; run again with --skip-missing to release without ${missing.length === 1 ? 'it' : 'them'} (each skip is recorded). Nothing was changed.`,
          { details: { instanceId, missing } },
        );
      for (const m of missing) {
        ctx.missing.add(m);
        warnings.push(`${m} no longer exists: skipped (--skip-missing).`);
        reporter.warn(`${m} no longer exists: skipped (--skip-missing).`);
      }
      const kept = keptOnPurpose(ctx);
      const base = {
        case: caseId,
        instanceId,
        sourceAccount: accountId,
        region: account.region,
        skippedMissing: missing,
        kept,
        // When the isolation released began: the first's state event, a later one's first event.
        isolatedAt: custody.events().find((e) => e.seq === isolationSeq)?.time ?? stateEvent.time,
        previousState: before,
        warnings,
      };
      if (options.dryRun) {
        const steps: ReleaseStepReport[] = [];
        for (const step of RELEASE_STEPS) {
          const plan = await step.plan(ctx);
          steps.push({
            step: step.id,
            title: step.title,
            status: plan.status === 'to-do' ? 'planned' : plan.status === 'skipped' ? 'skipped' : 'already',
            detail: plan.detail,
            calls: describeCalls(plan.calls),
          });
        }
        return {
          ...base,
          dryRun: true,
          alreadyReleased:
            !steps.some((s) => s.status === 'planned') &&
            Boolean(custody.find(keys.release(instanceId, 'complete', ctx.isolationSeq))),
          steps,
        };
      }
      const reports: ReleaseStepReport[] = [];
      let changed = false;
      for (const [index, step] of RELEASE_STEPS.entries()) {
        session.checkpoint(step.title);
        reporter.progress({ kind: 'step', message: step.title });
        const r = await runStep(ctx, custody, reporter, { index, reports });
        if (r.seq) changed = true;
        reports.push(r);
      }
      const completeKey = keys.release(instanceId, 'complete', ctx.isolationSeq);
      const alreadyReleased = !changed && Boolean(custody.find(completeKey));
      const summary = await custody.record({
        action: 'isolate.release',
        resources: [instanceRef(ctx)],
        outcome: {
          status: 'succeeded',
          details: {
            steps: reports.map((x) => ({ step: x.step, status: x.status })),
            options: {
              rejoinAsg: options.rejoinAsg ?? false,
              reregister: options.reregister ?? false,
              unprotect: options.unprotect ?? false,
              skipMissing: options.skipMissing ?? false,
            },
            skippedMissing: missing,
            kept,
            isolationSeq: ctx.isolationSeq ?? stateEvent.seq,
          },
        },
        idempotencyKey: completeKey,
      });
      return { ...base, dryRun: false, alreadyReleased, steps: reports, releasedAt: summary.time };
    });
  });
}

/**
 * The events of the isolation a release undoes: from its first event (the record's first, for the
 * first isolation) up to the release summary that ended it, if one did.
 */
function eventsOfIsolation(
  events: readonly RecordedEvent[],
  instanceId: string,
  isolationSeq: number | undefined,
): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (const e of events) {
    if (isolationSeq !== undefined && e.seq < isolationSeq) continue;
    const p = e.idempotencyKey === undefined ? undefined : parseIdempotencyKey(e.idempotencyKey);
    if (p && p.fields['instanceId'] === instanceId && isReleaseSummary(p)) break;
    out.push(e);
  }
  return out;
}

/** What the record says of this instance's isolation; refuses a record that cannot say it. */
function recordedIsolation(
  custody: CustodyRecorder,
  caseId: string,
  instanceId: string,
  isolationSeq: number | undefined,
): { stateEvent: RecordedEvent; before: InstanceState; isolation: ReleaseContext['isolation'] } {
  if (custody.chainProblem)
    throw new VerificationFailedError(
      'RELEASE_STATE_INVALID',
      `The custody record of case ${caseId} fails its chain check (${custody.chainProblem}): release will not act on a record it cannot trust. Investigate with \`cleanroom custody verify --case ${caseId}\`. Nothing was changed.`,
      { caseId, instanceId, problem: custody.chainProblem },
    );
  const stateEvent = custody.find(keys.step(instanceId, 'state'));
  if (!stateEvent)
    throw new UsageError(
      'NOT_ISOLATED',
      `Case ${caseId} never isolated ${instanceId} (its custody record has no isolate.record-state event for it): there is nothing to release. Check the case id and the instance id (\`cleanroom custody log --case ${caseId}\` lists what the case did). Nothing was changed.`,
      { details: { caseId, instanceId } },
    );
  const s = stateEvent.outcome.details?.['previousState'] as Partial<InstanceState> | undefined;
  const valid =
    s &&
    s.instanceId === instanceId &&
    Array.isArray(s.interfaces) &&
    s.interfaces.length > 0 &&
    s.interfaces.every((n) => typeof n?.networkInterfaceId === 'string' && Array.isArray(n.groupIds)) &&
    Array.isArray(s.volumes) &&
    Array.isArray(s.registrations) &&
    typeof s.shutdownBehavior === 'string' &&
    typeof s.disableApiTermination === 'boolean';
  if (!valid)
    throw new VerificationFailedError(
      'RELEASE_STATE_INVALID',
      `The isolation of ${instanceId} in case ${caseId} (custody event #${stateEvent.seq}) does not hold a usable state of the instance before isolation (previousState with its interfaces, volumes, attributes): release has nothing to restore from. Nothing was changed.`,
      { caseId, instanceId, seq: stateEvent.seq },
    );
  // The stop and network-ACL details of the isolation undone, from its own events: a later isolation
  // redoes those steps under their redone keys, with what it found then (the state event is the
  // first isolation's: a later one restores, and is released to, the same state).
  const mine = eventsOfIsolation(custody.events(), instanceId, isolationSeq);
  const stops = stepEvents(mine, instanceId, 'stop');
  const stop = stops.at(-1);
  const stateBefore = isolationSeq === undefined ? undefined : stops[0]?.outcome.details?.['stateBefore'];
  // Each subnet's ACL as the isolation first replaced it (a redo within it found drift, not the state before).
  const previousAcls: ReleaseContext['isolation']['previousAcls'] = {};
  for (const acl of stepEvents(mine, instanceId, 'network-acl'))
    for (const [subnet, a] of Object.entries(
      (acl.outcome.details?.['previousAcls'] ?? {}) as ReleaseContext['isolation']['previousAcls'],
    ))
      if (!(subnet in previousAcls) && typeof a?.networkAclId === 'string') previousAcls[subnet] = a;
  return {
    stateEvent,
    before: s as InstanceState,
    isolation: {
      // Stopped by isolate: its latest stop made its calls (did not find the instance stopped already).
      stopped: Boolean(stop && stop.outcome.status === 'succeeded' && !stop.outcome.details?.['foundInPlace']),
      stateBefore: typeof stateBefore === 'string' ? stateBefore : (s as InstanceState).state,
      previousAcls,
    },
  };
}

/** What the record names that no longer exists (only what this release would use). */
async function findMissing(ctx: ReleaseContext): Promise<string[]> {
  const { account, before, options } = ctx;
  const out: string[] = [];
  const groupIds = [...new Set(before.interfaces.flatMap((n) => n.groupIds))].sort();
  if (groupIds.length) {
    const r = await account.ec2.describeSecurityGroups({ Filters: [{ Name: 'group-id', Values: groupIds }] });
    const found = new Set((r.SecurityGroups ?? []).map((g) => g.GroupId));
    for (const g of groupIds) if (!found.has(g)) out.push(missingKey('security group', g));
  }
  if (before.profile) {
    try {
      await account.iam.getInstanceProfile({ InstanceProfileName: before.profile.name });
    } catch (e) {
      if (!isAwsCode(e, 'NoSuchEntity', 'NoSuchEntityException')) throw e;
      out.push(missingKey('instance profile', before.profile.name));
    }
  }
  if (options.reregister) {
    for (const arn of [...new Set(before.registrations.map((r) => r.targetGroupArn))].sort()) {
      try {
        await account.elb.describeTargetGroups({ TargetGroupArns: [arn] });
      } catch (e) {
        if (!isAwsCode(e, 'TargetGroupNotFound', 'TargetGroupNotFoundException')) throw e;
        out.push(missingKey('target group', arn));
      }
    }
    for (const name of before.classicLoadBalancers ?? []) {
      try {
        await account.clb.describeLoadBalancers({ LoadBalancerNames: [name] });
      } catch (e) {
        if (!isAwsCode(e, 'LoadBalancerNotFound', 'AccessPointNotFound', 'AccessPointNotFoundException')) throw e;
        out.push(missingKey('Classic Load Balancer', name));
      }
    }
  }
  if (options.rejoinAsg && before.asg) {
    const r = await account.autoscaling.describeAutoScalingGroups({ AutoScalingGroupNames: [before.asg.name] });
    if (!r.AutoScalingGroups?.length) out.push(missingKey('Auto Scaling group', before.asg.name));
  }
  return out;
}

/** What release leaves in place on purpose, in words for the responder. */
function keptOnPurpose(ctx: ReleaseContext): string[] {
  const out: string[] = [];
  if (!ctx.options.unprotect && !ctx.before.disableApiTermination)
    out.push(
      'termination protection stays on (the instance may still hold evidence): --unprotect turns it off as it was',
    );
  const roles = (ctx.before.profile?.roles ?? []).map((r) => r.name).filter(Boolean);
  if (roles.length)
    out.push(
      `the ${REVOKE_POLICY_NAME} policy stays on role ${roles.join(', ')}: it denies only credentials issued before the isolation (possibly stolen); the instance gets fresh ones from its profile`,
    );
  return out;
}

/** One step: plan, make, verify, record (or record what was found in place); a failure is recorded and thrown. */
async function runStep(
  ctx: ReleaseContext,
  custody: CustodyRecorder,
  reporter: Reporter,
  at: { index: number; reports: ReleaseStepReport[] },
): Promise<ReleaseStepReport> {
  const step = RELEASE_STEPS[at.index]!;
  const key = keys.release(ctx.instanceId, step.id, ctx.isolationSeq);
  const prior = custody.find(key);
  let calls: CallRecord[] = [];
  try {
    const plan = await step.plan(ctx);
    if (plan.status !== 'to-do') {
      const ev = prior ? undefined : await recordFoundInPlace(custody, step.action, plan, key);
      return {
        step: step.id,
        title: step.title,
        status: plan.status === 'skipped' ? 'skipped' : 'already',
        detail: plan.detail,
        calls: [],
        ...(ev ? { seq: ev.seq } : {}),
      };
    }
    if (prior)
      reporter.warn(
        `Release step ${step.id} was recorded (custody seq ${prior.seq}) but is not in place; doing it again: ${plan.detail}.`,
      );
    calls = await execute(ctx.account, plan.calls, {
      clock: ctx.clock,
      onCall: (c) =>
        reporter.progress({ kind: 'item', item: ctx.instanceId, phase: step.id, message: `${c.call} — ${c.why}` }),
    });
    const verified = await step.verify(ctx, plan);
    const ev = await custody.record({
      action: step.action,
      resources: plan.resources,
      inputs: { calls: calls.map((c) => ({ call: c.call, input: c.input, outcome: c.outcome })) },
      outcome: { status: 'succeeded', details: { ...plan.details, ...verified, detail: plan.detail } },
      // A step redone after drift is a new unit of work: its own key (the step's, marked by the prior seq).
      idempotencyKey: prior ? keys.release(ctx.instanceId, `${step.id}-after-${prior.seq}`, ctx.isolationSeq) : key,
    });
    return { step: step.id, title: step.title, status: 'done', detail: plan.detail, calls, seq: ev.seq };
  } catch (e) {
    const err = e instanceof StepCallError ? e.error : asError(e);
    if (e instanceof StepCallError) calls = [...e.done, e.failedCall];
    return failStep(ctx, custody, at, err, calls);
  }
}

/** Record a failed step, then throw: what was done stays, and the error says what is left. */
async function failStep(
  ctx: ReleaseContext,
  custody: CustodyRecorder,
  at: { index: number; reports: ReleaseStepReport[] },
  err: Error,
  calls: CallRecord[],
): Promise<never> {
  if (isInterrupted(err)) throw err;
  // A refusal found while planning (an interface with no group left) changes nothing: as it is.
  if (err instanceof CleanroomError && err.code === 'RELEASE_TARGET_MISSING' && !calls.length) throw err;
  const step = RELEASE_STEPS[at.index]!;
  const { message, recorded } = await recordStepFailure(
    custody,
    {
      key: (code) => keys.releaseFailed(ctx.instanceId, step.id, code, ctx.isolationSeq),
      action: step.action,
      resource: instanceRef(ctx),
    },
    err,
    calls,
  );
  const reports = [
    ...at.reports,
    { step: step.id, title: step.title, status: 'failed' as const, detail: message, calls },
    ...RELEASE_STEPS.slice(at.index + 1).map((s) => ({
      step: s.id,
      title: s.title,
      status: 'not-run' as const,
      detail: s.byHand(ctx),
      calls: [],
    })),
  ];
  const done = at.reports.filter((r) => r.status === 'done' || r.status === 'already').map((r) => r.step);
  const remaining = RELEASE_STEPS.slice(at.index).map((s) => `${s.id}: ${s.byHand(ctx)}`);
  throw new PartialFailureError(
    `Release of ${ctx.instanceId} (case ${ctx.caseId}) stopped at step ${step.id} (${step.title.toLowerCase()}): ${message}${recorded}\n` +
      `Done and recorded: ${done.join(', ') || 'nothing'}.\n` +
      `Left to do — fix the cause and run the same command again (what is done is not repeated), or by hand:\n${remaining.map((r) => `  - ${r}`).join('\n')}`,
    [{ item: step.id, error: err }],
    { caseId: ctx.caseId, instanceId: ctx.instanceId, failedStep: step.id, done, remaining, steps: reports },
  );
}
