/**
 * The steps of isolation, in the order they run. Each step reads what it needs (read-only) and
 * plans its calls; the runner executes the plan, then the step verifies the result by reading AWS
 * again (verify, don't assume). A step whose state is already in place plans no calls.
 *
 * Order, and why (AWS Security Incident Response Guide, "Containment"; aws-samples incident
 * response playbooks, EC2 compromise):
 * 1. protect the evidence first: nothing later may lose a volume to a termination;
 * 2. leave the Auto Scaling group BEFORE cutting the network: an instance that stops answering
 *    health checks is replaced — terminated — by its group, and termination protection does not
 *    prevent that (EC2 User Guide, "Change instance termination protection": it "does not prevent
 *    Amazon EC2 Auto Scaling from terminating an instance");
 * 3. leave the load balancer target groups and the Classic Load Balancers (no user traffic to a
 *    contained host);
 * 4. cut the network on every interface in two moves (allow-all group, then no-rule group) so that
 *    tracked connections die with the swap (EC2 User Guide, "Security group connection tracking":
 *    flows allowed both ways for 0.0.0.0/0 and ::/0 are untracked; changing groups does not break
 *    tracked flows);
 * 5. cut the credentials: a deny-all profile first, then revoke the old role's sessions issued
 *    before now (after the swap, so the instance cannot pick up fresh credentials of the old role);
 * 6. tag it, last: the tag says the isolation is complete.
 */
import type { AwsAccount } from '../../aws/ports.js';
import type { ResourceRef } from '../../domain/recorder.js';
import type { CustodyAction } from '../../domain/custody-actions.js';
import { resourceRef } from '../../resources/refs.js';
import { isAwsCode } from '../../aws/errors.js';
import { CleanroomError } from '../../domain/errors.js';
import { lockScopes } from '../../domain/exclusive.js';
import { TAG_CASE, TAG_QUARANTINE, ROLE } from '../../domain/tags.js';
import { waitFor, type Clock } from '../../domain/waiter.js';
import { perTargetGroup, type PlannedCall } from './calls.js';
import {
  allowsAll,
  describeInstance,
  findCaseAcl,
  findCaseGroups,
  interfacesOf,
  readAsg,
  readAssociation,
  readClassicRegistrations,
  readProtection,
  readQuarantine,
  readRegistrations,
  readRules,
  subnetAcl,
  type InstanceState,
} from './discover.js';
import {
  DENY_ALL_POLICY,
  DENY_ALL_POLICY_NAME,
  QUARANTINE_TRUST_POLICY,
  REVOKE_POLICY_NAME,
  isolationGroupName,
  isolationTags,
  quarantineName,
  revocationTime,
  revokePolicy,
  transitGroupName,
} from './names.js';

/** The steps, by id (also the suffix of their custody idempotency keys). */
export type StepId =
  | 'protect'
  | 'leave-asg'
  | 'leave-target-groups'
  | 'leave-classic-lbs'
  | 'prepare-groups'
  | 'swap-groups'
  | 'network-acl'
  | 'swap-profile'
  | 'revoke-sessions'
  | 'tag'
  | 'stop';

/** Time budgets of the waits inside steps (milliseconds). */
export interface IsolateBudgets {
  /** The instance to leave its Auto Scaling group (DetachInstances is asynchronous). */
  asgDetachMs: number;
  /** A new instance profile to become usable by EC2 (IAM is eventually consistent). */
  profilePropagationMs: number;
  /** The instance to reach `stopped` (--stop). */
  stopMs: number;
}

/** Default wait budgets. */
export const DEFAULT_BUDGETS: IsolateBudgets = {
  asgDetachMs: 5 * 60_000,
  profilePropagationMs: 2 * 60_000,
  stopMs: 15 * 60_000,
};

/** What every step knows about the run. */
export interface StepContext {
  account: AwsAccount;
  accountId: string;
  caseId: string;
  instanceId: string;
  /** The instance as it was before isolation began (from the record on a rerun). */
  before: InstanceState;
  /** When isolation began (the time of the state event): the quarantine tag's value. */
  startedAt: string;
  asgReplace: boolean;
  budgets: IsolateBudgets;
  clock?: Clock;
  /** The revocation time an earlier run recorded, if any (a rerun re-applies that same time). */
  recordedRevocation?: string;
}

/** What a step found and will do. */
export interface StepPlan {
  /** to-do: the calls below are needed; in-place: already so; skipped: does not apply to this instance. */
  status: 'to-do' | 'in-place' | 'skipped';
  calls: PlannedCall[];
  /** What the step does or found, in one sentence. */
  detail: string;
  resources: ResourceRef[];
  /** Facts for the record (ids, what was there before). */
  details: Record<string, unknown>;
  /** Values the calls may name (`{{...}}`) that are known already. */
  refs?: Map<string, unknown>;
  warnings?: string[];
}

/** One step of isolation. */
export interface Step {
  id: StepId;
  title: string;
  /** The custody action. */
  action: CustodyAction;
  plan(ctx: StepContext): Promise<StepPlan>;
  /** Read AWS again after the calls; throw when the step's state is not there. Returns facts for the record. */
  verify(ctx: StepContext, plan: StepPlan, refs: ReadonlyMap<string, unknown>): Promise<Record<string, unknown>>;
  /** Resources only known once the calls are made (what they created), for the record. */
  created?(ctx: StepContext, refs: ReadonlyMap<string, unknown>, verified: Record<string, unknown>): ResourceRef[];
  /** What is left to do by hand when this step did not run. */
  byHand(ctx: StepContext): string;
  /**
   * The locks (src/domain/exclusive.ts) of what the step changes that other instances share — of
   * the case, or of any case of the vault (an ACL's subnets, a role, an Auto Scaling group) — held from its plan to its record when the caller asks for them (`IsolateDeps.exclusive`).
   */
  exclusive?(ctx: StepContext): string[];
}

const instanceRef = (ctx: StepContext): ResourceRef =>
  resourceRef('ec2:instance', ctx.instanceId, ctx.accountId, ctx.account.region);
const ref = (ctx: StepContext, type: string, id: string): ResourceRef =>
  resourceRef(type, id, ctx.accountId, ctx.account.region);

function notThere(
  step: StepId,
  ctx: StepContext,
  message: string,
  details: Record<string, unknown> = {},
): CleanroomError {
  return new CleanroomError('ISOLATION_NOT_CONFIRMED', `After step ${step}, ${message}`, {
    details: { instanceId: ctx.instanceId, ...details },
  });
}

async function currentInterfaces(ctx: StepContext) {
  const i = await describeInstance(ctx.account, ctx.instanceId);
  if (!i)
    throw new CleanroomError(
      'INSTANCE_GONE',
      `Instance ${ctx.instanceId} is no longer visible in ${ctx.account.region}.`,
      { details: { instanceId: ctx.instanceId } },
    );
  return { instance: i, interfaces: interfacesOf(i) };
}

/** Where the instance is: what qualifies the vault-wide lock of a VPC's ACL or an Auto Scaling group. */
const whereOf = (ctx: StepContext) => ({ account: ctx.accountId, region: ctx.account.region });
const vpcsOf = (ctx: StepContext) => [...new Set(ctx.before.interfaces.map((n) => n.vpcId))].sort();
const isoRef = (vpc: string) => `isolation group of ${vpc}`;
const transitRef = (vpc: string) => `untrack group of ${vpc}`;
const aclRef = (vpc: string) => `network ACL of ${vpc}`;

/** Protect the evidence: termination protection, shutdown behaviour `stop`, volumes kept on termination. */
export const protect: Step = {
  id: 'protect',
  title: 'Protect the evidence',
  action: 'isolate.protect',
  async plan(ctx) {
    const [p, { instance, interfaces }] = await Promise.all([
      readProtection(ctx.account, ctx.instanceId),
      currentInterfaces(ctx),
    ]);
    const deleting = (instance.BlockDeviceMappings ?? []).filter(
      (m) => m.Ebs?.VolumeId && m.Ebs.DeleteOnTermination === true,
    );
    const calls: PlannedCall[] = [];
    if (!p.disableApiTermination) {
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: { InstanceId: ctx.instanceId, DisableApiTermination: { Value: true } },
        why: 'termination protection on',
      });
    }
    if (p.shutdownBehavior !== 'stop') {
      // The Attribute/Value form, not `InstanceInitiatedShutdownBehavior: {Value}`: AWS documents both,
      // and moto 5.2.1 ignores the structured one AND wipes the instance's security groups with it
      // (docs/local-aws.md). The Attribute/Value form works in both.
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: { InstanceId: ctx.instanceId, Attribute: 'instanceInitiatedShutdownBehavior', Value: 'stop' },
        why: 'a shutdown from inside the instance stops it instead of terminating it',
      });
    }
    if (deleting.length) {
      calls.push({
        send: (a, i) => a.ec2.modifyInstanceAttribute(i),
        input: {
          InstanceId: ctx.instanceId,
          BlockDeviceMappings: deleting.map((m) => ({ DeviceName: m.DeviceName, Ebs: { DeleteOnTermination: false } })),
        },
        why: `keep ${deleting.map((m) => m.Ebs!.VolumeId).join(', ')} if the instance is ever terminated`,
      });
    }
    const volumes = (instance.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.VolumeId ? [m.Ebs.VolumeId] : []));
    return {
      status: calls.length ? 'to-do' : 'in-place',
      calls,
      detail: calls.length
        ? `termination protection on, shutdown behaviour stop, DeleteOnTermination off on ${volumes.length} volume(s)`
        : 'termination protection is on, shutdown behaviour is stop, no volume is deleted on termination',
      resources: [instanceRef(ctx), ...volumes.map((v) => ref(ctx, 'ec2:volume', v))],
      details: { volumes, groupsBefore: Object.fromEntries(interfaces.map((n) => [n.networkInterfaceId, n.groupIds])) },
    };
  },
  async verify(ctx, plan) {
    const [p, { instance, interfaces }] = await Promise.all([
      readProtection(ctx.account, ctx.instanceId),
      currentInterfaces(ctx),
    ]);
    const still = (instance.BlockDeviceMappings ?? [])
      .filter((m) => m.Ebs?.DeleteOnTermination === true)
      .map((m) => m.Ebs?.VolumeId);
    if (!p.disableApiTermination)
      throw notThere('protect', ctx, `termination protection of ${ctx.instanceId} is still off.`);
    if (p.shutdownBehavior !== 'stop')
      throw notThere(
        'protect',
        ctx,
        `the shutdown behaviour of ${ctx.instanceId} is still ${p.shutdownBehavior}, not stop.`,
      );
    if (still.length) throw notThere('protect', ctx, `${still.join(', ')} would still be deleted on termination.`);
    // Protecting must not touch the network: a ModifyInstanceAttribute that changed the groups is a
    // defect of the endpoint (moto's structured-shutdown trap does exactly that), caught here.
    const before = plan.details['groupsBefore'] as Record<string, string[]>;
    const changed = interfaces.filter(
      (n) =>
        JSON.stringify([...(before[n.networkInterfaceId] ?? [])].sort()) !== JSON.stringify([...n.groupIds].sort()),
    );
    if (changed.length) {
      throw notThere(
        'protect',
        ctx,
        `the security groups of ${changed.map((n) => `${n.networkInterfaceId} (now: ${n.groupIds.join(', ') || 'none'}; before: ${(before[n.networkInterfaceId] ?? []).join(', ')})`).join('; ')} changed: ModifyInstanceAttribute must not change them.`,
      );
    }
    return { disableApiTermination: true, shutdownBehavior: 'stop', deleteOnTermination: false };
  },
  byHand: (ctx) =>
    `protect ${ctx.instanceId}: termination protection on, shutdown behaviour stop, DeleteOnTermination off on ${ctx.before.volumes.map((v) => v.volumeId).join(', ') || 'its volumes'}`,
};

/** Leave the Auto Scaling group, so that it neither terminates nor replaces the instance. */
export const leaveAsg: Step = {
  id: 'leave-asg',
  title: 'Leave the Auto Scaling group',
  action: 'isolate.leave-asg',
  // Its desired capacity, lowered by one per instance that leaves.
  exclusive: (ctx) => (ctx.before.asg ? [lockScopes.asg(ctx.before.asg.name, whereOf(ctx))] : []),
  async plan(ctx) {
    const now = await readAsg(ctx.account, ctx.instanceId);
    const was = ctx.before.asg;
    if (!now) {
      return was
        ? {
            status: 'in-place',
            calls: [],
            detail: `no longer in Auto Scaling group ${was.name}`,
            resources: [instanceRef(ctx), ref(ctx, 'autoscaling:group', was.name)],
            details: { autoScalingGroup: was.name },
          }
        : {
            status: 'skipped',
            calls: [],
            detail: 'not in an Auto Scaling group',
            resources: [instanceRef(ctx)],
            details: {},
          };
    }
    const decrement = !ctx.asgReplace;
    return {
      status: 'to-do',
      calls: [
        {
          send: (a, i) => a.autoscaling.detachInstances(i),
          input: {
            AutoScalingGroupName: now.name,
            InstanceIds: [ctx.instanceId],
            ShouldDecrementDesiredCapacity: decrement,
          },
          why: decrement
            ? `the group keeps ${now.desiredCapacity - 1} instance(s) and launches no replacement`
            : 'the group launches a replacement (--asg-replace)',
        },
      ],
      detail: `detach from Auto Scaling group ${now.name} (${decrement ? `desired capacity ${now.desiredCapacity} → ${now.desiredCapacity - 1}, no replacement` : 'the group launches a replacement'})`,
      resources: [instanceRef(ctx), ref(ctx, 'autoscaling:group', now.name)],
      details: {
        autoScalingGroup: now.name,
        lifecycleState: now.lifecycleState,
        minSize: now.minSize,
        desiredCapacity: now.desiredCapacity,
        maxSize: now.maxSize,
        shouldDecrementDesiredCapacity: decrement,
      },
    };
  },
  async verify(ctx, plan) {
    // DetachInstances answers with an activity in progress; the instance is out once no group lists it.
    await waitFor(
      async () =>
        (await readAsg(ctx.account, ctx.instanceId))
          ? { state: 'pending', detail: 'still in the group' }
          : { state: 'done', value: true },
      {
        description: `${ctx.instanceId} to leave Auto Scaling group ${plan.details['autoScalingGroup']}`,
        budgetMs: ctx.budgets.asgDetachMs,
        intervalMs: 2000,
        ...(ctx.clock ? { clock: ctx.clock } : {}),
        details: { instanceId: ctx.instanceId },
      },
    );
    return { detached: true };
  },
  byHand: (ctx) =>
    `detach ${ctx.instanceId} from Auto Scaling group ${ctx.before.asg?.name ?? '(none)'} (DetachInstances, ShouldDecrementDesiredCapacity)`,
};

/** Leave every load balancer target group that lists it. */
export const leaveTargetGroups: Step = {
  id: 'leave-target-groups',
  title: 'Leave the load balancer target groups',
  action: 'isolate.leave-target-groups',
  async plan(ctx) {
    const now = await readRegistrations(ctx.account, ctx.instanceId, ctx.before.interfaces);
    const resources = [
      instanceRef(ctx),
      ...[...new Set([...now, ...ctx.before.registrations].map((r) => r.targetGroupArn))].map((arn) =>
        ref(ctx, 'elasticloadbalancing:target-group', arn),
      ),
    ];
    if (!now.length) {
      return ctx.before.registrations.length
        ? {
            status: 'in-place',
            calls: [],
            detail: `no longer registered in ${ctx.before.registrations.map((r) => r.targetGroupName).join(', ')}`,
            resources,
            details: { registrations: ctx.before.registrations },
          }
        : {
            status: 'skipped',
            calls: [],
            detail: 'not registered in any load balancer target group',
            resources,
            details: {},
          };
    }
    const { calls, groupNames } = perTargetGroup(
      now,
      (a, i) => a.elb.deregisterTargets(i),
      (name) => `no more traffic from target group ${name}`,
    );
    return {
      status: 'to-do',
      calls,
      detail: `deregister from ${groupNames.join(', ')}`,
      resources,
      details: { registrations: now },
    };
  },
  async verify(ctx) {
    const left = await readRegistrations(ctx.account, ctx.instanceId, ctx.before.interfaces);
    if (left.length)
      throw notThere(
        'leave-target-groups',
        ctx,
        `${ctx.instanceId} is still registered in ${left.map((r) => r.targetGroupName).join(', ')}.`,
      );
    return { deregistered: true };
  },
  byHand: (ctx) =>
    `deregister ${ctx.instanceId} from target groups ${ctx.before.registrations.map((r) => r.targetGroupName).join(', ') || '(none found)'}`,
};

/** Leave every Classic Load Balancer that lists it. */
export const leaveClassicLbs: Step = {
  id: 'leave-classic-lbs',
  title: 'Leave the Classic Load Balancers',
  action: 'isolate.leave-classic-lbs',
  async plan(ctx) {
    const now = await readClassicRegistrations(ctx.account, ctx.instanceId);
    const was = ctx.before.classicLoadBalancers ?? [];
    const resources = [
      instanceRef(ctx),
      ...[...new Set([...now, ...was])].sort().map((n) => ref(ctx, 'elasticloadbalancing:loadbalancer', n)),
    ];
    if (!now.length)
      return was.length
        ? {
            status: 'in-place',
            calls: [],
            detail: `no longer registered with ${was.join(', ')}`,
            resources,
            details: { classicLoadBalancers: was },
          }
        : {
            status: 'skipped',
            calls: [],
            detail: 'not registered with any Classic Load Balancer',
            resources,
            details: {},
          };
    return {
      status: 'to-do',
      calls: now.map((name) => ({
        send: (a, i) => a.clb.deregisterInstancesFromLoadBalancer(i),
        input: { LoadBalancerName: name, Instances: [{ InstanceId: ctx.instanceId }] },
        why: `no more traffic from Classic Load Balancer ${name}`,
      })),
      detail: `deregister from Classic Load Balancer ${now.join(', ')}`,
      resources,
      details: { classicLoadBalancers: now },
    };
  },
  async verify(ctx) {
    const left = await readClassicRegistrations(ctx.account, ctx.instanceId);
    if (left.length)
      throw notThere('leave-classic-lbs', ctx, `${ctx.instanceId} is still registered with ${left.join(', ')}.`);
    return { deregistered: true };
  },
  byHand: (ctx) =>
    `deregister ${ctx.instanceId} from Classic Load Balancers ${(ctx.before.classicLoadBalancers ?? []).join(', ') || '(none found)'} (DeregisterInstancesFromLoadBalancer)`,
};

type CaseGroups = Awaited<ReturnType<typeof findCaseGroups>>;

/** The transit group of a VPC: all traffic allowed both ways, IPv4 and IPv6 (made, or its missing rules added). */
function transitGroupCalls(ctx: StepContext, vpc: string, t: CaseGroups['transit']): PlannedCall[] {
  const calls: PlannedCall[] = [];
  if (t) {
    for (const [egress, family] of [
      [false, 'v4'],
      [false, 'v6'],
      [true, 'v4'],
      [true, 'v6'],
    ] as const) {
      if (!t.rules.some((r) => r.egress === egress && allowsAll(r, family)))
        calls.push(allowAll(vpc, egress, family, t.groupId));
    }
  } else {
    calls.push({
      send: (a, i) => a.ec2.createSecurityGroup(i),
      input: {
        GroupName: transitGroupName(ctx.caseId),
        Description: `cleanroom ${ctx.caseId}: allows all traffic so that flows become untracked before isolation`,
        VpcId: vpc,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: isolationTags(ctx.caseId, ROLE.transitGroup) }],
      },
      why: `the transit group of ${vpc}`,
      bind: (o: { GroupId?: string }) => ({ [transitRef(vpc)]: o.GroupId }),
    });
    calls.push({
      send: (a, i) => a.ec2.authorizeSecurityGroupIngress(i),
      input: {
        GroupId: `{{${transitRef(vpc)}}}`,
        IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] }],
      },
      why: 'all inbound traffic, IPv4 and IPv6 (with the outbound rules: flows are not tracked)',
    });
    // A new group allows all IPv4 egress already (and IPv6 in some VPCs: then this is a duplicate).
    calls.push({
      ...allowAll(vpc, true, 'v6', `{{${transitRef(vpc)}}}`),
      alreadyIf: ['InvalidPermission.Duplicate'],
    });
  }
  return calls;
}

/** The isolation group of a VPC: no rule at all (made and emptied, or its rules revoked). */
function isolationGroupCalls(ctx: StepContext, vpc: string, iso: CaseGroups['isolation']): PlannedCall[] {
  const calls: PlannedCall[] = [];
  if (iso) {
    const egress = iso.rules.filter((r) => r.egress).map((r) => r.id);
    const ingress = iso.rules.filter((r) => !r.egress).map((r) => r.id);
    if (egress.length)
      calls.push({
        send: (a, i) => a.ec2.revokeSecurityGroupEgress(i),
        input: { GroupId: iso.groupId, SecurityGroupRuleIds: egress },
        why: `remove every outbound rule of the isolation group of ${vpc}`,
      });
    if (ingress.length)
      calls.push({
        send: (a, i) => a.ec2.revokeSecurityGroupIngress(i),
        input: { GroupId: iso.groupId, SecurityGroupRuleIds: ingress },
        why: `remove every inbound rule of the isolation group of ${vpc}`,
      });
  } else {
    const g = `{{${isoRef(vpc)}}}`;
    calls.push({
      send: (a, i) => a.ec2.createSecurityGroup(i),
      input: {
        GroupName: isolationGroupName(ctx.caseId),
        Description: `cleanroom ${ctx.caseId}: isolation, no traffic in or out`,
        VpcId: vpc,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: isolationTags(ctx.caseId, ROLE.isolationGroup) }],
      },
      why: `the isolation group of ${vpc}`,
      bind: (o: { GroupId?: string }) => ({ [isoRef(vpc)]: o.GroupId }),
    });
    calls.push({
      send: (a, i) => a.ec2.describeSecurityGroupRules(i),
      input: { Filters: [{ Name: 'group-id', Values: [g] }] },
      why: 'the ids of the default rules AWS gives a new group (outbound all, IPv4 and IPv6)',
      bind: (o: { SecurityGroupRules?: Array<{ SecurityGroupRuleId?: string; IsEgress?: boolean }> }) => ({
        [`outbound rules of ${isoRef(vpc)}`]: (o.SecurityGroupRules ?? [])
          .filter((r) => r.IsEgress && r.SecurityGroupRuleId)
          .map((r) => r.SecurityGroupRuleId),
        [`inbound rules of ${isoRef(vpc)}`]: (o.SecurityGroupRules ?? [])
          .filter((r) => !r.IsEgress && r.SecurityGroupRuleId)
          .map((r) => r.SecurityGroupRuleId),
      }),
    });
    calls.push({
      send: (a, i) => a.ec2.revokeSecurityGroupEgress(i),
      input: { GroupId: g, SecurityGroupRuleIds: `{{outbound rules of ${isoRef(vpc)}}}` },
      why: 'revoke the default outbound rules by rule id',
      skipIfEmpty: `outbound rules of ${isoRef(vpc)}`,
    });
    calls.push({
      send: (a, i) => a.ec2.revokeSecurityGroupIngress(i),
      input: { GroupId: g, SecurityGroupRuleIds: `{{inbound rules of ${isoRef(vpc)}}}` },
      why: 'revoke any inbound rule by rule id',
      skipIfEmpty: `inbound rules of ${isoRef(vpc)}`,
    });
  }
  return calls;
}

/** The case's two groups in every VPC of the instance: allow-all (transit) and no-rule (isolation). */
export const prepareGroups: Step = {
  id: 'prepare-groups',
  title: 'Prepare the isolation groups',
  action: 'isolate.prepare-groups',
  // Made once per VPC and shared by every instance of the case there: one writer makes (or mends) them.
  exclusive: (ctx) => vpcsOf(ctx).map(lockScopes.groups),
  async plan(ctx) {
    const calls: PlannedCall[] = [];
    const refs = new Map<string, unknown>();
    const groups: Record<string, { isolationGroupId?: string; transitGroupId?: string }> = {};
    for (const vpc of vpcsOf(ctx)) {
      const found = await findCaseGroups(ctx.account, ctx.caseId, vpc);
      if (found.foreign.length) {
        throw new CleanroomError(
          'GROUP_NAME_TAKEN',
          `Security group ${found.foreign.map((g) => `${g.groupId} (${g.name})`).join(', ')} in ${vpc} has the name isolate uses for case ${ctx.caseId} but not its tags (${TAG_CASE}=${ctx.caseId}); isolate will not use a group it did not make. Rename or delete it, then run again.`,
          { details: { vpcId: vpc, groups: found.foreign } },
        );
      }
      groups[vpc] = {};
      if (found.transit) {
        refs.set(transitRef(vpc), found.transit.groupId);
        groups[vpc]!.transitGroupId = found.transit.groupId;
      }
      if (found.isolation) {
        refs.set(isoRef(vpc), found.isolation.groupId);
        groups[vpc]!.isolationGroupId = found.isolation.groupId;
      }
      calls.push(...transitGroupCalls(ctx, vpc, found.transit), ...isolationGroupCalls(ctx, vpc, found.isolation));
    }
    return {
      status: calls.length ? 'to-do' : 'in-place',
      calls,
      refs,
      detail: calls.length
        ? `groups of case ${ctx.caseId} in ${vpcsOf(ctx).join(', ')}: an allow-all transit group and an isolation group with no rules`
        : `the groups of case ${ctx.caseId} are ready in ${vpcsOf(ctx).join(', ')}`,
      resources: [
        ...vpcsOf(ctx).map((v) => ref(ctx, 'ec2:vpc', v)),
        ...Object.values(groups).flatMap((g) =>
          [g.transitGroupId, g.isolationGroupId]
            .filter((x): x is string => Boolean(x))
            .map((id) => ref(ctx, 'ec2:security-group', id)),
        ),
      ],
      details: { groups },
    };
  },
  created: (ctx, refs) =>
    vpcsOf(ctx).flatMap((v) =>
      [refs.get(transitRef(v)), refs.get(isoRef(v))]
        .filter((id): id is string => typeof id === 'string')
        .map((id) => ref(ctx, 'ec2:security-group', id)),
    ),
  async verify(ctx, _plan, refs) {
    const groups: Record<string, { isolationGroupId: string; transitGroupId: string }> = {};
    for (const vpc of vpcsOf(ctx)) {
      const isolationGroupId = refs.get(isoRef(vpc)) as string;
      const transitGroupId = refs.get(transitRef(vpc)) as string;
      const [iso, transit] = await Promise.all([
        readRules(ctx.account, isolationGroupId),
        readRules(ctx.account, transitGroupId),
      ]);
      if (iso.length)
        throw notThere(
          'prepare-groups',
          ctx,
          `isolation group ${isolationGroupId} still has ${iso.length} rule(s): ${iso.map((r) => r.id).join(', ')}.`,
          { groupId: isolationGroupId },
        );
      for (const [egress, family] of [
        [false, 'v4'],
        [false, 'v6'],
        [true, 'v4'],
        [true, 'v6'],
      ] as const) {
        if (!transit.some((r) => r.egress === egress && allowsAll(r, family)))
          throw notThere(
            'prepare-groups',
            ctx,
            `transit group ${transitGroupId} lacks the ${egress ? 'outbound' : 'inbound'} allow-all ${family} rule.`,
            { groupId: transitGroupId },
          );
      }
      groups[vpc] = { isolationGroupId, transitGroupId };
    }
    return { groups };
  },
  byHand: (ctx) =>
    `create, in ${vpcsOf(ctx).join(', ')}, a security group allowing all traffic both ways (IPv4 and IPv6) and one with no rule at all (revoke its default outbound rules)`,
};

function allowAll(vpc: string, egress: boolean, family: 'v4' | 'v6', groupId: string): PlannedCall {
  const range = family === 'v4' ? { IpRanges: [{ CidrIp: '0.0.0.0/0' }] } : { Ipv6Ranges: [{ CidrIpv6: '::/0' }] };
  return {
    send: egress ? (a, i) => a.ec2.authorizeSecurityGroupEgress(i) : (a, i) => a.ec2.authorizeSecurityGroupIngress(i),
    input: { GroupId: groupId, IpPermissions: [{ IpProtocol: '-1', ...range }] },
    why: `all ${egress ? 'outbound' : 'inbound'} ${family === 'v4' ? 'IPv4' : 'IPv6'} traffic on the transit group of ${vpc}`,
    alreadyIf: ['InvalidPermission.Duplicate'],
  };
}

/** Every interface: first the transit group (its flows become untracked), then the isolation group. */
export const swapGroups: Step = {
  id: 'swap-groups',
  title: 'Cut the network on every interface',
  action: 'isolate.swap-groups',
  async plan(ctx) {
    const { interfaces } = await currentInterfaces(ctx);
    const refs = new Map<string, unknown>();
    for (const vpc of new Set(interfaces.map((n) => n.vpcId))) {
      const found = await findCaseGroups(ctx.account, ctx.caseId, vpc);
      if (found.isolation) refs.set(isoRef(vpc), found.isolation.groupId);
      if (found.transit) refs.set(transitRef(vpc), found.transit.groupId);
    }
    const isolated = (n: (typeof interfaces)[number]) =>
      n.groupIds.length === 1 && n.groupIds[0] === refs.get(isoRef(n.vpcId));
    const todo = interfaces.filter((n) => !isolated(n));
    const calls: PlannedCall[] = todo.flatMap((n) => [
      {
        send: (a, i) => a.ec2.modifyNetworkInterfaceAttribute(i),
        input: { NetworkInterfaceId: n.networkInterfaceId, Groups: [`{{${transitRef(n.vpcId)}}}`] },
        why: `${n.networkInterfaceId} (device ${n.deviceIndex}) to the allow-all group: its flows become untracked`,
      },
      {
        send: (a, i) => a.ec2.modifyNetworkInterfaceAttribute(i),
        input: { NetworkInterfaceId: n.networkInterfaceId, Groups: [`{{${isoRef(n.vpcId)}}}`] },
        why: `${n.networkInterfaceId} to the isolation group: no traffic in or out`,
      },
    ]);
    const before = ctx.before.interfaces.map((n) => ({
      networkInterfaceId: n.networkInterfaceId,
      deviceIndex: n.deviceIndex,
      subnetId: n.subnetId,
      vpcId: n.vpcId,
      groupIds: n.groupIds,
    }));
    return {
      status: todo.length ? 'to-do' : 'in-place',
      calls,
      refs,
      detail: todo.length
        ? `move ${todo.map((n) => n.networkInterfaceId).join(', ')} to the transit group, then to the isolation group`
        : `every interface (${interfaces.map((n) => n.networkInterfaceId).join(', ')}) carries only the isolation group`,
      resources: [instanceRef(ctx), ...interfaces.map((n) => ref(ctx, 'ec2:network-interface', n.networkInterfaceId))],
      details: { interfacesBefore: before },
    };
  },
  async verify(ctx, _plan, refs) {
    const { interfaces } = await currentInterfaces(ctx);
    const wrong = interfaces.filter((n) => !(n.groupIds.length === 1 && n.groupIds[0] === refs.get(isoRef(n.vpcId))));
    if (wrong.length)
      throw notThere(
        'swap-groups',
        ctx,
        `${wrong.map((n) => `${n.networkInterfaceId} carries ${n.groupIds.join(', ') || 'no group'}`).join('; ')} instead of only the isolation group.`,
      );
    return { interfaces: interfaces.map((n) => ({ networkInterfaceId: n.networkInterfaceId, groupIds: n.groupIds })) };
  },
  byHand: (ctx) =>
    `move every network interface of ${ctx.instanceId} (${ctx.before.interfaces.map((n) => n.networkInterfaceId).join(', ')}) to an allow-all security group, then to one with no rules`,
};

/** Optional (--nacl): a deny-all network ACL on every subnet of the instance. */
export const networkAcl: Step = {
  id: 'network-acl',
  title: 'Deny all traffic on the subnet (network ACL)',
  action: 'isolate.network-acl',
  exclusive: (ctx) => vpcsOf(ctx).map((vpc) => lockScopes.nacl(vpc, whereOf(ctx))),
  async plan(ctx) {
    const calls: PlannedCall[] = [];
    const refs = new Map<string, unknown>();
    const previous: Record<string, { networkAclId: string; associationId: string }> = {};
    const subnets = [...new Set(ctx.before.interfaces.map((n) => `${n.vpcId} ${n.subnetId}`))]
      .sort()
      .map((s) => s.split(' ') as [string, string]);
    const aclOf = new Map<string, string | undefined>();
    for (const vpc of new Set(subnets.map(([v]) => v))) {
      const acl = await findCaseAcl(ctx.account, ctx.caseId, vpc);
      aclOf.set(vpc, acl);
      if (acl) refs.set(aclRef(vpc), acl);
      else {
        calls.push({
          send: (a, i) => a.ec2.createNetworkAcl(i),
          input: {
            VpcId: vpc,
            TagSpecifications: [{ ResourceType: 'network-acl', Tags: isolationTags(ctx.caseId, ROLE.isolationNacl) }],
          },
          why: `a network ACL with no allow entry (denies everything) in ${vpc}`,
          bind: (o: { NetworkAcl?: { NetworkAclId?: string } }) => ({ [aclRef(vpc)]: o.NetworkAcl?.NetworkAclId }),
        });
      }
    }
    for (const [vpc, subnet] of subnets) {
      const a = await subnetAcl(ctx.account, subnet);
      if (!a)
        throw new CleanroomError('NO_ACL_ASSOCIATION', `Subnet ${subnet} has no network ACL association to replace.`, {
          details: { subnetId: subnet },
        });
      if (a.networkAclId === aclOf.get(vpc)) continue;
      previous[subnet] = a;
      calls.push({
        send: (a, i) => a.ec2.replaceNetworkAclAssociation(i),
        input: { AssociationId: a.associationId, NetworkAclId: `{{${aclRef(vpc)}}}` },
        why: `subnet ${subnet} (was ${a.networkAclId}) denies all traffic`,
      });
    }
    return {
      status: calls.length ? 'to-do' : 'in-place',
      calls,
      refs,
      detail: calls.length
        ? `associate a deny-all network ACL with ${Object.keys(previous).join(', ')}`
        : `${subnets.map(([, s]) => s).join(', ')} already use the deny-all network ACL of the case`,
      resources: subnets.map(([, s]) => ref(ctx, 'ec2:subnet', s)),
      details: { previousAcls: previous },
    };
  },
  created: (ctx, refs) =>
    [...new Set(ctx.before.interfaces.map((n) => n.vpcId))].flatMap((v) =>
      typeof refs.get(aclRef(v)) === 'string' ? [ref(ctx, 'ec2:network-acl', refs.get(aclRef(v)) as string)] : [],
    ),
  async verify(ctx, _plan, refs) {
    const acls: Record<string, string> = {};
    for (const n of ctx.before.interfaces) {
      const want = refs.get(aclRef(n.vpcId)) as string;
      const a = await subnetAcl(ctx.account, n.subnetId);
      if (a?.networkAclId !== want)
        throw notThere('network-acl', ctx, `subnet ${n.subnetId} uses ${a?.networkAclId ?? 'no ACL'}, not ${want}.`);
      const r = await ctx.account.ec2.describeNetworkAcls({ NetworkAclIds: [want] });
      const allow = (r.NetworkAcls?.[0]?.Entries ?? []).filter((e) => e.RuleAction === 'allow');
      if (allow.length)
        throw notThere(
          'network-acl',
          ctx,
          `network ACL ${want} has allow entries (${allow.map((e) => e.RuleNumber).join(', ')}).`,
        );
      acls[n.subnetId] = want;
    }
    return { acls };
  },
  byHand: (ctx) =>
    `associate a network ACL with no allow entry with ${[...new Set(ctx.before.interfaces.map((n) => n.subnetId))].join(', ')}`,
};

/** Replace the instance profile with the case's deny-all quarantine profile. */
export const swapProfile: Step = {
  id: 'swap-profile',
  title: 'Cut the instance credentials',
  action: 'isolate.swap-profile',
  // The case's quarantine role and profile: made once, shared by every instance of the case.
  exclusive: (ctx) => [lockScopes.quarantine(quarantineName(ctx.caseId))],
  async plan(ctx) {
    const now = await readAssociation(ctx.account, ctx.instanceId);
    const q = await readQuarantine(ctx.account, ctx.caseId);
    const resources = [
      instanceRef(ctx),
      ...(ctx.before.profile ? [resourceRef('iam:instance-profile', ctx.before.profile.arn, ctx.accountId)] : []),
    ];
    if (!now) {
      return ctx.before.profile
        ? {
            status: 'in-place',
            calls: [],
            detail: `no instance profile is associated any more (was ${ctx.before.profile.name})`,
            resources,
            details: { previousProfileArn: ctx.before.profile.arn },
          }
        : {
            status: 'skipped',
            calls: [],
            detail: 'the instance has no instance profile: no instance credentials to cut',
            resources,
            details: {},
          };
    }
    if (q.profile && now.arn === q.profile.arn) {
      return {
        status: 'in-place',
        calls: [],
        detail: `the quarantine profile ${q.name} is associated`,
        resources,
        details: { quarantineProfileArn: q.profile.arn, previousProfileArn: ctx.before.profile?.arn ?? null },
      };
    }
    for (const [what, tags] of [
      ['role', q.role?.tags],
      ['instance profile', q.profile?.tags],
    ] as const) {
      if (tags && tags[TAG_CASE] !== ctx.caseId) {
        throw new CleanroomError(
          'QUARANTINE_NAME_TAKEN',
          `IAM ${what} ${q.name} exists but is not tagged ${TAG_CASE}=${ctx.caseId}; isolate will not use an IAM ${what} it did not make. Rename or delete it, then run again.`,
          { details: { name: q.name } },
        );
      }
    }
    const calls: PlannedCall[] = [];
    const tags = isolationTags(ctx.caseId, ROLE.quarantineProfile);
    if (!q.role) {
      calls.push({
        send: (a, i) => a.iam.createRole(i),
        input: {
          RoleName: q.name,
          AssumeRolePolicyDocument: QUARANTINE_TRUST_POLICY,
          Description: `cleanroom ${ctx.caseId}: quarantine role of isolated instances, denies everything`,
          Tags: tags,
        },
        why: 'the quarantine role',
      });
    }
    if (!q.role?.denyAll) {
      calls.push({
        send: (a, i) => a.iam.putRolePolicy(i),
        input: { RoleName: q.name, PolicyName: DENY_ALL_POLICY_NAME, PolicyDocument: DENY_ALL_POLICY },
        why: 'the quarantine role denies every action',
      });
    }
    if (!q.profile) {
      calls.push({
        send: (a, i) => a.iam.createInstanceProfile(i),
        input: { InstanceProfileName: q.name, Tags: tags },
        why: 'the quarantine instance profile',
      });
    }
    if (!q.profile?.roles.includes(q.name)) {
      calls.push({
        send: (a, i) => a.iam.addRoleToInstanceProfile(i),
        input: { InstanceProfileName: q.name, RoleName: q.name },
        why: 'the profile carries the deny-all role',
      });
    }
    calls.push({
      send: (a, i) => a.ec2.replaceIamInstanceProfileAssociation(i),
      input: { AssociationId: now.associationId, IamInstanceProfile: { Name: q.name } },
      why: `${ctx.instanceId} gets credentials of the deny-all role from now on`,
      // A just-created profile is not usable by EC2 for a few seconds (IAM is eventually consistent).
      retryWhile: {
        codes: ['InvalidParameterValue'],
        message: /instance ?profile/i,
        budgetMs: ctx.budgets.profilePropagationMs,
        what: `instance profile ${q.name} to become usable by EC2`,
      },
    });
    return {
      status: 'to-do',
      calls,
      detail: `replace instance profile ${profileName(now.arn)} with the deny-all profile ${q.name}`,
      resources,
      details: { previousProfileArn: now.arn, associationId: now.associationId, quarantineProfileName: q.name },
    };
  },
  async verify(ctx, plan) {
    const q = await readQuarantine(ctx.account, ctx.caseId);
    const now = await readAssociation(ctx.account, ctx.instanceId);
    if (!q.profile || now?.arn !== q.profile.arn)
      throw notThere(
        'swap-profile',
        ctx,
        `${ctx.instanceId} is associated with ${now?.arn ?? 'no profile'}, not the quarantine profile ${q.name}.`,
      );
    if (!q.role?.denyAll) throw notThere('swap-profile', ctx, `quarantine role ${q.name} lacks its deny-all policy.`);
    return {
      quarantineProfileArn: q.profile.arn,
      quarantineRoleArn: q.role.arn,
      previousProfileArn: plan.details['previousProfileArn'],
    };
  },
  created: (ctx, _refs, v) => [
    resourceRef('iam:instance-profile', v['quarantineProfileArn'] as string, ctx.accountId),
    resourceRef('iam:role', v['quarantineRoleArn'] as string, ctx.accountId),
  ],
  byHand: (ctx) =>
    `replace instance profile ${ctx.before.profile?.name ?? '(none)'} of ${ctx.instanceId} with a profile whose role denies everything`,
};

const profileName = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);
const serviceLinked = (path: string) => path.startsWith('/aws-service-role/');

/** Revoke the sessions of the old role issued before now (the IAM console's "Revoke active sessions"). */
export const revokeSessions: Step = {
  id: 'revoke-sessions',
  title: "Revoke the old role's sessions",
  action: 'isolate.revoke-sessions',
  // Instances may share a role: two revocations at once could leave the earlier time in place.
  exclusive: (ctx) =>
    (ctx.before.profile?.roles ?? []).filter((r) => r.name).map((r) => lockScopes.role(r.name, ctx.accountId)),
  async plan(ctx) {
    const roles = (ctx.before.profile?.roles ?? []).filter((r) => r.name && !serviceLinked(r.path));
    const resources = [instanceRef(ctx), ...roles.map((r) => resourceRef('iam:role', r.arn, ctx.accountId))];
    if (!roles.length) {
      return {
        status: 'skipped',
        calls: [],
        detail: ctx.before.profile
          ? `instance profile ${ctx.before.profile.name} has no role whose sessions can be revoked`
          : 'no instance profile, no role sessions to revoke',
        resources,
        details: {},
      };
    }
    const calls: PlannedCall[] = [];
    const found: Record<string, string | null> = {};
    for (const r of roles) {
      let current: string | undefined;
      try {
        current = revocationTime(
          (await ctx.account.iam.getRolePolicy({ RoleName: r.name, PolicyName: REVOKE_POLICY_NAME })).PolicyDocument,
        );
      } catch (e) {
        if (!isAwsCode(e, 'NoSuchEntity', 'NoSuchEntityException')) throw e;
      }
      found[r.name] = current ?? null;
      // On a rerun the time recorded first is re-applied: sessions issued after the isolation (by
      // other instances of the role) are not revoked again.
      if (ctx.recordedRevocation && current && current >= ctx.recordedRevocation) continue;
      calls.push({
        send: (a, i) => a.iam.putRolePolicy(i),
        input: {
          RoleName: r.name,
          PolicyName: REVOKE_POLICY_NAME,
          PolicyDocument: revokePolicy(ctx.recordedRevocation ?? '{{now}}'),
        },
        why: `deny everything to sessions of role ${r.name} issued before ${ctx.recordedRevocation ?? 'now'}`,
      });
    }
    return {
      status: calls.length ? 'to-do' : 'in-place',
      calls,
      detail: calls.length
        ? `revoke sessions of role ${roles.map((r) => r.name).join(', ')} issued before ${ctx.recordedRevocation ?? 'now'}`
        : `sessions of ${roles.map((r) => r.name).join(', ')} issued before ${ctx.recordedRevocation} are revoked`,
      resources,
      details: { roles: roles.map((r) => r.arn), policyBefore: found },
    };
  },
  async verify(ctx, plan, refs) {
    const time = ctx.recordedRevocation ?? (refs.get('now') as string);
    for (const arn of plan.details['roles'] as string[]) {
      const name = arn.slice(arn.lastIndexOf('/') + 1);
      const t = revocationTime(
        (await ctx.account.iam.getRolePolicy({ RoleName: name, PolicyName: REVOKE_POLICY_NAME })).PolicyDocument,
      );
      if (!t || t < time)
        throw notThere(
          'revoke-sessions',
          ctx,
          `role ${name} does not revoke sessions issued before ${time} (policy ${REVOKE_POLICY_NAME}: ${t ?? 'missing'}).`,
        );
    }
    return { revokedBefore: time, policyName: REVOKE_POLICY_NAME };
  },
  byHand: (ctx) =>
    `revoke the active sessions of role ${ctx.before.profile?.roles.map((r) => r.name).join(', ') || '(none)'} (IAM console: Roles → the role → Revoke sessions)`,
};

/** Tag the instance with the case and the quarantine marker (last: the marker says it is done). */
export const tag: Step = {
  id: 'tag',
  title: 'Tag the instance',
  action: 'isolate.tag',
  async plan(ctx) {
    const { instance } = await currentInterfaces(ctx);
    const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
    const done = tags[TAG_CASE] === ctx.caseId && Boolean(tags[TAG_QUARANTINE]);
    return {
      status: done ? 'in-place' : 'to-do',
      calls: done
        ? []
        : [
            {
              send: (a, i) => a.ec2.createTags(i),
              input: {
                Resources: [ctx.instanceId],
                Tags: [
                  { Key: TAG_CASE, Value: ctx.caseId },
                  { Key: TAG_QUARANTINE, Value: ctx.startedAt },
                ],
              },
              why: `mark ${ctx.instanceId} quarantined for case ${ctx.caseId}`,
            },
          ],
      detail: done
        ? `tagged ${TAG_CASE}=${ctx.caseId}, ${TAG_QUARANTINE}=${tags[TAG_QUARANTINE]}`
        : `tag ${TAG_CASE}=${ctx.caseId}, ${TAG_QUARANTINE}=${ctx.startedAt}`,
      resources: [instanceRef(ctx)],
      details: { tagsBefore: ctx.before.tags },
    };
  },
  async verify(ctx) {
    const { instance } = await currentInterfaces(ctx);
    const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
    if (tags[TAG_CASE] !== ctx.caseId || !tags[TAG_QUARANTINE])
      throw notThere('tag', ctx, `${ctx.instanceId} does not carry ${TAG_CASE}=${ctx.caseId} and ${TAG_QUARANTINE}.`);
    return { tags: { [TAG_CASE]: ctx.caseId, [TAG_QUARANTINE]: tags[TAG_QUARANTINE] } };
  },
  byHand: (ctx) => `tag ${ctx.instanceId} with ${TAG_CASE}=${ctx.caseId} and ${TAG_QUARANTINE}=<time>`,
};

/** Optional (--stop): stop the instance (hibernate when it can, which keeps memory on its root volume). */
export const stop: Step = {
  id: 'stop',
  title: 'Stop the instance',
  action: 'isolate.stop',
  async plan(ctx) {
    const { instance } = await currentInterfaces(ctx);
    const state = instance.State?.Name ?? 'unknown';
    const hibernate = instance.HibernationOptions?.Configured === true;
    if (state === 'stopped' || state === 'stopping')
      return {
        status: 'in-place',
        calls: [],
        detail: `${ctx.instanceId} is ${state}`,
        resources: [instanceRef(ctx)],
        details: { stateBefore: state },
      };
    return {
      status: 'to-do',
      calls: [
        {
          send: (a, i) => a.ec2.stopInstances(i),
          input: { InstanceIds: [ctx.instanceId], ...(hibernate ? { Hibernate: true } : {}) },
          why: hibernate ? 'hibernate: memory is written to the root volume' : 'stop: MEMORY IS LOST',
        },
      ],
      detail: hibernate
        ? `hibernate ${ctx.instanceId} (its memory is kept on the encrypted root volume)`
        : `stop ${ctx.instanceId} (its memory is lost)`,
      resources: [instanceRef(ctx)],
      details: { stateBefore: state, hibernate },
    };
  },
  async verify(ctx) {
    await waitFor(
      async () => {
        const i = await describeInstance(ctx.account, ctx.instanceId);
        const s = i?.State?.Name ?? 'gone';
        return s === 'stopped'
          ? { state: 'done', value: true }
          : s === 'stopping'
            ? { state: 'pending', detail: s }
            : { state: 'failed', error: new CleanroomError('STOP_FAILED', `${ctx.instanceId} is ${s}, not stopping.`) };
      },
      {
        description: `${ctx.instanceId} to stop`,
        budgetMs: ctx.budgets.stopMs,
        ...(ctx.clock ? { clock: ctx.clock } : {}),
        details: { instanceId: ctx.instanceId },
      },
    );
    return { state: 'stopped' };
  },
  byHand: (ctx) => `stop ${ctx.instanceId} (only if you mean to: its memory is lost)`,
};

/** The steps in order; `network-acl` and `stop` only when asked. */
export function stepsFor(opts: { nacl?: boolean; stop?: boolean }): Step[] {
  return [
    protect,
    leaveAsg,
    leaveTargetGroups,
    leaveClassicLbs,
    prepareGroups,
    swapGroups,
    ...(opts.nacl ? [networkAcl] : []),
    swapProfile,
    revokeSessions,
    tag,
    ...(opts.stop ? [stop] : []),
  ];
}
