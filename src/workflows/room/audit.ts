/**
 * The live audit of a room (`room verify`, the end of `room up`, the acquisition gate): reads the
 * resources as they are in the account — not the template — and checks each of the room's
 * invariants as a named check. Read-only.
 *
 * Critical checks (any failure fails the audit, exit 3): no way out of the VPC (internet, NAT,
 * egress-only, VPN or carrier gateway, peering, transit gateway attachment, a route that is neither
 * the local route nor the S3 gateway endpoint), no public address, no ingress and no egress on the
 * forensics group, the access and endpoint groups holding only their declared rules, the instance in
 * exactly the room's groups with IMDSv2 and hop limit 1, every attached volume encrypted, the VPC
 * endpoints present (and the S3 endpoint limited to the vault), the analysts' way in recorded (the
 * shell document sends every transcript to the vault under the case key; the port-forward document
 * runs no shell and reaches only the instance). Warnings (fail only with
 * `strict`): the subnet's network ACL and the VPC flow logs, the defence in depth.
 *
 * Collection and evaluation are separate: {@link collectRoom} reads, {@link evaluateRoom} judges;
 * a read that fails makes the checks that need it fail with the reason (never pass).
 */
import type { AccountCalls, AwsAccount } from '../../aws/ports.js';
import type { AuditCheck, AuditResult, CheckSeverity, RoomInfo } from '../../domain/room.js';
import { asError } from '../../domain/errors.js';
import { isAwsCode } from '../../aws/errors.js';
import { stackPhase, readRoomStack, roomInfo, type RoomStack } from '../../resources/stacks.js';
import {
  declaredGroups,
  describeRule,
  isDeclared,
  isNoTraffic,
  liveRules,
  type DeclaredGroup,
  type LiveRule,
} from './rules.js';
import { roomStackName } from '../../domain/case-id.js';

type Ec2 = AwsAccount['ec2'];
type Out<K extends keyof Ec2> = Awaited<ReturnType<Ec2[K]>>;
type Item<T> = T extends ReadonlyArray<infer U> ? U : never;

export type Instance = Item<NonNullable<Item<NonNullable<Out<'describeInstances'>['Reservations']>>['Instances']>>;
export type RouteTable = Item<NonNullable<Out<'describeRouteTables'>['RouteTables']>>;
export type VpcEndpoint = Item<NonNullable<Out<'describeVpcEndpoints'>['VpcEndpoints']>>;
export type NetworkAcl = Item<NonNullable<Out<'describeNetworkAcls'>['NetworkAcls']>>;
export type NetworkInterface = Item<NonNullable<Out<'describeNetworkInterfaces'>['NetworkInterfaces']>>;
export type Volume = Item<NonNullable<Out<'describeVolumes'>['Volumes']>>;
export type Subnet = Item<NonNullable<Out<'describeSubnets'>['Subnets']>>;
export type FlowLog = Item<NonNullable<Out<'describeFlowLogs'>['FlowLogs']>>;

/** A read that may have failed: the checks that need it report the failure. */
export type Read<T> = { ok: true; value: T } | { ok: false; error: string };

/** Everything the audit reads about one room. */
export interface RoomLive {
  region: string;
  stack: RoomStack;
  info: RoomInfo;
  subnet: Read<Subnet | undefined>;
  instance: Read<Instance | undefined>;
  internetGateways: Read<string[]>;
  natGateways: Read<string[]>;
  egressOnlyGateways: Read<string[]>;
  peerings: Read<string[]>;
  transitAttachments: Read<string[]>;
  vpnGateways: Read<string[]>;
  carrierGateways: Read<string[]>;
  routeTables: Read<RouteTable[]>;
  endpoints: Read<VpcEndpoint[]>;
  networkInterfaces: Read<NetworkInterface[]>;
  volumes: Read<Volume[]>;
  networkAcls: Read<NetworkAcl[]>;
  flowLogs: Read<FlowLog[]>;
  rules: Read<Map<string, LiveRule[]>>;
  /** The room's Session Manager documents (undefined: the stack names none). */
  shellDocument: Read<SessionDocument | undefined>;
  portForwardDocument: Read<SessionDocument | undefined>;
}

/** A Session Manager document as GetDocument returns it, its content parsed. */
export interface SessionDocument {
  name: string;
  documentType?: string;
  content: Record<string, unknown>;
}

export interface AuditOptions {
  /** Count warnings (network ACL, flow logs) as failures. */
  strict?: boolean;
}

/**
 * The checks of the room audit (`room verify`), in the order they are reported: `room.exists`
 * alone when there is no room stack, else every other one, each once.
 */
export const ROOM_CHECK_IDS = [
  'room.exists',
  'stack.complete',
  'vpc.no-internet-gateway',
  'vpc.no-nat-gateway',
  'vpc.no-egress-only-internet-gateway',
  'vpc.no-peering-connection',
  'vpc.no-transit-gateway-attachment',
  'vpc.no-vpn-gateway',
  'vpc.no-carrier-gateway',
  'routes.no-route-out',
  'subnet.no-public-ip-on-launch',
  'network.no-public-address',
  'forensics-sg.no-ingress',
  'forensics-sg.no-egress',
  'access-sg.endpoints-only',
  'endpoint-sg.room-only',
  'instance.security-groups',
  'instance.imdsv2',
  'instance.volumes-encrypted',
  'endpoints.present',
  'endpoints.s3-vault-only',
  'sessions.logging-to-vault',
  'sessions.documents-only',
  'nacl.restrictive',
  'flow-logs.active',
] as const;

export type RoomCheckId = (typeof ROOM_CHECK_IDS)[number];

/** One check of the room audit. */
export type RoomAuditCheck = AuditCheck<RoomCheckId>;

/** The audit of one room, with the room it audited (undefined when there is no room stack). */
export interface RoomAudit extends AuditResult<RoomCheckId> {
  room?: RoomInfo;
}

/** The interface endpoints the room needs (an instance without them cannot reach SSM or KMS). */
export const INTERFACE_SERVICES = ['ssm', 'ssmmessages', 'ec2messages', 'kms'] as const;

async function read<T>(fn: () => Promise<T>): Promise<Read<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: asError(e).message };
  }
}

async function all<T>(
  fetch: (token: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetch(token);
    out.push(...(page.items ?? []));
    token = page.next ?? undefined;
  } while (token);
  return out;
}

const tok = (t: string | undefined) => (t ? { NextToken: t } : {});

/** What the live audit reads: the stack, and the room's network, instance and volumes. */
export type RoomAuditAccount = Pick<AwsAccount, 'region'> &
  AccountCalls<{
    cfn: 'describeStacks';
    ec2:
      | 'describeSubnets'
      | 'describeInstances'
      | 'describeInternetGateways'
      | 'describeNatGateways'
      | 'describeEgressOnlyInternetGateways'
      | 'describeVpcPeeringConnections'
      | 'describeTransitGatewayVpcAttachments'
      | 'describeVpnGateways'
      | 'describeCarrierGateways'
      | 'describeRouteTables'
      | 'describeVpcEndpoints'
      | 'describeNetworkInterfaces'
      | 'describeNetworkAcls'
      | 'describeFlowLogs'
      | 'describeSecurityGroupRules'
      | 'describeVolumes';
    ssm: 'getDocument';
  }>;

/** Read everything the audit needs about the room of a stack. */
export async function collectRoom(account: RoomAuditAccount, caseId: string, stack: RoomStack): Promise<RoomLive> {
  const info = roomInfo(caseId, stack);
  const vpcId = info.vpcId;
  const noVpc = {
    ok: false as const,
    error: `the stack ${stack.stackName} reports no VpcId output (status ${stack.status})`,
  };
  const noOutput = (name: string) => ({
    ok: false as const,
    error: `the stack ${stack.stackName} reports no ${name} output`,
  });
  const inVpc = <T>(fn: (account: RoomAuditAccount, vpc: string) => Promise<T>): Promise<Read<T>> =>
    vpcId ? read(() => fn(account, vpcId)) : Promise.resolve(noVpc);
  const groupIds = [info.forensicsSecurityGroupId, info.accessSecurityGroupId, info.endpointSecurityGroupId].filter(
    (g): g is string => !!g,
  );

  const [
    subnet,
    instance,
    internetGateways,
    natGateways,
    egressOnlyGateways,
    peerings,
    transitAttachments,
    vpnGateways,
    carrierGateways,
    routeTables,
    endpoints,
    networkInterfaces,
    networkAcls,
    flowLogs,
    rules,
  ] = await Promise.all([
    info.subnetId
      ? read(async () => (await account.ec2.describeSubnets({ SubnetIds: [info.subnetId!] })).Subnets?.[0])
      : Promise.resolve<Read<Subnet | undefined>>(noOutput('SubnetId')),
    info.instanceId
      ? read(
          async () =>
            (await account.ec2.describeInstances({ InstanceIds: [info.instanceId!] })).Reservations?.[0]
              ?.Instances?.[0],
        )
      : Promise.resolve<Read<Instance | undefined>>(noOutput('InstanceId')),
    inVpc(internetGatewaysOf),
    inVpc(natGatewaysOf),
    inVpc(egressOnlyGatewaysOf),
    inVpc(peeringsOf),
    inVpc(transitAttachmentsOf),
    inVpc(vpnGatewaysOf),
    inVpc(carrierGatewaysOf),
    // Every filtered list is also checked item by item: a filter an endpoint ignores must not
    // pull another VPC's resources into this room's audit.
    inVpc(routeTablesOf),
    inVpc(endpointsOf),
    inVpc(networkInterfacesOf),
    inVpc(networkAclsOf),
    inVpc(flowLogsOf),
    read(() => liveRules(account, groupIds)),
  ]);
  const volumes = info.instanceId ? await read(() => volumesOf(account, info.instanceId!)) : noOutput('InstanceId');
  const [shellDocument, portForwardDocument] = await Promise.all(
    [info.shellDocumentName, info.portForwardDocumentName].map((name) =>
      name ? read(() => sessionDocument(account, name)) : Promise.resolve({ ok: true as const, value: undefined }),
    ),
  );
  return {
    region: account.region,
    stack,
    info,
    subnet,
    instance,
    internetGateways,
    natGateways,
    egressOnlyGateways,
    peerings,
    transitAttachments,
    vpnGateways,
    carrierGateways,
    routeTables,
    endpoints,
    networkInterfaces,
    volumes,
    networkAcls,
    flowLogs,
    rules,
    shellDocument: shellDocument!,
    portForwardDocument: portForwardDocument!,
  };
}

/** A Session document and its content (asked for as JSON); undefined when there is none. */
async function sessionDocument(account: RoomAuditAccount, name: string): Promise<SessionDocument | undefined> {
  let d: Awaited<ReturnType<RoomAuditAccount['ssm']['getDocument']>>;
  try {
    d = await account.ssm.getDocument({ Name: name, DocumentFormat: 'JSON' });
  } catch (e) {
    if (isAwsCode(e, 'InvalidDocument')) return undefined;
    throw e;
  }
  const content = JSON.parse(d.Content ?? '{}') as Record<string, unknown>;
  return { name, ...(d.DocumentType ? { documentType: d.DocumentType } : {}), content };
}

const vpcFilter = (name: string, vpc: string) => [{ Name: name, Values: [vpc] }];

// The ways out of a VPC, each as the list of what is attached and alive (ids, with the state where it tells).

async function internetGatewaysOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return (
    await all((t) =>
      account.ec2
        .describeInternetGateways({ Filters: vpcFilter('attachment.vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.InternetGateways, next: r.NextToken })),
    )
  )
    .filter((g) => (g.Attachments ?? []).some((a) => a.VpcId === v && a.State !== 'detached'))
    .map((g) => g.InternetGatewayId ?? '?');
}

async function natGatewaysOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return (
    await all((t) =>
      account.ec2
        .describeNatGateways({ Filter: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.NatGateways, next: r.NextToken })),
    )
  )
    .filter((g) => g.VpcId === v && g.State !== 'deleted' && g.State !== 'failed')
    .map((g) => `${g.NatGatewayId} (${g.State})`);
}

async function egressOnlyGatewaysOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return (
    await all((t) =>
      account.ec2
        .describeEgressOnlyInternetGateways({ Filters: vpcFilter('attachment.vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.EgressOnlyInternetGateways, next: r.NextToken })),
    )
  )
    .filter((g) => (g.Attachments ?? []).some((a) => a.VpcId === v && a.State !== 'detached'))
    .map((g) => g.EgressOnlyInternetGatewayId ?? '?');
}

async function peeringsOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  const live = new Set(['initiating-request', 'pending-acceptance', 'provisioning', 'active']);
  const ids = new Set<string>();
  for (const side of ['requester-vpc-info.vpc-id', 'accepter-vpc-info.vpc-id']) {
    const pcx = await all((t) =>
      account.ec2
        .describeVpcPeeringConnections({ Filters: vpcFilter(side, v), ...tok(t) })
        .then((r) => ({ items: r.VpcPeeringConnections, next: r.NextToken })),
    );
    for (const p of pcx) {
      const ours = p.RequesterVpcInfo?.VpcId === v || p.AccepterVpcInfo?.VpcId === v;
      if (ours && live.has(p.Status?.Code ?? 'active'))
        ids.add(`${p.VpcPeeringConnectionId} (${p.Status?.Code ?? 'unknown'})`);
    }
  }
  return [...ids];
}

async function transitAttachmentsOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return (
    await all((t) =>
      account.ec2
        .describeTransitGatewayVpcAttachments({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.TransitGatewayVpcAttachments, next: r.NextToken })),
    )
  )
    .filter((a) => a.VpcId === v && !['deleted', 'deleting', 'rejected', 'failed'].includes(a.State ?? ''))
    .map((a) => `${a.TransitGatewayAttachmentId} to ${a.TransitGatewayId} (${a.State})`);
}

async function vpnGatewaysOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return ((await account.ec2.describeVpnGateways({ Filters: vpcFilter('attachment.vpc-id', v) })).VpnGateways ?? [])
    .filter(
      (g) => g.State !== 'deleted' && (g.VpcAttachments ?? []).some((a) => a.VpcId === v && a.State !== 'detached'),
    )
    .map((g) => g.VpnGatewayId ?? '?');
}

async function carrierGatewaysOf(account: RoomAuditAccount, v: string): Promise<string[]> {
  return (
    await all((t) =>
      account.ec2
        .describeCarrierGateways({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.CarrierGateways, next: r.NextToken })),
    )
  )
    .filter((g) => g.VpcId === v && g.State !== 'deleted' && g.State !== 'deleting')
    .map((g) => g.CarrierGatewayId ?? '?');
}

// What is inside the VPC, each list kept to this VPC item by item.

async function routeTablesOf(account: RoomAuditAccount, v: string): Promise<RouteTable[]> {
  return (
    await all((t) =>
      account.ec2
        .describeRouteTables({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.RouteTables, next: r.NextToken })),
    )
  ).filter((x) => x.VpcId === v);
}

async function endpointsOf(account: RoomAuditAccount, v: string): Promise<VpcEndpoint[]> {
  return (
    await all((t) =>
      account.ec2
        .describeVpcEndpoints({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.VpcEndpoints, next: r.NextToken })),
    )
  ).filter((x) => x.VpcId === v);
}

async function networkInterfacesOf(account: RoomAuditAccount, v: string): Promise<NetworkInterface[]> {
  return (
    await all((t) =>
      account.ec2
        .describeNetworkInterfaces({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.NetworkInterfaces, next: r.NextToken })),
    )
  ).filter((x) => x.VpcId === v);
}

async function networkAclsOf(account: RoomAuditAccount, v: string): Promise<NetworkAcl[]> {
  return (
    await all((t) =>
      account.ec2
        .describeNetworkAcls({ Filters: vpcFilter('vpc-id', v), ...tok(t) })
        .then((r) => ({ items: r.NetworkAcls, next: r.NextToken })),
    )
  ).filter((x) => x.VpcId === v);
}

async function flowLogsOf(account: RoomAuditAccount, v: string): Promise<FlowLog[]> {
  return (
    await all((t) =>
      account.ec2
        .describeFlowLogs({ Filter: vpcFilter('resource-id', v), ...tok(t) })
        .then((r) => ({ items: r.FlowLogs, next: r.NextToken })),
    )
  ).filter((x) => x.ResourceId === v);
}

/** The volumes attached to the forensic instance. */
function volumesOf(account: RoomAuditAccount, instanceId: string): Promise<Volume[]> {
  return all((t) =>
    account.ec2
      .describeVolumes({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }], ...tok(t) })
      .then((r) => ({ items: r.Volumes, next: r.NextToken })),
  );
}

// ---------------------------------------------------------------- evaluation

/** A check's answer; `severity` overrides the check's own (a room built before the check's resources existed). */
type Verdict = { ok: boolean; detail: string; severity?: CheckSeverity };

function check(id: RoomCheckId, severity: CheckSeverity, f: () => Verdict): RoomAuditCheck {
  try {
    return { id, severity, ...f() };
  } catch (e) {
    return { id, severity, ok: false, detail: `could not be checked: ${asError(e).message}` };
  }
}

/** The value of a read, or throw its failure (turned into a failed check by {@link check}). */
function need<T>(r: Read<T>, what: string): T {
  if (!r.ok) throw new Error(`reading ${what} failed: ${r.error}`);
  return r.value;
}

function none(list: string[], kind: string, vpc: string | undefined): Verdict {
  return list.length
    ? {
        ok: false,
        detail: `${vpc} has ${list.length} ${kind}(s): ${list.join(', ')} — a way out of the room; remove it.`,
      }
    : { ok: true, detail: `no ${kind}` };
}

function groupsOf(live: RoomLive): DeclaredGroup[] | undefined {
  const i = live.info;
  const pl = live.stack.parameters['S3PrefixListId'];
  if (!i.forensicsSecurityGroupId || !i.accessSecurityGroupId || !i.endpointSecurityGroupId || !pl) return undefined;
  return declaredGroups({
    forensics: i.forensicsSecurityGroupId,
    access: i.accessSecurityGroupId,
    endpoint: i.endpointSecurityGroupId,
    s3PrefixList: pl,
  });
}

function groupCheck(
  live: RoomLive,
  role: DeclaredGroup['role'],
  judge: (rules: LiveRule[], g: DeclaredGroup) => Verdict,
): () => Verdict {
  return () => {
    const g = groupsOf(live)?.find((x) => x.role === role);
    if (!g)
      throw new Error(`the stack ${live.stack.stackName} does not name the room's security groups and S3 prefix list`);
    const rules = need(live.rules, 'the security group rules').get(g.groupId) ?? [];
    return judge(rules, g);
  };
}

function routeTarget(r: Item<NonNullable<RouteTable['Routes']>>): string {
  return (
    r.GatewayId ??
    r.NatGatewayId ??
    r.TransitGatewayId ??
    r.VpcPeeringConnectionId ??
    r.EgressOnlyInternetGatewayId ??
    r.CarrierGatewayId ??
    r.NetworkInterfaceId ??
    r.InstanceId ??
    r.LocalGatewayId ??
    r.CoreNetworkArn ??
    'an unknown target'
  );
}

function parsePolicy(doc: string | undefined): { Statement?: unknown } | undefined {
  if (!doc) return undefined;
  try {
    return JSON.parse(doc) as { Statement?: unknown };
  } catch {
    return undefined;
  }
}

const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

type AddCheck = (id: Exclude<RoomCheckId, 'room.exists'>, severity: CheckSeverity, f: () => Verdict) => void;

/** Judge a room from what {@link collectRoom} read. */
export function evaluateRoom(live: RoomLive): RoomAuditCheck[] {
  const checks: RoomAuditCheck[] = [];
  const add: AddCheck = (id, severity, f) => {
    checks.push(check(id, severity, f));
  };
  addStackCheck(live, add);
  addWayOutChecks(live, add);
  addPublicAddressChecks(live, add);
  addSecurityGroupChecks(live, add);
  addInstanceChecks(live, add);
  addEndpointChecks(live, add);
  addSessionChecks(live, add);
  addDefenceInDepthChecks(live, add);
  return checks;
}

/** The stack has finished. */
function addStackCheck(live: RoomLive, add: AddCheck): void {
  const { stack } = live;
  add('stack.complete', 'critical', () => {
    const phase = stackPhase(stack.status);
    return phase === 'complete'
      ? { ok: true, detail: `${stack.stackName} is ${stack.status}` }
      : {
          ok: false,
          detail: `${stack.stackName} is ${stack.status}${stack.statusReason ? ` (${stack.statusReason})` : ''}: the room is not in a finished state.`,
        };
  });
}

/** A way out of the VPC: gateways, peerings, attachments and routes. */
function addWayOutChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  const vpc = info.vpcId;
  add('vpc.no-internet-gateway', 'critical', () =>
    none(need(live.internetGateways, 'internet gateways'), 'attached internet gateway', vpc),
  );
  add('vpc.no-nat-gateway', 'critical', () => none(need(live.natGateways, 'NAT gateways'), 'NAT gateway', vpc));
  add('vpc.no-egress-only-internet-gateway', 'critical', () =>
    none(need(live.egressOnlyGateways, 'egress-only internet gateways'), 'egress-only internet gateway', vpc),
  );
  add('vpc.no-peering-connection', 'critical', () =>
    none(need(live.peerings, 'peering connections'), 'VPC peering connection', vpc),
  );
  add('vpc.no-transit-gateway-attachment', 'critical', () =>
    none(need(live.transitAttachments, 'transit gateway attachments'), 'transit gateway attachment', vpc),
  );
  add('vpc.no-vpn-gateway', 'critical', () =>
    none(need(live.vpnGateways, 'VPN gateways'), 'attached VPN gateway', vpc),
  );
  add('vpc.no-carrier-gateway', 'critical', () =>
    none(need(live.carrierGateways, 'carrier gateways'), 'carrier gateway', vpc),
  );
  add('routes.no-route-out', 'critical', () => {
    const tables = need(live.routeTables, 'route tables');
    const s3Endpoints = new Set(
      need(live.endpoints, 'VPC endpoints')
        .filter((e) => e.VpcEndpointType === 'Gateway' && e.ServiceName === `com.amazonaws.${live.region}.s3`)
        .map((e) => e.VpcEndpointId),
    );
    const bad: string[] = [];
    let routes = 0;
    for (const t of tables) {
      for (const r of t.Routes ?? []) {
        routes += 1;
        if (r.GatewayId === 'local') continue;
        if (r.GatewayId && s3Endpoints.has(r.GatewayId) && r.DestinationPrefixListId) continue;
        const dest = r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock ?? r.DestinationPrefixListId ?? '?';
        bad.push(`${t.RouteTableId}: ${dest} → ${routeTarget(r)}${r.State === 'blackhole' ? ' (blackhole)' : ''}`);
      }
    }
    return bad.length
      ? {
          ok: false,
          detail: `route(s) out of the room: ${bad.join('; ')}. Only the local route and the S3 gateway endpoint's routes may exist; delete these.`,
        }
      : { ok: true, detail: `${tables.length} route table(s), ${routes} route(s): local and S3 gateway endpoint only` };
  });
}

/** Addresses reachable from outside. */
function addPublicAddressChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  add('subnet.no-public-ip-on-launch', 'critical', () => {
    const s = need(live.subnet, 'the subnet');
    if (!s) return { ok: false, detail: `subnet ${info.subnetId} does not exist` };
    return s.MapPublicIpOnLaunch
      ? {
          ok: false,
          detail: `subnet ${s.SubnetId} gives new network interfaces a public IPv4 address (MapPublicIpOnLaunch); turn it off.`,
        }
      : { ok: true, detail: `subnet ${s.SubnetId} assigns no public addresses` };
  });
  add('network.no-public-address', 'critical', () => {
    const enis = need(live.networkInterfaces, 'network interfaces');
    const inst = need(live.instance, 'the instance');
    const bad = enis
      .filter((n) => n.Association?.PublicIp)
      .map(
        (n) =>
          `${n.NetworkInterfaceId}${n.Attachment?.InstanceId ? ` (${n.Attachment.InstanceId})` : ''} has ${n.Association!.PublicIp}`,
      );
    if (inst?.PublicIpAddress && !bad.some((b) => b.includes(inst.PublicIpAddress!)))
      bad.push(`instance ${inst.InstanceId} has ${inst.PublicIpAddress}`);
    return bad.length
      ? { ok: false, detail: `public address(es) in the room: ${bad.join('; ')}. Release or disassociate them.` }
      : { ok: true, detail: `${enis.length} network interface(s), none with a public address` };
  });
}

/** The room's security groups. */
function addSecurityGroupChecks(live: RoomLive, add: AddCheck): void {
  add(
    'forensics-sg.no-ingress',
    'critical',
    groupCheck(live, 'forensics', (rules, g) => {
      const bad = rules.filter((r) => !r.IsEgress);
      return bad.length
        ? {
            ok: false,
            detail: `${g.groupId} lets traffic in: ${bad.map(describeRule).join('; ')}. The forensics group must have no ingress rule.`,
          }
        : { ok: true, detail: `${g.groupId} has no ingress rule` };
    }),
  );
  add(
    'forensics-sg.no-egress',
    'critical',
    groupCheck(live, 'forensics', (rules, g) => {
      const bad = rules.filter((r) => r.IsEgress && !isNoTraffic(r));
      return bad.length
        ? {
            ok: false,
            detail: `${g.groupId} lets traffic out: ${bad.map(describeRule).join('; ')}. The forensics group must have no egress rule (\`room up\` revokes them).`,
          }
        : {
            ok: true,
            detail: `${g.groupId} has no egress rule${rules.some(isNoTraffic) ? ' (only the no-traffic placeholder)' : ''}`,
          };
    }),
  );
  add(
    'access-sg.endpoints-only',
    'critical',
    groupCheck(live, 'access', (rules, g) => {
      const bad = rules.filter((r) => !isDeclared(r, g));
      return bad.length
        ? {
            ok: false,
            detail: `${g.groupId} allows more than HTTPS to the VPC endpoints: ${bad.map(describeRule).join('; ')}.`,
          }
        : {
            ok: true,
            detail: `${g.groupId}: ${rules.length ? rules.map((r) => describeRule(r)).join('; ') : 'no rules'}`,
          };
    }),
  );
  add(
    'endpoint-sg.room-only',
    'critical',
    groupCheck(live, 'endpoint', (rules, g) => {
      const bad = rules.filter((r) => !isDeclared(r, g));
      return bad.length
        ? {
            ok: false,
            detail: `${g.groupId} allows more than HTTPS from the room: ${bad.map(describeRule).join('; ')}.`,
          }
        : { ok: true, detail: `${g.groupId}: only HTTPS from the access group` };
    }),
  );
}

/** The forensic instance. */
function addInstanceChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  add('instance.security-groups', 'critical', () => {
    const inst = need(live.instance, 'the instance');
    if (!inst) return { ok: false, detail: `instance ${info.instanceId} does not exist` };
    const want = [info.forensicsSecurityGroupId, info.accessSecurityGroupId].filter(Boolean).sort();
    const bad: string[] = [];
    for (const n of inst.NetworkInterfaces ?? []) {
      const have = (n.Groups ?? []).map((x) => x.GroupId ?? '?').sort();
      if (JSON.stringify(have) !== JSON.stringify(want))
        bad.push(`${n.NetworkInterfaceId} is in ${have.join(', ') || 'no group'}`);
      if (info.subnetId && n.SubnetId && n.SubnetId !== info.subnetId)
        bad.push(`${n.NetworkInterfaceId} is in subnet ${n.SubnetId}, outside the room`);
    }
    return bad.length
      ? {
          ok: false,
          detail: `the instance must be in exactly the forensics and access groups (${want.join(', ')}): ${bad.join('; ')}.`,
        }
      : { ok: true, detail: `${inst.InstanceId} is in ${want.join(', ')} only` };
  });
  add('instance.imdsv2', 'critical', () => {
    const inst = need(live.instance, 'the instance');
    if (!inst) return { ok: false, detail: `instance ${info.instanceId} does not exist` };
    const m = inst.MetadataOptions ?? {};
    if (m.HttpEndpoint === 'disabled')
      return { ok: true, detail: `${inst.InstanceId}: instance metadata service disabled` };
    const bad: string[] = [];
    if (m.HttpTokens !== 'required') bad.push(`HttpTokens is ${m.HttpTokens ?? 'unset'} (IMDSv1 allowed)`);
    if (m.HttpPutResponseHopLimit !== 1) bad.push(`hop limit is ${m.HttpPutResponseHopLimit ?? 'unset'}`);
    return bad.length
      ? {
          ok: false,
          detail: `${inst.InstanceId}: ${bad.join(', ')}; IMDSv2 with hop limit 1 is required (\`room up\` sets it).`,
        }
      : { ok: true, detail: `${inst.InstanceId}: IMDSv2 required, hop limit 1` };
  });
  add('instance.volumes-encrypted', 'critical', () => {
    const vols = need(live.volumes, 'the attached volumes');
    if (!vols.length) return { ok: false, detail: `no volume is attached to ${info.instanceId}` };
    const bad = vols.filter((v) => !v.Encrypted).map((v) => v.VolumeId);
    return bad.length
      ? { ok: false, detail: `unencrypted volume(s) attached to ${info.instanceId}: ${bad.join(', ')}.` }
      : { ok: true, detail: `${vols.length} attached volume(s), all encrypted` };
  });
}

/** The VPC endpoints. */
function addEndpointChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  add('endpoints.present', 'critical', () => {
    const eps = need(live.endpoints, 'VPC endpoints').filter(
      (e) => !['deleted', 'deleting', 'failed', 'rejected'].includes(String(e.State ?? '').toLowerCase()),
    );
    const bad: string[] = [];
    const svc = (s: string) => `com.amazonaws.${live.region}.${s}`;
    const s3 = eps.find((e) => e.ServiceName === svc('s3') && e.VpcEndpointType === 'Gateway');
    if (!s3) bad.push('no S3 gateway endpoint');
    else if (info.routeTableId && !(s3.RouteTableIds ?? []).includes(info.routeTableId))
      bad.push(`S3 gateway endpoint ${s3.VpcEndpointId} is not on route table ${info.routeTableId}`);
    for (const s of INTERFACE_SERVICES) {
      const e = eps.find((x) => x.ServiceName === svc(s) && x.VpcEndpointType === 'Interface');
      if (!e) {
        bad.push(`no ${s} interface endpoint`);
        continue;
      }
      if (!e.PrivateDnsEnabled) bad.push(`${s} endpoint ${e.VpcEndpointId} has private DNS off`);
      if (info.subnetId && !(e.SubnetIds ?? []).includes(info.subnetId))
        bad.push(`${s} endpoint ${e.VpcEndpointId} is not in subnet ${info.subnetId}`);
      const groups = (e.Groups ?? []).map((g) => g.GroupId);
      if (info.endpointSecurityGroupId && (groups.length !== 1 || groups[0] !== info.endpointSecurityGroupId))
        bad.push(
          `${s} endpoint ${e.VpcEndpointId} is in ${groups.join(', ') || 'no group'}, not only ${info.endpointSecurityGroupId}`,
        );
    }
    return bad.length
      ? { ok: false, detail: `${bad.join('; ')}: without them the instance cannot reach SSM, KMS or the vault.` }
      : { ok: true, detail: `S3 gateway and ${INTERFACE_SERVICES.join(', ')} interface endpoints with private DNS` };
  });
  add('endpoints.s3-vault-only', 'critical', () => {
    const s3 = need(live.endpoints, 'VPC endpoints').find(
      (e) => e.ServiceName === `com.amazonaws.${live.region}.s3` && e.VpcEndpointType === 'Gateway',
    );
    if (!s3) return { ok: false, detail: 'no S3 gateway endpoint' };
    const bucket = info.vaultBucket;
    const policy = parsePolicy(s3.PolicyDocument);
    if (!policy)
      return {
        ok: false,
        detail: `S3 endpoint ${s3.VpcEndpointId} has no readable policy: without one it reaches every bucket.`,
      };
    const repos = AL2023_REPOSITORY_BUCKET(live.region);
    const bad = s3PolicyProblems(policy, bucket, info.toolkitId ? repos : undefined);
    const also = info.toolkitId
      ? ` and, read-only, the Amazon Linux repositories ${repos} (toolkit ${info.toolkitId})`
      : '';
    return bad.length
      ? {
          ok: false,
          detail: `S3 endpoint ${s3.VpcEndpointId} policy reaches beyond the vault ${bucket}${also}: ${bad.join(', ')}.`,
        }
      : { ok: true, detail: `S3 endpoint ${s3.VpcEndpointId} reaches only ${bucket}${also}` };
  });
}

/**
 * The Amazon Linux 2023 package repositories of a region: the AWS-owned S3 bucket dnf reads through
 * the room's S3 endpoint when the room installs a toolkit (templates/room.yaml, S3Endpoint).
 */
export const AL2023_REPOSITORY_BUCKET = (region: string) => `al2023-repos-${region}-de612dc2`;

/**
 * What an S3 endpoint policy allows beyond the vault (and, when `repos` is given, exactly
 * `s3:GetObject` on that bucket's objects): each problem named. A statement that reaches the
 * repositories must do nothing else; without a toolkit, any repository statement is a problem.
 */
export function s3PolicyProblems(policy: Record<string, unknown>, vault: string | undefined, repos?: string): string[] {
  const arnOf = (b: string, objects: boolean) =>
    new RegExp(`^arn:[a-z-]+:s3:::${b.replace(/[.]/g, '\\.')}${objects ? '/\\*' : '(/.*)?'}$`);
  const isVault = (r: unknown) => typeof r === 'string' && !!vault && arnOf(vault, false).test(r);
  const isRepos = (r: unknown) => typeof r === 'string' && !!repos && arnOf(repos, true).test(r);
  const bad: string[] = [];
  for (const st of arr(policy['Statement'] as Record<string, unknown>[] | undefined)) {
    if (!st || typeof st !== 'object') {
      bad.push(`a statement that is not an object (${JSON.stringify(st)})`);
      continue;
    }
    if (st['Effect'] !== 'Allow') continue;
    if (st['NotResource'] || st['NotAction']) bad.push('a statement with NotResource/NotAction');
    const resources = arr(st['Resource'] as unknown);
    const actions = arr(st['Action'] as unknown);
    if (resources.some(isRepos)) {
      const others = resources.filter((r) => !isRepos(r));
      if (others.length)
        bad.push(`a repository statement that also reaches ${others.map((r) => JSON.stringify(r)).join(', ')}`);
      const notRead = actions.filter((a) => a !== 's3:GetObject');
      if (notRead.length || !actions.length)
        bad.push(
          `on the repositories, actions other than s3:GetObject (${notRead.map((a) => JSON.stringify(a)).join(', ') || 'none named'})`,
        );
      continue;
    }
    for (const r of resources) if (!isVault(r)) bad.push(`Resource ${JSON.stringify(r)}`);
    for (const a of actions) if (a === '*' || a === 's3:*') bad.push(`Action ${JSON.stringify(a)}`);
  }
  return bad;
}

/** The analysts' way in: Session Manager, recorded to the vault (`room shell`). */
function addSessionChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  const upgrade = `Run \`cleanroom room up --case ${info.case}\` to put it back.`;
  add('sessions.logging-to-vault', 'critical', () => {
    // A room built before recorded sessions: nothing to misconfigure, and `room shell` refuses it
    // (ROOM_OUTPUTS_MISSING), so a warning — its evidence isolation is not in question.
    if (!info.shellDocumentName)
      return {
        ok: false,
        severity: 'warning',
        detail: `the stack ${live.stack.stackName} was built before recorded sessions (no ShellDocumentName): \`room shell\` refuses it until it has them. ${upgrade}`,
      };
    const d = need(live.shellDocument, `the session document ${info.shellDocumentName}`);
    if (!d) return { ok: false, detail: `the session document ${info.shellDocumentName} does not exist. ${upgrade}` };
    const inputs = (d.content['inputs'] ?? {}) as Record<string, unknown>;
    const prefix = `cases/${info.case}/sessions/`;
    const bad: string[] = [];
    if (d.documentType !== 'Session' || d.content['sessionType'] !== 'Standard_Stream')
      bad.push(
        `it is a ${d.documentType ?? '?'} document of session type ${String(d.content['sessionType'])}, not a Standard_Stream Session document`,
      );
    if (inputs['s3BucketName'] !== info.vaultBucket)
      bad.push(
        `transcripts go to ${JSON.stringify(inputs['s3BucketName'] ?? null)}, not the vault ${info.vaultBucket}`,
      );
    if (inputs['s3KeyPrefix'] !== prefix)
      bad.push(`under ${JSON.stringify(inputs['s3KeyPrefix'] ?? null)}, not ${prefix}`);
    if (inputs['s3EncryptionEnabled'] !== true && inputs['s3EncryptionEnabled'] !== 'true')
      bad.push('s3EncryptionEnabled is off');
    if (!info.caseKeyArn || inputs['kmsKeyId'] !== info.caseKeyArn)
      bad.push(
        `the session stream is encrypted with ${JSON.stringify(inputs['kmsKeyId'] ?? null)}, not the case key ${info.caseKeyArn ?? '(unknown)'}`,
      );
    if (inputs['runAsEnabled'] === true || inputs['runAsEnabled'] === 'true')
      bad.push('runAsEnabled is on (sessions would run as another user)');
    return bad.length
      ? { ok: false, detail: `${d.name}: ${bad.join('; ')}. ${upgrade}` }
      : {
          ok: true,
          detail: `${d.name} records every shell to s3://${info.vaultBucket}/${prefix}, encrypted, stream under the case key`,
        };
  });
  add('sessions.documents-only', 'critical', () => {
    if (!info.portForwardDocumentName)
      return {
        ok: false,
        severity: 'warning',
        detail: `the stack ${live.stack.stackName} was built before recorded sessions (no PortForwardDocumentName): \`room shell --port-forward\` refuses it until it has them. ${upgrade}`,
      };
    const d = need(live.portForwardDocument, `the session document ${info.portForwardDocumentName}`);
    if (!d)
      return { ok: false, detail: `the session document ${info.portForwardDocumentName} does not exist. ${upgrade}` };
    const props = (d.content['properties'] ?? {}) as Record<string, unknown>;
    const params = (d.content['parameters'] ?? {}) as Record<string, unknown>;
    const bad: string[] = [];
    if (d.documentType !== 'Session' || d.content['sessionType'] !== 'Port')
      bad.push(
        `it is a ${d.documentType ?? '?'} document of session type ${String(d.content['sessionType'])}: only a Port session runs no shell (an unrecorded shell otherwise)`,
      );
    if ('host' in params || 'host' in props || props['type'] !== 'LocalPortForwarding')
      bad.push('it can forward to another host than the forensic instance');
    return bad.length
      ? { ok: false, detail: `${d.name}: ${bad.join('; ')}. ${upgrade}` }
      : { ok: true, detail: `${d.name} forwards a port of the forensic instance only, with no shell` };
  });
}

/** Defence in depth (warnings). */
function addDefenceInDepthChecks(live: RoomLive, add: AddCheck): void {
  const { info } = live;
  const vpc = info.vpcId;
  add('nacl.restrictive', 'warning', () => {
    const acls = need(live.networkAcls, 'network ACLs');
    const acl = acls.find((a) => (a.Associations ?? []).some((x) => x.SubnetId === info.subnetId));
    if (!acl) return { ok: false, detail: `no network ACL is associated with subnet ${info.subnetId}` };
    const bad: string[] = [];
    if (acl.IsDefault) bad.push(`the subnet uses the VPC's default network ACL ${acl.NetworkAclId}`);
    for (const e of acl.Entries ?? []) {
      if (e.RuleAction !== 'allow') continue;
      const dir = e.Egress ? 'outbound' : 'inbound';
      if (e.Protocol === '-1') bad.push(`rule ${e.RuleNumber} allows all ${dir} traffic`);
      else if (e.Egress && (e.PortRange?.From !== 443 || e.PortRange?.To !== 443))
        bad.push(`rule ${e.RuleNumber} allows ${dir} ports ${e.PortRange?.From}-${e.PortRange?.To}`);
    }
    return bad.length
      ? { ok: false, detail: `${bad.join('; ')}: the network ACL should allow only HTTPS out and its replies in.` }
      : { ok: true, detail: `${acl.NetworkAclId} allows only HTTPS out and return traffic in` };
  });
  add('flow-logs.active', 'warning', () => {
    const logs = need(live.flowLogs, 'flow logs');
    const good = logs.find(
      (l) => l.FlowLogStatus === 'ACTIVE' && l.TrafficType === 'ALL' && l.DeliverLogsStatus !== 'FAILED',
    );
    if (good)
      return {
        ok: true,
        detail: `${good.FlowLogId} logs ALL traffic of ${vpc} to ${good.LogGroupName ?? good.LogDestination}`,
      };
    return {
      ok: false,
      detail: logs.length
        ? `no active flow log of ALL traffic on ${vpc} (${logs.map((l) => `${l.FlowLogId}: ${l.FlowLogStatus} ${l.TrafficType}${l.DeliverLogsErrorMessage ? ` ${l.DeliverLogsErrorMessage}` : ''}`).join('; ')})`
        : `no flow log on ${vpc}`,
    };
  });
}

/** Whether a set of checks passes (warnings count only when strict). */
export function auditOk(checks: readonly AuditCheck[], opts: AuditOptions = {}): boolean {
  return checks.every((c) => c.ok || (c.severity === 'warning' && !opts.strict));
}

/** Audit the room of a stack already read. */
export async function auditStack(
  account: RoomAuditAccount,
  caseId: string,
  stack: RoomStack,
  opts: AuditOptions = {},
): Promise<RoomAudit> {
  const live = await collectRoom(account, caseId, stack);
  const checks = evaluateRoom(live);
  return { ok: auditOk(checks, opts), checks, room: live.info };
}

/** The live audit of a case's room; with no room stack, one failed `room.exists` check. */
export async function auditRoom(
  account: RoomAuditAccount,
  caseId: string,
  opts: AuditOptions = {},
): Promise<RoomAudit> {
  const stack = await readRoomStack(account, caseId);
  if (!stack) {
    return {
      ok: false,
      checks: [
        {
          id: 'room.exists',
          ok: false,
          severity: 'critical',
          detail: `case ${caseId} has no room: there is no stack ${roomStackName(caseId)} in ${account.region}. Run \`cleanroom room up --case ${caseId}\`.`,
        },
      ],
    };
  }
  return auditStack(account, caseId, stack, opts);
}
