// The RoomGate acquisition depends on, against the local AWS: `describe` reads the stack's outputs,
// `audit` runs the live audit. The stack is created here with CreateStack from templates/room.yaml
// (not through room up), so moto's deviations are all still in it: the allow-all egress moto adds
// to every CloudFormation security group (docs/local-aws.md, "CFN SecurityGroup") must make the audit
// fail by name — room up's guard-rail reconciliation is what removes it (up.test.ts).
import t from 'tap';
import { openAccount } from '../../../src/aws/account.js';
import { roomGate } from '../../../src/workflows/room/gate.js';
import { useLocalAws } from '../../../local-aws/local-aws.js';
import { createRoomStack } from './fixtures.js';

t.test('describe and audit a room; a case without a room', async (t) => {
  await useLocalAws(t);
  const account = await openAccount({});
  const gate = roomGate(account);
  t.equal(await gate.describe('IR-none'), undefined, 'no stack: undefined');
  const none = await gate.audit('IR-none');
  t.equal(none.ok, false);
  t.same(
    none.checks.map((c) => [c.id, c.ok]),
    [['room.exists', false]],
  );
  t.match(none.checks[0]!.detail, /no stack cleanroom-IR-none.*room up --case IR-none/);

  const out = await createRoomStack(account, 'IR-gate');
  const info = await gate.describe('IR-gate');
  t.match(info, {
    case: 'IR-gate',
    stackName: 'cleanroom-IR-gate',
    stackStatus: 'CREATE_COMPLETE',
    vpcId: out.VpcId,
    subnetId: out.SubnetId,
    availabilityZone: 'us-east-1a',
    instanceId: out.InstanceId,
    forensicsSecurityGroupId: out.ForensicsSecurityGroupId,
  });
  const audit = await gate.audit('IR-gate');
  t.equal(audit.ok, false, 'moto left allow-all egress on the groups');
  const failed = audit.checks.filter((c) => !c.ok).map((c) => c.id);
  t.ok(failed.includes('forensics-sg.no-egress'), 'the forensics group egress is caught by name');
  t.ok(
    audit.checks.every(
      (c) =>
        typeof c.detail === 'string' && c.detail.length > 0 && (c.severity === 'critical' || c.severity === 'warning'),
    ),
  );
});
