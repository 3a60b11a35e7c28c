/**
 * Is the account's region a region? Checked once before a command changes anything, so that a
 * typo in --region or AWS_REGION is bad input (exit 2) with a message naming it, not a network
 * error from the first call that happens to fail.
 */
import type { AwsAccount } from './ports.js';
import { AwsError, UsageError } from '../domain/errors.js';
import { isNetworkFailure } from './errors.js';

/** The shape of every AWS region name (us-east-1, ap-southeast-5, us-gov-west-1, eu-isoe-west-1). */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * Refuse a region that is not one (exit 2): by its shape without any call, then by asking EC2 in
 * that region for the account's regions. An error answer from EC2 there means the region cannot be
 * used; credentials and permission errors, and network failures (connection refused, DNS, a
 * timeout: exit 1, naming the endpoint), are passed on as they are.
 */
export async function checkRegion(account: AwsAccount): Promise<void> {
  if (checked.has(account)) return;
  const region = account.region;
  if (!REGION_PATTERN.test(region)) {
    throw new UsageError('UNKNOWN_REGION', `Region ${JSON.stringify(region)} is not an AWS region name (like us-east-1): check --region or AWS_REGION.`, { details: { region } });
  }
  let regions: Array<{ RegionName?: string; OptInStatus?: string }>;
  try {
    regions = (await account.ec2.describeRegions({ AllRegions: true })).Regions ?? [];
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // Not reached, or no answer in time (refused, DNS, timeout): a network or endpoint failure
    // (exit 1), not a verdict on the region.
    if (isNetworkFailure(e)) throw e;
    if (e instanceof AwsError && (e.awsCode.includes('AccessDenied') || e.awsCode === 'UnauthorizedOperation' || e.awsCode === 'AuthFailure')) throw e;
    throw new UsageError(
      'UNKNOWN_REGION',
      `Region ${region} cannot be used: EC2 there answered with an error (${(e as Error).message.split('\n')[0]}). Check --region or AWS_REGION; it must be a region your account has enabled.`,
      { cause: e, details: { region } },
    );
  }
  const found = regions.find((r) => r.RegionName === region);
  if (!found) {
    const known = regions.map((r) => r.RegionName).filter(Boolean).sort().join(', ');
    throw new UsageError('UNKNOWN_REGION', `Region ${region} is not an AWS region of this account${known ? ` (regions: ${known})` : ''}: check --region or AWS_REGION.`, { details: { region } });
  }
  if (found.OptInStatus === 'not-opted-in') {
    throw new UsageError('REGION_NOT_ENABLED', `Region ${region} is not enabled for this account: enable it (Account settings → AWS Regions) or choose another with --region.`, { details: { region } });
  }
  checked.add(account);
}

/** Accounts whose region was found good (one DescribeRegions per account object). */
const checked = new WeakSet<AwsAccount>();

