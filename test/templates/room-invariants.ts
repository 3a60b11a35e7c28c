/**
 * The room template's isolation invariants as named checks over the parsed template
 * (`yamlParse` from yaml-cfn: short-form tags become `{Ref: X}` / `{'Fn::GetAtt': [X, Y]}` /
 * `{'Fn::Sub': '...'}`). Each check returns findings naming the resource and the fix; an empty
 * list means the invariant holds. room-template.test.ts runs them on templates/room.yaml and on
 * mutated copies, to prove each check can fail.
 *
 * These read the template, not a deployed stack: the local AWS drops several of these properties
 * (docs/local-aws.md), and in AWS the live room is audited separately by `room verify`.
 */

/** One broken invariant. */
export interface Finding {
  /** The {@link RoomCheck} id that found it. */
  check: string;
  /** Logical id of the resource (or output / parameter) concerned. */
  resource: string;
  message: string;
}

/** A named invariant. */
export interface RoomCheck {
  id: string;
  /** What holds when the check finds nothing. */
  title: string;
  run(doc: Template, ctx: CheckContext): Finding[];
}

/** Facts a check needs that do not come from the template itself. */
export interface CheckContext {
  /** Resource type → name of its tag property, for every type CloudFormation can tag (from cfn-lint's resource schemas). */
  tagProperty: ReadonlyMap<string, string>;
}

// Loose shapes on purpose: a check must cope with whatever a mutated template contains.
export interface Resource {
  Type: string;
  Properties?: Record<string, any>;
  DependsOn?: string | string[];
  [k: string]: unknown;
}
export interface Template {
  Parameters?: Record<string, Record<string, any>>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; [k: string]: unknown }>;
  [k: string]: unknown;
}

/** The contract's case id pattern (docs/commands.md). */
export const CASE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9-]{1,62}$';
/** Services the room reaches through interface endpoints. */
export const INTERFACE_SERVICES = ['ssm', 'ssmmessages', 'ec2messages', 'kms'] as const;
/** Outputs `room up --json` reports, with the resource each must name. */
export const REQUIRED_OUTPUTS: Record<string, string> = {
  VpcId: 'Vpc',
  SubnetId: 'Subnet',
  AvailabilityZone: 'AvailabilityZone',
  InstanceId: 'ForensicInstance',
  ForensicsSecurityGroupId: 'ForensicsSecurityGroup',
  AccessSecurityGroupId: 'AccessSecurityGroup',
  EndpointSecurityGroupId: 'EndpointSecurityGroup',
  NetworkAclId: 'NetworkAcl',
  RouteTableId: 'RouteTable',
  FlowLogGroupName: 'FlowLogGroup',
  InstanceProfileName: 'InstanceProfile',
  InstanceRoleArn: 'InstanceRole',
  LaunchTemplateId: 'LaunchTemplate',
  ShellDocumentName: 'ShellDocument',
  PortForwardDocumentName: 'PortForwardDocument',
};
/** Resource types that would give the room a way out (or an address reachable from outside). */
export const FORBIDDEN_TYPES = [
  'AWS::EC2::InternetGateway',
  'AWS::EC2::VPCGatewayAttachment',
  'AWS::EC2::NatGateway',
  'AWS::EC2::EgressOnlyInternetGateway',
  'AWS::EC2::CarrierGateway',
  'AWS::EC2::VPCPeeringConnection',
  'AWS::EC2::TransitGateway',
  'AWS::EC2::TransitGatewayAttachment',
  'AWS::EC2::TransitGatewayVpcAttachment',
  'AWS::EC2::VPNGateway',
  'AWS::EC2::VPNConnection',
  'AWS::EC2::VPNGatewayRoutePropagation',
  'AWS::EC2::CustomerGateway',
  'AWS::EC2::ClientVpnEndpoint',
  'AWS::EC2::LocalGatewayRouteTableVPCAssociation',
  'AWS::EC2::EIP',
  'AWS::EC2::EIPAssociation',
  // The case key lives outside the stack so it outlives the room (and moto mishandles KeyPolicy).
  'AWS::KMS::Key',
];
/**
 * The CDK's "match no traffic" egress rule (aws-cdk-lib aws-ec2 security-group.ts): present
 * instead of nothing, because CloudFormation gives a group without egress rules allow-all egress.
 */
export const NO_TRAFFIC_EGRESS = { IpProtocol: 'icmp', FromPort: 252, ToPort: 86, CidrIp: '255.255.255.255/32' };

// ---------------------------------------------------------------- template reading helpers

function list<T = unknown>(v: unknown): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? (v as T[]) : [v as T];
}

function entries(doc: Template): [string, Resource][] {
  return Object.entries(doc.Resources ?? {});
}

function ofType(doc: Template, type: string): [string, Resource][] {
  return entries(doc).filter(([, r]) => r?.Type === type);
}

function props(r: Resource | undefined): Record<string, any> {
  return r?.Properties ?? {};
}

/** True when `v` is `!Ref id` or `!GetAtt id.<attr>`. */
export function refersTo(v: unknown, id: string): boolean {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  if ('Ref' in o) return o.Ref === id;
  if ('Fn::GetAtt' in o) {
    const g = o['Fn::GetAtt'];
    return Array.isArray(g) ? g[0] === id : typeof g === 'string' && g.split('.')[0] === id;
  }
  return false;
}

/** The logical id a `!Ref` / `!GetAtt` value names, if any. */
function target(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.Ref === 'string') return o.Ref;
  const g = o['Fn::GetAtt'];
  if (Array.isArray(g)) return String(g[0]);
  if (typeof g === 'string') return g.split('.')[0];
  return undefined;
}

/**
 * A string-ish value as text with references written `${X}`: `!Sub 'a-${X}'` → `a-${X}`,
 * `!Ref X` → `${X}`, a literal stays itself. Anything else → undefined.
 */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.Ref === 'string') return `\${${o.Ref}}`;
  const sub = o['Fn::Sub'];
  if (typeof sub === 'string') return sub;
  if (Array.isArray(sub) && typeof sub[0] === 'string') return sub[0];
  return undefined;
}

/** Every security group rule of the template, inline and standalone, with the group it belongs to. */
interface SgRule {
  group: string | undefined;
  direction: 'ingress' | 'egress';
  /** Where the rule is written (the group's logical id, or the standalone rule's). */
  at: string;
  rule: Record<string, any>;
}

function sgRules(doc: Template): SgRule[] {
  const out: SgRule[] = [];
  for (const [id, r] of ofType(doc, 'AWS::EC2::SecurityGroup')) {
    for (const rule of list<Record<string, any>>(props(r).SecurityGroupIngress))
      out.push({ group: id, direction: 'ingress', at: id, rule });
    for (const rule of list<Record<string, any>>(props(r).SecurityGroupEgress))
      out.push({ group: id, direction: 'egress', at: id, rule });
  }
  for (const [id, r] of ofType(doc, 'AWS::EC2::SecurityGroupIngress')) {
    const p = props(r);
    out.push({ group: target(p.GroupId) ?? target(p.GroupName), direction: 'ingress', at: id, rule: p });
  }
  for (const [id, r] of ofType(doc, 'AWS::EC2::SecurityGroupEgress')) {
    const p = props(r);
    out.push({ group: target(p.GroupId), direction: 'egress', at: id, rule: p });
  }
  return out;
}

function isNoTrafficPlaceholder(rule: Record<string, any>): boolean {
  return (
    String(rule.IpProtocol) === NO_TRAFFIC_EGRESS.IpProtocol &&
    Number(rule.FromPort) === NO_TRAFFIC_EGRESS.FromPort &&
    Number(rule.ToPort) === NO_TRAFFIC_EGRESS.ToPort &&
    rule.CidrIp === NO_TRAFFIC_EGRESS.CidrIp &&
    Object.keys(rule).every((k) => ['IpProtocol', 'FromPort', 'ToPort', 'CidrIp', 'Description'].includes(k))
  );
}

function isHttps(rule: Record<string, any>): boolean {
  return ['tcp', '6'].includes(String(rule.IpProtocol)) && Number(rule.FromPort) === 443 && Number(rule.ToPort) === 443;
}

function describeRule(r: SgRule): string {
  const { Description: _d, GroupId: _g, ...rest } = r.rule;
  return `${r.direction} ${JSON.stringify(rest)}${r.at !== r.group ? ` (in ${r.at})` : ''}`;
}

/** The interface and gateway VPC endpoints, by service suffix (`ssm`, `s3`, ...). */
function endpointsByService(doc: Template): Map<string, [string, Resource][]> {
  const m = new Map<string, [string, Resource][]>();
  for (const [id, r] of ofType(doc, 'AWS::EC2::VPCEndpoint')) {
    const name = text(props(r).ServiceName) ?? '';
    const service = name.replace(/^com\.amazonaws\.(\$\{AWS::Region\}|[a-z0-9-]+)\./, '');
    m.set(service, [...(m.get(service) ?? []), [id, r]]);
  }
  return m;
}

function findings(check: string) {
  const out: Finding[] = [];
  return {
    out,
    add(resource: string, message: string) {
      out.push({ check, resource, message });
    },
  };
}

function vaultArns(): Set<string> {
  // The partition comes from the pseudo parameter; a literal `aws` is accepted too.
  const out = new Set<string>();
  for (const p of ['${AWS::Partition}', 'aws']) {
    out.add(`arn:${p}:s3:::\${VaultBucket}`);
    out.add(`arn:${p}:s3:::\${VaultBucket}/*`);
  }
  return out;
}

function casePrefixArn(suffix: string): string[] {
  return ['${AWS::Partition}', 'aws'].map((p) => `arn:${p}:s3:::\${VaultBucket}/cases/\${CaseId}/${suffix}`);
}

/** The ForensicInstance and its LaunchTemplate (the instance repeats some settings for moto). */
function instanceAndTemplate(doc: Template): { instances: [string, Resource][]; templates: [string, Resource][] } {
  return { instances: ofType(doc, 'AWS::EC2::Instance'), templates: ofType(doc, 'AWS::EC2::LaunchTemplate') };
}

// ---------------------------------------------------------------- the checks

export const ROOM_CHECKS: RoomCheck[] = [
  {
    id: 'no-way-out',
    title:
      'no internet, NAT, egress-only, carrier, VPN or transit gateway, peering, Elastic IP, or KMS key in the template',
    run(doc) {
      const f = findings(this.id);
      for (const [id, r] of entries(doc)) {
        if (FORBIDDEN_TYPES.includes(r?.Type))
          f.add(
            id,
            `${id} is a ${r.Type}; the room must have no way out and no outside address (and the case key lives outside the stack): remove it.`,
          );
      }
      return f.out;
    },
  },
  {
    id: 'no-route-out',
    title: 'no route to 0.0.0.0/0 or ::/0, and no routes at all beyond the local and S3 gateway endpoint routes',
    run(doc) {
      const f = findings(this.id);
      for (const [id, r] of ofType(doc, 'AWS::EC2::Route')) {
        const p = props(r);
        if (p.DestinationCidrBlock === '0.0.0.0/0' || p.DestinationIpv6CidrBlock === '::/0') {
          f.add(
            id,
            `${id} is a default route (${p.DestinationCidrBlock ?? p.DestinationIpv6CidrBlock}): the room must have no route to 0.0.0.0/0 or ::/0; remove it.`,
          );
        } else {
          f.add(
            id,
            `${id} adds a route; the room's route table holds only the local route and the S3 gateway endpoint's routes: remove it.`,
          );
        }
      }
      const tables = ofType(doc, 'AWS::EC2::RouteTable');
      if (tables.length !== 1) f.add('RouteTable', `expected exactly one route table, found ${tables.length}.`);
      for (const [id] of tables) {
        const assoc = ofType(doc, 'AWS::EC2::SubnetRouteTableAssociation').filter(
          ([, a]) => refersTo(props(a).RouteTableId, id) && refersTo(props(a).SubnetId, 'Subnet'),
        );
        if (assoc.length !== 1)
          f.add(
            id,
            `${id} must be associated with the subnet (one SubnetRouteTableAssociation); otherwise the subnet uses the VPC's main route table.`,
          );
      }
      return f.out;
    },
  },
  {
    id: 'private-subnet',
    title: 'one subnet, MapPublicIpOnLaunch false, no IPv6 auto-assignment',
    run(doc) {
      const f = findings(this.id);
      const subnets = ofType(doc, 'AWS::EC2::Subnet');
      if (subnets.length !== 1) f.add('Subnet', `the room has exactly one subnet in one AZ, found ${subnets.length}.`);
      if (ofType(doc, 'AWS::EC2::VPC').length !== 1) f.add('Vpc', 'the room has exactly one VPC.');
      for (const [id, r] of subnets) {
        if (props(r).MapPublicIpOnLaunch !== false)
          f.add(
            id,
            `${id} must set MapPublicIpOnLaunch: false (found ${JSON.stringify(props(r).MapPublicIpOnLaunch)}).`,
          );
        if (props(r).AssignIpv6AddressOnCreation === true) f.add(id, `${id} must not assign IPv6 addresses.`);
        if (!refersTo(props(r).AvailabilityZone, 'AvailabilityZone'))
          f.add(id, `${id} must be in the AvailabilityZone parameter's zone.`);
      }
      for (const [id] of ofType(doc, 'AWS::EC2::SubnetCidrBlock'))
        f.add(id, `${id} adds an (IPv6) range to the subnet: remove it.`);
      for (const [id] of ofType(doc, 'AWS::EC2::VPCCidrBlock')) f.add(id, `${id} adds a range to the VPC: remove it.`);
      return f.out;
    },
  },
  {
    id: 'endpoints',
    title:
      'interface endpoints for ssm, ssmmessages, ec2messages and kms with private DNS in the subnet behind the endpoint group; S3 gateway endpoint on the route table',
    run(doc) {
      const f = findings(this.id);
      const by = endpointsByService(doc);
      for (const svc of INTERFACE_SERVICES) {
        const eps = by.get(svc) ?? [];
        if (eps.length !== 1) {
          f.add(
            `${svc}-endpoint`,
            `expected one interface endpoint for com.amazonaws.<region>.${svc}, found ${eps.length}: the instance needs it to work without internet.`,
          );
          continue;
        }
        const [id, r] = eps[0]!;
        const p = props(r);
        if (p.VpcEndpointType !== 'Interface') f.add(id, `${id} must be VpcEndpointType: Interface.`);
        if (p.PrivateDnsEnabled !== true)
          f.add(
            id,
            `${id} must set PrivateDnsEnabled: true, or the instance resolves ${svc}'s public name and cannot reach it.`,
          );
        const subnets = list(p.SubnetIds);
        if (subnets.length !== 1 || !refersTo(subnets[0], 'Subnet'))
          f.add(id, `${id} must be in the room subnet (SubnetIds: [!Ref Subnet]).`);
        const groups = list(p.SecurityGroupIds);
        if (groups.length !== 1 || !refersTo(groups[0], 'EndpointSecurityGroup'))
          f.add(id, `${id} must carry only EndpointSecurityGroup.`);
      }
      const s3 = by.get('s3') ?? [];
      if (s3.length !== 1) f.add('S3Endpoint', `expected one S3 gateway endpoint, found ${s3.length}.`);
      for (const [id, r] of s3) {
        if (props(r).VpcEndpointType !== 'Gateway')
          f.add(id, `${id} must be a Gateway endpoint (it adds the S3 prefix-list routes to the route table).`);
        const tables = list(props(r).RouteTableIds);
        if (!tables.some((x) => refersTo(x, 'RouteTable')))
          f.add(id, `${id} must be associated with RouteTable (RouteTableIds).`);
      }
      const vpc = ofType(doc, 'AWS::EC2::VPC')[0]?.[1];
      if (props(vpc).EnableDnsSupport !== true || props(vpc).EnableDnsHostnames !== true)
        f.add(
          'Vpc',
          'the VPC must enable DNS support and DNS hostnames, which private DNS on interface endpoints requires.',
        );
      return f.out;
    },
  },
  {
    id: 's3-endpoint-policy',
    title:
      "the S3 gateway endpoint's policy allows only the vault bucket and its objects (and, with a toolkit, reads the AL2023 repositories)",
    run(doc) {
      const f = findings(this.id);
      const allowed = vaultArns();
      const repos = new Set(
        ['${AWS::Partition}', 'aws'].map((p) => `arn:${p}:s3:::al2023-repos-\${AWS::Region}-de612dc2/*`),
      );
      for (const [id, r] of endpointsByService(doc).get('s3') ?? []) {
        const statement = props(r).PolicyDocument?.Statement;
        // Fn::If [HasToolkit, with the repositories, without]: each branch is judged on its own.
        const cond =
          statement && typeof statement === 'object' && !Array.isArray(statement) ? statement['Fn::If'] : undefined;
        const branches: { stmts: Record<string, any>[]; repos: boolean }[] = cond
          ? [
              { stmts: list<Record<string, any>>(cond[1]), repos: true },
              { stmts: list<Record<string, any>>(cond[2]), repos: false },
            ]
          : [{ stmts: list<Record<string, any>>(statement), repos: false }];
        if (cond && cond[0] !== 'HasToolkit')
          f.add(
            id,
            `${id}: the policy's Fn::If must be on HasToolkit (no toolkit, no repository access), not ${JSON.stringify(cond[0])}.`,
          );
        for (const b of branches) {
          if (!b.stmts.length)
            f.add(
              id,
              `${id} has no PolicyDocument; without one the endpoint allows all of S3: limit it to the vault bucket.`,
            );
          for (const s of b.stmts) {
            if (s.Effect !== 'Allow') continue;
            if (s.NotResource || s.NotAction)
              f.add(id, `${id}: NotResource/NotAction widen the policy; name the vault bucket's resources.`);
            const res = list(s.Resource).map(text);
            if (b.repos && res.length > 0 && res.every((x) => x && repos.has(x))) {
              const actions = list(s.Action);
              if (actions.length !== 1 || actions[0] !== 's3:GetObject')
                f.add(
                  id,
                  `${id} may only read (s3:GetObject) the AL2023 repositories, not ${JSON.stringify(s.Action)}.`,
                );
              continue;
            }
            for (const [i, t] of res.entries()) {
              if (!t || !allowed.has(t))
                f.add(
                  id,
                  `${id} allows ${JSON.stringify(list(s.Resource)[i])}; only arn:<partition>:s3:::\${VaultBucket} and its /*${b.repos ? ', and al2023-repos-${AWS::Region}-de612dc2/* read-only with a toolkit,' : ''} are allowed.`,
                );
            }
            for (const a of list(s.Action)) {
              if (typeof a !== 'string' || a === '*' || a === 's3:*' || a.includes('*'))
                f.add(id, `${id} allows the action ${JSON.stringify(a)}; name the object actions the room needs.`);
            }
          }
        }
      }
      return f.out;
    },
  },
  {
    id: 'endpoint-sg',
    title: 'the endpoint group accepts only TCP 443 from the access group and sends nothing',
    run(doc) {
      const f = findings(this.id);
      if (!doc.Resources.EndpointSecurityGroup)
        return [{ check: this.id, resource: 'EndpointSecurityGroup', message: 'EndpointSecurityGroup is missing.' }];
      const rules = sgRules(doc).filter((r) => r.group === 'EndpointSecurityGroup');
      const ingress = rules.filter((r) => r.direction === 'ingress');
      if (!ingress.length)
        f.add(
          'EndpointSecurityGroup',
          'EndpointSecurityGroup must accept TCP 443 from AccessSecurityGroup, or the instance cannot reach the endpoints.',
        );
      for (const r of ingress) {
        const onlySource = Object.keys(r.rule).every((k) =>
          ['IpProtocol', 'FromPort', 'ToPort', 'SourceSecurityGroupId', 'Description', 'GroupId'].includes(k),
        );
        if (!isHttps(r.rule) || !refersTo(r.rule.SourceSecurityGroupId, 'AccessSecurityGroup') || !onlySource) {
          f.add(
            r.at,
            `EndpointSecurityGroup allows ${describeRule(r)}; only TCP 443 from AccessSecurityGroup is allowed.`,
          );
        }
      }
      const egress = rules.filter((r) => r.direction === 'egress');
      if (egress.length !== 1 || !isNoTrafficPlaceholder(egress[0]!.rule)) {
        f.add(
          'EndpointSecurityGroup',
          `EndpointSecurityGroup egress must be only the "Disallow all traffic" placeholder (found ${egress.map(describeRule).join('; ') || 'none, which CloudFormation turns into allow-all'}).`,
        );
      }
      return f.out;
    },
  },
  {
    id: 'forensics-sg',
    title: 'the forensics group has no ingress and only the "Disallow all traffic" placeholder egress',
    run(doc) {
      const f = findings(this.id);
      if (!doc.Resources.ForensicsSecurityGroup)
        return [{ check: this.id, resource: 'ForensicsSecurityGroup', message: 'ForensicsSecurityGroup is missing.' }];
      const rules = sgRules(doc).filter((r) => r.group === 'ForensicsSecurityGroup');
      for (const r of rules.filter((x) => x.direction === 'ingress'))
        f.add(r.at, `ForensicsSecurityGroup must have no ingress; found ${describeRule(r)}.`);
      const egress = rules.filter((r) => r.direction === 'egress');
      if (
        egress.length !== 1 ||
        !isNoTrafficPlaceholder(egress[0]!.rule) ||
        egress[0]!.at !== 'ForensicsSecurityGroup'
      ) {
        f.add(
          'ForensicsSecurityGroup',
          `ForensicsSecurityGroup egress must be exactly the inline "Disallow all traffic" placeholder (icmp 252/86 to 255.255.255.255/32); found ${egress.map(describeRule).join('; ') || 'none, which CloudFormation turns into allow-all'}. Put access paths in AccessSecurityGroup.`,
        );
      }
      return f.out;
    },
  },
  {
    id: 'access-sg',
    title: 'the access group has no ingress; its egress is TCP 443 to the endpoint group and the S3 prefix list only',
    run(doc) {
      const f = findings(this.id);
      if (!doc.Resources.AccessSecurityGroup)
        return [{ check: this.id, resource: 'AccessSecurityGroup', message: 'AccessSecurityGroup is missing.' }];
      const rules = sgRules(doc).filter((r) => r.group === 'AccessSecurityGroup');
      for (const r of rules.filter((x) => x.direction === 'ingress'))
        f.add(r.at, `AccessSecurityGroup must have no ingress; found ${describeRule(r)}.`);
      const egress = rules.filter((r) => r.direction === 'egress');
      const inline = egress.filter((r) => r.at === 'AccessSecurityGroup');
      if (!inline.length)
        f.add(
          'AccessSecurityGroup',
          'AccessSecurityGroup needs an inline egress rule, or CloudFormation gives it allow-all egress.',
        );
      let toEndpoints = false;
      let toS3 = false;
      for (const r of egress) {
        const extra = Object.keys(r.rule).filter(
          (k) =>
            ![
              'IpProtocol',
              'FromPort',
              'ToPort',
              'Description',
              'GroupId',
              'DestinationSecurityGroupId',
              'DestinationPrefixListId',
            ].includes(k),
        );
        const ep =
          refersTo(r.rule.DestinationSecurityGroupId, 'EndpointSecurityGroup') && !r.rule.DestinationPrefixListId;
        const s3 = refersTo(r.rule.DestinationPrefixListId, 'S3PrefixListId') && !r.rule.DestinationSecurityGroupId;
        if (!isHttps(r.rule) || extra.length || !(ep || s3)) {
          f.add(
            r.at,
            `AccessSecurityGroup allows ${describeRule(r)}; only TCP 443 to EndpointSecurityGroup and to the S3PrefixListId prefix list is allowed.`,
          );
        }
        toEndpoints ||= ep && isHttps(r.rule);
        toS3 ||= s3 && isHttps(r.rule);
      }
      if (!toEndpoints)
        f.add(
          'AccessSecurityGroup',
          'AccessSecurityGroup must allow TCP 443 to EndpointSecurityGroup, or SSM and KMS are unreachable.',
        );
      if (!toS3)
        f.add(
          'AccessSecurityGroup',
          'AccessSecurityGroup must allow TCP 443 to the S3PrefixListId prefix list, or the vault is unreachable.',
        );
      return f.out;
    },
  },
  {
    id: 'instance-network',
    title:
      'the instance and its launch template carry exactly the forensics and access groups, in the room subnet, and no public address',
    run(doc) {
      const f = findings(this.id);
      const want = ['ForensicsSecurityGroup', 'AccessSecurityGroup'];
      const sameGroups = (v: unknown) => {
        const got = list(v).map(target);
        return got.length === want.length && want.every((w) => got.includes(w));
      };
      const { instances, templates } = instanceAndTemplate(doc);
      if (instances.length !== 1)
        f.add('ForensicInstance', `the room has exactly one forensic instance, found ${instances.length}.`);
      for (const [id, r] of instances) {
        const p = props(r);
        if (!sameGroups(p.SecurityGroupIds))
          f.add(id, `${id} must carry exactly ForensicsSecurityGroup and AccessSecurityGroup (SecurityGroupIds).`);
        if (!refersTo(p.SubnetId, 'Subnet')) f.add(id, `${id} must be in the room subnet (SubnetId: !Ref Subnet).`);
        if (p.SecurityGroups) f.add(id, `${id} must not name groups by SecurityGroups (default-VPC groups).`);
      }
      for (const [id, r] of templates) {
        const d = props(r).LaunchTemplateData ?? {};
        if (!sameGroups(d.SecurityGroupIds))
          f.add(id, `${id} must name exactly ForensicsSecurityGroup and AccessSecurityGroup (SecurityGroupIds).`);
      }
      // A public address: on a network interface (instance or template), or from the subnet.
      for (const [id, r] of [...instances, ...templates]) {
        const nics = list<Record<string, any>>(
          r.Type === 'AWS::EC2::Instance' ? props(r).NetworkInterfaces : props(r).LaunchTemplateData?.NetworkInterfaces,
        );
        for (const n of nics) {
          if (n.AssociatePublicIpAddress !== false)
            f.add(
              id,
              `${id} has a network interface without AssociatePublicIpAddress: false; the instance must get no public address.`,
            );
          if (n.Ipv6AddressCount || n.Ipv6Addresses) f.add(id, `${id} asks for IPv6 addresses; the room has none.`);
        }
      }
      for (const [id] of ofType(doc, 'AWS::EC2::NetworkInterface'))
        f.add(id, `${id} is an extra network interface; the instance has only its primary one.`);
      return f.out;
    },
  },
  {
    id: 'nacl',
    title: "the subnet's network ACL allows only HTTPS out and return traffic in, and denies everything else",
    run(doc) {
      const f = findings(this.id);
      const acls = ofType(doc, 'AWS::EC2::NetworkAcl');
      if (acls.length !== 1)
        return [
          {
            check: this.id,
            resource: 'NetworkAcl',
            message: `expected one NetworkAcl for the subnet, found ${acls.length}.`,
          },
        ];
      const [aclId] = acls[0]!;
      const assoc = ofType(doc, 'AWS::EC2::SubnetNetworkAclAssociation').filter(
        ([, a]) => refersTo(props(a).NetworkAclId, aclId) && refersTo(props(a).SubnetId, 'Subnet'),
      );
      if (assoc.length !== 1)
        f.add(
          aclId,
          `${aclId} must be associated with the subnet (SubnetNetworkAclAssociation); otherwise the VPC's default ACL (allow all) applies.`,
        );
      const all = ofType(doc, 'AWS::EC2::NetworkAclEntry').filter(([, e]) => refersTo(props(e).NetworkAclId, aclId));
      for (const egress of [true, false]) {
        const dir = egress ? 'outbound' : 'inbound';
        const es = all.filter(([, e]) => (props(e).Egress === true) === egress);
        const denyAll = es.filter(([, e]) => {
          const p = props(e);
          return p.RuleAction === 'deny' && String(p.Protocol) === '-1' && p.CidrBlock === '0.0.0.0/0';
        });
        if (!denyAll.length)
          f.add(aclId, `${aclId} needs an explicit ${dir} deny-all entry (Protocol -1, 0.0.0.0/0, deny).`);
        const denyAt = Math.min(...denyAll.map(([, e]) => Number(props(e).RuleNumber)));
        for (const [id, e] of es) {
          const p = props(e);
          if (p.RuleAction !== 'allow') continue;
          const tcp = String(p.Protocol) === '6';
          const from = Number(p.PortRange?.From);
          const to = Number(p.PortRange?.To);
          const ok = egress ? tcp && from === 443 && to === 443 : tcp && from >= 1024 && to <= 65535 && from <= to;
          if (!ok)
            f.add(
              id,
              `${id} allows ${dir} ${JSON.stringify({ Protocol: p.Protocol, PortRange: p.PortRange, CidrBlock: p.CidrBlock ?? p.Ipv6CidrBlock })}; only TCP 443 out and TCP 1024-65535 (return traffic) in are allowed.`,
            );
          if (p.Ipv6CidrBlock) f.add(id, `${id} allows IPv6 traffic; the room has none.`);
          if (!(Number(p.RuleNumber) < denyAt))
            f.add(
              id,
              `${id} (rule ${p.RuleNumber}) comes after the deny-all rule ${denyAt} and would never match; number it lower.`,
            );
        }
        if (!es.some(([, e]) => props(e).RuleAction === 'allow'))
          f.add(
            aclId,
            `${aclId} has no ${dir} allow entry; S3 through the gateway endpoint needs TCP 443 out and return traffic in.`,
          );
      }
      return f.out;
    },
  },
  {
    id: 'flow-logs',
    title: 'VPC flow logs of ALL traffic go to a log group encrypted with the case key and with a retention',
    run(doc) {
      const f = findings(this.id);
      const logs = ofType(doc, 'AWS::EC2::FlowLog').filter(
        ([, r]) => refersTo(props(r).ResourceId, 'Vpc') && props(r).ResourceType === 'VPC',
      );
      if (logs.length !== 1) f.add('FlowLog', `expected one AWS::EC2::FlowLog on the VPC, found ${logs.length}.`);
      for (const [id, r] of logs) {
        const p = props(r);
        if (p.TrafficType !== 'ALL')
          f.add(
            id,
            `${id} must log TrafficType ALL (found ${JSON.stringify(p.TrafficType)}): rejected packets are the evidence that the room held.`,
          );
        const group = target(p.LogGroupName) ?? target(p.LogDestination);
        const lg = group ? doc.Resources[group] : undefined;
        if (lg?.Type !== 'AWS::Logs::LogGroup') {
          f.add(id, `${id} must deliver to the template's AWS::Logs::LogGroup.`);
          continue;
        }
        if (!p.DeliverLogsPermissionArn) f.add(id, `${id} needs DeliverLogsPermissionArn (the delivery role).`);
        const lp = props(lg);
        if (!refersTo(lp.KmsKeyId, 'CaseKeyArn'))
          f.add(group!, `${group} must be encrypted with the case key (KmsKeyId: !Ref CaseKeyArn).`);
        if (lp.RetentionInDays === undefined)
          f.add(group!, `${group} must set RetentionInDays (FlowLogRetentionDays).`);
      }
      return f.out;
    },
  },
  {
    id: 'imds',
    title: 'IMDSv2 required with hop limit 1 (launch template, and the instance where it repeats them)',
    run(doc) {
      const f = findings(this.id);
      const check = (id: string, m: Record<string, any> | undefined, required: boolean) => {
        if (!m) {
          if (required)
            f.add(
              id,
              `${id} must set MetadataOptions (HttpTokens: required, HttpPutResponseHopLimit: 1, HttpEndpoint: enabled).`,
            );
          return;
        }
        if (m.HttpTokens !== 'required')
          f.add(
            id,
            `${id} must set MetadataOptions.HttpTokens: required (IMDSv2 only), found ${JSON.stringify(m.HttpTokens)}.`,
          );
        if (Number(m.HttpPutResponseHopLimit) !== 1)
          f.add(
            id,
            `${id} must set MetadataOptions.HttpPutResponseHopLimit: 1 so containers on the instance cannot reach the role credentials, found ${JSON.stringify(m.HttpPutResponseHopLimit)}.`,
          );
        if (m.HttpEndpoint !== 'enabled')
          f.add(
            id,
            `${id} must set MetadataOptions.HttpEndpoint: enabled (SSM and the AWS CLI need instance credentials).`,
          );
      };
      const { instances, templates } = instanceAndTemplate(doc);
      if (templates.length !== 1) f.add('LaunchTemplate', `expected one launch template, found ${templates.length}.`);
      for (const [id, r] of templates) check(id, props(r).LaunchTemplateData?.MetadataOptions, true);
      for (const [id, r] of instances) {
        // Instance properties override the launch template's, so repeating them must not weaken them.
        check(id, props(r).MetadataOptions, false);
        const lt = props(r).LaunchTemplate;
        if (!lt || !templates.some(([tid]) => refersTo(lt.LaunchTemplateId, tid)))
          f.add(id, `${id} must be launched from the template's LaunchTemplate.`);
      }
      return f.out;
    },
  },
  {
    id: 'root-volume',
    title: 'every block device of the instance and its launch template is encrypted gp3 under the case key',
    run(doc) {
      const f = findings(this.id);
      const { instances, templates } = instanceAndTemplate(doc);
      const mappings: [string, unknown][] = [
        ...templates.map(([id, r]): [string, unknown] => [id, props(r).LaunchTemplateData?.BlockDeviceMappings]),
        ...instances.map(([id, r]): [string, unknown] => [id, props(r).BlockDeviceMappings]),
      ];
      for (const [id, m] of mappings) {
        const bdms = list<Record<string, any>>(m);
        if (!bdms.length)
          f.add(
            id,
            `${id} must map the root volume (BlockDeviceMappings) encrypted with the case key; an AMI's default mapping may be unencrypted.`,
          );
        for (const b of bdms) {
          if (b.VirtualName || b.NoDevice !== undefined) continue;
          const e = b.Ebs ?? {};
          if (e.Encrypted !== true) f.add(id, `${id}: ${b.DeviceName} must set Ebs.Encrypted: true.`);
          if (!refersTo(e.KmsKeyId, 'CaseKeyArn'))
            f.add(id, `${id}: ${b.DeviceName} must be encrypted with the case key (Ebs.KmsKeyId: !Ref CaseKeyArn).`);
          if (e.VolumeType !== 'gp3')
            f.add(id, `${id}: ${b.DeviceName} should be gp3 (found ${JSON.stringify(e.VolumeType)}).`);
        }
      }
      for (const [id] of [...ofType(doc, 'AWS::EC2::Volume'), ...ofType(doc, 'AWS::EC2::VolumeAttachment')]) {
        f.add(
          id,
          `${id}: evidence and working volumes are created by the workflows under the case key, not by the room template.`,
        );
      }
      return f.out;
    },
  },
  {
    id: 'instance-profile',
    title:
      "the instance profile's role has SSM core plus S3 only on the case prefix (write) and its tools (read), and KMS only on the case key",
    run(doc) {
      const f = findings(this.id);
      const { instances, templates } = instanceAndTemplate(doc);
      for (const [id, r] of instances) {
        if (!refersTo(props(r).IamInstanceProfile, 'InstanceProfile'))
          f.add(id, `${id} must use InstanceProfile (IamInstanceProfile: !Ref InstanceProfile).`);
      }
      for (const [id, r] of templates) {
        const ip = props(r).LaunchTemplateData?.IamInstanceProfile;
        if (!ip || !(refersTo(ip.Arn, 'InstanceProfile') || refersTo(ip.Name, 'InstanceProfile')))
          f.add(id, `${id} must use InstanceProfile.`);
      }
      const profile = doc.Resources.InstanceProfile;
      const roles = list(props(profile).Roles);
      if (profile?.Type !== 'AWS::IAM::InstanceProfile' || roles.length !== 1 || !refersTo(roles[0], 'InstanceRole')) {
        f.add('InstanceProfile', 'InstanceProfile must hold exactly InstanceRole.');
      }
      const role = doc.Resources.InstanceRole;
      if (role?.Type !== 'AWS::IAM::Role')
        return [...f.out, { check: this.id, resource: 'InstanceRole', message: 'InstanceRole is missing.' }];
      const p = props(role);
      const trust = list<Record<string, any>>(p.AssumeRolePolicyDocument?.Statement);
      for (const s of trust) {
        const svc = list(s.Principal?.Service);
        if (
          s.Effect === 'Allow' &&
          (s.Principal === '*' || s.Principal?.AWS || svc.some((x) => x !== 'ec2.amazonaws.com'))
        ) {
          f.add(
            'InstanceRole',
            `InstanceRole may be assumed by ${JSON.stringify(s.Principal)}; only ec2.amazonaws.com may assume it.`,
          );
        }
      }
      const managed = list(p.ManagedPolicyArns).map(text);
      const ssmCore = [
        'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore',
        'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      ];
      if (!managed.some((m) => m && ssmCore.includes(m)))
        f.add(
          'InstanceRole',
          'InstanceRole needs the AmazonSSMManagedInstanceCore managed policy (SSM access without SSH).',
        );
      for (const m of managed)
        if (!m || !ssmCore.includes(m))
          f.add(
            'InstanceRole',
            `InstanceRole has the managed policy ${JSON.stringify(m)}; only AmazonSSMManagedInstanceCore is allowed.`,
          );
      for (const [id] of ofType(doc, 'AWS::IAM::Policy').concat(ofType(doc, 'AWS::IAM::ManagedPolicy'))) {
        f.add(id, `${id} is a separate IAM policy; the instance role's permissions are its inline policy only.`);
      }
      // Action → the resources it may name.
      const allowed: Record<string, string[]> = {
        's3:PutObject': casePrefixArn('*'),
        's3:GetObject': casePrefixArn('tools/*'),
        's3:ListBucket': ['arn:${AWS::Partition}:s3:::${VaultBucket}', 'arn:aws:s3:::${VaultBucket}'],
        // Session Manager reads the vault's default encryption before it uploads a transcript.
        's3:GetEncryptionConfiguration': ['arn:${AWS::Partition}:s3:::${VaultBucket}', 'arn:aws:s3:::${VaultBucket}'],
        'kms:Decrypt': ['${CaseKeyArn}', '${VaultKeyArn}'],
        'kms:GenerateDataKey': ['${CaseKeyArn}'],
      };
      for (const pol of list<Record<string, any>>(p.Policies)) {
        for (const s of list<Record<string, any>>(pol.PolicyDocument?.Statement)) {
          if (s.Effect !== 'Allow') continue;
          const where = `InstanceRole policy ${pol.PolicyName}${s.Sid ? ` statement ${s.Sid}` : ''}`;
          if (s.NotAction || s.NotResource)
            f.add('InstanceRole', `${where} uses NotAction/NotResource; name actions and resources.`);
          for (const a of list(s.Action)) {
            const ok = typeof a === 'string' ? allowed[a] : undefined;
            if (!ok) {
              f.add(
                'InstanceRole',
                `${where} allows ${JSON.stringify(a)}; the instance may only put objects under cases/\${CaseId}/, read cases/\${CaseId}/tools/, and use the case key.`,
              );
              continue;
            }
            for (const res of list(s.Resource)) {
              const t = text(res);
              if (!t || !ok.includes(t))
                f.add('InstanceRole', `${where} allows ${a} on ${JSON.stringify(res)}; allowed: ${ok.join(' or ')}.`);
            }
            // The vault key only for reading the case's guest tooling through S3.
            if (list(s.Resource).some((res) => text(res) === '${VaultKeyArn}')) {
              const via = text(s.Condition?.StringEquals?.['kms:ViaService']);
              const ctx = list(s.Condition?.StringLike?.['kms:EncryptionContext:aws:s3:arn']).map(text);
              const okCtx =
                ctx.length > 0 &&
                ctx.every(
                  (c) =>
                    !!c &&
                    (casePrefixArn('tools/*').includes(c) ||
                      ['arn:${AWS::Partition}:s3:::${VaultBucket}', 'arn:aws:s3:::${VaultBucket}'].includes(c)),
                );
              if (a !== 'kms:Decrypt' || via !== 's3.${AWS::Region}.amazonaws.com' || !okCtx) {
                f.add(
                  'InstanceRole',
                  `${where} may use the vault key only for kms:Decrypt through S3 (kms:ViaService s3.\${AWS::Region}.amazonaws.com) with the encryption context of the vault bucket or the case's tools (kms:EncryptionContext:aws:s3:arn).`,
                );
              }
            }
            if (a === 's3:ListBucket') {
              const prefix = text(s.Condition?.StringLike?.['s3:prefix']);
              if (!prefix?.startsWith('cases/${CaseId}/tools/'))
                f.add(
                  'InstanceRole',
                  `${where} allows s3:ListBucket without a condition s3:prefix under cases/\${CaseId}/tools/: the room could list every case.`,
                );
            }
          }
        }
      }
      return f.out;
    },
  },
  {
    id: 'instance-depends-on',
    title: 'the instance is created after every VPC endpoint',
    run(doc) {
      const f = findings(this.id);
      const endpoints = ofType(doc, 'AWS::EC2::VPCEndpoint').map(([id]) => id);
      for (const [id, r] of ofType(doc, 'AWS::EC2::Instance')) {
        const deps = list<string>(r.DependsOn);
        for (const e of endpoints)
          if (!deps.includes(e))
            f.add(
              id,
              `${id} must DependsOn ${e}: an instance that boots before its endpoints never registers with SSM and cannot fetch its tooling.`,
            );
      }
      return f.out;
    },
  },
  {
    id: 'user-data',
    title: 'user data fetches the guest tooling from the case prefix with retries, logs, and runs install.sh',
    run(doc) {
      const f = findings(this.id);
      for (const [id, r] of ofType(doc, 'AWS::EC2::LaunchTemplate')) {
        const ud = props(r).LaunchTemplateData?.UserData;
        const script = text(ud?.['Fn::Base64']);
        if (!script) {
          f.add(id, `${id} must carry the bootstrap user data (Fn::Base64 of a !Sub script).`);
          continue;
        }
        const need: [RegExp, string][] = [
          [/^#!\/bin\/bash\n/, 'start with #!/bin/bash'],
          [
            /s3:\/\/\$\{VaultBucket\}\/cases\/\$\{CaseId\}\/tools\/guest\//,
            'download from s3://${VaultBucket}/cases/${CaseId}/tools/guest/',
          ],
          [/aws s3 cp --recursive/, 'use aws s3 cp --recursive'],
          [/\/opt\/cleanroom\/guest/, 'install into /opt/cleanroom/guest/'],
          [/install\.sh/, 'run /opt/cleanroom/guest/install.sh'],
          [/\/var\/log\/cleanroom-userdata\.log/, 'log to /var/log/cleanroom-userdata.log'],
          [/for attempt in/, 'retry the download'],
        ];
        for (const [re, what] of need) if (!re.test(script)) f.add(id, `${id} user data must ${what}.`);
      }
      return f.out;
    },
  },
  {
    id: 'tags',
    title: 'every taggable resource carries cleanroom:case = CaseId and a cleanroom:role',
    run(doc, ctx) {
      const f = findings(this.id);
      const tagged = (tags: unknown, where: string) => {
        const ts = list<Record<string, any>>(tags);
        const c = ts.find((x) => x.Key === 'cleanroom:case');
        if (!c || !refersTo(c.Value, 'CaseId'))
          f.add(
            where,
            `${where} must be tagged cleanroom:case = !Ref CaseId, so every analyst can find it from the case.`,
          );
        const role = ts.find((x) => x.Key === 'cleanroom:role');
        if (!role || !text(role.Value))
          f.add(where, `${where} must be tagged cleanroom:role (what it is in the room).`);
      };
      for (const [id, r] of entries(doc)) {
        const prop = ctx.tagProperty.get(r.Type);
        if (prop) tagged(props(r)[prop], id);
      }
      // Launch templates are not "taggable" in CloudFormation's sense; they tag through TagSpecifications.
      for (const [id, r] of ofType(doc, 'AWS::EC2::LaunchTemplate')) {
        const own = list<Record<string, any>>(props(r).TagSpecifications).find(
          (s) => s.ResourceType === 'launch-template',
        );
        tagged(own?.Tags, `${id} (launch-template)`);
        const specs = list<Record<string, any>>(props(r).LaunchTemplateData?.TagSpecifications);
        for (const kind of ['instance', 'volume', 'network-interface']) {
          tagged(specs.find((s) => s.ResourceType === kind)?.Tags, `${id} (${kind})`);
        }
      }
      return f.out;
    },
  },
  {
    id: 'parameters',
    title: 'the parameters the workflow passes exist with the contract constraints',
    run(doc) {
      const f = findings(this.id);
      const p = doc.Parameters ?? {};
      const need: Record<string, (x: Record<string, any>) => string | undefined> = {
        CaseId: (x) =>
          x.AllowedPattern === CASE_ID_PATTERN ? undefined : `AllowedPattern must be the contract's ${CASE_ID_PATTERN}`,
        AvailabilityZone: (x) =>
          x.Type === 'AWS::EC2::AvailabilityZone::Name' ? undefined : 'Type must be AWS::EC2::AvailabilityZone::Name',
        InstanceType: (x) => (x.Default ? undefined : 'needs a Default'),
        ImageId: (x) =>
          x.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>' &&
          x.Default === '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64'
            ? undefined
            : 'must be an SSM parameter of an AMI id, defaulting to the Amazon Linux 2023 public parameter',
        AmiId: (x) =>
          x.Type === 'String' && x.Default === '' && x.AllowedPattern === '^(ami-[0-9a-f]{8,17})?$'
            ? undefined
            : "must be a String defaulting to '' with AllowedPattern ^(ami-[0-9a-f]{8,17})?$ (room up --ami)",
        VaultBucket: () => undefined,
        VaultKeyArn: (x) =>
          typeof x.AllowedPattern === 'string' && x.AllowedPattern.includes(':kms:')
            ? undefined
            : 'needs an AllowedPattern of a KMS key ARN',
        CaseKeyArn: () => undefined,
        S3PrefixListId: (x) =>
          x.Type === 'String' ? undefined : 'Type must be String (the workflow resolves the prefix list)',
        VpcCidr: (x) => (x.Default ? undefined : 'needs a Default'),
        FlowLogRetentionDays: (x) => (x.Default ? undefined : 'needs a Default'),
      };
      for (const [name, test] of Object.entries(need)) {
        if (!p[name]) {
          f.add(name, `parameter ${name} is missing.`);
          continue;
        }
        const why = test(p[name]!);
        if (why) f.add(name, `parameter ${name}: ${why}.`);
      }
      return f.out;
    },
  },
  {
    id: 'image',
    title: 'the instance and its launch template boot the explicit AmiId when given, else the ImageId SSM parameter',
    run(doc) {
      const f = findings(this.id);
      const cond = (doc as { Conditions?: Record<string, unknown> }).Conditions?.UseAmiId;
      const wantCond = { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AmiId' }, ''] }] };
      if (JSON.stringify(cond) !== JSON.stringify(wantCond))
        f.add('UseAmiId', "condition UseAmiId must be !Not [!Equals [!Ref AmiId, '']].");
      const want = JSON.stringify({ 'Fn::If': ['UseAmiId', { Ref: 'AmiId' }, { Ref: 'ImageId' }] });
      const { instances, templates } = instanceAndTemplate(doc);
      for (const [id, r] of templates)
        if (JSON.stringify(props(r).LaunchTemplateData?.ImageId) !== want)
          f.add(id, `${id} ImageId must be !If [UseAmiId, !Ref AmiId, !Ref ImageId].`);
      for (const [id, r] of instances)
        if (JSON.stringify(props(r).ImageId) !== want)
          f.add(
            id,
            `${id} ImageId must be !If [UseAmiId, !Ref AmiId, !Ref ImageId] (it overrides the launch template's).`,
          );
      return f.out;
    },
  },
  {
    id: 'outputs',
    title: 'every output room up reports is present and names the right resource',
    run(doc) {
      const f = findings(this.id);
      for (const [name, resource] of Object.entries(REQUIRED_OUTPUTS)) {
        const o = doc.Outputs?.[name];
        if (!o) f.add(name, `output ${name} is missing; room up --json reports it.`);
        else if (!refersTo(o.Value, resource))
          f.add(name, `output ${name} must be !Ref/!GetAtt ${resource}, found ${JSON.stringify(o.Value)}.`);
      }
      return f.out;
    },
  },
];

/** Run every check. An empty result means the template holds all the room's invariants. */
export function checkRoomTemplate(doc: Template, ctx: CheckContext): Finding[] {
  return ROOM_CHECKS.flatMap((c) => c.run(doc, ctx));
}
