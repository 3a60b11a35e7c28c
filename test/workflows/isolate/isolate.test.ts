/**
 * `isolateInstance` at the workflow level, on a hand-written, stateful fake of the source account
 * and a MemoryRecorder: the order of the steps, the plan being exactly what a run does, a failure
 * at every single call (what was done before stays and is recorded; the error lists what is left;
 * a rerun finishes), an interruption after every mutating call and before every custody write (a
 * rerun reaches the same end state with no duplicate event), idempotency, drift, IAM propagation
 * delay on the fake clock, and the checks made before any change. Nothing sleeps.
 */
import t from 'tap';
import { AwsError, CleanroomError, PartialFailureError, UsageError } from '../../../src/domain/errors.js';
import { isolateInstance, type IsolateOptions } from '../../../src/workflows/isolate/index.js';
import { quarantineName } from '../../../src/workflows/isolate/names.js';

import { ACCOUNT, CASE, IID, REGION, World, crashed, type Tags } from './fake-source.js';

const opts = (o: Partial<IsolateOptions> = {}): IsolateOptions => ({ caseId: CASE, instanceId: IID, ...o });
const actions = (w: World) => w.recorder.events().map((e) => `${e.action}:${e.outcome.status}`);
const ORDER = [
  'record-state',
  'protect',
  'leave-asg',
  'leave-target-groups',
  'leave-classic-lbs',
  'prepare-groups',
  'swap-groups',
  'swap-profile',
  'revoke-sessions',
  'tag',
];

t.test('the steps run in order, each recorded, and the run makes exactly the calls the dry run planned', async (t) => {
  const planned = new World();
  const plan = await isolateInstance(
    planned.deps({
      custody: async () => {
        throw new Error('TEST FAILURE: dry run opened the record');
      },
    }),
    opts({ dryRun: true }),
  );
  t.same(planned.fake.mutations, [], 'the dry run changes nothing');
  t.same(
    plan.steps.map((s) => s.step),
    ORDER,
  );

  const w = new World();
  const r = await isolateInstance(w.deps(), opts());
  t.same(actions(w), [...ORDER.map((s) => `isolate.${s}:succeeded`), 'isolate.complete:succeeded']);
  t.same(
    r.steps.map((s) => [s.step, s.status]),
    ORDER.map((s) => [s, 'done']),
  );
  // Call for call: the plan (values not known yet named by placeholder), the calls the run reports,
  // and what the account saw.
  const norm = (s: string) =>
    s
      .replace(/\{\{[^}]+\}\}|(sg|sgr|acl|aclassoc|iip-assoc)-[0-9a-f]{8}|\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<id>')
      .replace(/\[("<id>",?)*\]/g, '"<id>"')
      .replace(/\\?"<id>\\?"/g, '<id>');
  const line = (c: { call: string; input: unknown }) => norm(`${c.call} ${JSON.stringify(c.input)}`);
  const ran = r.steps.flatMap((s) => s.calls);
  t.same(ran.map(line), plan.steps.flatMap((s) => s.calls).map(line), 'the run made the planned calls, in order');
  t.same(
    ran.filter((c) => c.outcome === 'done' && !/:Describe/.test(c.call)).map(line),
    w.fake.mutations.map(norm),
    'and the account saw exactly those',
  );
  t.same(
    ran.filter((c) => c.outcome === 'skipped').map((c) => c.call),
    ['ec2:RevokeSecurityGroupIngress'],
    'a new group has no inbound rule to revoke',
  );
  t.ok(w.fake.mutations.length > 15);

  // The order that matters: leave the ASG before the network is cut; swap the profile before revoking.
  const at = (re: RegExp) => w.fake.mutations.findIndex((m) => re.test(m));
  t.ok(
    at(/DetachInstances/) < at(/ModifyNetworkInterfaceAttribute/),
    'out of the ASG before its health checks could fail',
  );
  t.ok(at(/ModifyInstanceAttribute/) < at(/DetachInstances/), 'evidence protected first');
  t.ok(
    at(/ReplaceIamInstanceProfileAssociation/) < at(/AWSRevokeOlderSessions/),
    'new credentials are deny-all before old sessions are revoked',
  );
  t.ok(at(/CreateTags/) === w.fake.mutations.length - 1, 'tag last');

  t.same(
    w.fake.instance.enis.map((n) => n.groups),
    [[r.isolationGroupIds['vpc-1']], [r.isolationGroupIds['vpc-1']]],
  );
  t.same(w.fake.groups.get(r.isolationGroupIds['vpc-1']!)!.rules, []);
  t.same(
    w.fake.tgs.map((g) => g.targets.length),
    [0, 0, 1],
    'the same address in another VPC is not this instance',
  );
  t.equal(w.fake.asg!.desired, 2);
  t.same(
    w.fake.clbs.map((l) => [l.name, l.instances]),
    [
      ['web-clb', []],
      ['other-clb', ['i-0fffffffffffffff0']],
    ],
    'out of its Classic Load Balancer; the other one untouched',
  );
  t.same(r.previousState.classicLoadBalancers, ['web-clb'], 'recorded in the state before');
  t.equal(w.fake.association!.profile, quarantineName(CASE));
  t.ok(
    w.warnings.some((m) => /also cuts i-0aaaaaaaaaaaaaaa1 \(same instance profile web-profile\)/.test(m)),
    'collateral of the revocation named',
  );
});

t.test('a second run is a no-op that says so: no call, no event', async (t) => {
  const w = new World();
  await isolateInstance(w.deps(), opts());
  const n = w.recorder.events().length;
  const m = w.fake.mutations.length;
  const r = await isolateInstance(w.deps(), opts());
  t.equal(r.alreadyIsolated, true);
  t.equal(w.recorder.events().length, n);
  t.equal(w.fake.mutations.length, m);
  t.same(
    r.steps.map((s) => s.status),
    ORDER.map(() => 'already'),
  );
  t.equal(r.previousState.interfaces[0]!.groupIds[0], 'sg-app', 'the state before comes from the record');
  t.equal(r.isolatedAt, w.recorder.find(`isolate:${IID}:complete`)!.time);
});

t.test(
  'a failure at any call: earlier steps stay in place and recorded, the error lists what is left, a rerun finishes',
  async (t) => {
    const clean = new World();
    await isolateInstance(clean.deps(), opts());
    const want = clean.fake.picture();
    const total = clean.fake.mutations.length;
    for (let k = 1; k <= total; k++) {
      const w = new World();
      w.fake.failAt = { k, error: new AwsError('ec2', 'x', 'UnauthorizedOperation', `Access denied (call ${k})`) };
      const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
      t.ok(e instanceof PartialFailureError, `call ${k} fails the run`);
      t.equal(e.exitCode, 1);
      const failed = e.details.failedStep as string;
      const i = ORDER.indexOf(failed);
      t.ok(i > 0, `call ${k}: failed in step ${failed}`);
      t.same(
        actions(w),
        [...ORDER.slice(0, i).map((s) => `isolate.${s}:succeeded`), `isolate.${failed}:failed`],
        `call ${k}: steps before ${failed} recorded, then the failure`,
      );
      t.same(
        e.details.remaining.map((s: string) => s.split(':')[0]),
        ORDER.slice(i),
        `call ${k}: what is left is named`,
      );
      t.match(
        e.message,
        new RegExp(`stopped at step ${failed}[\\s\\S]*Access denied \\(call ${k}\\)[\\s\\S]*Left to do`),
      );
      t.equal(w.fake.mutations.length, k - 1, `call ${k}: nothing after the failed call`);
      const r = await isolateInstance(w.deps(), opts());
      t.equal(r.alreadyIsolated, false);
      t.same(w.fake.picture(), want, `call ${k}: the rerun reaches the same end state`);
      const keys = w.recorder.events().map((ev) => ev.idempotencyKey);
      t.equal(new Set(keys).size, keys.length, `call ${k}: no duplicate event`);
    }
  },
);

t.test(
  'interrupted after every mutating call and before every custody write, then rerun: same end state, no duplicate events',
  async (t) => {
    const clean = new World();
    await isolateInstance(clean.deps(), opts({ nacl: true }));
    const want = clean.fake.picture();
    const wantKeys = clean.recorder
      .events()
      .map((e) => e.idempotencyKey!)
      .sort();
    const points = [
      ...Array.from({ length: clean.fake.mutations.length }, (_, i) => ({ after: i + 1 })),
      ...Array.from({ length: clean.recorder.events().length }, (_, i) => ({ before: i + 1 })),
    ];
    t.ok(points.length > 30, `${points.length} interruption points`);
    for (const p of points) {
      const w = new World();
      if ('after' in p) w.crashAfterMutation = p.after;
      else w.crashBeforeRecord = p.before;
      const first = await isolateInstance(w.deps(), opts({ nacl: true })).catch((e) => e);
      t.ok(crashed(first), `interrupted ${JSON.stringify(p)}`);
      w.revive();
      await isolateInstance(w.deps(), opts({ nacl: true }));
      t.same(w.fake.picture(), want, `same end state ${JSON.stringify(p)}`);
      const keys = w.recorder.events().map((e) => e.idempotencyKey!);
      t.equal(new Set(keys).size, keys.length, `no duplicate event ${JSON.stringify(p)}`);
      t.same([...keys].sort(), wantKeys, `the same events ${JSON.stringify(p)}`);
    }
  },
);

t.test(
  'a new instance profile IAM has not propagated yet: the swap is retried on the clock, within its budget',
  async (t) => {
    const w = new World();
    w.fake.profileNotReady = 3;
    const start = w.clock.now();
    const r = await isolateInstance(w.deps(), opts());
    t.equal(r.steps.find((s) => s.step === 'swap-profile')!.status, 'done');
    t.ok(w.clock.now() - start >= 6000, 'waited on the fake clock only');

    const slow = new World();
    slow.fake.profileNotReady = 1000;
    const e = await isolateInstance(slow.deps(), opts({ budgets: { profilePropagationMs: 30_000 } })).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.match(
      e.message,
      /stopped at step swap-profile.*Gave up waiting for instance profile cleanroom-quarantine-IR-9 to become usable by EC2/,
    );
    t.equal(
      slow.fake.association!.profile,
      'web-profile',
      'the old profile is still there, and the error says so by listing swap-profile as left',
    );
  },
);

t.test(
  'drift: what was undone by hand after isolation is done again and recorded as re-applied; the revocation keeps its first time',
  async (t) => {
    const w = new World();
    const first = await isolateInstance(w.deps(), opts());
    const revokedAt = first.sessionsRevokedBefore!;
    w.clock.t += 3_600_000;
    w.fake.roles.get('web')!.policies.delete('AWSRevokeOlderSessions');
    w.fake.instance.enis[1]!.groups = ['sg-mgmt'];
    const r = await isolateInstance(w.deps(), opts());
    t.equal(r.alreadyIsolated, false);
    t.same(
      r.steps.filter((s) => s.status === 'done').map((s) => s.step),
      ['swap-groups', 'revoke-sessions'],
    );
    t.same(
      w.fake.instance.enis.map((n) => n.groups),
      [[r.isolationGroupIds['vpc-1']], [r.isolationGroupIds['vpc-1']]],
    );
    t.match(
      w.fake.roles.get('web')!.policies.get('AWSRevokeOlderSessions'),
      revokedAt,
      'the sessions revoked are those issued before the isolation, not before the rerun',
    );
    t.equal(r.sessionsRevokedBefore, revokedAt);
    t.same(actions(w).slice(-2), ['isolate.swap-groups:succeeded', 'isolate.revoke-sessions:succeeded']);
    t.match(w.recorder.events().at(-1)!.idempotencyKey, /revoke-sessions:redone-after:\d+$/);
  },
);

t.test(
  'an endpoint whose ModifyInstanceAttribute wipes the groups (the moto trap) is caught by the protect step, not by luck',
  async (t) => {
    const w = new World();
    w.fake.shutdownWipesGroups = true;
    const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
    t.ok(e instanceof PartialFailureError);
    t.match(
      e.message,
      /stopped at step protect.*security groups of eni-0primary \(now: none; before: sg-app\) changed/,
    );
    t.equal(w.recorder.events().at(-1)!.outcome.error!.code, 'ISOLATION_NOT_CONFIRMED');
  },
);

t.test(
  'what does not apply is recorded as skipped: no Auto Scaling group, no target group, no Classic Load Balancer, no instance profile',
  async (t) => {
    const w = new World();
    w.fake.asg = undefined;
    w.fake.tgs = [];
    w.fake.clbs = w.fake.clbs.filter((l) => !l.instances.includes(IID));
    w.fake.association = undefined;
    const r = await isolateInstance(w.deps(), opts());
    t.same(
      r.steps.map((s) => [s.step, s.status]),
      [
        ['record-state', 'done'],
        ['protect', 'done'],
        ['leave-asg', 'skipped'],
        ['leave-target-groups', 'skipped'],
        ['leave-classic-lbs', 'skipped'],
        ['prepare-groups', 'done'],
        ['swap-groups', 'done'],
        ['swap-profile', 'skipped'],
        ['revoke-sessions', 'skipped'],
        ['tag', 'done'],
      ],
    );
    t.same(
      actions(w).filter((a) => a.endsWith(':skipped')),
      [
        'isolate.leave-asg:skipped',
        'isolate.leave-target-groups:skipped',
        'isolate.leave-classic-lbs:skipped',
        'isolate.swap-profile:skipped',
        'isolate.revoke-sessions:skipped',
      ],
    );
  },
);

t.test('checks before any change: nothing is called that changes anything, nothing is recorded', async (t) => {
  const cases: Array<[string, (w: World) => void, Partial<IsolateOptions>, RegExp]> = [
    ['malformed id', () => {}, { instanceId: 'i-xyz' }, /INVALID_INSTANCE_ID/],
    ['bad case id', () => {}, { caseId: 'bad case!' }, /INVALID_CASE_ID/],
    ['terminated', (w) => void (w.fake.instance.state = 'terminated'), {}, /INSTANCE_TERMINATED/],
    [
      'another case',
      (w) =>
        void Object.assign(w.fake.instance.tags, {
          'cleanroom:case': 'IR-1',
          'cleanroom:quarantine': '2026-01-01T00:00:00Z',
        }),
      {},
      /ISOLATED_FOR_ANOTHER_CASE/,
    ],
    ['ASG at its minimum', (w) => void Object.assign(w.fake.asg!, { min: 3, desired: 3 }), {}, /ASG_AT_MINIMUM/],
    ['unknown here, found in another region', () => {}, { instanceId: IID }, /INSTANCE_IN_ANOTHER_REGION/],
  ];
  for (const [name, setup, o, code] of cases) {
    const w = new World();
    setup(w);
    const d = name.startsWith('unknown')
      ? { ...w.deps(), account: w.fake.port('us-east-1'), accountInRegion: async (r: string) => w.fake.port(r) }
      : w.deps();
    const e = await isolateInstance(d, opts(o)).catch((x) => x);
    t.ok(e instanceof UsageError, name);
    t.equal(e.exitCode, 2, name);
    t.match(e.code, code, name);
    t.same(w.fake.mutations, [], `${name}: nothing changed`);
    t.same(w.recorder.events(), [], `${name}: nothing recorded`);
  }
  const w = new World();
  const e = await isolateInstance(
    { ...w.deps(), account: w.fake.port('us-east-1'), accountInRegion: async (r) => w.fake.port(r) },
    opts(),
  ).catch((x) => x);
  t.match(
    e.message,
    new RegExp(
      `${IID} is not in account ${ACCOUNT}, region us-east-1; it is in ${REGION}: run again with --source-region ${REGION}`,
    ),
  );
});

t.test(
  "the clean room's own forensic instance is refused before any change, also in a dry run, by its room tags or by its room stack",
  async (t) => {
    const cases: Array<[string, Tags, RegExp]> = [
      [
        'room tags',
        { 'cleanroom:case': 'IR-7', 'cleanroom:role': 'forensic-instance' },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        'room stack, template logical id',
        { 'aws:cloudformation:stack-name': 'cleanroom-IR-7', 'aws:cloudformation:logical-id': 'ForensicInstance' },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        'room stack, case tag passed on from the stack',
        {
          'aws:cloudformation:stack-name': 'cleanroom-IR-7',
          'aws:cloudformation:logical-id': 'Renamed',
          'cleanroom:case': 'IR-7',
        },
        /case IR-7, room stack cleanroom-IR-7/,
      ],
      [
        "this case's own room",
        { 'cleanroom:case': CASE, 'cleanroom:role': 'forensic-instance' },
        new RegExp(`case ${CASE}, room stack cleanroom-${CASE}`),
      ],
    ];
    for (const [name, tags, where] of cases) {
      for (const dryRun of [false, true]) {
        const w = new World();
        Object.assign(w.fake.instance.tags, tags);
        const e = await isolateInstance(w.deps(), opts({ dryRun })).catch((x) => x);
        t.ok(e instanceof UsageError, `${name}${dryRun ? ' (dry run)' : ''}: refused`);
        t.equal(e.exitCode, 2);
        t.equal(e.code, 'INSTANCE_IS_FORENSIC');
        t.match(
          e.message,
          new RegExp(`Instance ${IID} \\(account ${ACCOUNT}, ${REGION}\\) is the clean room's own forensic instance`),
        );
        t.match(e.message, where, `${name}: names the case and the stack`);
        t.match(e.message, /Nothing was changed/);
        t.same(w.fake.mutations, [], `${name}: nothing changed`);
        t.same(w.recorder.events(), [], `${name}: nothing recorded`);
      }
    }
    // Not a room: a stack that only looks like one, and an instance isolate itself tagged for a case.
    for (const tags of [
      { 'aws:cloudformation:stack-name': 'cleanroom-web', 'aws:cloudformation:logical-id': 'WebServer' },
      { 'cleanroom:case': CASE, 'cleanroom:quarantine': '2026-01-01T00:00:00Z' },
    ] as Tags[]) {
      const w = new World();
      Object.assign(w.fake.instance.tags, tags);
      const r = await isolateInstance(w.deps(), opts({ dryRun: true }));
      t.equal(r.dryRun, true, `not refused: ${JSON.stringify(tags)}`);
    }
  },
);

t.test('a deregistered target that is still draining counts as gone, on the run and on a rerun', async (t) => {
  const w = new World();
  w.fake.drainOnDeregister = true;
  const r = await isolateInstance(w.deps(), opts());
  t.equal(r.steps.find((s) => s.step === 'leave-target-groups')!.status, 'done');
  t.same(
    w.fake.tgs.map((g) => g.targets.map((x) => x.state ?? 'healthy')),
    [['draining'], ['draining'], ['healthy']],
  );
  const again = await isolateInstance(w.deps(), opts());
  t.equal(again.alreadyIsolated, true);
});

t.test('--nacl asks first, naming the neighbours; declining changes nothing', async (t) => {
  const w = new World();
  await isolateInstance(w.deps(), opts({ nacl: true }));
  t.match(w.questions[0], /subnet-a also holds eni-neighbour \(i-0fffffffffffffff0\)/);
  t.same(w.fake.picture().acls, [
    ['subnet-a', 'isolation-nacl'],
    ['subnet-b', 'isolation-nacl'],
  ]);

  const no = new World();
  const e = await isolateInstance(no.deps({ approve: async () => false }), opts({ nacl: true })).catch((x) => x);
  t.equal(e.code, 'ABORTED');
  t.same(no.fake.mutations, []);
  t.same(no.recorder.events(), []);
});

t.test('--stop hibernates when the instance can, and warns before', async (t) => {
  const w = new World();
  w.fake.instance.hibernation = true;
  const r = await isolateInstance(w.deps(), opts({ stop: true }));
  t.match(w.questions[0], /will hibernate: its memory is written to its root volume/);
  t.match(w.fake.mutations.at(-1), /ec2:StopInstances \{"InstanceIds":\["i-0123456789abcdef0"\],"Hibernate":true\}/);
  t.equal(r.steps.at(-1)!.step, 'stop');
  t.equal(w.fake.instance.state, 'stopped');
});

t.test("a group with isolate's name that isolate did not make is not used", async (t) => {
  const w = new World();
  w.fake.groups.set('sg-squat', {
    id: 'sg-squat',
    name: `cleanroom-isolation-${CASE}`,
    vpc: 'vpc-1',
    tags: {},
    rules: [{ id: 'sgr-x', egress: true, proto: '-1', v4: '0.0.0.0/0' }],
  });
  const e = await isolateInstance(w.deps(), opts()).catch((x) => x);
  t.ok(e instanceof PartialFailureError);
  t.match(
    e.message,
    /stopped at step prepare-groups.*sg-squat .* has the name isolate uses for case IR-9 but not its tags/,
  );
  t.ok(e.failures[0].error instanceof CleanroomError);
});

t.test(
  "waits 'hand-off': where the run would wait for IAM to propagate it hands the wait back; called again it finishes, nothing done twice",
  async (t) => {
    const blocking = new World();
    blocking.fake.profileNotReady = 3;
    await isolateInstance(blocking.deps(), opts());

    const w = new World();
    w.fake.profileNotReady = 3;
    const start = w.clock.now();
    const handOffs: Array<{ code: string; retryAfterSeconds: number; waitingFor: string }> = [];
    let r: Awaited<ReturnType<typeof isolateInstance>> | undefined;
    for (let i = 0; i < 10 && !r; i++) {
      try {
        r = await isolateInstance(w.deps(), opts({ waits: 'hand-off' }));
      } catch (e) {
        if (!(e instanceof CleanroomError) || e.code !== 'WAIT_HANDED_OFF') throw e;
        handOffs.push(e as CleanroomError & { retryAfterSeconds: number; waitingFor: string });
      }
    }
    t.ok(r, `done after ${handOffs.length + 1} invocations`);
    t.ok(handOffs.length >= 1, 'the propagation wait was handed off');
    for (const h of handOffs) {
      t.match(h.waitingFor, /instance profile cleanroom-quarantine-IR-9/);
      t.ok(h.retryAfterSeconds >= 1);
    }
    t.equal(w.clock.now() - start < 6000, true, 'the clock did not wait: the caller waits between invocations');
    t.equal(r!.steps.find((s) => s.step === 'swap-profile')!.status, 'done');
    const count = (xs: string[]) => {
      const m: Record<string, number> = {};
      for (const x of xs) {
        const op = x.split(' ')[0]!;
        m[op] = (m[op] ?? 0) + 1;
      }
      return m;
    };
    const noAssociate = (m: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(m).filter(([k]) => !/AssociateIamInstanceProfile|ReplaceIamInstanceProfileAssociation/.test(k)),
      );
    t.same(
      noAssociate(count(w.fake.mutations)),
      noAssociate(count(blocking.fake.mutations)),
      'the same changes as the blocking run (only the retried profile swap is tried again)',
    );
    t.same(
      w.recorder.events().map((e) => e.action),
      blocking.recorder.events().map((e) => e.action),
      'the same custody events, none twice, no failure recorded',
    );
  },
);

t.test(
  'exclusive: the steps that change what instances of a case share hold its locks while they run; a busy one stops the run before the step, nothing half-done',
  async (t) => {
    const w = new World();
    const held: string[][] = [];
    const mutationsWhileHeld: number[] = [];
    await isolateInstance(
      w.deps({
        exclusive: async (scopes, fn) => {
          held.push([...scopes]);
          const before = w.fake.mutations.length;
          const r = await fn();
          mutationsWhileHeld.push(w.fake.mutations.length - before);
          return r;
        },
      }),
      opts(),
    );
    t.same(held, [
      [`asg:web-asg@${ACCOUNT}.${REGION}`],
      ['groups:vpc-1'],
      [`quarantine:${quarantineName(CASE)}`],
      [`role:web@${ACCOUNT}.global`],
    ]);
    t.ok(
      mutationsWhileHeld.every((n) => n > 0),
      'each made its changes under the lock',
    );

    // Another instance of the case is making the groups: this run stops at that step, CASE_BUSY.
    const busy = new World();
    const e = await isolateInstance(
      busy.deps({
        exclusive: async (scopes, fn) => {
          if (scopes.some((s) => s.startsWith('groups:')))
            throw new CleanroomError('CASE_BUSY', 'Case is busy: `automation isolate` holds its lock groups:vpc-1');
          return fn();
        },
      }),
      opts(),
    ).catch((x) => x);
    t.equal(e.code, 'CASE_BUSY', 'the state machine retries it');
    t.notOk(
      busy.recorder.events().some((ev) => ev.action === 'isolate.prepare-groups'),
      'the step neither ran nor was recorded as failed',
    );
    t.notOk(
      busy.fake.mutations.some((m) => /CreateSecurityGroup/.test(m)),
      'no group made',
    );
    const again = await isolateInstance(busy.deps(), opts());
    t.same(
      again.steps.filter((s) => s.status === 'done').map((s) => s.step),
      ['prepare-groups', 'swap-groups', 'swap-profile', 'revoke-sessions', 'tag'],
      'the same call again goes on from there',
    );
  },
);
