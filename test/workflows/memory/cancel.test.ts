/**
 * Memory capture stopped while its SSM command may still run on the host: Ctrl-C (the signal) or a
 * failure after SendCommand sends SSM CancelCommand for that command, once, and the failed
 * `memory.capture` event says whether it was cancelled and why; a cancel that fails never hides
 * the capture's own error. A capture that succeeds, or whose command had ended, cancels nothing.
 * On fakes: the SSM port (`Pick<SsmPort, …>`), the vault's S3, a clock that never sleeps.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { captureMemory } from '../../../src/workflows/memory/index.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import type { SsmPort } from '../../../src/aws/ports.js';
import type { Clock } from '../../../src/domain/waiter.js';
import { memoryToolKey, MEMORY_TOOL_POINTER_KEY, MEMORY_TOOL_SCHEMA } from '../../../src/evidence/memory-tool.js';
import { awsError } from '../../fakes/ports.js';

const INSTANCE = 'i-0123456789abcdef0';
const IMAGE = Buffer.from('a memory image of known bytes');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const TOOL = Buffer.from('avml');
const TOOL_SHA = sha256(TOOL);

/** The host's answer: InProgress until told, or Success with its CLEANROOM-MEMORY line. */
function fakeSsm(o: { ends: boolean; cancelFails?: boolean; report?: Record<string, unknown> }) {
  const cancels: Array<Parameters<SsmPort['cancelCommand']>[0]> = [];
  const ssm: Pick<SsmPort, 'sendCommand' | 'getCommandInvocation' | 'cancelCommand'> = {
    sendCommand: (async () => ({ $metadata: {}, Command: { CommandId: 'cmd-7' } })) as SsmPort['sendCommand'],
    getCommandInvocation: (async () =>
      o.ends
        ? {
            $metadata: {},
            Status: 'Success',
            ResponseCode: 0,
            StandardOutputContent: `CLEANROOM-MEMORY ${JSON.stringify(o.report ?? { ok: true, bytes: IMAGE.length, sha256: sha256(IMAGE), partsUploaded: 1, tool: 'avml', toolVersion: '0.21.0' })}\n`,
          }
        : { $metadata: {}, Status: 'InProgress' }) as SsmPort['getCommandInvocation'],
    cancelCommand: (async (i) => {
      cancels.push(i);
      if (o.cancelFails) throw awsError('ssm', 'cancelCommand', 'AccessDeniedException', 'not allowed', 400);
      return { $metadata: {} };
    }) as SsmPort['cancelCommand'],
  };
  return { ssm, cancels };
}

/** The vault's S3 as the capture uses it: the tool and its pointer, one multipart upload, the read-back. */
function forensic() {
  const aborted: string[] = [];
  const s3 = {
    getObject: async (i: { Key?: string; Range?: string }) => {
      if (i.Key === MEMORY_TOOL_POINTER_KEY) {
        const pointer = {
          schema: MEMORY_TOOL_SCHEMA,
          tool: 'avml',
          version: '0.21.0',
          sha256: TOOL_SHA,
          size: TOOL.length,
          key: memoryToolKey(TOOL_SHA),
          source: 'supplied',
          publishedAt: '2026-01-01T00:00:00Z',
          machine: 'x86-64',
        };
        return { Body: Readable.from([Buffer.from(JSON.stringify(pointer))]) };
      }
      const [, a, b] = /bytes=(\d+)-(\d+)/.exec(String(i.Range))!;
      return { Body: Readable.from([IMAGE.subarray(Number(a), Number(b) + 1)]) };
    },
    headObject: async (i: { Key?: string }) => ({
      ContentLength: i.Key === memoryToolKey(TOOL_SHA) ? TOOL.length : IMAGE.length,
    }),
    listMultipartUploads: async () => ({ Uploads: [], IsTruncated: false }),
    createMultipartUpload: async () => ({ UploadId: 'up-1' }),
    putObject: async () => ({ VersionId: 'v-parts' }),
    abortMultipartUpload: async (i: { UploadId?: string }) => {
      aborted.push(i.UploadId!);
      return {};
    },
    listParts: async () => ({ Parts: [{ PartNumber: 1, ETag: '"e1"', Size: IMAGE.length }], IsTruncated: false }),
    completeMultipartUpload: async () => ({ VersionId: 'v-image' }),
  };
  const s3Presign = {
    uploadPart: async (i: { Key?: string; PartNumber?: number }) =>
      `https://vault.s3/${i.Key}?partNumber=${i.PartNumber}`,
    getObject: async (i: { Key?: string }) => `https://vault.s3/${i.Key}?X-Amz-Signature=x`,
  };
  return { account: { s3, s3Presign }, aborted };
}

/** A clock that never sleeps: time moves on by what was asked; `onSleep` runs at each wait. */
function clock(onSleep: () => void = () => undefined): Clock {
  let now = Date.parse('2026-06-01T00:00:00Z');
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      onSleep();
    },
  };
}

async function capture(o: {
  ssm: ReturnType<typeof fakeSsm>['ssm'];
  clock: Clock;
  signal?: AbortSignal;
  executionSeconds?: number;
}) {
  const recorder = new MemoryRecorder();
  const vault = forensic();
  const result = await captureMemory(
    {
      source: {
        region: 'eu-west-1',
        accountId: async () => '111111111111',
        ec2: {
          describeInstances: (async () => ({
            $metadata: {},
            Reservations: [
              { Instances: [{ InstanceId: INSTANCE, State: { Name: 'running' }, InstanceType: 'm5.large' }] },
            ],
          })) as never,
          describeInstanceTypes: (async () => ({
            $metadata: {},
            InstanceTypes: [{ MemoryInfo: { SizeInMiB: 1024 } }],
          })) as never,
        },
        ssm: o.ssm,
      } as never,
      forensic: vault.account as never,
      custody: recorder,
      vault: {
        bucket: 'vault',
        vaultKeyArn: 'arn:aws:kms:eu-west-1:222222222222:key/k',
        lockMode: 'COMPLIANCE',
        retentionDays: 30,
      },
      clock: o.clock,
    },
    {
      caseId: 'IR-1',
      instanceId: INSTANCE,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.executionSeconds ? { executionSeconds: o.executionSeconds } : {}),
    },
  ).catch((e: Error) => e);
  const failed = recorder.events().find((e) => e.action === 'memory.capture' && e.outcome.status === 'failed');
  return { result, recorder, failed, aborted: vault.aborted };
}

t.test('Ctrl-C while the host captures: CancelCommand once for the command, recorded', async (t) => {
  const ac = new AbortController();
  const { ssm, cancels } = fakeSsm({ ends: false });
  const r = await capture({ ssm, clock: clock(() => ac.abort()), signal: ac.signal });
  t.match(r.result, { code: 'INTERRUPTED' });
  t.same(cancels, [{ CommandId: 'cmd-7', InstanceIds: [INSTANCE] }], 'one CancelCommand, for the command sent');
  t.match(r.failed?.outcome.details, {
    commandId: 'cmd-7',
    commandCancelled: true,
    commandCancelReason: /cmd-7 could still run: SSM CancelCommand sent/,
    uploadAborted: true,
  });
  t.same(r.aborted, ['up-1'], 'the upload is aborted too');
});

t.test('a failure after SendCommand (the wait runs out): CancelCommand once, recorded', async (t) => {
  const { ssm, cancels } = fakeSsm({ ends: false });
  const r = await capture({ ssm, clock: clock(), executionSeconds: 1 });
  t.match(r.result, { code: 'TIMEOUT' });
  t.same(cancels, [{ CommandId: 'cmd-7', InstanceIds: [INSTANCE] }]);
  t.match(r.failed?.outcome, { error: { code: 'TIMEOUT' }, details: { commandCancelled: true } });
});

t.test('a cancel that fails never hides the error: recorded as not cancelled, with why', async (t) => {
  const { ssm, cancels } = fakeSsm({ ends: false, cancelFails: true });
  const r = await capture({ ssm, clock: clock(), executionSeconds: 1 });
  t.match(r.result, {
    code: 'TIMEOUT',
    details: {
      notes: [
        /SSM command cmd-7 could not be cancelled \(.*lacks the permission ssm:CancelCommand.*it stops at its deadline/,
      ],
    },
  });
  t.equal(cancels.length, 1);
  t.match(r.failed?.outcome.details, {
    commandCancelled: false,
    commandCancelReason: /CancelCommand failed: .*lacks the permission ssm:CancelCommand/,
    uploadAborted: true,
  });
});

t.test('a capture that succeeds cancels nothing; nor does one whose command had ended', async (t) => {
  const ok = fakeSsm({ ends: true });
  const r = await capture({ ssm: ok.ssm, clock: clock() });
  t.notOk(r.result instanceof Error, String(r.result));
  t.match(r.result, { commandId: 'cmd-7', image: { sha256: sha256(IMAGE), match: true } });
  t.same(ok.cancels, [], 'no CancelCommand');
  t.equal(r.failed, undefined);

  const ended = fakeSsm({ ends: true, report: { ok: false, code: 'NO_SPACE', reason: 'no room for a part' } });
  const f = await capture({ ssm: ended.ssm, clock: clock() });
  t.match(f.result, { code: 'MEMORY_CAPTURE_FAILED', message: /no room for a part/ });
  t.same(ended.cancels, [], 'the command had ended: nothing to cancel');
  t.match(f.failed?.outcome.details, {
    commandCancelled: false,
    commandCancelReason: 'the command had ended (Success)',
  });
});
