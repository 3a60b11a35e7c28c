/**
 * A clean room on the local AWS that passes the live audit, for the acquisition end-to-end tests —
 * a STAND-IN for `cleanroom room up` until that command is on main (the room issue's branch has it:
 * swap `compliantRoom` for `runCli(env, ['room', 'up', '--case', …])` then).
 *
 * The stack comes from templates/room.yaml by CreateStack (test/workflows/room/fixtures.ts); then the
 * three documented moto deviations that room up's guard-rail reconciliation repairs are repaired the
 * same way, through the EC2 API (aws-emulator.md: "CFN SecurityGroup always adds allow-all egress;
 * explicit egress ignored", "CFN Instance … MetadataOptions, SecurityGroupIds ignored"):
 * security-group rules made exactly the declared ones (src/workflows/room/rules.ts), the instance's
 * interfaces put in the forensics and access groups, IMDSv2 required.
 */
import { openAccount } from '../../src/aws/account.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import { ensureCaseKey } from '../../src/workflows/case-key.js';
import { declaredGroups, ipPermission, isDeclared, liveRules, missingRules } from '../../src/workflows/room/rules.js';
import { createRoomStack, s3PrefixList } from '../workflows/room/fixtures.js';

export async function compliantRoom(caseId: string, az = 'us-east-1a'): Promise<Record<string, string>> {
  const account = await openAccount({ region: 'us-east-1' });
  const key = await ensureCaseKey(account, caseId);
  const out = await createRoomStack(account, caseId, { CaseKeyArn: key.arn, AvailabilityZone: az });
  await repair(account, out);
  return out;
}

async function repair(account: AwsAccount, out: Record<string, string>): Promise<void> {
  const groups = declaredGroups({ forensics: out['ForensicsSecurityGroupId']!, access: out['AccessSecurityGroupId']!, endpoint: out['EndpointSecurityGroupId']!, s3PrefixList: await s3PrefixList(account) });
  const live = await liveRules(account, groups.map((g) => g.groupId));
  for (const g of groups) {
    const rules = live.get(g.groupId) ?? [];
    const extra = rules.filter((r) => !isDeclared(r, g));
    const egress = extra.filter((r) => r.IsEgress).map((r) => r.SecurityGroupRuleId!);
    const ingress = extra.filter((r) => !r.IsEgress).map((r) => r.SecurityGroupRuleId!);
    if (egress.length) await account.ec2.revokeSecurityGroupEgress({ GroupId: g.groupId, SecurityGroupRuleIds: egress });
    if (ingress.length) await account.ec2.revokeSecurityGroupIngress({ GroupId: g.groupId, SecurityGroupRuleIds: ingress });
    for (const m of missingRules(rules, g)) {
      if (m.direction === 'egress') await account.ec2.authorizeSecurityGroupEgress({ GroupId: g.groupId, IpPermissions: [ipPermission(m)] });
      else await account.ec2.authorizeSecurityGroupIngress({ GroupId: g.groupId, IpPermissions: [ipPermission(m)] });
    }
  }
  const inst = (await account.ec2.describeInstances({ InstanceIds: [out['InstanceId']!] })).Reservations![0]!.Instances![0]!;
  for (const eni of inst.NetworkInterfaces ?? []) {
    await account.ec2.modifyNetworkInterfaceAttribute({ NetworkInterfaceId: eni.NetworkInterfaceId!, Groups: [out['ForensicsSecurityGroupId']!, out['AccessSecurityGroupId']!] });
  }
  await account.ec2.modifyInstanceMetadataOptions({ InstanceId: out['InstanceId']!, HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' });
}
