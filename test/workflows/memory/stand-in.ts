/**
 * The stand-ins of the memory capture's round trip on this machine: an AVML (a small ELF built here
 * with the C compiler, since `memory tools` takes ELF executables only) that writes a file of known
 * bytes in LiME layout to its destination (`lime`; `bashAvml` is a script stand-in for the guest
 * script run directly), and an SSM port (`Pick<SsmPort, …>`) that RUNS the command it is sent with
 * bash, as a host would (and stops it on CancelCommand), against the local AWS — and asserts, before
 * it runs anything, that the parameters hold only the script and presigned URLs. */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SsmPort } from '../../../src/aws/ports.js';
import { TEST_CA_CERT } from '../../../local-aws/local-aws.js';

const C_SOURCE = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--version")) { puts("avml 0.21.0-standin"); return 0; }
  if (argc > 1 && !strcmp(argv[1], "--help")) { puts("USAGE: avml [OPTIONS] <FILENAME>"); return 0; }
  const char *src = getenv("STANDIN_MEMORY");
  if (!src || argc < 2) return 2;
  FILE *in = fopen(src, "rb"), *out = fopen(argv[argc - 1], "wb");
  if (!in || !out) return 1;
  char buf[65536]; size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) if (fwrite(buf, 1, n, out) != n) return 1;
  return fclose(out) ? 1 : 0;
}
`;

/** LiME layout: per range a 32-byte header (magic "LiME" LE, version 1, start, end inclusive, 0) and its bytes. */
export function lime(ranges: Array<{ start: number; data: Buffer }>): Buffer {
  const out: Buffer[] = [];
  for (const r of ranges) {
    const h = Buffer.alloc(32);
    h.writeUInt32LE(0x4c694d45, 0);
    h.writeUInt32LE(1, 4);
    h.writeBigUInt64LE(BigInt(r.start), 8);
    h.writeBigUInt64LE(BigInt(r.start + r.data.length - 1), 16);
    out.push(h, r.data);
  }
  return Buffer.concat(out);
}

/**
 * A stand-in AVML as a bash script, for the guest script run directly (which runs any tool whose
 * SHA-256 it is given): answers --version and --help as AVML 0.21 does, refuses a command other
 * than `acquire` (exit 64), and runs `acquire` as `body` says (its destination is `${@: -1}`).
 */
export function bashAvml(body: string): Buffer {
  return Buffer.from(`#!/bin/bash
# Stand-in for AVML in cleanroom's tests: not memory.
case "$1" in
  --version) echo "avml 0.21.0"; exit 0 ;;
  --help) printf 'Usage: avml <COMMAND>\\n\\nCommands:\\n  acquire  Acquire a memory snapshot\\n'; exit 0 ;;
  acquire) ;;
  *) exit 64 ;;
esac
${body}
`);
}

/** Build the stand-in AVML and a LiME image of `bytes` of memory; returns their paths and the image's SHA-256. */
export function standIn(bytes: number): { dir: string; avml: string; image: string; sha256: string; size: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-standin-'));
  fs.writeFileSync(path.join(dir, 'avml.c'), C_SOURCE);
  const avml = path.join(dir, 'avml');
  execFileSync('cc', ['-O2', '-o', avml, path.join(dir, 'avml.c')]);
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  const data = lime([{ start: 0x100000, data: body }]);
  const image = path.join(dir, 'memory.lime');
  fs.writeFileSync(image, data);
  return { dir, avml, image, sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
}

/** What the fake saw of one SendCommand. */
export interface SentCommand {
  input: Parameters<SsmPort['sendCommand']>[0];
  command: string;
  urls: URL[];
}

type Invocation = { status: string; code?: number; stdout: string; stderr: string; stop?: () => void };

/**
 * An SSM port that runs each command with bash here (the stand-in host) and answers like SSM:
 * InProgress until it ends, then Success/Failed with the exit code and the first 24,000 characters
 * of stdout. `check` sees each command before it runs (and may throw, as SSM would not).
 */
export function bashSsm(o: {
  env: Record<string, string>;
  check?: (sent: SentCommand) => void;
  /** Answer Success with empty output and run nothing (the local AWS's SSM). */
  silent?: boolean;
}): Pick<SsmPort, 'sendCommand' | 'getCommandInvocation' | 'cancelCommand'> & {
  sent: SentCommand[];
  cancelled: string[];
} {
  const runs = new Map<string, Invocation>();
  const sent: SentCommand[] = [];
  const cancelled: string[] = [];
  let n = 0;
  return {
    sent,
    cancelled,
    sendCommand: (async (input) => {
      const command = (input.Parameters?.['commands'] ?? []).join('\n');
      // The URLs are the single-quoted arguments (the script's own text mentions https:// in a pattern).
      const urls = [...command.matchAll(/'(https:\/\/[^']+)'/g)].map((m) => new URL(m[1]!));
      const s = { input, command, urls };
      sent.push(s);
      o.check?.(s);
      const id = `cmd-${++n}`;
      const inv: Invocation = { status: 'InProgress', stdout: '', stderr: '' };
      runs.set(id, inv);
      if (o.silent) {
        inv.status = 'Success';
        inv.code = 0;
      } else {
        const child = spawn('bash', ['-c', command], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CURL_CA_BUNDLE: TEST_CA_CERT, ...o.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout.on('data', (d: Buffer) => (inv.stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (inv.stderr += d.toString()));
        inv.stop = () => child.kill('SIGTERM');
        child.on('close', (code) => {
          inv.code = code ?? 1;
          if (inv.status === 'InProgress') inv.status = code === 0 ? 'Success' : 'Failed';
        });
      }
      return { $metadata: {}, Command: { CommandId: id } };
    }) as SsmPort['sendCommand'],
    // As SSM does: the command stops on the host and ends Cancelled.
    cancelCommand: (async (input) => {
      cancelled.push(input.CommandId!);
      const inv = runs.get(input.CommandId!);
      if (inv?.status === 'InProgress') {
        inv.status = 'Cancelled';
        inv.stop?.();
      }
      return { $metadata: {} };
    }) as SsmPort['cancelCommand'],
    getCommandInvocation: (async (input) => {
      const inv = runs.get(input.CommandId!)!;
      return {
        $metadata: {},
        CommandId: input.CommandId,
        InstanceId: input.InstanceId,
        Status: inv.status as never,
        ...(inv.code !== undefined ? { ResponseCode: inv.code } : {}),
        StandardOutputContent: inv.stdout.slice(0, 24_000),
        StandardErrorContent: inv.stderr.slice(0, 8_000),
      };
    }) as SsmPort['getCommandInvocation'],
  };
}
