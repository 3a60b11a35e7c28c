/**
 * The evidence cards of the custody report: one card per evidence item — who it is, where it came
 * from (source snapshot → sharing copy → forensic snapshot → working volume, each with account,
 * region, time and actor of the event that made it), its acquisition hashes, what the room said,
 * its exports, and every step with who did it. Built once as plain data (headings in words, every
 * missing value "not recorded") so report.md and report.html say the same thing.
 *
 * The input is the signed manifest's evidence items and, per event of the record that names an
 * evidence item, an {@link EvidenceStep} ({@link evidenceStepOf}).
 */
import type { EvidencePatch } from '../domain/evidence.js';
import { actorLine } from './actor.js';

/** What the report shows for a value the record does not hold. */
export const NOT_RECORDED = 'not recorded';

/** One event of the record that names evidence items, reduced to what a card shows. */
export interface EvidenceStep {
  seq: number;
  time: string;
  actor: string;
  action: string;
  status: string;
  /**
   * The evidence items the event names (`outcome.details.evidence`, `outcome.details.evidenceId`);
   * empty for an `evidence.*` event that names none (matched by its resources).
   */
  evidenceIds: string[];
  resources: Array<{ type: string; id: string; account?: string; region?: string }>;
  /** `outcome.details` without the evidence patches: `export`, `result`, `sharedWith`, … */
  details: Record<string, unknown>;
  error?: string;
}

/** A label and its value, a value always present ({@link NOT_RECORDED} when the record has none). */
export type CardRow = [label: string, value: string];

export interface CardTable {
  columns: string[];
  rows: string[][];
  /** Said instead of an empty table. */
  empty: string;
  /** Column widths in percent of the page width (the HTML's fixed table layout). */
  widths?: number[];
}

/** A section of a card: label/value rows, a table, or groups of label/value rows. */
export interface CardSection {
  heading: string;
  rows?: CardRow[];
  table?: CardTable;
  groups?: { items: Array<{ title: string; rows: CardRow[] }>; empty: string };
}

export interface EvidenceCard {
  evidenceId: string;
  title: string;
  sections: CardSection[];
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;

/** The step of one recorded event, or undefined when it names no evidence item. */
export function evidenceStepOf(seq: number, ev: unknown): EvidenceStep | undefined {
  const e = obj(ev);
  const outcome = obj(e?.['outcome']);
  const details = obj(outcome?.['details']) ?? {};
  const patches = Array.isArray(details['evidence']) ? details['evidence'] : [details['evidence']];
  const ids = new Set<string>();
  for (const p of patches) {
    const id = str(obj(p)?.['evidenceId']);
    if (id) ids.add(id);
  }
  const direct = str(details['evidenceId']);
  if (direct) ids.add(direct);
  const action = String(e?.['action'] ?? '');
  // An evidence step that names no item (a failed export records only its snapshot) is matched to
  // its item by the resources it names (evidenceCards).
  if (ids.size === 0 && !action.startsWith('evidence.')) return undefined;
  const { evidence: _patches, ...rest } = details;
  const error = obj(outcome?.['error']);
  return {
    seq,
    time: String(e?.['time'] ?? ''),
    actor: actorLine(e),
    action,
    status: String(outcome?.['status'] ?? ''),
    evidenceIds: [...ids],
    resources: (Array.isArray(e?.['resources']) ? (e['resources'] as unknown[]) : []).flatMap((r) => {
      const o = obj(r);
      const type = str(o?.['type']);
      const id = str(o?.['id']);
      if (!type || !id) return [];
      const account = str(o?.['account']);
      const region = str(o?.['region']);
      return [{ type, id, ...(account ? { account } : {}), ...(region ? { region } : {}) }];
    }),
    details: rest,
    ...(error ? { error: `${String(error['code'] ?? '')}: ${String(error['message'] ?? '')}` } : {}),
  };
}

/** The recorded actions of an evidence item, in words (an unknown action is shown as recorded). */
export const STEP_WORDS: Readonly<Record<string, string>> = {
  'evidence.snapshot': 'Source snapshot taken',
  'evidence.share.copy': 'Re-encrypted sharing copy made',
  'evidence.share': 'Sharing copy shared with the forensic account',
  'evidence.copy': 'Copy into the forensic account started',
  'evidence.preserved': 'Forensic snapshot completed (preserved)',
  'evidence.share.retire': 'Sharing copy retired',
  'evidence.hash': 'Acquisition hash computed',
  'evidence.hash.check': 'Content hash recomputed and compared',
  'evidence.volume.create': 'Working volume created',
  'evidence.attach': 'Working volume attached',
  'evidence.readonly-check': 'Read-only checked in the room',
  'evidence.room-hash': 'Device hashed in the room',
  'evidence.export.start': 'Image export started',
  'evidence.export': 'Image exported',
  'evidence.detach': 'Working volume detached',
  'evidence.failed': 'Step failed',
  'memory.capture': 'Memory captured: read back from the vault, hashed, compared with the host',
};

const or = (v: unknown): string => str(v) ?? NOT_RECORDED;
const by = (s: EvidenceStep | undefined): string => (s?.actor ? s.actor : NOT_RECORDED);
const at = (s: EvidenceStep | undefined): string => (s?.time ? s.time : NOT_RECORDED);

/** The last step of `action` (that names resource `id`, when given). */
function lastStep(steps: EvidenceStep[], actions: string[], id?: string): EvidenceStep | undefined {
  for (const a of actions) {
    const hit = steps.findLast((s) => s.action === a && (!id || s.resources.some((r) => r.id === id)));
    if (hit) return hit;
  }
  return undefined;
}

function sizeText(item: Record<string, unknown>): string {
  const bytes = item['sizeBytes'];
  const gib = item['sizeGiB'];
  if (typeof bytes === 'number') return `${bytes.toLocaleString('en-US')} bytes (${bytes / 2 ** 30} GiB)`;
  if (typeof gib === 'number') return `${gib} GiB`;
  return NOT_RECORDED;
}

function identity(item: Record<string, unknown>): CardSection {
  return {
    heading: 'Identity',
    rows: [
      ['Evidence id', or(item['evidenceId'])],
      ['Source account', or(item['sourceAccount'])],
      ['Source region', or(item['sourceRegion'])],
      ['Source instance', or(item['sourceInstanceId'])],
      ['Source volume', or(item['sourceVolumeId'])],
      ['Device on the source instance', or(item['sourceDevice'])],
      ['Size', sizeText(item)],
      ['State', or(item['state'])],
    ],
  };
}

function lineage(item: Record<string, unknown>, steps: EvidenceStep[]): CardSection {
  const forensic = str(item['forensicSnapshotId']);
  const forensicStep = lastStep(steps, ['evidence.preserved', 'evidence.copy'], forensic);
  const forensicAccount = forensicStep?.resources.find((r) => r.id === forensic)?.account;
  const row = (
    label: string,
    id: string | undefined,
    step: EvidenceStep | undefined,
    fallback?: Array<string | undefined>,
  ) => {
    const ref = id ? step?.resources.find((r) => r.id === id) : undefined;
    const account = ref?.account ?? fallback?.[0];
    const region = ref?.region ?? fallback?.[1];
    const where = account || region ? `${account ?? NOT_RECORDED} ${region ?? NOT_RECORDED}` : NOT_RECORDED;
    return [label, id ?? NOT_RECORDED, where, at(step), by(step)];
  };
  const source = str(item['sourceSnapshotId']);
  const sharing = str(item['sharingSnapshotId']);
  const sameAccount = !sharing && forensicAccount !== undefined && forensicAccount === str(item['sourceAccount']);
  const volume = str(item['volumeId']);
  return {
    heading: 'Lineage: from the source disk to the working volume',
    table: {
      columns: ['Step', 'Resource', 'Account, region', 'Made at (UTC)', 'By'],
      rows: [
        row('Source snapshot', source, lastStep(steps, ['evidence.snapshot'], source), [
          str(item['sourceAccount']),
          str(item['sourceRegion']),
        ]),
        sameAccount
          ? ['Sharing copy', 'none: source and forensic account are the same', '—', '—', '—']
          : row('Sharing copy', sharing, lastStep(steps, ['evidence.share.copy'], sharing)),
        row('Forensic snapshot (the evidence of record)', forensic, forensicStep),
        row('Working volume', volume, lastStep(steps, ['evidence.volume.create'], volume)),
      ],
      empty: '',
      widths: [19, 21, 17, 16, 27],
    },
  };
}

const SOURCE_HASH_WORDS: Readonly<Record<string, string>> = {
  equal: 'equal to the acquisition hash: the forensic copy is bit-identical to the source snapshot',
  different: 'DIFFERENT from the acquisition hash',
  unavailable: 'unavailable',
  skipped: 'skipped',
};

function hashes(item: Record<string, unknown>, steps: EvidenceStep[]): CardSection {
  const tool = obj(item['hashTool']);
  const src = obj(item['sourceHash']);
  const status = str(src?.['status']);
  const reason = str(src?.['reason']);
  const checks = steps.filter((s) => s.action === 'evidence.hash.check');
  return {
    heading: 'Acquisition hashes',
    rows: [
      ['Acquisition hash (SHA-256)', or(item['sha256'])],
      ['Block Merkle root', or(item['merkleRoot'])],
      [
        'Bytes hashed',
        typeof item['sizeBytes'] === 'number' ? `${item['sizeBytes'].toLocaleString('en-US')}` : NOT_RECORDED,
      ],
      ['Block size (bytes)', or(item['blockSize'])],
      ['Blocks read', or(item['blocksRead'])],
      ['Hashed at (UTC)', or(item['hashedAt'])],
      ['Hashing tool', tool ? `${or(tool['name'])} ${or(tool['version'])} (${or(tool['method'])})` : NOT_RECORDED],
      ['Hash recorded by', by(lastStep(steps, ['evidence.hash']))],
      [
        'Source snapshot hash',
        status ? `${SOURCE_HASH_WORDS[status] ?? status}${reason ? `: ${reason}` : ''}` : NOT_RECORDED,
      ],
      ['Source hash (SHA-256)', or(src?.['sha256'])],
      ['Source Merkle root', or(src?.['merkleRoot'])],
      ['Source hashed at (UTC)', or(src?.['hashedAt'])],
      [
        'Later recomputations',
        checks.length === 0
          ? 'none recorded'
          : checks.map((c) => `${checkResult(c)} at ${at(c)} by ${by(c)}`).join('; '),
      ],
    ],
  };
}

/** equal/different of an `evidence.hash.check`: its recorded result, else its outcome. */
function checkResult(s: EvidenceStep): string {
  const r = str(s.details['result']) ?? str(s.details['comparison']);
  if (r) return r === 'different' ? 'DIFFERENT' : r;
  return s.status === 'succeeded' ? 'equal' : s.status === 'failed' ? 'DIFFERENT' : or(s.status);
}

const IN_ROOM_WORDS: Readonly<Record<string, string>> = {
  verified: 'verified: the attached device hashes to the acquisition hash',
  MISMATCH: 'MISMATCH: the attached device does not hash to the acquisition hash',
  'not-confirmed': 'not confirmed',
};

function room(item: Record<string, unknown>, steps: EvidenceStep[]): CardSection {
  const hashed = lastStep(steps, ['evidence.room-hash']);
  const words = (table: Readonly<Record<string, string>>, v: unknown, detail: unknown) => {
    const s = str(v);
    if (!s) return NOT_RECORDED;
    const d = str(detail);
    return `${table[s] ?? s}${d ? ` (${d})` : ''}`;
  };
  return {
    heading: 'In the clean room',
    rows: [
      ['Forensic instance', or(item['instanceId'])],
      ['Device requested at attach', or(item['device'])],
      ['Device in the guest', or(item['guestDevice'])],
      ['Read-only', words(READ_ONLY_WORDS, item['readOnly'], item['readOnlyDetail'])],
      ['In-room hash check', words(IN_ROOM_WORDS, item['inRoomHash'], item['inRoomHashDetail'])],
      ['Device hash in the room (SHA-256)', or(hashed?.details['deviceSha256'])],
      ['In-room hash checked at (UTC)', or(item['inRoomHashAt'])],
      ['In-room hash recorded by', by(hashed)],
    ],
  };
}

const READ_ONLY_WORDS: Readonly<Record<string, string>> = {
  confirmed: 'confirmed',
  writable: 'WRITABLE',
  'not-confirmed': 'NOT confirmed',
};

const TARGET_WORDS: Readonly<Record<string, string>> = { vault: 'the vault (S3, Object Lock)', file: 'a local file' };

function exports(item: Record<string, unknown>, steps: EvidenceStep[]): CardSection {
  const acquisition = str(item['sha256']);
  // Every finished export, also one refused because the image did not hash to the record.
  const done = steps.filter((s) => s.action === 'evidence.export');
  const items = done.map((s, i) => {
    const x = obj(s.details['export']) ?? {};
    const sha = str(x['sha256']);
    const target = str(x['target']);
    const optional = (label: string, v: unknown): CardRow[] => (str(v) ? [[label, or(v)]] : []);
    return {
      title: `Export ${i + 1} of ${done.length}`,
      rows: [
        ['Exported to', target ? (TARGET_WORDS[target] ?? target) : NOT_RECORDED],
        ['Location', or(x['location'])],
        ...optional('Object version', x['versionId']),
        ...optional('Retained until (UTC)', x['retainUntil']),
        ['Image hash (SHA-256)', or(sha)],
        ...optional('Image block Merkle root', x['merkleRoot']),
        ['Equals the acquisition hash', !sha || !acquisition ? NOT_RECORDED : sha === acquisition ? 'yes' : 'NO'],
        ['Size', typeof x['sizeBytes'] === 'number' ? `${x['sizeBytes'].toLocaleString('en-US')} bytes` : NOT_RECORDED],
        ['Outcome', `${or(s.status)}${s.error ? `: ${s.error}` : ''}`],
        ['Exported at (UTC)', at(s)],
        ['Exported by', by(s)],
      ] as CardRow[],
    };
  });
  return { heading: 'Exported images', groups: { items, empty: 'No export recorded.' } };
}

function stepsSection(steps: EvidenceStep[]): CardSection {
  return {
    heading: 'Steps and who did them',
    table: {
      columns: ['#', 'Time (UTC)', 'Step', 'By', 'Outcome'],
      rows: steps.map((s) => [
        String(s.seq),
        at(s),
        STEP_WORDS[s.action] ?? s.action,
        by(s),
        `${or(s.status)}${s.error ? `: ${s.error}` : ''}`,
      ]),
      empty: 'No step recorded.',
      widths: [6, 18, 31, 27, 18],
    },
  };
}

/** One card per evidence item of the manifest, in its order. */
export function evidenceCards(evidence: readonly EvidencePatch[], steps: readonly EvidenceStep[]): EvidenceCard[] {
  return evidence.map((e) => {
    const item = e as unknown as Record<string, unknown>;
    const own = new Set(
      ['sourceSnapshotId', 'sharingSnapshotId', 'forensicSnapshotId', 'volumeId'].map((k) => item[k]).filter(Boolean),
    );
    const mine = steps.filter((s) =>
      s.evidenceIds.length ? s.evidenceIds.includes(e.evidenceId) : s.resources.some((r) => own.has(r.id)),
    );
    return {
      evidenceId: e.evidenceId,
      title: `Evidence ${e.evidenceId}`,
      sections: [
        identity(item),
        lineage(item, mine),
        hashes(item, mine),
        room(item, mine),
        exports(item, mine),
        stepsSection(mine),
      ],
    };
  });
}
