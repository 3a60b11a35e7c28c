/** EBS volumes: the shared reads of the case's volumes (every page). */
import type { AwsAccount } from '../aws/ports.js';

/** An EC2 `Describe*` filter. */
export type Filter = { Name: string; Values: string[] };

/** Every volume the filters match, all pages. */
export async function describeVolumes(account: AwsAccount, Filters: Filter[]) {
  const out = [];
  let NextToken: string | undefined;
  do {
    const r = await account.ec2.describeVolumes({ Filters, ...(NextToken ? { NextToken } : {}) });
    out.push(...(r.Volumes ?? []));
    NextToken = r.NextToken ?? undefined;
  } while (NextToken);
  return out;
}
