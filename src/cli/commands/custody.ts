/**
 * `cleanroom custody log | verify | export | seal`: read, verify, hand over and re-seal a case's
 * chain of custody.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { handle, withBucket } from './common.js';
import { renderChecks, table } from '../render.js';
import { UsageError } from '../../domain/errors.js';
import { assertCaseId } from '../../domain/case-id.js';
import { readCaseLog } from '../../custody/log.js';
import { sessionLine } from '../../custody/room-sessions.js';
import { verifyCaseInVault } from '../../custody/verify-vault.js';
import {
  assertKeyFingerprint,
  exportBundle,
  findingLines,
  verifyBundle,
  type BundleVerifyResult,
} from '../../custody/bundle.js';
import type { CustodyVerifyResult } from '../../custody/verify.js';
import { actorLine } from '../../custody/actor.js';

interface CaseArgs extends GlobalArgs {
  case: string;
  bucket?: string;
}
interface VerifyArgs extends GlobalArgs {
  case?: string;
  bundle?: string;
  bucket?: string;
  keyFingerprint?: string;
  publicKey?: string;
  trustVault?: boolean;
  expectCase?: string;
  expectHead?: string;
}
interface ExportArgs extends CaseArgs {
  out: string;
}

function verifyText(r: CustodyVerifyResult): string {
  const lines = [renderChecks(r.checks), ''];
  if (r.ok)
    lines.push(
      `Case ${r.case}: the custody record verifies — ${r.events} event(s), head #${r.head.seq} ${r.head.hash} (${r.source}).`,
    );
  else
    lines.push(
      `Case ${r.case}: the custody record does NOT verify — ${r.findings.length} finding(s) (${r.source}):`,
      ...findingLines(r.findings).map((l) => `  ${l}`),
    );
  return lines.join('\n');
}

function bundleText(r: BundleVerifyResult): string {
  const lines = [renderChecks(r.checks), ''];
  if (r.ok)
    lines.push(
      `Case ${r.case}: the bundle verifies — ${r.events} event(s), head #${r.head.seq} ${r.head.hash}, signed by the trusted key (${r.source}).`,
    );
  else if (r.findings.every((f) => f.code === 'KEY_NOT_TRUSTED') && !r.anchor) {
    lines.push(
      `Case ${r.case}: the bundle is consistent, but NOT verified — nothing says whose key signed it (${r.source}).`,
      `Every other check passed against the bundle's own key (SHA-256 ${r.keyFingerprint ?? 'none'}); anyone who rewrites a bundle can re-sign it with a key of their own.`,
      `Ask the custodian for the signing key's SHA-256 (\`cleanroom custody export\` prints it) and run: cleanroom custody verify --bundle ${r.source} --key-fingerprint <SHA-256>`,
    );
  } else
    lines.push(
      `Case ${r.case}: the bundle does NOT verify — ${r.findings.length} finding(s) (${r.source}):`,
      ...findingLines(r.findings).map((l) => `  ${l}`),
    );
  // The ARN is shown only when the trusted key's signature covers it.
  if (r.keyFingerprint)
    lines.push(
      `Bundle's signing key SHA-256: ${r.keyFingerprint}${r.signingKeyArn ? ` (${r.signingKeyArn})` : r.trusted ? '' : ' (not trusted)'}`,
    );
  return lines.join('\n');
}

function verifyData(r: CustodyVerifyResult & Record<string, unknown>) {
  const { publicKeyDer: _der, manifest: _m, ...rest } = r as Record<string, unknown>;
  return { case: r.case, ok: r.ok, events: r.events, head: r.head, findings: r.findings, ...rest };
}

export function custodyCommands(y: Argv, io: HostIo): Argv {
  const subcommands = [custodyLogCommand, custodyVerifyCommand, custodyExportCommand, custodySealCommand];
  return y.command('custody', "a case's chain of custody: log, verify, export, seal", (c) =>
    subcommands
      .reduce((cmd, add) => add(cmd, io), c)
      .demandCommand(1, 'Name a custody command: log, verify, export or seal.'),
  );
}

function custodyLogCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'log',
    'the timeline of a case: who did what, when',
    (x) => withBucket(x.option('case', { type: 'string', demandOption: true, describe: 'case id' })),
    handle<CaseArgs, unknown>(io, async (ctx, a) => {
      const r = await readCaseLog(await ctx.forensicAccount(), {
        caseId: a.case,
        ...(a.bucket ? { bucket: a.bucket } : {}),
      });
      const text = r.events.length
        ? table([
            ['#', 'TIME (UTC)', 'ACTOR', 'ACTION', 'OUTCOME', 'RESOURCES'],
            ...r.events.map((e) => [
              String(e.seq),
              e.time,
              actorLine(e),
              e.action,
              e.status + (e.error ? ` (${e.error.code})` : ''),
              // A session reads as one line: who entered, when, the session, the transcript's hash.
              e.session ? sessionLine(e.session) : e.resources.map((x) => x.id).join(', '),
            ]),
          ])
        : `Case ${a.case} has no custody events in s3://${r.bucket}/.`;
      return { data: { case: a.case, bucket: r.bucket, events: r.events }, text };
    }),
  );
}

function custodyVerifyCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'verify',
    'verify a case in the vault (--case) or an exported bundle offline (--bundle); exit 3 on any finding',
    (x) =>
      withBucket(x)
        .option('case', { type: 'string', describe: 'case id (verify the record in the vault)' })
        .option('bundle', { type: 'string', describe: 'exported bundle folder (verify offline, no AWS access)' })
        .option('key-fingerprint', {
          type: 'string',
          describe:
            'with --bundle: the trust anchor, the SHA-256 of the signing public key (64 hex characters, as `custody export` prints it)',
        })
        .option('public-key', {
          type: 'string',
          describe:
            'with --bundle: the trust anchor, a PEM file of the signing public key (signatures are verified with it)',
        })
        .option('trust-vault', {
          type: 'boolean',
          describe:
            "with --bundle: the trust anchor, the vault's signing key read from KMS (needs AWS access; --bucket names the vault)",
        })
        .option('expect-case', {
          type: 'string',
          describe: 'with --bundle: the case the bundle must be of (one vault key signs every case of the vault)',
        })
        .option('expect-head', {
          type: 'string',
          describe:
            'with --bundle: the head hash the record must end at, as `custody export` prints it (tells the latest export from an earlier one)',
        })
        .conflicts('case', 'bundle')
        .check((v) => {
          if (!v.case && !v.bundle) throw new Error('Give --case ID or --bundle DIR.');
          return true;
        }),
    handle<VerifyArgs, unknown>(io, async (ctx, a) => {
      if (!a.bundle && (a.keyFingerprint !== undefined || a.publicKey !== undefined || a.trustVault))
        throw new UsageError(
          'ANCHOR_WITHOUT_BUNDLE',
          "--key-fingerprint, --public-key and --trust-vault are for --bundle: `custody verify --case` checks the vault's own signing key.",
        );
      if (!a.bundle && (a.expectCase !== undefined || a.expectHead !== undefined))
        throw new UsageError(
          'EXPECT_WITHOUT_BUNDLE',
          '--expect-case and --expect-head are for --bundle: `custody verify --case` reads the record in the vault itself.',
        );
      if (a.bundle) {
        if (a.bucket && !a.trustVault)
          throw new UsageError(
            'BUCKET_WITH_BUNDLE',
            '--bucket has no meaning with --bundle alone: a bundle is verified offline (with --trust-vault, --bucket names the vault whose signing key is trusted).',
          );
        if (a.keyFingerprint !== undefined) assertKeyFingerprint(String(a.keyFingerprint));
        if (a.trustVault && a.publicKey !== undefined)
          throw new UsageError(
            'ANCHOR_CONFLICT',
            'Give one trusted public key: --public-key FILE or --trust-vault, not both.',
          );
        let trustedPublicKey: string | undefined;
        if (a.publicKey !== undefined) {
          try {
            trustedPublicKey = fs.readFileSync(a.publicKey, 'utf8');
          } catch (e) {
            throw new UsageError(
              'PUBLIC_KEY_UNREADABLE',
              `--public-key ${a.publicKey} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the PEM file of the signing key you trust.`,
              { details: { publicKey: a.publicKey } },
            );
          }
        }
        let from: 'public-key' | 'vault' = 'public-key';
        if (a.trustVault) {
          const { vaultSigningKey } = await import('../../custody/trust-vault.js');
          trustedPublicKey = (await vaultSigningKey(await ctx.forensicAccount(), a.bucket ? { bucket: a.bucket } : {}))
            .pem;
          from = 'vault';
        }
        const r = await verifyBundle(a.bundle, {
          ...(a.expectCase !== undefined ? { expectCase: String(a.expectCase) } : {}),
          ...(a.expectHead !== undefined ? { expectHead: String(a.expectHead) } : {}),
          ...(a.keyFingerprint !== undefined ? { expectKeyFingerprint: String(a.keyFingerprint) } : {}),
          ...(trustedPublicKey !== undefined ? { trustedPublicKey, trustedPublicKeyFrom: from } : {}),
        });
        return { data: verifyData(r as never), text: bundleText(r), ...(r.ok ? {} : { exitCode: 3 }) };
      }
      const caseId = assertCaseId(a.case);
      const r = await verifyCaseInVault(await ctx.forensicAccount(), {
        caseId,
        ...(a.bucket ? { bucket: a.bucket } : {}),
        reporter: ctx.reporter,
      });
      return { data: verifyData(r as never), text: verifyText(r), ...(r.ok ? {} : { exitCode: 3 }) };
    }),
  );
}

function custodyExportCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'export',
    'verify a case, then write a self-contained bundle (events, manifest, public key, SHA256SUMS, report.md/html)',
    (x) =>
      withBucket(
        x
          .option('case', { type: 'string', demandOption: true, describe: 'case id' })
          .option('out', { type: 'string', demandOption: true, describe: 'new folder for the bundle' }),
      ),
    handle<ExportArgs, unknown>(io, async (ctx, a) => {
      // exportBundle checks the output folder before any work and any AWS call.
      const r = await exportBundle(await ctx.forensicAccount(), {
        caseId: a.case,
        out: a.out,
        ...(a.bucket ? { bucket: a.bucket } : {}),
        reporter: ctx.reporter,
      });
      return {
        data: {
          case: r.case,
          out: r.out,
          events: r.events,
          head: r.head,
          files: r.files,
          keyFingerprint: r.keyFingerprint,
          verifyCommand: `cleanroom custody verify --bundle ${r.out} --key-fingerprint ${r.keyFingerprint}`,
          pinnedVerifyCommand: `cleanroom custody verify --bundle ${r.out} --key-fingerprint ${r.keyFingerprint} --expect-case ${r.case} --expect-head ${r.head.hash}`,
          ok: true,
        },
        text: `Exported case ${r.case}: ${r.events} event(s), head #${r.head.seq} ${r.head.hash}, to ${r.out}\nSigning key SHA-256: ${r.keyFingerprint}\nGive the fingerprint to whoever receives the bundle by another channel than the bundle; they verify it anywhere with:\n  cleanroom custody verify --bundle ${r.out} --key-fingerprint ${r.keyFingerprint}\nTo pin this very export too (no other case's bundle, no earlier export of this case, passes), add:\n  --expect-case ${r.case} --expect-head ${r.head.hash}`,
      };
    }),
  );
}

function custodySealCommand(y: Argv, io: HostIo): Argv {
  return y.command(
    'seal',
    're-sign the manifest of a case over its current head (after a writer died before sealing)',
    (x) => withBucket(x.option('case', { type: 'string', demandOption: true, describe: 'case id' })),
    handle<CaseArgs, unknown>(io, async (ctx, a) => {
      const custody = await ctx.custody(a.case, a.bucket, { use: 'read' });
      const m = await custody.sealManifest();
      return {
        data: { case: m.case, head: m.head, events: m.events, sealedAt: m.sealedAt, keyId: m.signature.keyId },
        text: `Sealed case ${m.case} at #${m.head.seq} ${m.head.hash} with ${m.signature.keyId}.`,
      };
    }),
  );
}
