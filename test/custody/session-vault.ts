/**
 * A fake vault (fake-vault.ts) whose record holds Session Manager sessions as the room records
 * them (the contract of `room.session.start` / `room.session`): a shell session with its transcript
 * in the vault (under Object Lock, as the rest of the vault), a port forward (no transcript) and a
 * shell session whose transcript upload failed. Used by the verify, export and report tests.
 */
import { createHash } from 'node:crypto';
import { canonicalBytes } from '../../src/custody/canonical.js';
import { eventKey, manifestKey } from '../../src/custody/event.js';
import { signingKeyAlias } from '../../src/domain/vault-name.js';
import type { VaultVerifyAccount } from '../../src/custody/verify-vault.js';
import { Calls, FakeBucket, Faults, IDENTITY, fakeKms, signingKey } from '../fakes/ports.js';
import { BUCKET, chainOf, manifest, type EventSpec } from './fake-vault.js';

export const ANALYST = 'arn:aws:sts::123456789012:assumed-role/ForensicAnalyst/carol';
export const INSTANCE = 'i-0f0e0d0c0b0a09080';
export const SHELL_ID = 'carol-0a1b2c3d4e5f60718';
export const FORWARD_ID = 'carol-0fedcba9876543210';
export const FAILED_ID = 'dave-01234567890abcdef';
/** What the analyst typed, as Session Manager's transcript holds it (more than one read chunk). */
export const TRANSCRIPT = Buffer.from(
  `${'sh-5.2$ target-query -f users /dev/nvme1n1\n'.repeat(40)}sh-5.2$ exit\n`,
  'utf8',
);
export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The `room.session` details of the contract. */
export function sessionDetails(over: Record<string, unknown>): Record<string, unknown> {
  return {
    session: {
      sessionId: SHELL_ID,
      instanceId: INSTANCE,
      document: 'cleanroom-IR-7-shell',
      kind: 'shell',
      actor: ANALYST,
      startedAt: '2026-12-01T10:10:00.000Z',
      endedAt: '2026-12-01T10:52:30.000Z',
      status: 'closed',
      ...over,
    },
  };
}

/** A vault with one case whose record holds three sessions; the shell session's transcript is in the vault. */
export function sessionVault(caseId = 'IR-7', opts: { transcript?: Buffer; withVersionId?: boolean } = {}) {
  const bucket = new FakeBucket(BUCKET);
  const key = signingKey(signingKeyAlias(BUCKET));
  const kmsCalls = new Calls();
  const transcriptKey = `cases/${caseId}/sessions/${SHELL_ID}.log`;
  const stored = bucket.put(transcriptKey, opts.transcript ?? TRANSCRIPT);
  const transcript = {
    bucket: BUCKET,
    key: transcriptKey,
    ...(opts.withVersionId === false ? {} : { versionId: stored.versionId }),
    sha256: sha256(TRANSCRIPT),
    bytes: TRANSCRIPT.length,
  };
  const specs: EventSpec[] = [
    { action: 'room.deploy', details: { stack: `cleanroom-${caseId}` } },
    { action: 'room.session.start', details: sessionDetails({ endedAt: undefined, status: undefined }) },
    { action: 'room.session', details: sessionDetails({ transcript }) },
    {
      action: 'room.session',
      details: sessionDetails({
        sessionId: FORWARD_ID,
        kind: 'port-forward',
        document: 'cleanroom-IR-7-port-forward',
        portForward: { local: 8080, remote: 80 },
        transcript: null,
        reason: 'a port-forward session has no transcript',
        startedAt: '2026-12-01T11:00:00.000Z',
        endedAt: '2026-12-01T11:05:00.000Z',
      }),
    },
    {
      action: 'room.session',
      status: 'failed',
      details: sessionDetails({
        sessionId: FAILED_ID,
        actor: 'arn:aws:sts::123456789012:assumed-role/ForensicAnalyst/dave',
        transcript: null,
        status: 'failed',
        reason: 'the transcript was not uploaded: s3 upload failed (AccessDenied)',
        startedAt: '2026-12-01T12:00:00.000Z',
        endedAt: '2026-12-01T12:01:00.000Z',
      }),
    },
  ];
  const inst = [{ type: 'ec2:instance', id: INSTANCE }];
  const events = chainOf(
    caseId,
    specs.map((x) => ({ ...x, resources: inst })),
  );
  for (const ev of events) bucket.put(eventKey(caseId, ev.seq), canonicalBytes(ev));
  bucket.put(manifestKey(caseId), canonicalBytes(manifest(caseId, events, key)));
  const account = {
    ...IDENTITY,
    s3: bucket.s3,
    kms: fakeKms([key], kmsCalls, new Faults()),
  } satisfies VaultVerifyAccount;
  return { bucket, key, kmsCalls, events, account, caseId, transcriptKey, transcript, stored };
}
