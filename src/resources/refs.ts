/**
 * The one builder of a {@link ResourceRef}: what a custody event names as the AWS resource it
 * touched. A field left out stays out of the record (no `undefined` keys in the hashed JSON).
 */
import type { ResourceRef } from '../domain/recorder.js';

/** A resource reference: `type` as in the record (`ec2:snapshot`, `kms:key`, `cloudformation:stack`, ...), the id, and where it is. */
export function resourceRef(type: string, id: string, account?: string, region?: string, arn?: string): ResourceRef {
  return {
    type,
    id,
    ...(account !== undefined ? { account } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(arn ? { arn } : {}),
  };
}
