/**
 * Temporary KMS keys a case created (e.g. the per-case sharing key in the source account,
 * `alias/cleanroom/share/<case>`) are scheduled for deletion at close. The case key
 * (`alias/cleanroom/case/<case>`, tag `cleanroom:role=case-key`) encrypts the evidence and is never
 * touched. A key is only scheduled when it carries `cleanroom:case=<case>` and a role other than
 * `case-key`: a key found by name alone is left alone and named.
 */
import type { AccountWith, AwsAccount } from '../../aws/ports.js';
import type { RecordedEvent } from '../../domain/recorder.js';
import { isAwsCode } from '../../aws/errors.js';
import { TAG_CASE, TAG_ROLE, ROLE } from '../../domain/tags.js';
import { caseKeyAlias, type CaseKey } from '../../resources/case-key.js';
import type { CloseRun } from './run.js';
import { eventsOfFamily, idempotencyKeys, type KeyFamily } from '../../domain/idempotency-keys.js';
import { resourceRef } from '../../resources/refs.js';

export interface TemporaryKey {
  keyId: string;
  arn: string;
  account: string;
  region: string;
  state: string;
  role?: string;
  aliases: string[];
  deletionDate?: string;
}

export interface KeyOutcome extends TemporaryKey {
  status: 'scheduled' | 'already-pending' | 'failed';
}

/** A key the record names in an account close cannot reach, with whether the record shows it retired. */
export interface UnreachableKey {
  arn: string;
  account?: string;
  region?: string;
  retiredInRecord: boolean;
}

export const keyKey = idempotencyKeys.close.scheduleKeyDeletion;

/** What finding the temporary keys reads: the account's place and three KMS reads. */
export type KeyReader = AccountWith<{ kms: 'listAliases' | 'describeKey' | 'listResourceTags' }>;
/** What scheduling their deletion uses: the step recorder and settings of the close, and one KMS call. */
export type KeyScheduler = Pick<CloseRun, 'custody' | 'record' | 'guard' | 'settings'>;

/** Parse `arn:aws:kms:<region>:<account>:key/<id>`. */
export function parseKeyArn(arn: string): { region: string; account: string; keyId: string } | undefined {
  const m = /^arn:aws[a-z-]*:kms:([^:]+):(\d{12}):key\/(.+)$/.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, keyId: m[3]! } : undefined;
}

/** KMS keys named by the case's record (resources of type kms:key). */
export function recordedKeys(
  events: readonly RecordedEvent[],
): Array<{ arn: string; account?: string; region?: string }> {
  const out = new Map<string, { arn: string; account?: string; region?: string }>();
  for (const e of events) {
    for (const r of e.resources) {
      if (r.type !== 'kms:key') continue;
      const arn = r.arn ?? (r.id.startsWith('arn:') ? r.id : undefined);
      if (!arn) continue;
      const p = parseKeyArn(arn);
      out.set(arn, {
        arn,
        ...((r.account ?? p?.account) ? { account: r.account ?? p!.account } : {}),
        ...((r.region ?? p?.region) ? { region: r.region ?? p!.region } : {}),
      });
    }
  }
  return [...out.values()];
}

/** The key families of events that retire (schedule the deletion of) a KMS key. */
const RETIRING: readonly KeyFamily[] = ['acquire.share-key-retire', 'close.schedule-key-deletion'];

/** True when a succeeded event of the record retired (scheduled the deletion of) this key. */
export function retiredInRecord(events: readonly RecordedEvent[], arn: string): boolean {
  const id = parseKeyArn(arn)?.keyId;
  return RETIRING.flatMap((f) => eventsOfFamily(events, f)).some(
    ({ event: e }) =>
      e.outcome.status === 'succeeded' &&
      e.resources.some(
        (r) => r.type === 'kms:key' && (r.arn === arn || r.id === arn || (id !== undefined && r.id === id)),
      ),
  );
}

/** Find the temporary keys of the case in one account (read-only). */
export async function findTemporaryKeys(
  account: KeyReader,
  caseId: string,
  events: readonly RecordedEvent[],
  caseKey: CaseKey | undefined,
  warn: (m: string) => void,
): Promise<TemporaryKey[]> {
  const accountId = await account.accountId();
  const candidates = new Map<string, string[]>(); // key id or arn → aliases
  let Marker: string | undefined;
  do {
    const page = await account.kms.listAliases({ ...(Marker ? { Marker } : {}) });
    for (const a of page.Aliases ?? []) {
      if (!a.AliasName || !a.TargetKeyId) continue;
      if (
        !a.AliasName.startsWith('alias/cleanroom/') ||
        !a.AliasName.endsWith(`/${caseId}`) ||
        a.AliasName === caseKeyAlias(caseId)
      )
        continue;
      candidates.set(a.TargetKeyId, [...(candidates.get(a.TargetKeyId) ?? []), a.AliasName]);
    }
    Marker = page.Truncated ? (page.NextMarker ?? undefined) : undefined;
  } while (Marker);
  for (const k of recordedKeys(events)) {
    if (k.account === accountId && (!k.region || k.region === account.region) && !candidates.has(k.arn))
      candidates.set(k.arn, []);
  }

  const out = new Map<string, TemporaryKey>();
  for (const [ref, aliases] of candidates) {
    let meta: Awaited<ReturnType<AwsAccount['kms']['describeKey']>>['KeyMetadata'];
    try {
      meta = (await account.kms.describeKey({ KeyId: ref })).KeyMetadata;
    } catch (e) {
      if (isAwsCode(e, 'NotFoundException')) continue;
      throw e;
    }
    if (!meta?.KeyId || !meta.Arn || meta.KeyManager === 'AWS') continue;
    if (caseKey && (meta.KeyId === caseKey.keyId || meta.Arn === caseKey.arn)) continue;
    if (out.has(meta.KeyId)) {
      out.get(meta.KeyId)!.aliases.push(...aliases);
      continue;
    }
    const tags: Record<string, string> = {};
    let Mk: string | undefined;
    do {
      const t = await account.kms.listResourceTags({ KeyId: meta.KeyId, ...(Mk ? { Marker: Mk } : {}) });
      for (const x of t.Tags ?? []) if (x.TagKey) tags[x.TagKey] = x.TagValue ?? '';
      Mk = t.Truncated ? (t.NextMarker ?? undefined) : undefined;
    } while (Mk);
    if (tags[TAG_ROLE] === ROLE.caseKey) continue;
    if (tags[TAG_CASE] !== caseId) {
      warn(
        `KMS key ${meta.Arn}${aliases.length ? ` (${aliases.join(', ')})` : ''} looks like a key of case ${caseId} but does not carry the tag ${TAG_CASE}=${caseId}; close leaves it alone — schedule its deletion yourself if it is temporary.`,
      );
      continue;
    }
    out.set(meta.KeyId, {
      keyId: meta.KeyId,
      arn: meta.Arn,
      account: accountId,
      region: account.region,
      state: meta.KeyState ?? 'Unknown',
      ...(tags[TAG_ROLE] ? { role: tags[TAG_ROLE] } : {}),
      aliases,
      ...(meta.DeletionDate ? { deletionDate: new Date(meta.DeletionDate).toISOString() } : {}),
    });
  }
  return [...out.values()].sort((a, b) => a.arn.localeCompare(b.arn));
}

/** Schedule the deletion of each temporary key (idempotent: a key already pending deletion is noted). */
export async function scheduleKeyDeletions(
  run: KeyScheduler,
  account: AccountWith<{ kms: 'scheduleKeyDeletion' }>,
  found: readonly TemporaryKey[],
): Promise<KeyOutcome[]> {
  const out: KeyOutcome[] = [];
  for (const k of found) {
    const key = keyKey(k.keyId);
    const ref = resourceRef('kms:key', k.keyId, k.account, k.region, k.arn);
    if (k.state === 'PendingDeletion') {
      if (!run.custody.find(key)) {
        await run.record(key, 'case.close.schedule-key-deletion', [ref], {
          status: 'skipped',
          details: {
            keyArn: k.arn,
            role: k.role ?? null,
            aliases: k.aliases,
            reason: 'already pending deletion',
            ...(k.deletionDate ? { deletionDate: k.deletionDate } : {}),
          },
        });
      }
      out.push({ ...k, status: 'already-pending' });
      continue;
    }
    const r = await run.guard(key, 'case.close.schedule-key-deletion', k.arn, [ref], async () => {
      const s = await account.kms.scheduleKeyDeletion({
        KeyId: k.keyId,
        PendingWindowInDays: run.settings.keyDeletionWindowDays,
      });
      const deletionDate = s.DeletionDate ? new Date(s.DeletionDate).toISOString() : undefined;
      await run.record(
        key,
        'case.close.schedule-key-deletion',
        [ref],
        {
          status: 'succeeded',
          details: {
            keyArn: k.arn,
            role: k.role ?? null,
            aliases: k.aliases,
            pendingWindowInDays: run.settings.keyDeletionWindowDays,
            ...(deletionDate ? { deletionDate } : {}),
          },
        },
        { pendingWindowInDays: run.settings.keyDeletionWindowDays },
      );
      return {
        ...k,
        state: 'PendingDeletion',
        status: 'scheduled' as const,
        ...(deletionDate ? { deletionDate } : {}),
      };
    });
    out.push(r ?? { ...k, status: 'failed' });
  }
  return out;
}
