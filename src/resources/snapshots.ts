/** EBS snapshots: the shared reads of the case's snapshots (every page, this account's own). */
import type { AwsAccount } from '../aws/ports.js';
import type { Filter } from './volumes.js';

/** Every snapshot this account owns that the filters match, all pages. */
export async function describeSnapshots(account: AwsAccount, Filters: Filter[]) {
  const out = [];
  let NextToken: string | undefined;
  do {
    const r = await account.ec2.describeSnapshots({ OwnerIds: ['self'], Filters, ...(NextToken ? { NextToken } : {}) });
    out.push(...(r.Snapshots ?? []));
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  return out;
}
