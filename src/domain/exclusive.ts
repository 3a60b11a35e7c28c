/**
 * Per-resource locks: what a writer that changes AWS resources holds so that no other writer changes
 * the same resources at once, finer than the case's lease (custody/lease.ts). A scope names the
 * resources, `<kind>:<name>`; a scope naming what is not a case's own carries where it is,
 * `<kind>:<name>@<account>.<region>` (`global` for IAM), and is locked vault-wide as well:
 *
 * | scope | held by | guards | where |
 * |---|---|---|---|
 * | `instance:<id>@<account>.<region>` | automation isolate, acquire (the whole invocation); the CLI's isolate, isolate release, acquire (the vault-wide object) | the instance: its groups, profile, attributes, Auto Scaling and load balancer membership, tags; its snapshots and copies | vault-wide: two cases can be opened for one instance (two findings, a tag) |
 * | `groups:<vpc>` | isolate's prepare-groups step | the case's isolation and transit security groups of that VPC (made once, shared by every instance of the case there) | the case: the groups are the case's own (named by it) |
 * | `nacl:<vpc>@<account>.<region>` | isolate's network-acl step (--nacl) | the deny-all network ACL's subnet associations in that VPC | vault-wide: a subnet has one ACL, whichever case replaces it |
 * | `quarantine:<name>` | isolate's swap-profile step | the case's deny-all quarantine role and instance profile | the case: named by it |
 * | `role:<name>@<account>.global` | isolate's revoke-sessions step | the instance's own role: its session-revocation policy (read, then written) | vault-wide: instances of any case may share a role |
 * | `asg:<name>@<account>.<region>` | isolate's leave-asg step | the Auto Scaling group's desired capacity | vault-wide: instances of any case may share a group |
 * | `room:<stack>` | automation room, attach (the whole invocation) | the room's stack, and the device names of its one forensic instance | the case: its own room |
 *
 * The case's lease covers every scope of the case: a writer holding it takes no lock of the case
 * (only the vault-wide ones), and a writer holding a lock finds the case busy while another holds
 * the lease (docs/custody.md, "Locks finer than the lease").
 */
import { createHash } from 'node:crypto';
import { roomStackName } from './case-id.js';

/** Hold the named locks while `fn` runs; CASE_BUSY (naming the holder) when another writer has one. */
export type Exclusive = <T>(scopes: readonly string[], fn: () => Promise<T>) => Promise<T>;

/** The kinds of lock scope (see the module comment). */
export type LockKind = 'instance' | 'groups' | 'nacl' | 'quarantine' | 'role' | 'asg' | 'room';

/** A scope's name part: ids and names as they are when short and plain, else a digest. */
function scopeName(name: string): string {
  return /^[A-Za-z0-9._=@+,-]{1,100}$/.test(name)
    ? name
    : `sha256-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;
}

/** The kinds naming a resource that is not a case's own: locked vault-wide (see the module comment). */
export const VAULT_WIDE_KINDS = ['instance', 'nacl', 'role', 'asg'] as const;
export type VaultWideKind = (typeof VAULT_WIDE_KINDS)[number];

/** The account and Region a resource is in (`global` for IAM, whose roles are the account's). */
export interface LockWhere {
  account: string;
  region: string;
}

/** `<kind>:<name>`, or `<kind>:<name>@<account>.<region>` with `where`. */
export function lockScope(kind: LockKind, name: string, where?: LockWhere): string {
  return `${kind}:${scopeName(name)}${where ? `@${where.account}.${where.region}` : ''}`;
}

const NAME = '[A-Za-z0-9._=@+,-]{1,100}';
const ACCOUNT = '\\d{12}';
const REGION = 'global|[a-z]{2}(?:-[a-z]+)+-\\d{1,2}';
const VAULT_SCOPE = new RegExp(`^(${VAULT_WIDE_KINDS.join('|')}):(${NAME})@(${ACCOUNT})\\.(${REGION})$`);

/**
 * A well-formed scope (what {@link lockScope} makes): a case's own, or one with where it is. A
 * scope of a vault-wide kind written without where (before scopes carried it) is the case's only.
 */
export const LOCK_SCOPE_PATTERN = new RegExp(
  `^(?:(?:instance|groups|nacl|quarantine|role|asg|room):${NAME}|(?:${VAULT_WIDE_KINDS.join('|')}):${NAME}@${ACCOUNT}\\.(?:${REGION}))$`,
);

/** A scope locked vault-wide, taken apart; undefined for a case's own scope. */
export function vaultWideScope(
  scope: string,
): { kind: VaultWideKind; name: string; account: string; region: string } | undefined {
  const m = VAULT_SCOPE.exec(scope);
  return m ? { kind: m[1] as VaultWideKind, name: m[2]!, account: m[3]!, region: m[4]! } : undefined;
}

/** The scopes the steps use, by what they guard. */
export const lockScopes = {
  instance: (instanceId: string, where: LockWhere) => lockScope('instance', instanceId, where),
  groups: (vpcId: string) => lockScope('groups', vpcId),
  nacl: (vpcId: string, where: LockWhere) => lockScope('nacl', vpcId, where),
  quarantine: (name: string) => lockScope('quarantine', name),
  /** IAM roles are the account's, in every Region. */
  role: (roleName: string, account: string) => lockScope('role', roleName, { account, region: 'global' }),
  asg: (groupName: string, where: LockWhere) => lockScope('asg', groupName, where),
  room: (caseId: string) => lockScope('room', roomStackName(caseId)),
};
