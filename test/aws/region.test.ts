// checkRegion: a region that is not one is bad input (exit 2) with a message naming it — by its
// shape without any call, by the account's region list, or by an error answer from EC2 there;
// network failures (exit 1), credentials and permission errors pass through as they are.
import t from 'tap';
import type { AwsAccount } from '../../src/aws/ports.js';
import { checkRegion } from '../../src/aws/region.js';
import { AwsError, UsageError } from '../../src/domain/errors.js';

function fake(region: string, describeRegions: () => Promise<unknown>): AwsAccount & { calls: number } {
  const a = {
    region,
    calls: 0,
    ec2: {
      describeRegions: async () => {
        a.calls++;
        return describeRegions();
      },
    },
  };
  return a as unknown as AwsAccount & { calls: number };
}
const regions = {
  Regions: [
    { RegionName: 'us-east-1', OptInStatus: 'opt-in-not-required' },
    { RegionName: 'ap-east-1', OptInStatus: 'not-opted-in' },
  ],
};

t.test('a name that is not a region name: refused without a call', async (t) => {
  const a = fake('mars-north-1', async () => regions);
  const e = await checkRegion(a).catch((x) => x);
  t.ok(e instanceof UsageError);
  t.equal(e.code, 'UNKNOWN_REGION');
  t.match(e.message, /"mars-north-1" is not an AWS region name/);
  t.equal(a.calls, 0);
});

t.test('a region the account does not have, one not enabled, one that is fine (checked once)', async (t) => {
  const unknown = await checkRegion(fake('xx-north-1', async () => regions)).catch((x) => x);
  t.equal(unknown.code, 'UNKNOWN_REGION');
  t.match(unknown.message, /xx-north-1 is not an AWS region of this account \(regions: ap-east-1, us-east-1\)/);
  const off = await checkRegion(fake('ap-east-1', async () => regions)).catch((x) => x);
  t.equal(off.code, 'REGION_NOT_ENABLED');
  const ok = fake('us-east-1', async () => regions);
  await checkRegion(ok);
  await checkRegion(ok);
  t.equal(ok.calls, 1, 'one DescribeRegions per account');
});

t.test(
  'a network failure (DNS, refused, timeout) is an endpoint failure (exit 1), never "region cannot be used"; an error answer is; auth errors pass through',
  async (t) => {
    const network = [
      new AwsError(
        'ec2',
        'describeRegions',
        'NetworkError',
        'Could not reach AWS at ec2.eu-west-1.amazonaws.com:443 for ec2 describeRegions (getaddrinfo ENOTFOUND ec2.eu-west-1.amazonaws.com)',
      ),
      new AwsError(
        'ec2',
        'describeRegions',
        'NetworkError',
        'Could not reach AWS at 127.0.0.1:9 for ec2 describeRegions (connect ECONNREFUSED 127.0.0.1:9)',
      ),
      new AwsError(
        'ec2',
        'describeRegions',
        'TimeoutError',
        'The AWS endpoint at 127.0.0.1:4566 did not answer ec2 describeRegions within 120 s',
        { code: 'ENDPOINT_TIMEOUT' },
      ),
    ];
    for (const n of network) {
      const e = await checkRegion(
        fake('eu-west-1', async () => {
          throw n;
        }),
      ).catch((x) => x);
      t.equal(e, n, `${n.code} passed on as it is`);
      t.equal(e.exitCode, 1);
    }
    const answer = await checkRegion(
      fake('xx-north-1', async () => {
        throw new AwsError('ec2', 'describeRegions', 'InternalFailure', 'ec2 describeRegions failed (HTTP 500)');
      }),
    ).catch((x) => x);
    t.ok(answer instanceof UsageError);
    t.equal(answer.exitCode, 2);
    t.match(
      answer.message,
      /Region xx-north-1 cannot be used: EC2 there answered with an error \(ec2 describeRegions failed/,
    );
    const creds = new UsageError('NO_CREDENTIALS', 'No AWS credentials were found');
    t.equal(
      await checkRegion(
        fake('us-east-1', async () => {
          throw creds;
        }),
      ).catch((x) => x),
      creds,
    );
    const denied = new AwsError('ec2', 'describeRegions', 'UnauthorizedOperation', 'Access denied');
    t.equal(
      await checkRegion(
        fake('us-east-1', async () => {
          throw denied;
        }),
      ).catch((x) => x),
      denied,
    );
  },
);

t.test(
  'checkRegionName: the SDK partition data, before any call — a typo is bad input with the closest names',
  async (t) => {
    const { checkRegionName, sdkPartitions } = await import('../../src/aws/region.js');
    t.ok(
      sdkPartitions()?.some((p) => p.id === 'aws' && 'us-east-1' in p.regions),
      'the SDK ships its partitions and they are read',
    );
    for (const ok of ['us-east-1', 'eu-west-3', 'cn-north-1', 'us-gov-west-1'])
      t.doesNotThrow(() => checkRegionName(ok, '--region'), ok);
    const cases: Array<[string, string, RegExp]> = [
      [
        'us-esat-1',
        '--region',
        /Region us-esat-1 cannot be used: it is not a region of the aws partition \(check --region\)\. Did you mean us-east-1/,
      ],
      ['eu-centrl-1', '--source-region', /check --source-region.*eu-central-1/],
      ['us-east-9', 'AWS_REGION', /not a region of the aws partition \(check AWS_REGION\).*us-east-1/],
      ['xx-north-1', '--region', /Region xx-north-1 cannot be used: it is in no AWS partition/],
      ['useast1', '--region', /"useast1" is not an AWS region name.*Did you mean us-east-1/],
      ['', '--region', /"" is not an AWS region name/],
    ];
    for (const [region, from, message] of cases) {
      const e = (() => {
        try {
          checkRegionName(region, from);
        } catch (x) {
          return x as UsageError;
        }
        return undefined;
      })();
      t.ok(e instanceof UsageError, `${region}: refused`);
      t.equal(e?.code, 'UNKNOWN_REGION');
      t.equal(e?.exitCode, 2);
      t.match(e?.message, message);
    }
  },
);
