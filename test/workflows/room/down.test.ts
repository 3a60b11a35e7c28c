// room down, room status and room list at the library level against the local AWS: refusal while
// evidence is attached, detaching it on request (recorded as the evidence item's state), deletion
// to DELETE_COMPLETE, a DELETE_FAILED named by its reason and retried, leftovers named, a case
// without a room.
import t from 'tap';
import { openAccount } from '../../../src/aws/account.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { UsageError } from '../../../src/domain/errors.js';
import { approveAll } from '../../../src/domain/approval.js';
import { foldEvidence } from '../../../src/domain/evidence.js';
import { initVault } from '../../../src/workflows/vault/index.js';
import { roomUp } from '../../../src/workflows/room/up.js';
import { roomDown, roomDownPlanText, type RoomDownPlan } from '../../../src/workflows/room/down.js';
import { StackDeleteFailedError } from '../../../src/resources/stack-delete.js';
import { listRooms, roomStatus } from '../../../src/workflows/room/status.js';
import { readStack } from '../../../src/resources/stacks.js';
import { useLocalAws } from '../../../local-aws/local-aws.js';

t.test('room down, status and list', async (t) => {
  await useLocalAws(t);
  const account = await openAccount({});
  await initVault(account, {});
  const {
    EC2Client,
    CreateVolumeCommand,
    AttachVolumeCommand,
    CreateRouteTableCommand,
    DeleteRouteTableCommand,
    CreateVpcCommand,
    DescribeVolumesCommand,
  } = await import('@aws-sdk/client-ec2');
  const ec2 = new EC2Client({});

  /** A working volume of an evidence item, attached to the room's instance as acquisition would. */
  const attachEvidence = async (instanceId: string, caseId: string, evidenceId: string) => {
    const v = (
      await ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: 'us-east-1a',
          Size: 1,
          Encrypted: true,
          TagSpecifications: [
            {
              ResourceType: 'volume',
              Tags: [
                { Key: 'cleanroom:case', Value: caseId },
                { Key: 'cleanroom:evidence', Value: evidenceId },
              ],
            },
          ],
        }),
      )
    ).VolumeId!;
    await ec2.send(new AttachVolumeCommand({ VolumeId: v, InstanceId: instanceId, Device: '/dev/sdf' }));
    return v;
  };

  t.test('status and list of a room; a case without one', async (t) => {
    const up = await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'IR-st' });
    const s = await roomStatus(account, 'IR-st');
    t.match(s, {
      case: 'IR-st',
      room: { stackStatus: 'CREATE_COMPLETE', instanceId: up.room.instanceId },
      instanceState: 'running',
      instanceType: 'm5.large',
      evidence: [],
    });
    const none = await roomStatus(account, 'IR-nothing');
    t.equal(none.room, undefined);
    t.same(none.leftovers, []);
    // A room VPC whose stack is gone (tags only) is listed as such.
    await ec2.send(
      new CreateVpcCommand({
        CidrBlock: '10.50.0.0/24',
        TagSpecifications: [
          {
            ResourceType: 'vpc',
            Tags: [
              { Key: 'cleanroom:case', Value: 'IR-orphan' },
              { Key: 'cleanroom:role', Value: 'vpc' },
            ],
          },
        ],
      }),
    );
    const rooms = await listRooms(account);
    t.match(
      rooms.find((r) => r.case === 'IR-st'),
      {
        stackName: 'cleanroom-IR-st',
        stackStatus: 'CREATE_COMPLETE',
        availabilityZone: 'us-east-1a',
        instanceId: up.room.instanceId,
      },
    );
    t.match(
      rooms.find((r) => r.case === 'IR-orphan'),
      { stackName: null, stackStatus: 'NO_STACK', vpcId: /^vpc-/ },
    );
    t.same(
      rooms.map((r) => r.case),
      [...rooms.map((r) => r.case)].sort(),
      'sorted by case',
    );
  });

  t.test(
    'refuses while evidence is attached; with --detach-evidence detaches (recorded), deletes, names what is left',
    async (t) => {
      const up = await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'IR-dn' });
      const vol = await attachEvidence(up.room.instanceId!, 'IR-dn', 'ev-disk-one');
      const status = await roomStatus(account, 'IR-dn');
      t.same(
        status.evidence.map((e) => [e.volumeId, e.evidenceId]),
        [[vol, 'ev-disk-one']],
        'status shows the attached evidence, not the root volume',
      );

      let opened = 0;
      const rec = new MemoryRecorder();
      const custody = async () => {
        opened++;
        return rec;
      };
      const e = await roomDown({ account, custody }, { caseId: 'IR-dn' }).catch((x) => x);
      t.ok(e instanceof UsageError);
      t.equal(e.code, 'EVIDENCE_ATTACHED');
      t.match(e.message, new RegExp(`${vol} \\(ev-disk-one\\).*--detach-evidence.*Nothing was changed`));
      t.equal(opened, 0, 'the record was not even opened');
      t.equal((await readStack(account, 'cleanroom-IR-dn'))!.status, 'CREATE_COMPLETE');

      const plans: RoomDownPlan[] = [];
      const r = await roomDown(
        { account, custody, approve: async (req) => (plans.push(req.plan as RoomDownPlan), true) },
        { caseId: 'IR-dn', detachEvidence: true },
      );
      t.match(
        roomDownPlanText(plans[0]!),
        new RegExp(`DELETE stack cleanroom-IR-dn.*detach evidence volume ${vol} \\(ev-disk-one\\)`, 's'),
      );
      t.same(r.detached, [{ volumeId: vol, evidenceId: 'ev-disk-one' }]);
      t.equal(r.deleted, true);
      t.equal((await readStack(account, up.room.stackId!))!.status, 'DELETE_COMPLETE');
      const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [vol] }))).Volumes![0]!;
      t.equal(v.State, 'available', 'the evidence volume is kept, detached');
      t.same(r.leftovers.map((l) => l.kind).sort(), ['evidence-volume', 'log-group']);
      t.match(r.leftovers.find((l) => l.kind === 'log-group')!.why, /kept on purpose/);
      t.same(
        rec.events().map((x) => x.action),
        ['room.down.detach', 'room.down'],
      );
      t.equal(foldEvidence(rec.events()).get('ev-disk-one')?.state, 'detached', 'the evidence item folds to detached');

      const again = await roomDown({ account, custody, approve: approveAll }, { caseId: 'IR-dn' });
      t.equal(again.alreadyGone, true, 'a second room down finds nothing to do');
      t.equal(rec.events().length, 2, 'and records nothing');
    },
  );

  t.test(
    'a stack that will not delete: DELETE_FAILED named with the reason, recorded; the next run retries and finishes',
    async (t) => {
      const up = await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'IR-stuck' });
      // A route table made by hand in the room VPC keeps CloudFormation from deleting the VPC.
      const extra = (await ec2.send(new CreateRouteTableCommand({ VpcId: up.room.vpcId! }))).RouteTable!.RouteTableId!;
      const rec = new MemoryRecorder();
      const e = await roomDown({ account, custody: rec, approve: approveAll }, { caseId: 'IR-stuck' }).catch((x) => x);
      t.ok(e instanceof StackDeleteFailedError, e.message);
      t.equal(e.exitCode, 1);
      t.match(
        e.message,
        /cleanroom-IR-stuck ended DELETE_FAILED — .*has dependencies.*room down --case IR-stuck` again/,
      );
      t.match(rec.events().at(-1), {
        action: 'room.down',
        outcome: { status: 'failed', error: { code: 'STACK_DELETE_FAILED' } },
      });
      await ec2.send(new DeleteRouteTableCommand({ RouteTableId: extra }));
      const r = await roomDown({ account, custody: rec, approve: approveAll }, { caseId: 'IR-stuck' });
      t.equal(r.deleted, true);
      t.equal(r.alreadyGone, false);
      t.match(rec.events().at(-1), { action: 'room.down', outcome: { status: 'succeeded' } });
    },
  );

  t.test('a confirmation that says no changes nothing', async (t) => {
    await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'IR-no' });
    const rec = new MemoryRecorder();
    const e = await roomDown({ account, custody: rec, approve: async () => false }, { caseId: 'IR-no' }).catch(
      (x) => x,
    );
    t.equal(e.code, 'ABORTED');
    t.equal((await readStack(account, 'cleanroom-IR-no'))!.status, 'CREATE_COMPLETE');
    t.same(rec.events(), []);
  });

  t.test('evidence attached while room down waited for the case (its lease): it looks again and refuses', async (t) => {
    const up = await roomUp({ account, custody: new MemoryRecorder() }, { caseId: 'IR-late' });
    const rec = new MemoryRecorder();
    // Opening the record is where the CLI takes the case's lease: another command (an acquire
    // that held it) attached evidence after room down's first look.
    const e = await roomDown(
      {
        account,
        approve: approveAll,
        custody: async () => (await attachEvidence(up.room.instanceId!, 'IR-late', 'ev-late'), rec),
      },
      { caseId: 'IR-late' },
    ).catch((x) => x);
    t.equal(e.code, 'EVIDENCE_ATTACHED');
    t.equal(e.exitCode, 2);
    t.match(
      e.message,
      /attached to the forensic instance .* while room down was starting: vol-\w+ \(ev-late\)\. Nothing was changed/,
    );
    t.equal((await readStack(account, 'cleanroom-IR-late'))!.status, 'CREATE_COMPLETE', 'the room is still there');
    t.same(rec.events(), []);
  });
});
