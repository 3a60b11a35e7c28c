/**
 * `cleanroom memory …`: memory capture of a compromised instance (docs/memory.md).
 *   memory tools --avml FILE [--version V]   the capture tool (AVML) into the vault
 *   memory capture --case ID --instance I    an instance's memory into the vault (memory-capture.ts)
 */
import type { Argv } from 'yargs';
import type { HostIo } from '../host.js';
import type { GlobalArgs } from '../context.js';
import { handle, withBucket } from './common.js';
import { memoryTools } from '../../workflows/memory-tools/index.js';
import { memoryCaptureCommand } from './memory-capture.js';

interface ToolsArgs extends GlobalArgs {
  avml: string;
  version?: string;
  source: 'supplied' | 'built';
  bucket?: string;
}

export function memoryCommands(y: Argv, io: HostIo): Argv {
  return y.command('memory', "memory capture: a compromised instance's memory into the vault", (m) =>
    memoryCaptureCommand(m, io)
      .command(
        'tools',
        'put the memory capture tool (an AVML binary) into the vault: tools/memory/avml/<sha256> and the pointer tools/memory/avml.json',
        (c) =>
          // `--version V` is this command's (AVML's version): yargs's global --version is off here.
          withBucket(c.version(false))
            .option('avml', {
              type: 'string',
              demandOption: true,
              describe:
                'the AVML executable (ELF, x86-64 or aarch64): a release from github.com/microsoft/avml, or scripts/build-avml',
            })
            .option('version', {
              type: 'string',
              describe: "AVML's version, recorded in the pointer (default: the version the binary names, else unknown)",
            })
            .option('source', {
              type: 'string',
              choices: ['supplied', 'built'],
              default: 'supplied',
              describe: 'recorded in the pointer: a binary you had (supplied) or one scripts/build-avml made (built)',
            }),
        handle<ToolsArgs, unknown>(io, async (ctx, a) => {
          const account = await ctx.forensicAccount();
          const r = await memoryTools(account, {
            avml: a.avml,
            source: a.source,
            ...(a.version !== undefined ? { version: a.version } : {}),
            ...(a.bucket ? { bucket: a.bucket } : {}),
            signal: ctx.abort.signal,
          });
          const text = [
            `${r.uploaded ? 'Put' : 'The vault already held'} AVML ${r.version} (${r.arch}) in ${r.bucket}; tools/memory/avml.json points at it.`,
            `  sha256   ${r.sha256}`,
            `  size     ${r.size} bytes`,
            `  version  ${r.version}`,
            `  key      ${r.key}`,
          ].join('\n');
          return { data: r, text };
        }),
      )
      .demandCommand(1, 'Name a memory command: capture or tools.'),
  );
}
