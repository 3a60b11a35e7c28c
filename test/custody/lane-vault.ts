/**
 * The vault of the lane and group-commit tests: a fake vault (fake-vault.ts) with no events yet,
 * whose conditional PUT is atomic as S3's is (`If-None-Match: *`, and `If-Match` on the ETag — the
 * version id — as the case lease writes), every PUT's key listed in `puts`, and hooks a test sets to
 * hold or fail a PUT before it is stored (`beforePut`) or after (`afterPut`: its answer held or lost).
 */
import { openCaseCustody, type CaseCustody } from '../../src/custody/case-custody.js';
import { verifyCaseInVault } from '../../src/custody/verify-vault.js';
import type { AwsAccount } from '../../src/aws/ports.js';
import type { CustodyEntry } from '../../src/domain/recorder.js';
import { awsError, out } from '../fakes/ports.js';
import { BUCKET, fakeVault } from './fake-vault.js';

export const CASE = 'IR-9';

export function laneVault(
  hooks: { beforePut?: (key: string) => Promise<void>; afterPut?: (key: string) => Promise<void> } = {},
) {
  const v = fakeVault(CASE, 0);
  const audit = {
    ok: true,
    checks: [],
    facts: {
      bucket: BUCKET,
      exists: true,
      vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
      signingKeyArn: v.key.arn,
      lockMode: 'COMPLIANCE' as const,
      retentionDays: 365,
    },
  };
  const puts: string[] = [];
  const account = {
    ...v.account,
    callerArn: async () => 'arn:aws:sts::123456789012:assumed-role/Responder/lambda',
    s3: {
      ...v.bucket.s3,
      putObject: async (i: {
        Key?: string;
        Body?: unknown;
        IfNoneMatch?: string;
        IfMatch?: string;
        ObjectLockRetainUntilDate?: Date;
      }) => {
        await hooks.beforePut?.(i.Key!);
        const cur = v.bucket.objects.get(i.Key!)?.at(-1);
        if (i.IfMatch !== undefined && (!cur || cur.deleteMarker || cur.versionId !== i.IfMatch))
          throw awsError(
            's3',
            'putObject',
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            412,
          );
        if (i.IfNoneMatch === '*' && cur && !cur.deleteMarker)
          throw awsError(
            's3',
            'putObject',
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            412,
          );
        puts.push(i.Key!);
        const stored = v.bucket.put(i.Key!, Buffer.from(i.Body as Uint8Array), {
          mode: 'COMPLIANCE',
          retainUntil: i.ObjectLockRetainUntilDate!,
        });
        await hooks.afterPut?.(i.Key!);
        return out({ VersionId: stored.versionId, ETag: stored.versionId });
      },
      getObject: async (i: Parameters<typeof v.bucket.s3.getObject>[0]) => {
        const r = await v.bucket.s3.getObject(i);
        return { ...r, ETag: r.VersionId };
      },
    },
  } as unknown as AwsAccount;
  const open = (lane?: string): Promise<CaseCustody> =>
    openCaseCustody(account, { caseId: CASE, bucket: BUCKET, audit, ...(lane ? { lane } : {}) });
  const verify = () => verifyCaseInVault(v.account, { caseId: CASE, bucket: BUCKET });
  const laneKeys = () => [...v.bucket.objects.keys()].filter((k) => k.includes('/custody/lanes/')).sort();
  return { v, account, open, verify, puts, laneKeys, audit };
}

export const entry = (key: string): CustodyEntry => ({
  action: 'room.audit',
  resources: [{ type: 'ec2:instance', id: 'i-0123456789abcdef0' }],
  outcome: { status: 'succeeded' },
  idempotencyKey: key,
});
