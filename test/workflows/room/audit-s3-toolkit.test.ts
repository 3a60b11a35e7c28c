/**
 * `endpoints.s3-vault-only` with the forensic toolkit: a room that installs a toolkit may also read
 * (s3:GetObject, nothing else) the Amazon Linux 2023 repositories of its region; a room without one
 * may not, and no room may reach a wider resource, another action on the repositories, or another
 * bucket. No local AWS needed: the audit judges a hand-made reading of the S3 endpoint.
 */
import t from 'tap';
import { evaluateRoom, type RoomLive } from '../../../src/workflows/room/audit.js';
import { unreadableRoom } from './fixtures.js';

const VAULT = 'cleanroom-evidence-123456789012-us-east-1';
const REPOS = 'arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*';
const TK = 'tk-0123456789abcdef0123';

const vaultStatement = {
  Sid: 'VaultBucketOnly',
  Effect: 'Allow',
  Principal: '*',
  Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'],
  Resource: [`arn:aws:s3:::${VAULT}`, `arn:aws:s3:::${VAULT}/*`],
};
const reposStatement = {
  Sid: 'AmazonLinuxRepositoriesReadOnly',
  Effect: 'Allow',
  Principal: '*',
  Action: 's3:GetObject',
  Resource: REPOS,
};

function s3Check(statements: unknown[], toolkitId?: string) {
  const room = unreadableRoom();
  const live: RoomLive = {
    ...room,
    info: { ...room.info, vaultBucket: VAULT, ...(toolkitId ? { toolkitId } : {}) },
    endpoints: {
      ok: true,
      value: [
        {
          VpcEndpointId: 'vpce-1',
          ServiceName: 'com.amazonaws.us-east-1.s3',
          VpcEndpointType: 'Gateway',
          PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }),
        },
      ],
    },
  };
  return evaluateRoom(live).find((c) => c.id === 'endpoints.s3-vault-only')!;
}

t.test('without a toolkit: the vault only, as before; the repositories are refused', async (t) => {
  const ok = s3Check([vaultStatement]);
  t.ok(ok.ok, ok.detail);
  t.equal(ok.detail, `S3 endpoint vpce-1 reaches only ${VAULT}`);
  const repos = s3Check([vaultStatement, reposStatement]);
  t.notOk(repos.ok, 'a room without a toolkit has no business in the package repositories');
  t.match(repos.detail, /al2023-repos-us-east-1-de612dc2/);
});

t.test('with a toolkit: the vault and the region’s AL2023 repositories, read-only, pass', async (t) => {
  const c = s3Check([vaultStatement, reposStatement], TK);
  t.ok(c.ok, c.detail);
  t.match(
    c.detail,
    /reaches only cleanroom-evidence-123456789012-us-east-1 and, read-only, the Amazon Linux repositories al2023-repos-us-east-1-de612dc2 \(toolkit tk-0123456789abcdef0123\)/,
  );
  t.ok(s3Check([vaultStatement], TK).ok, 'a toolkit room that reaches only the vault is narrower still');
});

t.test('with a toolkit: every widening fails the check, and says what', async (t) => {
  const cases: Array<[string, unknown[], RegExp]> = [
    [
      'another action on the repositories',
      [vaultStatement, { ...reposStatement, Action: ['s3:GetObject', 's3:PutObject'] }],
      /actions other than s3:GetObject \("s3:PutObject"\)/,
    ],
    [
      's3:* on the repositories',
      [vaultStatement, { ...reposStatement, Action: 's3:*' }],
      /actions other than s3:GetObject \("s3:\*"\)/,
    ],
    [
      'every AL2023 repository bucket (a wildcard)',
      [vaultStatement, { ...reposStatement, Resource: 'arn:aws:s3:::al2023-repos-*/*' }],
      /Resource "arn:aws:s3:::al2023-repos-\*\/\*"/,
    ],
    [
      'another region’s repositories',
      [vaultStatement, { ...reposStatement, Resource: 'arn:aws:s3:::al2023-repos-eu-west-1-de612dc2/*' }],
      /al2023-repos-eu-west-1/,
    ],
    [
      'the repository bucket itself (listing)',
      [vaultStatement, { ...reposStatement, Resource: 'arn:aws:s3:::al2023-repos-us-east-1-de612dc2' }],
      /Resource "arn:aws:s3:::al2023-repos-us-east-1-de612dc2"/,
    ],
    [
      'a repository statement that also reaches another bucket',
      [vaultStatement, { ...reposStatement, Resource: [REPOS, 'arn:aws:s3:::attacker/*'] }],
      /also reaches "arn:aws:s3:::attacker\/\*"/,
    ],
    [
      'another bucket beside them',
      [vaultStatement, reposStatement, { ...reposStatement, Resource: 'arn:aws:s3:::attacker/*' }],
      /Resource "arn:aws:s3:::attacker\/\*"/,
    ],
    ['a wider resource', [vaultStatement, { ...reposStatement, Resource: '*' }], /Resource "\*"/],
    ['NotResource', [vaultStatement, { ...reposStatement, NotResource: 'arn:aws:s3:::x/*' }], /NotResource/],
    ['a null statement', [vaultStatement, null], /not an object/],
  ];
  for (const [name, statements, detail] of cases) {
    const c = s3Check(statements, TK);
    t.notOk(c.ok, name);
    t.match(c.detail, detail, name);
  }
});
