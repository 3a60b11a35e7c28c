/**
 * Memory capture on fakes: the instance checks (Windows, not running, terminated, unknown) refuse
 * before anything is made; the budget scales with memory; the command sent holds the script, checked
 * by its SHA-256, and single-quoted presigned URLs only; the host's answer line is parsed strictly.
 */
import t from 'tap';
import { captureMemory, captureBudget, captureCommand, parseGuestReport } from '../../../src/workflows/memory/index.js';
import { readTarget, type InstanceReader } from '../../../src/workflows/memory/instance.js';
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import { awsError } from '../../fakes/ports.js';

function ec2(instance: Record<string, unknown> | undefined, mib = 4096): InstanceReader {
  return {
    region: 'eu-west-1',
    accountId: async () => '111111111111',
    ec2: {
      describeInstances: (async () => {
        if (!instance) throw awsError('ec2', 'DescribeInstances', 'InvalidInstanceID.NotFound');
        return { $metadata: {}, Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', ...instance }] }] };
      }) as never,
      describeInstanceTypes: (async () => ({
        $metadata: {},
        InstanceTypes: [{ MemoryInfo: { SizeInMiB: mib } }],
      })) as never,
    },
  };
}

t.test('the instance: Windows, stopped, terminated, unknown are refused (exit 2) with what to do', async (t) => {
  const id = 'i-0123456789abcdef0';
  await t.rejects(readTarget(ec2({ State: { Name: 'running' }, Platform: 'windows' }), id), {
    code: 'MEMORY_PLATFORM_UNSUPPORTED',
    exitCode: 2,
    message: /runs Windows \(windows\): cleanroom captures the memory of Linux instances only/,
  });
  await t.rejects(readTarget(ec2({ State: { Name: 'stopped' } }), id), {
    code: 'MEMORY_INSTANCE_NOT_RUNNING',
    exitCode: 2,
    message: /is stopped, not running/,
  });
  await t.rejects(readTarget(ec2({ State: { Name: 'terminated' } }), id), { code: 'INSTANCE_TERMINATED' });
  await t.rejects(readTarget(ec2(undefined), id), {
    code: 'INSTANCE_NOT_FOUND',
    message: /does not exist in account 111111111111, region eu-west-1/,
  });
  t.match(await readTarget(ec2({ State: { Name: 'running' }, InstanceType: 'm5.large' }, 8192), id), {
    instanceType: 'm5.large',
    memoryBytes: 8192 * 2 ** 20,
    platform: 'Linux/UNIX',
  });
});

t.test('a refused instance records nothing and opens no record', async (t) => {
  const recorder = new MemoryRecorder();
  let opened = 0;
  await t.rejects(
    captureMemory(
      {
        source: ec2({ State: { Name: 'running' }, Platform: 'windows' }) as never,
        forensic: {} as never,
        custody: async () => {
          opened++;
          return recorder;
        },
      },
      { caseId: 'IR-1', instanceId: 'i-0123456789abcdef0' },
    ),
    { code: 'MEMORY_PLATFORM_UNSUPPORTED' },
  );
  t.equal(opened, 0);
  await t.rejects(
    captureMemory({ source: ec2(undefined) as never, forensic: {} as never }, { caseId: 'IR-1', instanceId: 'web-1' }),
    { code: 'INVALID_INSTANCE_ID', exitCode: 2 },
  );
});

t.test('the budget scales with memory at 16 MiB/s plus 10 minutes, within SSM and SigV4 limits', async (t) => {
  t.same(captureBudget(0), { executionSeconds: 600, urlSeconds: 900 });
  t.same(captureBudget(16 * 2 ** 30), { executionSeconds: 600 + 1024, urlSeconds: 1924 });
  t.equal(captureBudget(2 ** 50).executionSeconds, 172_800, "capped at SSM's 48 hours");
});

t.test('the command: the script checked by its SHA-256, quoted URLs, removed after; nothing else', async (t) => {
  const cmd = captureCommand(
    { text: '#!/bin/bash\necho hi\n', sha256: 'a'.repeat(64) },
    {
      toolUrl: "https://v.s3.amazonaws.com/tools/x?X-Amz-Signature=1&a='b",
      toolSha256: 'b'.repeat(64),
      partsUrl: 'https://v.s3.amazonaws.com/p.json?X-Amz-Signature=2',
      deadline: 1_800_000_000,
    },
  );
  t.match(
    cmd,
    /cat > "\$d\/capture.sh" <<'CLEANROOM_MEMORY_CAPTURE_EOF'\n#!\/bin\/bash\necho hi\nCLEANROOM_MEMORY_CAPTURE_EOF\n/,
  );
  t.match(cmd, /echo "a{64} {2}\$d\/capture.sh" \| sha256sum -c --status/);
  t.match(cmd, /--tool-url 'https:\/\/v\.s3\.amazonaws\.com\/tools\/x\?X-Amz-Signature=1&a='\\''b'/, 'quotes survive');
  t.match(cmd, /--deadline 1800000000/);
  t.match(cmd, /rm -rf "\$d"\nexit \$rc$/);
  t.notMatch(cmd, /AWS_|aws_/);
  t.throws(() =>
    captureCommand(
      { text: 'x\nCLEANROOM_MEMORY_CAPTURE_EOF\n', sha256: 'a'.repeat(64) },
      { toolUrl: 'https://x', toolSha256: 'b'.repeat(64), partsUrl: 'https://y', deadline: 1 },
    ),
  );
});

t.test("the host's answer: the last CLEANROOM-MEMORY line, typed fields only", async (t) => {
  t.equal(parseGuestReport(''), undefined);
  t.equal(parseGuestReport('CLEANROOM-MEMORY {"ok":tr'), undefined, 'cut short by SSM');
  t.same(
    parseGuestReport(
      'noise\nCLEANROOM-MEMORY {"ok":false,"reason":"first"}\nCLEANROOM-MEMORY {"ok":true,"bytes":5,"sha256":"ab","partsUploaded":1,"kernel":"6.1","memTotalKiB":"9","tool":"avml","toolVersion":"0.21.0","reason":"","code":""}\n',
    ),
    { ok: true, bytes: 5, sha256: 'ab', partsUploaded: 1, kernel: '6.1', tool: 'avml', toolVersion: '0.21.0' },
  );
});
