/**
 * The adversarial suite of the offline bundle verifier: each row takes a copy of ONE genuine
 * bundle, tampers with it as someone holding the folder (not the vault's signing key) could, and
 * says what `cleanroom custody verify --bundle` must answer — exit code and finding codes.
 *
 * The attacker's tools are here too: re-summing SHA256SUMS, forging self-consistent events
 * (recomputed hashes and links), and re-signing everything with a P-256 key of their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { canonicalize } from '../../src/custody/canonical.js';
import { eventHash, manifestStatement, type CaseManifest, type CustodyEvent } from '../../src/custody/event.js';
import { BUNDLE_FILES, bundleStatement, keyFingerprint, type BundleSeal } from '../../src/custody/bundle.js';
import type { FindingCode } from '../../src/custody/verify.js';

export interface Ctx {
  /** Fingerprint of the genuine signing key (what the custodian hands over). */
  fingerprint: string;
  /** The genuine public key, as a PEM file outside any bundle. */
  genuinePem: string;
  /** The attacker's own key pair. */
  attacker: { privateKey: KeyObject; pem: string; fingerprint: string; pemFile: string };
  /** A folder outside the bundle (for links to point at). */
  outside: string;
}

export interface TamperCase {
  name: string;
  /** Changes the copy of the genuine bundle in `dir`. */
  mutate: (dir: string, ctx: Ctx) => void;
  /** The flags after `--bundle DIR` (default: `--key-fingerprint <genuine>`). */
  args?: (ctx: Ctx) => string[];
  exit: 0 | 2 | 3;
  /** Finding codes that must be among the findings (exit 3), or the error code (exit 2). */
  codes: Array<FindingCode | string>;
  /** The findings are exactly these codes (as a set). */
  exact?: boolean;
}

const SUMS = BUNDLE_FILES.sums;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel));
const write = (dir: string, rel: string, body: Buffer | string) => fs.writeFileSync(path.join(dir, rel), body);
export const ev = (seq: number) => `events/${String(seq).padStart(10, '0')}.json`;

export function sumsLines(dir: string): string[] {
  return read(dir, SUMS)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
}
export function writeSums(dir: string, lines: string[]): void {
  write(dir, SUMS, `${lines.join('\n')}\n`);
}
/** Recompute every line's hash from the file it names (as `sha256sum` would, following links). */
export function resum(dir: string): void {
  writeSums(
    dir,
    sumsLines(dir).map((l) => {
      const name = l.slice(66);
      try {
        return `${sha(fs.readFileSync(path.join(dir, name)))}  ${name}`;
      } catch {
        return l;
      }
    }),
  );
}
/** Add a line for `name` (hash of the file at `file`, default `name`) after line `after` (default: at the end). */
export function addSum(dir: string, name: string, opts: { file?: string; afterName?: string } = {}): void {
  const lines = sumsLines(dir);
  const line = `${sha(fs.readFileSync(path.resolve(dir, opts.file ?? name)))}  ${name}`;
  const i = opts.afterName ? lines.findIndex((l) => l.endsWith(`  ${opts.afterName}`)) + 1 : lines.length;
  lines.splice(i, 0, line);
  writeSums(dir, lines);
}
function eventsIn(dir: string): number {
  return fs.readdirSync(path.join(dir, 'events')).length;
}
function readEvent(dir: string, seq: number): CustodyEvent {
  return JSON.parse(read(dir, ev(seq)).toString('utf8')) as CustodyEvent;
}
/** A self-consistent event: canonical, its hash recomputed. */
function forge(e: Omit<CustodyEvent, 'hash'> & { hash?: string }): string {
  const { hash: _h, ...body } = e;
  return canonicalize({ ...body, hash: eventHash(body as CustodyEvent) });
}
/** Re-sign bundle.sig.json over the current SHA256SUMS with `key` (the head and keyId kept unless given). */
export function reseal(dir: string, key: KeyObject, patch: Partial<BundleSeal> = {}): void {
  const { signature: _s, ...signed } = {
    ...(JSON.parse(read(dir, BUNDLE_FILES.seal).toString('utf8')) as BundleSeal),
    ...patch,
  };
  signed.sha256sums = sha(read(dir, SUMS));
  const st = bundleStatement(signed);
  const seal: BundleSeal = {
    ...signed,
    signature: {
      algorithm: 'ECDSA_SHA_256',
      messageType: 'RAW',
      digest: st.digest,
      value: sign('sha256', st.message, key).toString('base64'),
    },
  };
  write(dir, BUNDLE_FILES.seal, `${JSON.stringify(seal, null, 2)}\n`);
}
/**
 * The whole record rewritten and re-signed with the attacker's key: event 2 edited, every later
 * event re-chained, the manifest re-signed over the new head, the key, export.json, the reports,
 * SHA256SUMS and bundle.sig.json replaced — self-consistent in every way but the key.
 */
export function rewriteAndResign(dir: string, ctx: Ctx): void {
  const n = eventsIn(dir);
  let prev = readEvent(dir, 1).hash;
  for (let seq = 2; seq <= n; seq++) {
    const e = readEvent(dir, seq);
    if (seq === 2) e.action = 'room.up';
    const bytes = forge({ ...e, prevHash: prev });
    write(dir, ev(seq), bytes);
    prev = (JSON.parse(bytes) as CustodyEvent).hash;
  }
  const m = JSON.parse(read(dir, BUNDLE_FILES.manifest).toString('utf8')) as CaseManifest;
  const { signature, ...signed } = m;
  signed.head = { seq: n, hash: prev };
  const st = manifestStatement(signed);
  write(
    dir,
    BUNDLE_FILES.manifest,
    canonicalize({
      ...signed,
      signature: {
        ...signature,
        digest: st.digest,
        value: sign('sha256', st.message, ctx.attacker.privateKey).toString('base64'),
      },
    }),
  );
  write(dir, BUNDLE_FILES.key, ctx.attacker.pem);
  const meta = JSON.parse(read(dir, BUNDLE_FILES.meta).toString('utf8')) as Record<string, unknown>;
  write(
    dir,
    BUNDLE_FILES.meta,
    `${JSON.stringify({ ...meta, keyFingerprint: ctx.attacker.fingerprint, head: signed.head }, null, 2)}\n`,
  );
  for (const f of [BUNDLE_FILES.md, BUNDLE_FILES.html])
    write(dir, f, read(dir, f).toString('utf8').replaceAll(ctx.fingerprint, ctx.attacker.fingerprint));
  resum(dir);
  reseal(dir, ctx.attacker.privateKey, { head: signed.head });
}

export function makeCtx(outside: string, genuine: string): Ctx {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const pemFile = path.join(outside, 'attacker.pem');
  fs.writeFileSync(pemFile, pem);
  const genuinePem = path.join(outside, 'genuine.pem');
  fs.copyFileSync(path.join(genuine, BUNDLE_FILES.key), genuinePem);
  fs.writeFileSync(
    path.join(outside, 'not-a-key.pem'),
    '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n',
  );
  return {
    fingerprint: keyFingerprint(fs.readFileSync(genuinePem, 'utf8')),
    genuinePem,
    attacker: { privateKey, pem, fingerprint: keyFingerprint(pem), pemFile },
    outside,
  };
}

const editText = (dir: string, rel: string, from: string | RegExp, to: string) => {
  const before = read(dir, rel).toString('utf8');
  const after = before.replace(from, to);
  if (after === before) throw new Error(`tamper: ${String(from)} not found in ${rel}`);
  write(dir, rel, after);
};

/** The rows. The genuine bundle has at least 5 events; event 4 failed, the others succeeded. */
export const CASES: TamperCase[] = [
  // The genuine bundle and the trust anchor.
  { name: 'genuine, anchored by --key-fingerprint', mutate: () => {}, exit: 0, codes: [], exact: true },
  {
    name: 'genuine, anchored by --public-key',
    mutate: () => {},
    args: (c) => ['--public-key', c.genuinePem],
    exit: 0,
    codes: [],
    exact: true,
  },
  {
    name: 'genuine, the fingerprint in upper case',
    mutate: () => {},
    args: (c) => ['--key-fingerprint', c.fingerprint.toUpperCase()],
    exit: 0,
    codes: [],
    exact: true,
  },
  {
    name: 'genuine, no trust anchor',
    mutate: () => {},
    args: () => [],
    exit: 3,
    codes: ['KEY_NOT_TRUSTED'],
    exact: true,
  },
  {
    name: 'genuine, another key pinned',
    mutate: () => {},
    args: (c) => ['--key-fingerprint', c.attacker.fingerprint],
    exit: 3,
    codes: ['KEY_NOT_TRUSTED'],
    exact: true,
  },
  {
    name: 'genuine, another public key trusted',
    mutate: () => {},
    args: (c) => ['--public-key', c.attacker.pemFile],
    exit: 3,
    codes: ['KEY_NOT_TRUSTED', 'SIGNATURE_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'a malformed fingerprint (abc) is bad input',
    mutate: () => {},
    args: () => ['--key-fingerprint', 'abc'],
    exit: 2,
    codes: ['BAD_KEY_FINGERPRINT'],
  },
  {
    name: 'a public key file that is not a key is bad input',
    mutate: () => {},
    args: (c) => ['--public-key', path.join(c.outside, 'not-a-key.pem')],
    exit: 2,
    codes: ['BAD_PUBLIC_KEY'],
  },

  // Re-signing with the attacker's own key.
  {
    name: 'record rewritten, re-chained, re-signed with an attacker key; genuine fingerprint',
    mutate: rewriteAndResign,
    exit: 3,
    codes: ['KEY_NOT_TRUSTED'],
    exact: true,
  },
  {
    name: 'record rewritten and re-signed with an attacker key; no anchor',
    mutate: rewriteAndResign,
    args: () => [],
    exit: 3,
    codes: ['KEY_NOT_TRUSTED'],
    exact: true,
  },
  {
    name: 'record rewritten and re-signed with an attacker key; genuine --public-key',
    mutate: rewriteAndResign,
    args: (c) => ['--public-key', c.genuinePem],
    exit: 3,
    codes: ['KEY_NOT_TRUSTED', 'SIGNATURE_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'bundle.sig.json alone re-signed with an attacker key',
    mutate: (d, c) => reseal(d, c.attacker.privateKey),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'bundle.sig.json names another signing key ARN',
    mutate: (d) =>
      editText(d, BUNDLE_FILES.seal, /"keyId": "[^"]+"/, '"keyId": "arn:aws:kms:us-east-1:999999999999:key/evil"'),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
  },
  // bundle.sig.json's bytes are not under SHA256SUMS: anything in them the signature does not cover is an edit.
  {
    name: 'bundle.sig.json with a duplicate "case" key (another parser reads the first)',
    mutate: (d) => editText(d, BUNDLE_FILES.seal, /"case": "/, '"case": "IR-EVIL",\n  "case": "'),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'bundle.sig.json with an extra field beside the signature',
    mutate: (d) =>
      editText(
        d,
        BUNDLE_FILES.seal,
        /"algorithm": /,
        '"keyId": "arn:aws:kms:us-east-1:999999999999:key/evil",\n    "algorithm": ',
      ),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'bundle.sig.json with its signature value re-encoded (junk base64 decoding ignores)',
    mutate: (d) => editText(d, BUNDLE_FILES.seal, /"value": "/, '"value": "!!'),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'bundle.sig.json deleted',
    mutate: (d) => fs.rmSync(path.join(d, BUNDLE_FILES.seal)),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },

  // What a reader reads, edited and re-summed.
  {
    name: 'report.md: "succeeded" → "failed", re-summed',
    mutate: (d) => (editText(d, BUNDLE_FILES.md, '| succeeded |', '| failed |'), resum(d)),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'report.html: "succeeded" → "failed", re-summed',
    mutate: (d) => (editText(d, BUNDLE_FILES.html, '<td>succeeded</td>', '<td>failed</td>'), resum(d)),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID'],
    exact: true,
  },
  {
    name: 'export.json: another signing key ARN, re-summed',
    mutate: (d) => (
      editText(
        d,
        BUNDLE_FILES.meta,
        /"signingKeyArn": "[^"]+"/,
        '"signingKeyArn": "arn:aws:kms:us-east-1:999999999999:key/evil"',
      ),
      resum(d)
    ),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID', 'MANIFEST_MISMATCH'],
  },
  {
    name: 'report.md edited, not re-summed',
    mutate: (d) => fs.appendFileSync(path.join(d, BUNDLE_FILES.md), '\nall fine\n'),
    exit: 3,
    codes: ['BUNDLE_CHECKSUM_MISMATCH'],
    exact: true,
  },
  {
    name: 'manifest evidence edited, re-summed',
    mutate: (d) => (editText(d, BUNDLE_FILES.manifest, '"state":"preserved"', '"state":"released"'), resum(d)),
    exit: 3,
    codes: ['SIGNATURE_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },

  // Events edited.
  {
    name: 'one event edited, not re-summed',
    mutate: (d) => editText(d, ev(3), '"snap-3"', '"snap-X"'),
    exit: 3,
    codes: ['BUNDLE_CHECKSUM_MISMATCH', 'HASH_MISMATCH', 'CHAIN_LINK_MISMATCH', 'MANIFEST_MISMATCH'],
    exact: true,
  },
  {
    name: 'one event edited, re-summed',
    mutate: (d) => (editText(d, ev(3), '"snap-3"', '"snap-X"'), resum(d)),
    exit: 3,
    codes: ['BUNDLE_SIGNATURE_INVALID', 'HASH_MISMATCH', 'CHAIN_LINK_MISMATCH', 'MANIFEST_MISMATCH'],
    exact: true,
  },
  {
    name: 'forged event after the head, listed and re-summed',
    mutate: (d) => forgeAfterHead(d),
    exit: 3,
    codes: ['MANIFEST_STALE', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'forged event after the head, listed, re-signed by an attacker key',
    mutate: (d, c) => (forgeAfterHead(d), reseal(d, c.attacker.privateKey)),
    exit: 3,
    codes: ['MANIFEST_STALE', 'BUNDLE_SIGNATURE_INVALID'],
  },

  // Alias names: a second, self-consistent event 3 under another name.
  {
    name: 'duplicate seq: forged event 3 as events/3.json, listed after the original',
    mutate: (d) => aliasEvent(d, 'events/3.json', ev(3)),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'duplicate seq: forged event 3 as events/3.json, listed after the head',
    mutate: (d) => aliasEvent(d, 'events/3.json', lastEvent(d)),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'alias name events/0000000003.JSON',
    mutate: (d) => aliasEvent(d, 'events/0000000003.JSON', ev(3)),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'alias name ./events/0000000003.json (same file listed twice)',
    mutate: (d) => addSum(d, `./${ev(3)}`, { file: ev(3), afterName: ev(3) }),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'alias name events//0000000003.json',
    mutate: (d) => addSum(d, 'events//0000000003.json', { file: ev(3), afterName: ev(3) }),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },

  // SHA256SUMS itself.
  {
    name: 'an event line listed twice',
    mutate: (d) => addSum(d, ev(2), { afterName: ev(2) }),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'report.md listed twice',
    mutate: (d) => addSum(d, BUNDLE_FILES.md),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'a line listed twice hides an unlisted event file',
    mutate: (d) => (addSum(d, ev(2), { afterName: ev(2) }), write(d, 'events/0000000002.json.bak', read(d, ev(2)))),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_INCOMPLETE'],
  },
  {
    name: 'event lines reordered',
    mutate: (d) => swapLines(d, ev(2), ev(3)),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'an event line removed (its file unlisted)',
    mutate: (d) =>
      writeSums(
        d,
        sumsLines(d).filter((l) => !l.endsWith(lastEvent(d))),
      ),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: '.. path in SHA256SUMS',
    mutate: (d, c) => (
      fs.writeFileSync(path.join(c.outside, 'x.json'), '{}'), addSum(d, `../${path.basename(c.outside)}/x.json`)
    ),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'absolute path in SHA256SUMS',
    mutate: (d, c) => addSum(d, path.join(c.outside, 'genuine.pem')),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'backslash name in SHA256SUMS',
    mutate: (d) => addSum(d, 'events\\0000000003.json', { file: ev(3) }),
    exit: 3,
    codes: ['BUNDLE_NAME_INVALID', 'BUNDLE_SIGNATURE_INVALID'],
  },

  // The file set.
  {
    name: 'an unlisted file at the top level',
    mutate: (d) => write(d, 'notes.txt', 'all fine'),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE'],
    exact: true,
  },
  {
    name: 'an unlisted file under events/ (next seq)',
    mutate: (d) => write(d, ev(eventsIn(d) + 1), '{}'),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE'],
    exact: true,
  },
  {
    name: 'an unlisted file under events/ (other name)',
    mutate: (d) => write(d, 'events/README', 'x'),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE'],
    exact: true,
  },
  {
    name: 'a listed file is a symlink to a copy outside the bundle',
    mutate: (d, c) => linkOut(d, c, BUNDLE_FILES.md),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
    exact: true,
  },
  {
    name: 'an event file is a symlink to a copy outside the bundle',
    mutate: (d, c) => linkOut(d, c, ev(2)),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
  },
  {
    name: 'the events folder is a symlink to a copy outside the bundle',
    mutate: (d, c) => linkOut(d, c, 'events'),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
  },
  { name: 'SHA256SUMS is a symlink', mutate: (d, c) => linkOut(d, c, SUMS), exit: 3, codes: ['BUNDLE_FILE_INVALID'] },
  {
    name: 'an unlisted symlink at the top level',
    mutate: (d) => fs.symlinkSync('/etc/passwd', path.join(d, 'passwd')),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
    exact: true,
  },
  {
    name: 'a FIFO under events/',
    mutate: (d) => execFileSync('mkfifo', [path.join(d, 'events', 'fifo')]),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
    exact: true,
  },
  {
    name: 'a FIFO in place of a listed event',
    mutate: (d) => (fs.rmSync(path.join(d, ev(2))), execFileSync('mkfifo', [path.join(d, ev(2))])),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
  },
  {
    name: 'a subdirectory under events/',
    mutate: (d) => fs.mkdirSync(path.join(d, 'events', 'more')),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
    exact: true,
  },
  {
    name: 'a subdirectory at the top level',
    mutate: (d) => fs.mkdirSync(path.join(d, 'extra')),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
    exact: true,
  },

  // Deleted files.
  {
    name: 'an event file deleted',
    mutate: (d) => fs.rmSync(path.join(d, ev(2))),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE'],
  },
  {
    name: 'report.html deleted',
    mutate: (d) => fs.rmSync(path.join(d, BUNDLE_FILES.html)),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE'],
    exact: true,
  },
  {
    name: 'signing-key.pem deleted',
    mutate: (d) => fs.rmSync(path.join(d, BUNDLE_FILES.key)),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE', 'KEY_NOT_TRUSTED', 'SIGNATURE_INVALID'],
  },
  // Sparse files: 3 GiB on the file system, nothing on disk. Once an INTERNAL crash (a read past 2 GiB) and a full read into memory.
  {
    name: 'an event file grown to 3 GiB',
    mutate: (d) => fs.truncateSync(path.join(d, ev(2)), 3 * 1024 ** 3),
    exit: 3,
    codes: ['BUNDLE_FILE_INVALID'],
  },
  {
    name: 'SHA256SUMS grown to 3 GiB with no line break',
    mutate: (d) => fs.truncateSync(path.join(d, SUMS), 3 * 1024 ** 3),
    exit: 3,
    codes: ['BUNDLE_CHECKSUM_MISMATCH', 'BUNDLE_SIGNATURE_INVALID'],
  },
  {
    name: 'manifest.json deleted',
    mutate: (d) => fs.rmSync(path.join(d, BUNDLE_FILES.manifest)),
    exit: 3,
    codes: ['BUNDLE_INCOMPLETE', 'MANIFEST_MISSING'],
  },
];

function lastEvent(dir: string): string {
  return ev(eventsIn(dir));
}
function forgeAfterHead(dir: string): void {
  const n = eventsIn(dir);
  const last = readEvent(dir, n);
  write(
    dir,
    ev(n + 1),
    forge({ ...last, seq: n + 1, action: 'evidence.release', prevHash: last.hash, idempotencyKey: 'forged' }),
  );
  addSum(dir, ev(n + 1), { afterName: ev(n) });
}
/** A self-consistent copy of event 3 (another resource, same place in the chain) saved as `name`. */
function aliasEvent(dir: string, name: string, afterName: string): void {
  const e = readEvent(dir, 3);
  write(dir, name, forge({ ...e, resources: [{ type: 'ec2:snapshot', id: 'snap-forged' }] }));
  addSum(dir, name, { afterName });
}
function swapLines(dir: string, a: string, b: string): void {
  const lines = sumsLines(dir);
  const i = lines.findIndex((l) => l.endsWith(`  ${a}`));
  const j = lines.findIndex((l) => l.endsWith(`  ${b}`));
  [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  writeSums(dir, lines);
}
/** Move `rel` outside the bundle and leave a symbolic link to it in its place (same bytes). */
function linkOut(dir: string, ctx: Ctx, rel: string): void {
  const target = path.join(ctx.outside, `${path.basename(dir)}-${rel.replaceAll('/', '_')}`);
  fs.renameSync(path.join(dir, rel), target);
  fs.symlinkSync(target, path.join(dir, rel));
}
