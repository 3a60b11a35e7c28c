/**
 * `releaseInstance` at the workflow level, on the stateful fake of the source account
 * (fake-source.ts) and a MemoryRecorder: isolate first, then release — every field of the recorded
 * state back, in reverse order, each step recorded; the dry run is exactly the run's calls; a
 * second release changes and records nothing; a crash after every mutating call or before every
 * custody write, then a rerun, reaches the same end with no event twice; the refusals (never
 * isolated, a record that fails its chain check or holds no usable state, something recorded that
 * is gone) change nothing; --skip-missing goes on and records the skip; release → isolate again →
 * release records two complete releases, the second keyed by the isolation it undoes; isolate → release
 * → isolate records two completions, and the latest is what isolated-at and status read. Nothing sleeps.
 */
import t from 'tap';
import { CleanroomError } from '../../../src/domain/errors.js';
import { isolateInstance, releaseInstance, type ReleaseOptions } from '../../../src/workflows/isolate/index.js';
import { stepsFor } from '../../../src/workflows/isolate/steps.js';
import { outcomes } from '../../../src/workflows/automation/status.js';
import { CASE, IID, World, crashed } from './fake-source.js';

const ALL: Partial<ReleaseOptions> = { rejoinAsg: true, reregister: true, unprotect: true };
const opts = (o: Partial<ReleaseOptions> = {}): ReleaseOptions => ({ caseId: CASE, instanceId: IID, ...o });

/** A world whose instance was isolated (with --nacl and --stop, so that every release step has work). */
async function isolated(): Promise<{ w: World; before: ReturnType<World['fake']['picture']> }> {
  const w = new World();
  const before = w.fake.picture();
  await isolateInstance(w.deps(), { caseId: CASE, instanceId: IID, nacl: true, stop: true });
  w.fake.mutations.length = 0;
  return { w, before };
}
const releaseDeps = (w: World) => {
  const { account, clock, reporter } = w.deps();
  return { account, custody: async () => w.recorder, ...(clock ? { clock } : {}), ...(reporter ? { reporter } : {}) };
};
/** The picture a released instance must show: as before, but started (pending), tagged released, the revocation kept. */
function restored(before: ReturnType<World['fake']['picture']>, after: ReturnType<World['fake']['picture']>) {
  return {
    ...after,
    roles: before.roles,
    tags: after.tags.filter((k) => k !== 'cleanroom:case' && k !== 'cleanroom:released'),
    state: after.state === 'pending' ? 'running' : after.state,
  };
}
const STEPS = ['start', 'profile', 'network-acl', 'groups', 'cleanup', 'elb', 'targets', 'asg', 'attributes', 'tag'];

t.test('release undoes isolation in reverse order, each step recorded, every field back as recorded', async (t) => {
  const { w, before } = await isolated();
  const n0 = w.recorder.events().length;
  const r = await releaseInstance(releaseDeps(w), opts(ALL));
  t.same(
    r.steps.map((s) => [s.step, s.status]),
    STEPS.map((s) => [s, 'done']),
  );
  t.same(
    w.recorder
      .events()
      .slice(n0)
      .map((e) => `${e.action}:${e.outcome.status}`),
    [...STEPS.map((s) => `isolate.release.${s}:succeeded`), 'isolate.release:succeeded'],
  );
  const after = w.fake.picture();
  t.same(restored(before, after), before, 'groups, profile, attributes, ASG, target groups, CLB, ACLs: as before');
  t.equal(after.state, 'pending', 'started: isolate stopped it and it was running before');
  t.match(w.fake.instance.tags['cleanroom:released'], /^2026-05-01T/, 'tagged released, with the time');
  t.notOk('cleanroom:quarantine' in w.fake.instance.tags);
  t.ok(
    [...w.fake.roles.get('web')!.policies.keys()].includes('AWSRevokeOlderSessions'),
    'the revocation stays (it only denies credentials issued before the isolation)',
  );
  t.same(
    [...w.fake.groups.values()].map((g) => g.name).sort(),
    ['app', 'mgmt'],
    "the case's isolation and transit groups are deleted",
  );
  const at = (re: RegExp) => w.fake.mutations.findIndex((m) => re.test(m));
  t.equal(at(/StartInstances/), 0, 'started first');
  t.ok(at(/ReplaceIamInstanceProfileAssociation/) < at(/ModifyNetworkInterfaceAttribute/), 'profile before groups');
  t.ok(at(/ModifyNetworkInterfaceAttribute/) < at(/DeleteSecurityGroup/), 'groups moved before deleting them');
  t.ok(at(/DeleteTags/) === w.fake.mutations.length - 1, 'the quarantine tag goes last');
  t.ok(at(/CreateTags/) < at(/DeleteTags/), 'released tag first: never neither tag');
  t.same(r.kept.length, 1, 'termination protection not kept (--unprotect); the revocation is');
  t.equal(w.fake.asg!.desired, 3, 'the desired capacity isolate lowered is back');
});

t.test('the dry run plans exactly the calls the run makes, changes nothing, records nothing', async (t) => {
  const { w } = await isolated();
  const n0 = w.recorder.events().length;
  const plan = await releaseInstance(releaseDeps(w), opts({ ...ALL, dryRun: true }));
  t.same(w.fake.mutations, [], 'no change');
  t.equal(w.recorder.events().length, n0, 'nothing recorded');
  t.ok(plan.steps.every((s) => s.status === 'planned'));
  const r = await releaseInstance(releaseDeps(w), opts(ALL));
  const line = (c: { call: string; input: unknown }) =>
    `${c.call} ${JSON.stringify(c.input).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')}`;
  t.same(r.steps.flatMap((s) => s.calls).map(line), plan.steps.flatMap((s) => s.calls).map(line), 'call for call');
});

t.test('a second release changes nothing, records nothing, and says so', async (t) => {
  const { w } = await isolated();
  await releaseInstance(releaseDeps(w), opts(ALL));
  const n = w.recorder.events().length;
  const picture = w.fake.picture();
  w.fake.mutations.length = 0;
  const again = await releaseInstance(releaseDeps(w), opts(ALL));
  t.equal(again.alreadyReleased, true);
  t.same(w.fake.mutations, []);
  t.equal(w.recorder.events().length, n);
  t.same(w.fake.picture(), picture);
});

t.test('without --rejoin-asg, --reregister, --unprotect: left out, and said why; protection kept', async (t) => {
  const { w, before } = await isolated();
  const r = await releaseInstance(releaseDeps(w), opts());
  const status = Object.fromEntries(r.steps.map((s) => [s.step, s.status]));
  t.same([status['elb'], status['targets'], status['asg']], ['skipped', 'skipped', 'skipped']);
  t.match(r.steps.find((s) => s.step === 'asg')!.detail, /not asked \(--rejoin-asg\)/);
  const after = w.fake.picture();
  t.same(after.enis, before.enis);
  t.same(after.asg, [(before.asg![0] as string[]).filter((i) => i !== IID), 2], 'not in its group');
  t.equal(w.fake.instance.disableApiTermination, true, 'termination protection kept');
  t.match(r.kept.join('\n'), /termination protection stays on[\s\S]*AWSRevokeOlderSessions/);
});

t.test(
  'killed after any mutating call or before any custody write, then rerun: the same end, no event twice',
  async (t) => {
    const clean = await isolated();
    await releaseInstance(releaseDeps(clean.w), opts(ALL));
    const total = clean.w.fake.mutations.length;
    const end = restored(clean.before, clean.w.fake.picture());
    const cleanKeys = clean.w.recorder.events().map((e) => e.idempotencyKey);
    t.ok(total > 10, `${total} mutating calls`);
    for (const kind of ['crashAfterMutation', 'crashBeforeRecord'] as const) {
      for (let k = 1; k <= (kind === 'crashAfterMutation' ? total : STEPS.length + 1); k++) {
        const { w } = await isolated();
        const n0 = w.recorder.events().length;
        w.mutationCount = 0;
        w.recordCount = 0;
        w[kind] = k;
        const e = await releaseInstance(releaseDeps(w), opts(ALL)).catch((x: unknown) => x);
        t.ok(crashed(e), `${kind} ${k}: killed`);
        w.dead = false;
        w[kind] = undefined;
        const r = await releaseInstance(releaseDeps(w), opts(ALL));
        t.ok(r.steps.every((s) => s.status !== 'failed'));
        t.same(restored(clean.before, w.fake.picture()), end, `${kind} ${k}: same end state`);
        const keys = w.recorder.events().map((x) => x.idempotencyKey);
        t.equal(new Set(keys).size, keys.length, `${kind} ${k}: no event twice`);
        t.same(keys.slice(n0).sort(), cleanKeys.slice(n0).sort(), `${kind} ${k}: the same events as a clean run`);
      }
    }
  },
);

t.test('refusals change nothing and record nothing', async (t) => {
  const never = new World();
  const e1 = await releaseInstance(releaseDeps(never), opts()).catch((x: unknown) => x);
  t.match(e1, { code: 'NOT_ISOLATED', exitCode: 2 });
  t.same(never.fake.mutations, []);

  const { w } = await isolated();
  const n0 = w.recorder.events().length;
  Object.defineProperty(w.recorder, 'chainProblem', { value: 'events 3–4 are missing', configurable: true });
  const e2 = await releaseInstance(releaseDeps(w), opts()).catch((x: unknown) => x);
  t.match(e2, { code: 'RELEASE_STATE_INVALID', exitCode: 3 });
  t.match((e2 as Error).message, /fails its chain check \(events 3–4 are missing\)/);
  Object.defineProperty(w.recorder, 'chainProblem', { value: undefined });

  const state = w.recorder.find(`isolate:${IID}:state`)!;
  const saved = state.outcome.details!['previousState'];
  state.outcome.details!['previousState'] = { instanceId: IID };
  const e3 = await releaseInstance(releaseDeps(w), opts()).catch((x: unknown) => x);
  t.match(e3, { code: 'RELEASE_STATE_INVALID', exitCode: 3 });
  state.outcome.details!['previousState'] = saved;

  w.fake.tgs = w.fake.tgs.filter((g) => g.arn !== 'arn:tg/web');
  w.fake.asgDeleted = true;
  const e4 = await releaseInstance(releaseDeps(w), opts(ALL)).catch((x: unknown) => x);
  t.ok(e4 instanceof CleanroomError);
  t.match(e4, { code: 'RELEASE_TARGET_MISSING', exitCode: 1 });
  t.match((e4 as Error).message, /target group arn:tg\/web, Auto Scaling group web-asg[\s\S]*--skip-missing/);
  t.same(w.fake.mutations, [], 'nothing changed');
  t.equal(w.recorder.events().length, n0, 'nothing recorded');

  const r = await releaseInstance(releaseDeps(w), opts({ ...ALL, skipMissing: true }));
  t.same(r.skippedMissing, ['target group arn:tg/web', 'Auto Scaling group web-asg']);
  t.same(
    w.fake.tgs.map((g) => [g.name, g.targets.map((x) => x.id)]),
    [
      ['web-ip', ['10.0.1.5']],
      ['other', ['10.0.1.5']],
    ],
    'the target group that exists is registered again',
  );
  t.same(w.recorder.find(`isolate-release:${IID}:targets`)!.outcome.details!['skippedMissing'], ['arn:tg/web']);
  t.same(w.recorder.find(`isolate-release:${IID}:asg`)!.outcome.details!['skippedMissing'], ['web-asg']);
  t.same(w.recorder.find(`isolate-release:${IID}:complete`)!.outcome.details!['skippedMissing'], r.skippedMissing);
});

t.test('a record written before isolate knew Classic Load Balancers still releases', async (t) => {
  const { w } = await isolated();
  const state = w.recorder.find(`isolate:${IID}:state`)!;
  delete (state.outcome.details!['previousState'] as Record<string, unknown>)['classicLoadBalancers'];
  const r = await releaseInstance(releaseDeps(w), opts(ALL));
  t.same(r.steps.find((s) => s.step === 'elb')!.status, 'skipped');
  t.ok(r.steps.filter((s) => s.step !== 'elb').every((s) => s.status === 'done'));
});

t.test(
  'release → isolate again → release: two complete releases, each keyed by its isolation; reruns record nothing',
  async (t) => {
    const { w, before } = await isolated();
    await releaseInstance(releaseDeps(w), opts(ALL));
    const n1 = w.recorder.events().length;
    await isolateInstance(w.deps(), { caseId: CASE, instanceId: IID, nacl: true, stop: true });
    t.ok(w.recorder.events().length > n1, 'the second isolation is recorded');
    const again = w.recorder.events()[n1]!.seq;
    t.equal(w.fake.instance.tags['cleanroom:quarantine'] !== undefined, true, 'quarantined again');

    // Killed before its fourth custody write, then rerun: the second release converges with nothing twice.
    w.recordCount = 0;
    w.crashBeforeRecord = 4;
    t.ok(crashed(await releaseInstance(releaseDeps(w), opts(ALL)).catch((x: unknown) => x)), 'killed');
    w.dead = false;
    w.crashBeforeRecord = undefined;
    const second = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(second.alreadyReleased, false);
    t.ok(second.steps.every((s) => s.status !== 'failed'));
    const summaries = w.recorder.events().filter((e) => e.action === 'isolate.release');
    t.same(
      summaries.map((e) => e.idempotencyKey),
      [`isolate-release:${IID}:complete`, `isolate-release:${IID}:isolation:${again}:complete`],
      'the first release keeps the keys a release always had; the second is keyed by the isolation it undoes',
    );
    t.equal(summaries[1]!.outcome.details!['isolationSeq'], again);
    t.ok(
      w.recorder
        .events()
        .filter((e) => e.seq > summaries[0]!.seq && e.action.startsWith('isolate.release.'))
        .every((e) => e.idempotencyKey!.startsWith(`isolate-release:${IID}:isolation:${again}:`)),
      "every step of the second release under its isolation's keys",
    );
    t.same(restored(before, w.fake.picture()), before, 'every field back as recorded, again');

    const n2 = w.recorder.events().length;
    w.fake.mutations.length = 0;
    const rerun = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(rerun.alreadyReleased, true, 'a rerun of the second release: already released');
    t.same(w.fake.mutations, [], 'changes nothing');
    t.equal(w.recorder.events().length, n2, 'records nothing');
    const keys = w.recorder.events().map((e) => e.idempotencyKey);
    t.equal(new Set(keys).size, keys.length, 'no key twice');
  },
);

const isolateAgain = (w: World, o: { nacl?: boolean; stop?: boolean } = { nacl: true, stop: true }) =>
  isolateInstance(w.deps(), { caseId: CASE, instanceId: IID, ...o });
const stepOf = (r: { steps: Array<{ step: string; status: string }> }, step: string) =>
  r.steps.find((s) => s.step === step)!.status;

t.test('a later isolation that found the instance stopped is released stopped, not started', async (t) => {
  const { w } = await isolated();
  await releaseInstance(releaseDeps(w), opts(ALL));
  t.equal(w.fake.instance.state, 'pending', 'the first release started it: the first isolation stopped it');
  w.fake.instance.state = 'stopped'; // stopped by hand before the second isolation
  const again = await isolateAgain(w);
  t.equal(stepOf(again, 'stop'), 'already', 'the second isolation found it stopped');
  w.fake.mutations.length = 0;
  const r = await releaseInstance(releaseDeps(w), opts(ALL));
  t.equal(stepOf(r, 'start'), 'skipped');
  t.match(r.steps.find((s) => s.step === 'start')!.detail, /isolate did not stop it/);
  t.equal(w.fake.instance.state, 'stopped', 'left stopped, as the second isolation found it');
  t.notOk(
    w.fake.mutations.some((m) => /StartInstances/.test(m)),
    'no StartInstances: the stop step of the first isolation is not the one undone',
  );
});

t.test(
  'a later isolation that stopped the instance is released started, though the first found it stopped',
  async (t) => {
    const w = new World();
    w.fake.instance.state = 'stopped';
    await isolateAgain(w);
    const first = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(stepOf(first, 'start'), 'skipped', 'the first isolation found it stopped: left stopped');
    w.fake.instance.state = 'running'; // started by hand after the release
    const again = await isolateAgain(w);
    t.equal(stepOf(again, 'stop'), 'done', 'the second isolation stopped it');
    const r = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(stepOf(r, 'start'), 'done');
    t.equal(
      w.fake.instance.state,
      'pending',
      'started: the second isolation stopped it, and it was running before that',
    );
  },
);

t.test("a later isolation's network ACLs are given back as that isolation found them", async (t) => {
  const { w } = await isolated();
  await releaseInstance(releaseDeps(w), opts(ALL));
  // Between the isolations, subnet-a is given another ACL by hand.
  w.fake.acls.set('acl-custom', { id: 'acl-custom', vpc: 'vpc-1', tags: {}, allow: true });
  w.fake.subnetAcl.get('subnet-a')!.acl = 'acl-custom';
  await isolateAgain(w);
  t.same(
    w.fake.picture().acls.map(([, a]) => a),
    ['isolation-nacl', 'isolation-nacl'],
    'both subnets deny all again',
  );
  const r = await releaseInstance(releaseDeps(w), opts(ALL));
  t.equal(stepOf(r, 'network-acl'), 'done');
  t.same(
    w.fake.picture().acls,
    [
      ['subnet-a', 'acl-custom'],
      ['subnet-b', 'acl-default'],
    ],
    'subnet-a back to the ACL it had before the second isolation, not the first',
  );

  // A third isolation without --nacl: its release leaves the subnets' ACLs as they are.
  await releaseInstance(releaseDeps(w), opts(ALL));
  w.fake.subnetAcl.get('subnet-b')!.acl = 'acl-custom';
  await isolateAgain(w, { stop: true });
  const third = await releaseInstance(releaseDeps(w), opts(ALL));
  t.equal(stepOf(third, 'network-acl'), 'skipped', 'the isolation released replaced no ACL');
  t.same(
    w.fake.picture().acls,
    [
      ['subnet-a', 'acl-custom'],
      ['subnet-b', 'acl-custom'],
    ],
    'no ACL put back from an earlier isolation',
  );
});

t.test(
  'a third isolation making the same calls as the second records its own steps; killed and rerun, it converges; its release is its own',
  async (t) => {
    const { w, before } = await isolated();
    await releaseInstance(releaseDeps(w), opts(ALL));
    await isolateAgain(w);
    const second = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(second.alreadyReleased, false);
    const n2 = w.recorder.events().length;
    const released = w.recorder.events().filter((e) => e.action === 'isolate.release');

    // The third isolation is killed before its fifth custody write, then run again.
    w.crashBeforeRecord = 5;
    t.ok(crashed(await isolateAgain(w).catch((x: unknown) => x)), 'killed');
    w.revive();
    const third = await isolateAgain(w);
    t.equal(third.alreadyIsolated, false);
    const mine = w.recorder.events().slice(n2);
    const redone = mine.filter((e) => /^isolate:[^:]+:[^:]+:redone-after:\d+$/.test(e.idempotencyKey ?? ''));
    t.same(
      redone.map((e) => e.action),
      stepsFor({ nacl: true, stop: true }).map((s) => s.action),
      'every step of the third isolation is recorded, once — done again though the second made the same calls, or found in place',
    );
    t.same(
      redone.filter((e) => e.outcome.details!['foundInPlace']).map((e) => e.action),
      ['isolate.prepare-groups'],
      'found in place: the groups the killed run made',
    );
    for (const e of redone) {
      const after = Number(e.idempotencyKey!.split(':').at(-1));
      if (!e.outcome.details!['foundInPlace'])
        t.equal(e.outcome.details!['reappliedAfterSeq'], after, `${e.action}: keyed by the event it redoes`);
      t.ok(
        after > released[0]!.seq && after < released[1]!.seq,
        `${e.action}: the event it redoes is the second isolation's`,
      );
    }
    t.equal(w.fake.instance.state, 'stopped');

    const r = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(r.alreadyReleased, false);
    t.equal(stepOf(r, 'start'), 'done', 'started: the third isolation stopped it');
    const summaries = w.recorder.events().filter((e) => e.action === 'isolate.release');
    t.equal(summaries.length, 3, 'three complete releases');
    t.equal(summaries[2]!.idempotencyKey, `isolate-release:${IID}:isolation:${mine[0]!.seq}:complete`);
    t.same(restored(before, w.fake.picture()), before, 'every field back as recorded');
    const keys = w.recorder.events().map((e) => e.idempotencyKey);
    t.equal(new Set(keys).size, keys.length, 'no key twice');
  },
);

t.test(
  'a record whose redone steps are keyed by their calls (written before) still reads, reruns and releases',
  async (t) => {
    const { w } = await isolated();
    await releaseInstance(releaseDeps(w), opts(ALL));
    await isolateAgain(w);
    // The form such a record has: isolate:<instance>:<step>:reapplied:<digest of the calls>.
    for (const e of w.recorder.events())
      e.idempotencyKey = e.idempotencyKey?.replace(/:redone-after:\d+$/, ':reapplied:0123456789abcdef');
    t.ok(w.recorder.events().some((e) => e.idempotencyKey === `isolate:${IID}:stop:reapplied:0123456789abcdef`));
    const n = w.recorder.events().length;
    w.fake.mutations.length = 0;
    const rerun = await isolateAgain(w);
    t.equal(rerun.alreadyIsolated, true, 'a rerun finds the isolation done');
    t.same(w.fake.mutations, []);
    t.equal(w.recorder.events().length, n, 'and records nothing');
    const r = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(stepOf(r, 'start'), 'done', 'its stop step (an old redone key) is the one undone');
    t.equal(
      w.recorder.events().at(-1)!.idempotencyKey,
      `isolate-release:${IID}:isolation:${w.recorder.events().find((e) => e.idempotencyKey!.endsWith(':reapplied:0123456789abcdef'))!.seq}:complete`,
    );
  },
);

t.test(
  "isolated again after a release, the role's sessions issued since the first isolation are revoked too",
  async (t) => {
    const w = new World();
    const first = await isolateAgain(w);
    await releaseInstance(releaseDeps(w), opts(ALL));
    w.clock.t += 3_600_000; // an hour on the old role's fresh credentials
    const again = await isolateAgain(w);
    t.equal(stepOf(again, 'revoke-sessions'), 'done');
    t.ok(again.sessionsRevokedBefore! > first.sessionsRevokedBefore!, 'a later revocation time');
    t.match(w.fake.roles.get('web')!.policies.get('AWSRevokeOlderSessions'), again.sessionsRevokedBefore!);
    // A rerun of that isolation keeps its time (not a third one).
    w.clock.t += 60_000;
    const rerun = await isolateAgain(w);
    t.equal(rerun.alreadyIsolated, true);
    t.equal(rerun.sessionsRevokedBefore, again.sessionsRevokedBefore);
  },
);

t.test(
  'isolate → release → isolate: each isolation records its own completion, and the latest is what isolated-at and status read',
  async (t) => {
    const { w } = await isolated();
    const isolatedNow = () => outcomes(w.recorder.events(), [], new Set([IID]))[0]!;
    const completions = () => w.recorder.events().filter((e) => e.action === 'isolate.complete');
    t.same(
      completions().map((e) => e.idempotencyKey),
      [`isolate:${IID}:complete`],
      'the first isolation keeps the key a completion always had',
    );
    t.match(isolatedNow(), { isolated: true, isolatedAt: completions()[0]!.time });
    await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(isolatedNow().isolated, false, 'released: not isolated');
    t.notOk('isolatedAt' in isolatedNow());

    // An hour later, isolated again — killed just before its completion is recorded, then run again.
    w.clock.t += 3_600_000;
    const n1 = w.recorder.events().length;
    w.recordCount = 0;
    w.crashBeforeRecord = stepsFor({ nacl: true, stop: true }).length + 1;
    t.ok(crashed(await isolateAgain(w).catch((x: unknown) => x)), 'killed');
    t.equal(w.recorder.events().length - n1, stepsFor({ nacl: true, stop: true }).length, 'every step recorded');
    t.equal(completions().length, 1, 'but not the completion');
    t.equal(isolatedNow().isolated, false, 'not complete yet: not isolated');
    w.revive();
    const again = await isolateAgain(w);
    t.equal(again.alreadyIsolated, false, 'the rerun records the completion: not "already isolated"');
    const isolationSeq = w.recorder.events()[n1]!.seq;
    t.same(
      completions().map((e) => e.idempotencyKey),
      [`isolate:${IID}:complete`, `isolate:${IID}:isolation:${isolationSeq}:complete`],
      'two completions, the second keyed by the isolation it completes',
    );
    const second = completions()[1]!;
    t.equal(again.isolatedAt, second.time, 'isolated at: the second isolation');
    t.ok(second.time > completions()[0]!.time);
    t.match(isolatedNow(), { isolated: true, isolatedAt: second.time }, 'status: isolated, the second time');

    // Run again: already isolated, since the second time; nothing recorded.
    const n2 = w.recorder.events().length;
    const rerun = await isolateAgain(w);
    t.equal(rerun.alreadyIsolated, true);
    t.equal(rerun.isolatedAt, second.time);
    t.equal(w.recorder.events().length, n2, 'records nothing');

    // Released again: the release names the second isolation's time; status says released.
    const r = await releaseInstance(releaseDeps(w), opts(ALL));
    t.equal(r.isolatedAt, w.recorder.events()[n1]!.time, 'the release says when the isolation it undoes began');
    t.equal(isolatedNow().isolated, false, 'released again: not isolated');
    const keys = w.recorder.events().map((e) => e.idempotencyKey);
    t.equal(new Set(keys).size, keys.length, 'no key twice');
  },
);
