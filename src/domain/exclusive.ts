/**
 * Per-resource locks of a case: what a writer that changes a case's AWS resources holds so that no
 * other writer changes the same resources at once, finer than the case's lease (custody/lease.ts).
 * A scope names the resources, `<kind>:<name>`:
 *
 * | scope | held by | guards |
 * |---|---|---|
 * | `instance:<id>` | automation isolate, acquire (the whole invocation) | the instance: its groups, profile, attributes, Auto Scaling and load balancer membership, tags; its snapshots and copies |
 * | `groups:<vpc>` | isolate's prepare-groups step | the case's isolation and transit security groups of that VPC (made once, shared by every instance of the case there) |
 * | `nacl:<vpc>` | isolate's network-acl step (--nacl) | the case's deny-all network ACL of that VPC and its subnet associations |
 * | `quarantine:<name>` | isolate's swap-profile step | the case's deny-all quarantine role and instance profile |
 * | `role:<name>` | isolate's revoke-sessions step | the instance's own role: its session-revocation policy (instances may share a role) |
 * | `asg:<name>` | isolate's leave-asg step | the Auto Scaling group's desired capacity |
 * | `room:<stack>` | automation room, attach (the whole invocation) | the room's stack, and the device names of its one forensic instance |
 *
 * The case's lease covers every scope: a writer holding it takes no lock, and a writer holding a
 * lock finds the case busy while another holds the lease (docs/custody.md, "Locks finer than the
 * lease").
 */
import { createHash } from 'node:crypto';
import { roomStackName } from './case-id.js';

/** Hold the named locks of the case while `fn` runs; CASE_BUSY (naming the holder) when another writer has one. */
export type Exclusive = <T>(scopes: readonly string[], fn: () => Promise<T>) => Promise<T>;

/** The kinds of lock scope (see the module comment). */
export type LockKind = 'instance' | 'groups' | 'nacl' | 'quarantine' | 'role' | 'asg' | 'room';

/** A scope's name part: ids and names as they are when short and plain, else a digest. */
function scopeName(name: string): string {
  return /^[A-Za-z0-9._=@+,-]{1,100}$/.test(name)
    ? name
    : `sha256-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;
}

/** `<kind>:<name>`. */
export function lockScope(kind: LockKind, name: string): string {
  return `${kind}:${scopeName(name)}`;
}

/** A well-formed scope (what {@link lockScope} makes). */
export const LOCK_SCOPE_PATTERN = /^(instance|groups|nacl|quarantine|role|asg|room):[A-Za-z0-9._=@+,-]{1,100}$/;

/** The scopes the steps use, by what they guard. */
export const lockScopes = {
  instance: (instanceId: string) => lockScope('instance', instanceId),
  groups: (vpcId: string) => lockScope('groups', vpcId),
  nacl: (vpcId: string) => lockScope('nacl', vpcId),
  quarantine: (name: string) => lockScope('quarantine', name),
  role: (roleName: string) => lockScope('role', roleName),
  asg: (groupName: string) => lockScope('asg', groupName),
  room: (caseId: string) => lockScope('room', roomStackName(caseId)),
};
