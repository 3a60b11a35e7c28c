// The security group rules the room's code declares (rules.ts: what the audit accepts and room up
// restores) are exactly the ones templates/room.yaml declares, and live rules are matched to them
// by what they let through — IPv4, IPv6, prefix lists, groups, protocol names or numbers.
import t from 'tap';
import { yamlParse } from 'yaml-cfn';
import type { IpPermission } from '@aws-sdk/client-ec2';
import { TEMPLATE } from './fixtures.js';
import {
  NO_TRAFFIC,
  declaredGroups,
  describeRule,
  isDeclared,
  isNoTraffic,
  ipPermission,
  missingRules,
  specOf,
  type RuleSpec,
} from '../../../src/workflows/room/rules.js';

type Doc = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };
const doc = yamlParse(TEMPLATE) as Doc;

/** A template reference as the logical id (or parameter) it names. */
function sym(v: unknown): string {
  const o = v as Record<string, any>;
  if (typeof v === 'string') return v;
  if (o?.Ref) return o.Ref;
  if (o?.['Fn::GetAtt'])
    return Array.isArray(o['Fn::GetAtt']) ? o['Fn::GetAtt'][0] : String(o['Fn::GetAtt']).split('.')[0]!;
  throw new Error(`unexpected value ${JSON.stringify(v)}`);
}

function templateRule(direction: 'ingress' | 'egress', r: Record<string, any>): Omit<RuleSpec, 'description'> {
  const peer = r.CidrIp
    ? { kind: 'cidr4' as const, id: r.CidrIp }
    : r.CidrIpv6
      ? { kind: 'cidr6' as const, id: r.CidrIpv6 }
      : r.DestinationPrefixListId || r.SourcePrefixListId
        ? { kind: 'prefix-list' as const, id: sym(r.DestinationPrefixListId ?? r.SourcePrefixListId) }
        : { kind: 'group' as const, id: sym(r.DestinationSecurityGroupId ?? r.SourceSecurityGroupId) };
  return {
    direction,
    protocol: String(r.IpProtocol),
    fromPort: Number(r.FromPort ?? -1),
    toPort: Number(r.ToPort ?? -1),
    peer,
  };
}

function templateRules(group: string): Omit<RuleSpec, 'description'>[] {
  const out: Omit<RuleSpec, 'description'>[] = [];
  const g = doc.Resources[group]!.Properties!;
  for (const r of g.SecurityGroupIngress ?? []) out.push(templateRule('ingress', r));
  for (const r of g.SecurityGroupEgress ?? []) out.push(templateRule('egress', r));
  for (const res of Object.values(doc.Resources)) {
    if (res.Type === 'AWS::EC2::SecurityGroupIngress' && sym(res.Properties!.GroupId) === group)
      out.push(templateRule('ingress', res.Properties!));
    if (res.Type === 'AWS::EC2::SecurityGroupEgress' && sym(res.Properties!.GroupId) === group)
      out.push(templateRule('egress', res.Properties!));
  }
  const noTraffic = key({ ...NO_TRAFFIC, direction: 'egress' });
  return out.filter((r) => key(r) !== noTraffic);
}

const key = (r: Omit<RuleSpec, 'description'>) =>
  JSON.stringify([r.direction, r.protocol, r.fromPort, r.toPort, r.peer.kind, r.peer.id]);

t.test("the declared rules are the template's, group by group", async (t) => {
  const declared = declaredGroups({
    forensics: 'ForensicsSecurityGroup',
    access: 'AccessSecurityGroup',
    endpoint: 'EndpointSecurityGroup',
    s3PrefixList: 'S3PrefixListId',
  });
  const sgs = Object.entries(doc.Resources)
    .filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroup')
    .map(([id]) => id)
    .sort();
  t.same(declared.map((g) => g.groupId).sort(), sgs, 'every security group of the template is declared, and no other');
  for (const g of declared) {
    t.same(g.rules.map(key).sort(), templateRules(g.groupId).map(key).sort(), `${g.role} group ${g.groupId}`);
  }
});

const groups = declaredGroups({ forensics: 'sg-f', access: 'sg-a', endpoint: 'sg-e', s3PrefixList: 'pl-1' });
const forensics = groups.find((g) => g.role === 'forensics')!;
const access = groups.find((g) => g.role === 'access')!;

t.test('matching live rules', async (t) => {
  const allOut4 = {
    SecurityGroupRuleId: 'sgr-1',
    IsEgress: true,
    IpProtocol: '-1',
    FromPort: -1,
    ToPort: -1,
    CidrIpv4: '0.0.0.0/0',
  };
  const allOut6 = {
    SecurityGroupRuleId: 'sgr-2',
    IsEgress: true,
    IpProtocol: '-1',
    FromPort: -1,
    ToPort: -1,
    CidrIpv6: '::/0',
  };
  const placeholder = {
    SecurityGroupRuleId: 'sgr-3',
    IsEgress: true,
    IpProtocol: 'icmp',
    FromPort: 252,
    ToPort: 86,
    CidrIpv4: '255.255.255.255/32',
  };
  t.notOk(isDeclared(allOut4, forensics), 'allow-all IPv4 egress is not declared');
  t.notOk(isDeclared(allOut6, forensics), 'allow-all IPv6 egress is not declared');
  t.ok(
    isNoTraffic(placeholder) && isDeclared(placeholder, forensics),
    'the no-traffic placeholder is accepted anywhere',
  );
  t.ok(
    isDeclared({ IsEgress: true, IpProtocol: '6', FromPort: 443, ToPort: 443, PrefixListId: 'pl-1' }, access),
    'protocol 6 is tcp',
  );
  t.notOk(
    isDeclared({ IsEgress: true, IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListId: 'pl-2' }, access),
    'another prefix list is not',
  );
  t.notOk(
    isDeclared({ IsEgress: false, IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListId: 'pl-1' }, access),
    'the same rule inbound is not',
  );
  t.notOk(
    isDeclared(
      { IsEgress: true, IpProtocol: 'tcp', FromPort: 443, ToPort: 444, ReferencedGroupInfo: { GroupId: 'sg-e' } },
      access,
    ),
    'a wider port range is not',
  );
  t.same(
    missingRules([{ IsEgress: true, IpProtocol: 'tcp', FromPort: 443, ToPort: 443, PrefixListId: 'pl-1' }], access).map(
      (r) => r.peer.id,
    ),
    ['sg-e'],
    'the missing declared rule',
  );
  t.equal(
    specOf({ IsEgress: true, IpProtocol: 'tcp' }),
    undefined,
    'a rule without a peer is unknown (and so never declared)',
  );
  t.equal(describeRule(allOut6), 'egress all traffic to ::/0 (sgr-2)');
  t.equal(describeRule(placeholder), 'egress icmp type 252 code 86 to 255.255.255.255/32 (sgr-3)');
});

t.test('ipPermission builds the SDK shape for each peer kind', async (t) => {
  const base = { direction: 'egress' as const, protocol: 'tcp', fromPort: 443, toPort: 443, description: 'd' };
  t.same(ipPermission({ ...base, peer: { kind: 'prefix-list', id: 'pl-1' } }), {
    IpProtocol: 'tcp',
    FromPort: 443,
    ToPort: 443,
    PrefixListIds: [{ PrefixListId: 'pl-1', Description: 'd' }],
  });
  // The SDK's shape, whichever peer kind built it.
  const perm = (peer: RuleSpec['peer']): IpPermission => ipPermission({ ...base, peer });
  t.same(perm({ kind: 'group', id: 'sg-e' }).UserIdGroupPairs, [{ GroupId: 'sg-e', Description: 'd' }]);
  t.same(perm({ kind: 'cidr6', id: '::/0' }).Ipv6Ranges, [{ CidrIpv6: '::/0', Description: 'd' }]);
  t.same(perm({ kind: 'cidr4', id: '10.0.0.0/8' }).IpRanges, [{ CidrIp: '10.0.0.0/8', Description: 'd' }]);
});
