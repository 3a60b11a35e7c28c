/**
 * The guard rails `room up` puts back whatever happened to the stack: the room's security groups
 * carry exactly their declared rules (anything else revoked by rule id, IPv4 and IPv6; a declared
 * rule that is missing added), the instance's network interfaces are in exactly the forensics and
 * access groups, and the instance requires IMDSv2 with hop limit 1. AWS's own incident response
 * playbooks say to remove a forensics group's default egress rule; a drifted room (someone added
 * a rule by hand) or a CloudFormation that did not apply a property gets the same treatment.
 *
 * Each correction is reported (a warning: the room was not as declared) and recorded as a custody
 * event; a correction that fails is recorded as failed and the others still run (the audit that
 * follows then fails by name).
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import type { CustodyEntry, CustodyRecorder, ResourceRef } from '../../domain/recorder.js';
import { idempotencyKeys, markKey, type IdempotencyKey } from '../../domain/idempotency-keys.js';
import { StepRecorder } from '../../domain/step-recorder.js';
import { resourceRef } from '../../resources/refs.js';
import { CleanroomError, asError } from '../../domain/errors.js';
import type { Reporter } from '../../domain/reporter.js';
import {
  declaredGroups,
  describeRule,
  ipPermission,
  isDeclared,
  liveRules,
  missingRules,
  type DeclaredGroup,
} from './rules.js';
import { roomInfo, type RoomStack } from '../../resources/stacks.js';
import type { Instance } from './audit.js';

export interface Correction {
  kind: 'revoke-rules' | 'authorize-rules' | 'instance-groups' | 'imds';
  /** The group, network interface or instance corrected. */
  resource: string;
  /** What was wrong, in words. */
  found: string;
  /** What it is now. */
  now: string;
  ok: boolean;
  error?: string;
}

/** The metadata options the instance must have. */
export const REQUIRED_METADATA = {
  HttpTokens: 'required',
  HttpPutResponseHopLimit: 1,
  HttpEndpoint: 'enabled',
} as const;

/** What the reconciliation reads and changes: the groups' rules, the instance's interfaces and metadata options. */
export type GuardRailAccount = Pick<AwsAccount, 'accountId' | 'region'> &
  AccountCalls<{
    ec2:
      | 'describeSecurityGroupRules'
      | 'revokeSecurityGroupEgress'
      | 'revokeSecurityGroupIngress'
      | 'authorizeSecurityGroupEgress'
      | 'authorizeSecurityGroupIngress'
      | 'describeInstances'
      | 'modifyNetworkInterfaceAttribute'
      | 'modifyInstanceMetadataOptions';
  }>;

/** Reconcile the guard rails of the room of `stack`; returns the corrections made (empty: nothing to do). */
export async function reconcileGuardRails(
  account: GuardRailAccount,
  caseId: string,
  stack: RoomStack,
  deps: { custody: CustodyRecorder; reporter: Reporter },
): Promise<Correction[]> {
  const info = roomInfo(caseId, stack);
  const pl = stack.parameters['S3PrefixListId'];
  if (
    !info.forensicsSecurityGroupId ||
    !info.accessSecurityGroupId ||
    !info.endpointSecurityGroupId ||
    !info.instanceId ||
    !pl
  ) {
    throw new CleanroomError(
      'ROOM_OUTPUTS_MISSING',
      `The room stack ${stack.stackName} (${stack.status}) does not report its security groups, instance and S3 prefix list; its guard rails cannot be checked.`,
      { details: { stackName: stack.stackName } },
    );
  }
  const accountId = await account.accountId();
  const corrections: Correction[] = [];
  const run: GuardRailRun = {
    account,
    ref: (type, id) => resourceRef(type, id, accountId, account.region),
    corrections,
    correct: correctionRecorder(corrections, deps),
  };

  const groups: DeclaredGroup[] = declaredGroups({
    forensics: info.forensicsSecurityGroupId,
    access: info.accessSecurityGroupId,
    endpoint: info.endpointSecurityGroupId,
    s3PrefixList: pl,
  });
  await restoreGroupRules(run, groups);

  // The instance: its network interfaces' groups and its metadata options.
  const inst = (await account.ec2.describeInstances({ InstanceIds: [info.instanceId] })).Reservations?.[0]
    ?.Instances?.[0];
  if (!inst || inst.State?.Name === 'terminated' || inst.State?.Name === 'shutting-down') {
    throw new CleanroomError(
      'ROOM_INSTANCE_GONE',
      `The forensic instance ${info.instanceId} of ${stack.stackName} is ${inst?.State?.Name ?? 'gone'}: the room cannot be used. Run \`cleanroom room down --case ${caseId}\` and \`cleanroom room up --case ${caseId}\` to rebuild it.`,
      { details: { instanceId: info.instanceId } },
    );
  }
  await restoreInstanceGroups(run, inst, [info.forensicsSecurityGroupId, info.accessSecurityGroupId]);
  await restoreMetadataOptions(run, inst);
  return corrections;
}

/** Run one correction; report it, record it (failed or not), keep going. */
type Correct = (
  c: Omit<Correction, 'ok' | 'error'>,
  resources: ResourceRef[],
  key: IdempotencyKey | undefined,
  details: Record<string, unknown>,
  fn: () => Promise<void>,
) => Promise<void>;

/** What the correction steps share. */
interface GuardRailRun {
  account: GuardRailAccount;
  ref: (type: string, id: string) => ResourceRef;
  corrections: Correction[];
  correct: Correct;
}

function correctionRecorder(
  corrections: Correction[],
  deps: { custody: CustodyRecorder; reporter: Reporter },
): Correct {
  const rec = new StepRecorder(deps.custody, deps.reporter);
  return async (c, resources, key, details, fn) => {
    let error: string | undefined;
    try {
      await fn();
    } catch (e) {
      error = asError(e).message;
    }
    const done: Correction = { ...c, ok: !error, ...(error ? { error } : {}) };
    corrections.push(done);
    deps.reporter.warn(
      error
        ? `guard rail NOT restored on ${c.resource}: ${c.found} — ${error}`
        : `guard rail restored on ${c.resource}: ${c.found} → ${c.now}`,
    );
    const outcome: CustodyEntry['outcome'] = {
      status: error ? 'failed' : 'succeeded',
      ...(error ? { error: { code: 'GUARD_RAIL_FAILED', message: error } } : {}),
      details: { found: c.found, now: c.now, ...details },
    };
    // A correction with a key (revoking named rules) records once; one without records each time it is made.
    if (key) await rec.record(error ? markKey(key, 'failed') : key, `room.guard-rail.${c.kind}`, resources, outcome);
    else await deps.custody.record({ action: `room.guard-rail.${c.kind}`, resources, outcome });
  };
}

/** Security group rules: undeclared ones revoked by rule id, missing declared ones added. */
async function restoreGroupRules(run: GuardRailRun, groups: DeclaredGroup[]): Promise<void> {
  const { account, ref, correct } = run;
  const live = await liveRules(
    account,
    groups.map((g) => g.groupId),
  );
  for (const g of groups) {
    const rules = live.get(g.groupId) ?? [];
    for (const egress of [true, false]) {
      const extra = rules.filter((r) => !!r.IsEgress === egress && !isDeclared(r, g) && r.SecurityGroupRuleId);
      if (!extra.length) continue;
      const ids = extra.map((r) => r.SecurityGroupRuleId!).sort();
      const dir = egress ? 'egress' : 'ingress';
      await correct(
        {
          kind: 'revoke-rules',
          resource: `${g.role} group ${g.groupId}`,
          found: `undeclared ${dir} rule(s): ${extra.map(describeRule).join('; ')}`,
          now: `revoked by rule id`,
        },
        [ref('ec2:security-group', g.groupId), ...ids.map((id) => ref('ec2:security-group-rule', id))],
        idempotencyKeys.room.revoke(g.groupId, ids),
        {
          groupId: g.groupId,
          role: g.role,
          direction: dir,
          rules: extra.map((r) => ({ id: r.SecurityGroupRuleId, rule: describeRule(r) })),
        },
        async () => {
          if (egress) await account.ec2.revokeSecurityGroupEgress({ GroupId: g.groupId, SecurityGroupRuleIds: ids });
          else await account.ec2.revokeSecurityGroupIngress({ GroupId: g.groupId, SecurityGroupRuleIds: ids });
        },
      );
    }
    const missing = missingRules(rules, g);
    for (const m of missing) {
      let added: string[] = [];
      await correct(
        {
          kind: 'authorize-rules',
          resource: `${g.role} group ${g.groupId}`,
          found: `declared rule missing: ${describeRule(m)}`,
          now: 'added',
        },
        [ref('ec2:security-group', g.groupId)],
        undefined,
        { groupId: g.groupId, role: g.role, rule: describeRule(m) },
        async () => {
          const p = [ipPermission(m)];
          const r =
            m.direction === 'egress'
              ? await account.ec2.authorizeSecurityGroupEgress({ GroupId: g.groupId, IpPermissions: p })
              : await account.ec2.authorizeSecurityGroupIngress({ GroupId: g.groupId, IpPermissions: p });
          added = (r.SecurityGroupRules ?? []).map((x) => x.SecurityGroupRuleId ?? '').filter(Boolean);
        },
      );
      if (added.length) run.corrections[run.corrections.length - 1]!.now = `added (${added.join(', ')})`;
    }
  }
}

/** Every network interface of the instance in exactly the forensics and access groups. */
async function restoreInstanceGroups(run: GuardRailRun, inst: Instance, want: string[]): Promise<void> {
  const { account, ref, correct } = run;
  for (const n of inst.NetworkInterfaces ?? []) {
    const have = (n.Groups ?? []).map((g) => g.GroupId ?? '').sort();
    if (!n.NetworkInterfaceId || JSON.stringify(have) === JSON.stringify([...want].sort())) continue;
    await correct(
      {
        kind: 'instance-groups',
        resource: `network interface ${n.NetworkInterfaceId} of ${inst.InstanceId}`,
        found: `in ${have.join(', ') || 'no group'}`,
        now: `in ${want.join(', ')} only`,
      },
      [ref('ec2:network-interface', n.NetworkInterfaceId), ref('ec2:instance', inst.InstanceId!)],
      undefined,
      { networkInterfaceId: n.NetworkInterfaceId, before: have, after: want },
      () =>
        account.ec2
          .modifyNetworkInterfaceAttribute({ NetworkInterfaceId: n.NetworkInterfaceId!, Groups: want })
          .then(() => undefined),
    );
  }
}

/** IMDSv2 only, hop limit 1, endpoint enabled. */
async function restoreMetadataOptions(run: GuardRailRun, inst: Instance): Promise<void> {
  const m = inst.MetadataOptions ?? {};
  if (
    m.HttpTokens === REQUIRED_METADATA.HttpTokens &&
    m.HttpPutResponseHopLimit === REQUIRED_METADATA.HttpPutResponseHopLimit &&
    m.HttpEndpoint === REQUIRED_METADATA.HttpEndpoint
  )
    return;
  const found = `HttpTokens ${m.HttpTokens ?? 'unset'}, hop limit ${m.HttpPutResponseHopLimit ?? 'unset'}, endpoint ${m.HttpEndpoint ?? 'unset'}`;
  await run.correct(
    {
      kind: 'imds',
      resource: `instance ${inst.InstanceId}`,
      found,
      now: 'HttpTokens required (IMDSv2 only), hop limit 1, endpoint enabled',
    },
    [run.ref('ec2:instance', inst.InstanceId!)],
    undefined,
    {
      instanceId: inst.InstanceId,
      before: {
        HttpTokens: m.HttpTokens ?? null,
        HttpPutResponseHopLimit: m.HttpPutResponseHopLimit ?? null,
        HttpEndpoint: m.HttpEndpoint ?? null,
      },
      after: REQUIRED_METADATA,
    },
    () =>
      run.account.ec2
        .modifyInstanceMetadataOptions({ InstanceId: inst.InstanceId!, ...REQUIRED_METADATA })
        .then(() => undefined),
  );
}
