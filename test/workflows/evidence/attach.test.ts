/**
 * `evidence attach`, `evidence detach`, `evidence list` at the workflow level, on the acquisition
 * fake: detach and attach again (new attach cycle, read-only asked again), idempotent reruns,
 * interrupted detaches, an item that is not preserved, unknown ids, a room that is not up / fails its
 * audit, and a working volume left in another Availability Zone (the room was rebuilt elsewhere).
 */
import t from 'tap';
import { UsageError, VerificationFailedError } from '../../../src/domain/errors.js';
import { acquireEvidence } from '../../../src/workflows/acquire/index.js';
import { attachEvidence, detachEvidence } from '../../../src/workflows/evidence/index.js';
import { listEvidence } from '../../../src/workflows/evidence/list.js';
import { CASE, Crash, World } from '../acquire/fake.js';

async function acquired(attach = true): Promise<{ w: World; eids: string[] }> {
  const w = new World();
  const { volumeIds } = w.compromisedInstance([8, 20]);
  const r = await acquireEvidence(
    {
      forensic: w.forensic.port(),
      source: w.source.port(),
      custody: w.recorder,
      room: w.gate(),
      clock: w.clock,
      hasher: w.hasher(),
    },
    { caseId: CASE, volumeIds, attach },
  );
  return { w, eids: r.evidence.map((e) => e.evidenceId) };
}
const deps = (w: World) => ({ forensic: w.forensic.port(), custody: w.recorder, room: w.gate(), clock: w.clock });
const keysOf = (w: World) => w.recorder.events().map((e) => e.idempotencyKey);

t.test('detach, then attach again: a new attach cycle, read-only asked again, all recorded once', async (t) => {
  const { w, eids } = await acquired();
  const eid = eids[0]!;
  const d = await detachEvidence(deps(w), { caseId: CASE, evidenceId: eid });
  t.equal(d.detached, true);
  t.equal(d.evidence.state, 'detached');
  const vol = w.forensic.volumes.get(d.evidence.volumeId!)!;
  t.equal(vol.attachment, undefined);
  t.ok(
    w.forensic.calls.some((c) => c.op === 'DetachVolume' && c.input.InstanceId === w.forensicInstance),
    'DetachVolume names the instance',
  );

  const again = await detachEvidence(deps(w), { caseId: CASE, evidenceId: eid });
  t.equal(again.detached, false, 'a second detach changes nothing');
  const n = w.recorder.events().length;

  const a = await attachEvidence(deps(w), { caseId: CASE, evidenceId: eid });
  t.equal(a.evidence.state, 'attached');
  t.equal(a.readOnly.status, 'confirmed');
  t.equal(a.evidence.volumeId, d.evidence.volumeId, 'the same working volume');
  t.ok(keysOf(w).includes(`evidence:attach:${eid}:${vol.id}:2`), 'the second attach cycle');
  t.ok(keysOf(w).includes(`evidence:readonly:${eid}:${vol.id}:2:confirmed`));
  t.ok(
    keysOf(w).includes(`evidence:room-hash:${eid}:${vol.id}:2:verified`),
    'the in-room hash asked again (and verified: acquire recorded the hash)',
  );
  t.equal(w.recorder.events().length, n + 3);
  const before = w.recorder.events().length;
  await attachEvidence(deps(w), { caseId: CASE, evidenceId: eid });
  t.equal(w.recorder.events().length, before, 'attaching an attached item records nothing new');
  t.equal(w.forensic.calls.filter((c) => c.op === 'AttachVolume').length, 3, 'and sends no AttachVolume');
});

t.test('an interrupted detach (volume detached, event not written) is recorded by the next run', async (t) => {
  const { w, eids } = await acquired();
  w.crashBeforeRecord = 1;
  t.ok(
    (await detachEvidence(deps(w), { caseId: CASE, evidenceId: eids[1]! }).catch((e) => e)) instanceof Crash,
    'killed before the event',
  );
  w.revive();
  const r = await detachEvidence(deps(w), { caseId: CASE, evidenceId: eids[1]! });
  t.equal(r.detached, false);
  t.equal(r.evidence.state, 'detached');
  const ev = w.recorder.events().find((e) => e.action === 'evidence.detach')!;
  t.equal(ev.outcome.details!['foundDetached'], true);
});

t.test('attach makes the working volume of an item acquired with --no-attach while the room was down', async (t) => {
  const w = new World();
  const room = w.room.info;
  w.room.info = undefined;
  const { volumeIds } = w.compromisedInstance([8]);
  const r = await acquireEvidence(
    {
      forensic: w.forensic.port(),
      source: w.source.port(),
      custody: w.recorder,
      room: w.gate(),
      clock: w.clock,
      hasher: w.hasher(),
    },
    { caseId: CASE, volumeIds, attach: false },
  );
  t.equal(r.evidence[0]!.state, 'preserved');
  w.room.info = room;
  const a = await attachEvidence(deps(w), { caseId: CASE, evidenceId: r.evidence[0]!.evidenceId });
  t.equal(a.evidence.state, 'attached');
  t.equal(a.evidence.availabilityZone, 'us-east-1a');
});

t.test(
  'refusals: unknown or malformed evidence, not preserved, no working volume, room not up or failing, volume in another AZ',
  async (t) => {
    const { w, eids } = await acquired(false);
    const bad = await attachEvidence(deps(w), { caseId: CASE, evidenceId: 'ev-nope-0000' }).catch((e) => e);
    t.ok(bad instanceof UsageError);
    t.match(bad.message, /Case IR-42 has no evidence ev-nope-0000 \(it has ev-/);
    const malformed = await attachEvidence(deps(w), { caseId: CASE, evidenceId: 'EV X' }).catch((e) => e);
    t.equal(malformed.exitCode, 2);
    t.match(malformed.message, /Evidence id "EV X" is not valid/);

    await w.recorder.record({
      action: 'evidence.snapshot',
      resources: [],
      outcome: { status: 'succeeded', details: { evidence: { evidenceId: 'ev-halfway', state: 'snapshotting' } } },
      idempotencyKey: 'x',
    });
    const half = await attachEvidence(deps(w), { caseId: CASE, evidenceId: 'ev-halfway' }).catch((e) => e);
    t.equal(half.exitCode, 2);
    t.match(
      half.message,
      /ev-halfway of case IR-42 is not preserved yet \(it is snapshotting\): run the same `cleanroom acquire` again/,
    );
    const noVol = await detachEvidence(deps(w), { caseId: CASE, evidenceId: 'ev-halfway' }).catch((e) => e);
    t.match(noVol.message, /has no working volume, so there is nothing to detach/);

    const m = w.mutations().length;
    w.room.audit = {
      ok: false,
      checks: [{ id: 'instance.imdsv2', ok: false, detail: 'HttpTokens is optional', severity: 'critical' }],
    };
    const audit = await attachEvidence(deps(w), { caseId: CASE, evidenceId: eids[0]! }).catch((e) => e);
    t.ok(audit instanceof VerificationFailedError);
    t.equal(audit.exitCode, 3);
    t.match(audit.message, /instance.imdsv2: HttpTokens is optional/);
    w.room.audit = { ok: true, checks: [] };
    w.room.info = { ...w.room.info!, stackStatus: 'DELETE_IN_PROGRESS' };
    const down = await attachEvidence(deps(w), { caseId: CASE, evidenceId: eids[0]! }).catch((e) => e);
    t.equal(down.exitCode, 2);
    t.match(down.message, /not up \(stack cleanroom-IR-42 is DELETE_IN_PROGRESS\)/);
    t.same(w.mutations().slice(m), [], 'nothing changed by the refusals');

    // The room rebuilt in another AZ: the working volume of the first run is in the old one.
    w.room.info = { ...w.room.info!, stackStatus: 'CREATE_COMPLETE', availabilityZone: 'us-east-1c' };
    w.forensic.instances.get(w.forensicInstance)!.az = 'us-east-1c';
    const az = await attachEvidence(deps(w), { caseId: CASE, evidenceId: eids[0]! }).catch((e) => e);
    t.ok(az instanceof UsageError);
    t.match(
      az.message,
      /working volume vol-\w+ of ev-\w+ is in us-east-1a, but the forensic instance i-0f0f0f0f0f0f0f0f0 is in us-east-1c; EBS volumes attach only within their Availability Zone.*delete it/,
    );
    t.same(w.mutations().slice(m), []);
  },
);

t.test('evidence list: the record, checked against AWS', async (t) => {
  const { w, eids } = await acquired();
  const l = await listEvidence({ forensic: w.forensic.port(), custody: w.recorder }, { caseId: CASE });
  t.same(
    l.evidence.map((e) => e.evidenceId),
    [...eids].sort(),
  );
  t.same(
    l.evidence.map((e) => [e.state, e.live?.attachedTo, e.drift]),
    [
      ['attached', [w.forensicInstance], undefined],
      ['attached', [w.forensicInstance], undefined],
    ],
  );
  // Detached behind cleanroom's back: the list says so.
  const v = w.forensic.volumes.get(l.evidence[0]!.volumeId!)!;
  w.forensic.instances.get(w.forensicInstance)!.devices.delete(v.attachment!.device);
  v.attachment = undefined;
  v.state = 'available';
  const l2 = await listEvidence({ forensic: w.forensic.port(), custody: w.recorder }, { caseId: CASE });
  t.match(l2.evidence[0]!.drift, /the record says attached to i-0f0f0f0f0f0f0f0f0, AWS says available/);
  t.same(
    (await listEvidence({ forensic: new World().forensic.port(), custody: new World().recorder }, { caseId: CASE }))
      .evidence,
    [],
    'a case without evidence',
  );
});

t.test(
  "attach with waits 'hand-off' after a deferred acquisition hash: the volume wait is handed back, the next call attaches; one volume, one attachment",
  async (t) => {
    const w = new World();
    const { volumeIds } = w.compromisedInstance([8]);
    const r = await acquireEvidence(
      {
        forensic: w.forensic.port(),
        source: w.source.port(),
        custody: w.recorder,
        room: w.gate(),
        clock: w.clock,
        hasher: w.hasher(),
      },
      { caseId: CASE, volumeIds, acquisitionHash: 'deferred' },
    );
    const eid = r.evidence[0]!.evidenceId;
    t.equal(r.evidence[0]!.state, 'preserved', 'deferred: stopped at preserved');
    const handOffs: string[] = [];
    let a: Awaited<ReturnType<typeof attachEvidence>> | undefined;
    for (let i = 0; i < 10 && !a; i++) {
      try {
        a = await attachEvidence(deps(w), { caseId: CASE, evidenceId: eid, waits: 'hand-off' });
      } catch (e) {
        if ((e as { code?: string }).code !== 'WAIT_HANDED_OFF') throw e;
        handOffs.push((e as { waitingFor: string }).waitingFor);
      }
    }
    t.ok(a, `attached after ${handOffs.length + 1} calls`);
    t.ok(handOffs.length >= 1, 'the new volume was still creating: handed off');
    t.equal(a!.evidence.state, 'attached');
    t.equal(w.forensic.mutations.filter((m) => m === 'CreateVolume').length, 1, 'one working volume');
    t.equal(w.forensic.mutations.filter((m) => m === 'AttachVolume').length, 1, 'attached once');
    t.notOk(w.recorder.events().some((e) => e.outcome.status === 'failed'));
  },
);
