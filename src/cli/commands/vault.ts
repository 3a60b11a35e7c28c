/**
 * `cleanroom vault init` and `cleanroom vault verify`: the evidence vault of the forensic account.
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { handle, numberOption, withBucket } from './common.js';
import { renderChecks } from '../render.js';
import {
  auditVault,
  initVault,
  resolveVaultBucket,
  validateVaultOptions,
  type LockMode,
} from '../../workflows/vault/index.js';

interface InitArgs extends GlobalArgs {
  bucket?: string;
  retentionDays?: number;
  lockMode?: LockMode;
}

interface VerifyArgs extends GlobalArgs {
  bucket?: string;
}

export function vaultCommands(y: Argv, io: HostIo): Argv {
  return y.command('vault', 'the evidence vault: an S3 bucket under Object Lock with its KMS keys', (v) =>
    v
      .command(
        'init',
        'create the evidence vault, or adopt an existing compliant one (idempotent)',
        (c) =>
          withBucket(c)
            .option(
              'retention-days',
              numberOption(
                {
                  flag: '--retention-days',
                  unit: 'days',
                  integer: true,
                  min: 1,
                  max: 36500,
                  code: 'INVALID_RETENTION',
                },
                'default Object Lock retention of new objects, in days (new vault: 365)',
              ),
            )
            .option('lock-mode', {
              type: 'string',
              choices: ['COMPLIANCE', 'GOVERNANCE'],
              describe: 'Object Lock mode (new vault: COMPLIANCE)',
            }),
        handle<InitArgs, unknown>(io, async (ctx, a) => {
          validateVaultOptions(a);
          const account = await ctx.forensicAccount();
          const r = await initVault(account, {
            ...(a.bucket ? { bucket: a.bucket } : {}),
            ...(a.retentionDays !== undefined ? { retentionDays: a.retentionDays } : {}),
            ...(a.lockMode ? { lockMode: a.lockMode } : {}),
            reporter: ctx.reporter,
            signal: ctx.abort.signal,
          });
          const { audit, ...rest } = r;
          const text = [
            r.changes.length === 0
              ? `The vault ${r.bucket} already complies: nothing changed.`
              : `${r.created ? 'Created' : 'Updated'} the vault ${r.bucket}:\n${r.changes.map((c) => `  - ${c}`).join('\n')}`,
            `  retention     ${r.lockMode} ${r.retentionDays} days`,
            `  vault key     ${r.kmsKeyArn}`,
            `  signing key   ${r.signingKeyArn}`,
          ].join('\n');
          return { data: { ...rest, checks: audit.checks }, text };
        }),
      )
      .command(
        'verify',
        'audit the vault bucket and keys (exit 3 when a check fails)',
        (c) => withBucket(c),
        handle<VerifyArgs, unknown>(io, async (ctx, a) => {
          const account = await ctx.forensicAccount();
          const bucket = await resolveVaultBucket(account, a.bucket);
          const r = await auditVault(account, bucket);
          const text = `${renderChecks(r.checks)}\n${r.ok ? `The vault ${bucket} passes all ${r.checks.length} checks.` : `The vault ${bucket} FAILS ${r.checks.filter((c) => !c.ok).length} of ${r.checks.length} checks.`}`;
          return { data: { bucket, ok: r.ok, checks: r.checks }, text, ...(r.ok ? {} : { exitCode: 3 }) };
        }),
      )
      .demandCommand(1, 'Name a vault command: init or verify.'),
  );
}
