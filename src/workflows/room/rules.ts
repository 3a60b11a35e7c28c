/**
 * The security group rules the room's three groups are declared with (templates/room.yaml), in the
 * shape `DescribeSecurityGroupRules` reports live rules, and the matching between the two. The live
 * audit (`audit.ts`) fails on any rule that is not declared; the guard-rail reconciliation of
 * `room up` (`guard-rails.ts`) revokes those by rule id and adds any declared rule that is missing.
 * test/workflows/room/rules.test.ts proves these declarations equal the template's.
 */
import type { AccountCalls } from '../../aws/ports.js';

/** What a rule lets through, and to or from where. */
export interface RuleSpec {
  direction: 'ingress' | 'egress';
  /** `tcp`, `udp`, `icmp`, `icmpv6` or `-1` (all). */
  protocol: string;
  fromPort: number;
  toPort: number;
  peer: { kind: 'cidr4' | 'cidr6' | 'prefix-list' | 'group'; id: string };
  description?: string;
}

/** The room's groups by role. */
export type GroupRole = 'forensics' | 'access' | 'endpoint';

export interface DeclaredGroup {
  role: GroupRole;
  groupId: string;
  rules: RuleSpec[];
}

/** Ids the declarations refer to (the stack's outputs and its S3PrefixListId parameter). */
export interface RoomGroupIds {
  forensics: string;
  access: string;
  endpoint: string;
  s3PrefixList: string;
}

/**
 * The CDK's "match no traffic" egress rule (ICMP type 252 code 86 to 255.255.255.255/32): the
 * template puts it on groups that must have no egress, because CloudFormation gives a group
 * without egress rules allow-all egress. Harmless wherever it appears; a group without it and
 * without other egress rules denies all egress too (the EC2 API adds no default once revoked).
 */
export const NO_TRAFFIC: Omit<RuleSpec, 'direction'> = {
  protocol: 'icmp',
  fromPort: 252,
  toPort: 86,
  peer: { kind: 'cidr4', id: '255.255.255.255/32' },
};

/** The room's groups and their declared rules. */
export function declaredGroups(ids: RoomGroupIds): DeclaredGroup[] {
  return [
    // No ingress, no egress (the no-traffic placeholder only).
    { role: 'forensics', groupId: ids.forensics, rules: [] },
    {
      role: 'access',
      groupId: ids.access,
      rules: [
        {
          direction: 'egress',
          protocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          peer: { kind: 'prefix-list', id: ids.s3PrefixList },
          description: 'HTTPS to S3 through the gateway endpoint (the evidence vault)',
        },
        {
          direction: 'egress',
          protocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          peer: { kind: 'group', id: ids.endpoint },
          description: 'HTTPS to the SSM, SSM messages, EC2 messages and KMS interface endpoints',
        },
      ],
    },
    {
      role: 'endpoint',
      groupId: ids.endpoint,
      rules: [
        {
          direction: 'ingress',
          protocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          peer: { kind: 'group', id: ids.access },
          description: 'HTTPS from the forensic instance (access group)',
        },
      ],
    },
  ];
}

/** A rule as DescribeSecurityGroupRules reports it (the fields read here). */
export interface LiveRule {
  SecurityGroupRuleId?: string;
  GroupId?: string;
  IsEgress?: boolean;
  IpProtocol?: string;
  FromPort?: number;
  ToPort?: number;
  CidrIpv4?: string;
  CidrIpv6?: string;
  PrefixListId?: string;
  ReferencedGroupInfo?: { GroupId?: string };
  Description?: string;
}

const PROTOCOL_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6', all: '-1' };

function protocolOf(p: string | undefined): string {
  const x = (p ?? '-1').toLowerCase();
  return PROTOCOL_NAMES[x] ?? x;
}

/** The live rule as a {@link RuleSpec} (undefined for a peer this code does not know). */
export function specOf(r: LiveRule): RuleSpec | undefined {
  const peer: RuleSpec['peer'] | undefined = r.CidrIpv4
    ? { kind: 'cidr4', id: r.CidrIpv4 }
    : r.CidrIpv6
      ? { kind: 'cidr6', id: r.CidrIpv6 }
      : r.PrefixListId
        ? { kind: 'prefix-list', id: r.PrefixListId }
        : r.ReferencedGroupInfo?.GroupId
          ? { kind: 'group', id: r.ReferencedGroupInfo.GroupId }
          : undefined;
  if (!peer) return undefined;
  return {
    direction: r.IsEgress ? 'egress' : 'ingress',
    protocol: protocolOf(r.IpProtocol),
    fromPort: r.FromPort ?? -1,
    toPort: r.ToPort ?? -1,
    peer,
  };
}

function sameRule(a: Omit<RuleSpec, 'description'>, b: Omit<RuleSpec, 'description'>): boolean {
  return (
    a.direction === b.direction &&
    a.protocol === b.protocol &&
    a.fromPort === b.fromPort &&
    a.toPort === b.toPort &&
    a.peer.kind === b.peer.kind &&
    a.peer.id === b.peer.id
  );
}

/** True for the no-traffic placeholder egress rule. */
export function isNoTraffic(r: LiveRule): boolean {
  const s = specOf(r);
  return !!s && sameRule(s, { ...NO_TRAFFIC, direction: 'egress' });
}

/** True when a live rule is one of the group's declared rules (or the no-traffic placeholder). */
export function isDeclared(r: LiveRule, group: DeclaredGroup): boolean {
  if (isNoTraffic(r)) return true;
  const s = specOf(r);
  return !!s && group.rules.some((d) => sameRule(s, d));
}

/** Declared rules the live group lacks. */
export function missingRules(live: readonly LiveRule[], group: DeclaredGroup): RuleSpec[] {
  return group.rules.filter(
    (d) =>
      !live.some((r) => {
        const s = specOf(r);
        return !!s && sameRule(s, d);
      }),
  );
}

/** `egress tcp 443 to pl-123 (sgr-…)` — a rule in words, for findings and custody details. */
export function describeRule(r: LiveRule | RuleSpec): string {
  const s = 'direction' in r ? r : specOf(r);
  const id = 'SecurityGroupRuleId' in r && r.SecurityGroupRuleId ? ` (${r.SecurityGroupRuleId})` : '';
  if (!s) return `a rule with an unknown peer${id}`;
  const proto =
    s.protocol === '-1'
      ? 'all traffic'
      : s.protocol === 'icmp' || s.protocol === 'icmpv6'
        ? `${s.protocol} type ${s.fromPort} code ${s.toPort}`
        : `${s.protocol} ${s.fromPort === s.toPort ? s.fromPort : `${s.fromPort}-${s.toPort}`}`;
  return `${s.direction} ${proto} ${s.direction === 'egress' ? 'to' : 'from'} ${s.peer.id}${id}`;
}

/** Every rule of the given groups, by group id (DescribeSecurityGroupRules, paginated). */
export async function liveRules(
  account: AccountCalls<{ ec2: 'describeSecurityGroupRules' }>,
  groupIds: readonly string[],
): Promise<Map<string, LiveRule[]>> {
  const out = new Map<string, LiveRule[]>(groupIds.map((g) => [g, []]));
  if (groupIds.length === 0) return out;
  let NextToken: string | undefined;
  do {
    const r = await account.ec2.describeSecurityGroupRules({
      Filters: [{ Name: 'group-id', Values: [...groupIds] }],
      ...(NextToken ? { NextToken } : {}),
    });
    for (const rule of r.SecurityGroupRules ?? []) if (rule.GroupId) out.get(rule.GroupId)?.push(rule);
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  return out;
}

/** The SDK `IpPermissions` entry that authorizes a declared rule. */
export function ipPermission(s: RuleSpec) {
  const base = { IpProtocol: s.protocol, FromPort: s.fromPort, ToPort: s.toPort };
  const d = s.description ? { Description: s.description } : {};
  switch (s.peer.kind) {
    case 'cidr4':
      return { ...base, IpRanges: [{ CidrIp: s.peer.id, ...d }] };
    case 'cidr6':
      return { ...base, Ipv6Ranges: [{ CidrIpv6: s.peer.id, ...d }] };
    case 'prefix-list':
      return { ...base, PrefixListIds: [{ PrefixListId: s.peer.id, ...d }] };
    case 'group':
      return { ...base, UserIdGroupPairs: [{ GroupId: s.peer.id, ...d }] };
  }
}
