/**
 * The sharing key's policy and the check of a responder's key (--source-kms-key): what the forensic
 * account must be allowed, per AWS ("Share the KMS key used to encrypt a shared Amazon EBS
 * snapshot"), read from a key policy — wildcards, Deny, other principals, grants.
 */
import t from 'tap';
import { FORENSIC_KEY_ACTIONS, missingActions, shareKeyPolicy } from '../../../src/workflows/acquire/share-key.js';

const F = '123456789012';
const S = '111111111111';
const policy = (...Statement: unknown[]) => JSON.stringify({ Version: '2012-10-17', Statement });

t.test(
  "cleanroom's own sharing key policy gives the forensic account exactly what it needs, CreateGrant only for AWS resources",
  async (t) => {
    const p = JSON.parse(shareKeyPolicy(S, F)) as {
      Statement: Array<{ Action: string | string[]; Principal: { AWS?: string }; Condition?: unknown }>;
    };
    t.same(missingActions(JSON.stringify(p), F), [], 'nothing missing');
    t.same(
      missingActions(JSON.stringify(p), '999999999999'),
      [...FORENSIC_KEY_ACTIONS],
      'another account gets nothing',
    );
    const grant = p.Statement.find((s) => s.Action === 'kms:CreateGrant');
    t.same(grant?.Condition, { Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    t.notOk(
      p.Statement.some(
        (s) =>
          s.Principal.AWS === `arn:aws:iam::${F}:root` &&
          (s.Action === 'kms:*' || (Array.isArray(s.Action) && s.Action.includes('kms:ScheduleKeyDeletion'))),
      ),
      'the forensic account cannot administer the key',
    );
  },
);

t.test('reading a key policy', async (t) => {
  const allow = (principal: unknown, action: unknown) => ({
    Effect: 'Allow',
    Principal: principal,
    Action: action,
    Resource: '*',
  });
  t.same(
    missingActions(policy(allow({ AWS: `arn:aws:iam::${S}:root` }, 'kms:*')), F),
    [...FORENSIC_KEY_ACTIONS],
    'only the owner',
  );
  t.same(missingActions(policy(allow({ AWS: `arn:aws:iam::${F}:root` }, 'kms:*')), F), [], 'kms:*');
  t.same(
    missingActions(
      policy(
        allow({ AWS: F }, [
          'kms:Describe*',
          'kms:CreateGrant',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
        ]),
      ),
      F,
    ),
    [],
    'wildcards, bare account id',
  );
  t.same(
    missingActions(
      policy(
        allow({ AWS: [`arn:aws:iam::${F}:role/Forensics`] }, [
          'kms:describekey',
          'kms:creategrant',
          'kms:decrypt',
          'kms:reencryptfrom',
          'kms:generatedatakeywithoutplaintext',
        ]),
      ),
      F,
    ),
    [],
    'a role of the account, case-insensitive actions',
  );
  t.same(missingActions(policy(allow('*', 'kms:*')), F), [], 'Principal *');
  t.same(
    missingActions(policy(allow({ AWS: `arn:aws:iam::${F}:root` }, ['kms:Decrypt', 'kms:DescribeKey'])), F),
    ['kms:CreateGrant', 'kms:ReEncryptFrom', 'kms:GenerateDataKeyWithoutPlaintext'],
    'partial',
  );
  t.same(
    missingActions(
      policy(allow({ AWS: `arn:aws:iam::${F}:root` }, 'kms:*'), {
        Effect: 'Deny',
        Principal: { AWS: `arn:aws:iam::${F}:root` },
        Action: 'kms:CreateGrant',
        Resource: '*',
      }),
      F,
    ),
    ['kms:CreateGrant'],
    'a Deny wins',
  );
  t.same(
    missingActions(
      policy(allow({ AWS: `arn:aws:iam::${F}:root` }, ['kms:Decrypt'])),
      F,
      new Set(['kms:DescribeKey', 'kms:CreateGrant', 'kms:ReEncryptFrom', 'kms:GenerateDataKeyWithoutPlaintext']),
    ),
    [],
    'grants count',
  );
  t.same(missingActions('not json', F), [...FORENSIC_KEY_ACTIONS], 'an unreadable policy allows nothing');
  t.same(
    missingActions(JSON.stringify({ Statement: allow({ AWS: `arn:aws:iam::${F}:root` }, 'kms:*') }), F),
    [],
    'a single statement object',
  );
});
