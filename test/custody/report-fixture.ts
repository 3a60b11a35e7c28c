/**
 * A custody report of three evidence items, built from recorded-shaped events the way `custody
 * export` builds it: one cross-account item with long ids, both acquisition hashes, the in-room
 * result and three exports (one refused: its hash did not match); one with nothing recorded beyond its source snapshot; one acquired in
 * the forensic account itself (no sharing copy), its source hash skipped, a later recomputation
 * that found a difference. Used by the report content tests and the headless Chromium render test.
 */
import { foldEvidence } from '../../src/domain/evidence.js';
import { evidenceStepOf, type EvidenceStep } from '../../src/custody/report-cards.js';
import type { ReportInput, TimelineRow } from '../../src/custody/report.js';
import { sessionOfEvent, type RecordedSession } from '../../src/custody/room-sessions.js';

export const SOURCE = '111122223333';
export const FORENSIC = '444455556666';
export const RESPONDER =
  'arn:aws:sts::444455556666:assumed-role/IncidentResponseCustodianRoleWithAVeryLongName/alice.responder@example.org';
export const ANALYST = 'arn:aws:sts::444455556666:assumed-role/ForensicAnalyst/bob';
export const LONG = 'ev-web-server-root-volume-from-the-compromised-autoscaling-group-blue-green-2026-12';
export const SHA = 'a1b2c3d4'.repeat(8);
export const MERKLE = '0f1e2d3c'.repeat(8);
export const SOURCE_SHA = SHA;
export const IDS = {
  srcSnap: 'snap-0a1b2c3d4e5f60718',
  shareSnap: 'snap-0123456789abcdef0',
  forensicSnap: 'snap-0fedcba9876543210',
  volume: 'vol-0badc0ffee0ddf00d',
  instance: 'i-0abcdef1234567890',
};

type Ev = {
  action: string;
  actor?: string;
  status?: string;
  error?: { code: string; message: string };
  resources?: unknown[];
  details: Record<string, unknown>;
};

const snap = (id: string, account: string, region = 'eu-west-1') => ({ type: 'ec2:snapshot', id, account, region });

/** The events of the three items, in record order (a room event in between names no evidence). */
export function fixtureEvents(): Ev[] {
  const hashTool = { name: 'cleanroom', version: '0.13.0', method: 'ebs-direct' };
  return [
    { action: 'room.up', details: { stack: 'cleanroom-IR-7' } },
    {
      action: 'evidence.snapshot',
      resources: [snap(IDS.srcSnap, SOURCE, 'us-east-1')],
      details: {
        method: 'CreateSnapshot',
        evidence: {
          evidenceId: LONG,
          sourceAccount: SOURCE,
          sourceRegion: 'us-east-1',
          sourceInstanceId: 'i-0123456789abcdef0',
          sourceVolumeId: 'vol-0123456789abcdef0',
          sourceDevice: '/dev/xvda',
          sizeGiB: 1,
          sourceSnapshotId: IDS.srcSnap,
          state: 'snapshotting',
        },
      },
    },
    {
      action: 'evidence.snapshot',
      resources: [snap('snap-0999999999999999a', SOURCE, 'us-east-1')],
      details: {
        evidence: {
          evidenceId: 'ev-db-data',
          sourceAccount: SOURCE,
          sourceRegion: 'us-east-1',
          sourceVolumeId: 'vol-0999999999999999a',
          sourceSnapshotId: 'snap-0999999999999999a',
          state: 'snapshotting',
        },
      },
    },
    {
      action: 'evidence.share.copy',
      resources: [snap(IDS.shareSnap, SOURCE, 'us-east-1')],
      details: { evidence: { evidenceId: LONG, sharingSnapshotId: IDS.shareSnap, state: 'sharing' } },
    },
    {
      action: 'evidence.share',
      resources: [snap(IDS.shareSnap, SOURCE, 'us-east-1')],
      details: { evidenceId: LONG, sharingSnapshotId: IDS.shareSnap, sharedWith: FORENSIC },
    },
    {
      action: 'evidence.copy',
      resources: [snap(IDS.forensicSnap, FORENSIC)],
      details: { evidence: { evidenceId: LONG, forensicSnapshotId: IDS.forensicSnap, state: 'copying' } },
    },
    {
      action: 'evidence.preserved',
      resources: [snap(IDS.forensicSnap, FORENSIC)],
      details: { evidence: { evidenceId: LONG, forensicSnapshotId: IDS.forensicSnap, state: 'preserved' } },
    },
    {
      action: 'evidence.hash',
      resources: [snap(IDS.forensicSnap, FORENSIC)],
      details: {
        evidence: {
          evidenceId: LONG,
          sha256: SHA,
          merkleRoot: MERKLE,
          sizeBytes: 2 ** 30,
          blockSize: 524288,
          blocksRead: 37,
          hashedAt: '2026-12-01T10:09:30.000Z',
          hashTool,
          sourceHash: {
            status: 'equal',
            snapshotId: IDS.srcSnap,
            sha256: SOURCE_SHA,
            merkleRoot: MERKLE,
            hashedAt: '2026-12-01T10:09:10.000Z',
          },
        },
      },
    },
    {
      action: 'evidence.volume.create',
      resources: [
        { type: 'ec2:volume', id: IDS.volume, account: FORENSIC, region: 'eu-west-1' },
        snap(IDS.forensicSnap, FORENSIC),
      ],
      details: { evidence: { evidenceId: LONG, volumeId: IDS.volume, state: 'volume-created' } },
    },
    {
      action: 'evidence.attach',
      actor: ANALYST,
      details: {
        evidence: {
          evidenceId: LONG,
          volumeId: IDS.volume,
          instanceId: IDS.instance,
          device: '/dev/sdf',
          guestDevice: `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${IDS.volume.replace('-', '')}`,
          state: 'attached',
        },
      },
    },
    {
      action: 'evidence.readonly-check',
      actor: ANALYST,
      details: { evidence: { evidenceId: LONG, readOnly: 'confirmed', readOnlyDetail: 'ro=1 on nvme1n1' } },
    },
    {
      action: 'evidence.room-hash',
      actor: ANALYST,
      details: {
        evidence: {
          evidenceId: LONG,
          inRoomHash: 'verified',
          inRoomHashDetail: 'sha256 of /dev/nvme1n1 equals the acquisition hash',
          inRoomHashAt: '2026-12-01T10:20:00.000Z',
        },
        deviceSha256: SHA,
      },
    },
    {
      action: 'evidence.export',
      details: {
        evidence: { evidenceId: LONG },
        export: {
          target: 'vault',
          location: `s3://cleanroom-evidence-444455556666-eu-west-1/cases/IR-7/images/${LONG}.raw`,
          sha256: SHA,
          sizeBytes: 2 ** 30,
          partSize: 8 * 2 ** 20,
          versionId: '3HL4kqtJlcpXroDTDmjVBH40Nrjfkd',
          retainUntil: '2033-12-01T00:00:00.000Z',
        },
      },
    },
    {
      action: 'evidence.export',
      actor: ANALYST,
      details: {
        evidenceId: LONG,
        export: { target: 'file', location: '/cases/IR-7/image.raw', sha256: SHA, sizeBytes: 2 ** 30 },
      },
    },
    {
      action: 'evidence.snapshot',
      resources: [snap('snap-0cccccccccccccccc', FORENSIC)],
      details: {
        evidence: {
          evidenceId: 'ev-same-account',
          sourceAccount: FORENSIC,
          sourceRegion: 'eu-west-1',
          sourceVolumeId: 'vol-0cccccccccccccccc',
          sourceSnapshotId: 'snap-0cccccccccccccccc',
          sizeGiB: 1,
          state: 'snapshotting',
        },
      },
    },
    {
      action: 'evidence.preserved',
      resources: [snap('snap-0dddddddddddddddd', FORENSIC)],
      details: {
        evidence: { evidenceId: 'ev-same-account', forensicSnapshotId: 'snap-0dddddddddddddddd', state: 'preserved' },
      },
    },
    {
      action: 'evidence.hash',
      details: {
        evidence: {
          evidenceId: 'ev-same-account',
          sha256: 'cd'.repeat(32),
          merkleRoot: 'ef'.repeat(32),
          sizeBytes: 2 ** 30,
          hashTool,
          sourceHash: { status: 'skipped', reason: '--no-source-hash' },
          inRoomHash: 'not-confirmed',
        },
      },
    },
    {
      action: 'evidence.hash.check',
      actor: ANALYST,
      status: 'failed',
      details: { evidenceId: 'ev-same-account', result: 'different' },
    },
    {
      // A refused export names only the snapshot it read (no evidence id): matched by that resource.
      action: 'evidence.export',
      actor: ANALYST,
      status: 'failed',
      error: { code: 'EXPORT_HASH_MISMATCH', message: 'the image read now has another SHA-256' },
      resources: [snap(IDS.forensicSnap, FORENSIC)],
      details: {
        export: {
          target: 'file',
          location: '/cases/IR-7/again.raw',
          sizeBytes: 2 ** 30,
          sha256: 'ee'.repeat(32),
          expectedSha256: SHA,
        },
      },
    },
  ];
}

/** The recorded form of the fixture's events: seq from 1, a minute apart from 10:01. */
export function recorded(events = fixtureEvents()) {
  return events.map((e, i) => ({
    seq: i + 1,
    time: new Date(Date.parse('2026-12-01T10:00:00Z') + (i + 1) * 60_000).toISOString(),
    actor: e.actor ?? RESPONDER,
    action: e.action,
    resources: e.resources ?? [],
    outcome: { status: e.status ?? 'succeeded', ...(e.error ? { error: e.error } : {}), details: e.details },
  }));
}

/**
 * The sessions of the fixture as the record holds them: a long shell session of the responder with
 * its transcript, a port forward (no transcript), one found afterwards in Session Manager's
 * history, and one whose end the record does not hold.
 */
export function fixtureSessions(): RecordedSession[] {
  const base = { instanceId: IDS.instance, document: 'cleanroom-IR-7-shell', kind: 'shell' };
  const events = [
    {
      action: 'room.session.start',
      session: {
        ...base,
        sessionId: `${LONG}-0a1b2c3d4e5f60718`,
        actor: RESPONDER,
        startedAt: '2026-12-01T10:30:00.000Z',
      },
    },
    {
      action: 'room.session',
      session: {
        ...base,
        sessionId: `${LONG}-0a1b2c3d4e5f60718`,
        actor: RESPONDER,
        startedAt: '2026-12-01T10:30:00.000Z',
        endedAt: '2026-12-01T12:12:41.000Z',
        status: 'closed',
        transcript: {
          bucket: 'cleanroom-evidence-444455556666-eu-west-1',
          key: `cases/IR-7/sessions/${LONG}-0a1b2c3d4e5f60718.log`,
          versionId: 'Rb3.x9_Lz2mPq8Vn0yT4kHs7aWcE1dFg',
          sha256: SHA,
          bytes: 48213,
        },
      },
    },
    {
      action: 'room.session',
      session: {
        ...base,
        document: 'cleanroom-IR-7-port-forward',
        kind: 'port-forward',
        portForward: { local: 8443, remote: 443 },
        sessionId: 'bob-0fedcba9876543210',
        actor: ANALYST,
        startedAt: '2026-12-01T13:00:00.000Z',
        endedAt: '2026-12-01T13:20:00.000Z',
        status: 'closed',
        transcript: null,
        reason: 'a port-forward session has no transcript',
      },
    },
    {
      action: 'room.session',
      session: {
        ...base,
        sessionId: 'mallory-01234567890abcdef',
        actor: 'arn:aws:iam::444455556666:user/mallory',
        startedAt: '2026-12-02T02:00:00.000Z',
        endedAt: '2026-12-02T02:03:09.000Z',
        status: 'closed',
        found: true,
        transcript: {
          bucket: 'cleanroom-evidence-444455556666-eu-west-1',
          key: 'cases/IR-7/sessions/mallory-01234567890abcdef.log',
          sha256: MERKLE,
          bytes: 912,
        },
      },
    },
    {
      action: 'room.session.start',
      session: { ...base, sessionId: 'bob-0123456789abcdef0', actor: ANALYST, startedAt: '2026-12-02T09:00:00.000Z' },
    },
  ];
  return events.map(
    (e, i) =>
      sessionOfEvent(100 + i, {
        action: e.action,
        time: e.session.startedAt,
        actor: RESPONDER,
        outcome: { details: { session: e.session } },
      })!,
  );
}

/** The report input `custody export` would build from the fixture (evidence folded as the manifest is). */
export function fixtureReport(over: Partial<ReportInput> = {}): ReportInput {
  const events = recorded();
  const steps = events.map((e) => evidenceStepOf(e.seq, e)).filter((s): s is EvidenceStep => s !== undefined);
  const evidence = foldEvidence(events as unknown as Parameters<typeof foldEvidence>[0]);
  const timeline: TimelineRow[] = events.map((e) => ({
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    status: e.outcome.status,
    resources: e.resources.map((r) => `${(r as { type: string }).type} ${(r as { id: string }).id}`).join(', '),
  }));
  return {
    case: 'IR-7',
    bucket: 'cleanroom-evidence-444455556666-eu-west-1',
    exportedAt: '2026-12-05T03:00:00.000Z',
    exportedBy: RESPONDER,
    events: events.length,
    head: { seq: events.length, hash: 'ab'.repeat(32) },
    signingKeyArn: 'arn:aws:kms:eu-west-1:444455556666:key/0b7c1a2e-3d4f-5a6b-7c8d-9e0f1a2b3c4d',
    keyFingerprint: 'cd'.repeat(32),
    retention: { modes: ['COMPLIANCE'], earliestRetainUntil: '2033-12-01T00:00:00.000Z' },
    sealedAt: '2026-12-01T11:00:00.000Z',
    sealedBy: RESPONDER,
    evidence: [...evidence.values()],
    steps,
    timeline,
    sessions: fixtureSessions(),
    ...over,
  };
}
