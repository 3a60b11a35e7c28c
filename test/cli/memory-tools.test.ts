/**
 * `cleanroom memory tools --avml FILE [--version V]` end to end against the local AWS: without a
 * vault it refuses (NO_VAULT); with one it puts the binary under tools/memory/avml/<sha256> (SSE-KMS
 * under the vault key, its SHA-256 as the S3 checksum) and writes the pointer tools/memory/avml.json
 * that a capture reads (readMemoryTool); the same file again uploads nothing; a file that is not an
 * ELF executable for x86-64 or aarch64 is refused (exit 2, MEMORY_TOOL_INVALID) and changes nothing.
 * (Any x86-64 executable stands in for AVML here: the command checks the format, it never runs it.)
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { VAULT, account, cli } from '../custody/helpers.js';
import { readMemoryTool } from '../../src/evidence/memory-tool.js';

const s3 = () => new S3Client({ region: 'us-east-1' });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

t.test('memory tools --avml: the binary and its pointer in the vault; bad files refused', async (t) => {
  const aws = await useLocalAws(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-memory-tools-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const avml = path.join(dir, 'avml');
  fs.copyFileSync('/bin/true', avml); // an x86-64 (or aarch64) ELF executable
  const bytes = fs.readFileSync(avml);
  const want = sha(bytes);

  const novault = await cli(aws, ['memory', 'tools', '--avml', avml]);
  t.equal(novault.code, 2, novault.stderr);
  t.match(novault.stderr, /cleanroom vault init/);

  t.equal((await cli(aws, ['vault', 'init'])).code, 0);
  const acct = await account();
  await t.rejects(readMemoryTool({ account: acct, bucket: VAULT }), {
    code: 'MEMORY_TOOL_MISSING',
    exitCode: 2,
    message: /cleanroom memory tools --avml FILE/,
  });

  const r = await cli(aws, ['memory', 'tools', '--avml', avml, '--version', '0.21.0', '--json']);
  t.equal(r.code, 0, r.stderr);
  const doc = r.json();
  t.match(doc, {
    schema: 'cleanroom.memory-tool.v1',
    tool: 'avml',
    version: '0.21.0',
    sha256: want,
    size: bytes.length,
    key: `tools/memory/avml/${want}`,
    source: 'supplied',
    arch: process.arch === 'arm64' ? 'aarch64' : 'x86-64',
    bucket: VAULT,
    uploaded: true,
  });
  const head = await s3().send(new HeadObjectCommand({ Bucket: VAULT, Key: doc.key, ChecksumMode: 'ENABLED' }));
  t.equal(head.ServerSideEncryption, 'aws:kms');
  t.equal(head.ChecksumSHA256, Buffer.from(want, 'hex').toString('base64'), 'its SHA-256 as the S3 checksum');
  t.equal(head.ContentLength, bytes.length);
  const pointer = JSON.parse(
    await (
      await s3().send(new GetObjectCommand({ Bucket: VAULT, Key: 'tools/memory/avml.json' }))
    ).Body!.transformToString(),
  );
  const { bucket: _b, uploaded: _u, ...written } = doc;
  t.same(pointer, written, 'the pointer is what the command printed');
  t.same(await readMemoryTool({ account: acct, bucket: VAULT }), pointer, 'a capture reads it');

  const text = await cli(aws, ['memory', 'tools', '--avml', avml, '--source', 'built']);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /The vault already held AVML unknown/);
  t.match(text.stdout, new RegExp(`sha256 +${want}`));
  t.match(text.stdout, new RegExp(`size +${bytes.length} bytes`));

  const script = path.join(dir, 'avml.sh');
  fs.writeFileSync(script, '#!/bin/sh\necho not avml\n', { mode: 0o755 });
  const arm32 = path.join(dir, 'avml-arm');
  const elf = Buffer.from(bytes.subarray(0, 64));
  elf.writeUInt16LE(0x28, 18); // EM_ARM
  fs.writeFileSync(arm32, elf);
  const cases: Array<[string, RegExp]> = [
    [script, /is not an AVML binary .*it is not an ELF file/],
    [arm32, /not x86-64 \(62\) or aarch64 \(183\)/],
    [path.join(dir, 'missing'), /Cannot read .*ENOENT/],
  ];
  for (const [file, message] of cases) {
    const bad = await cli(aws, ['memory', 'tools', '--avml', file, '--json']);
    t.equal(bad.code, 2, `${file}: exit 2`);
    t.match(JSON.parse(bad.stdout || bad.stderr), { error: { code: 'MEMORY_TOOL_INVALID', message } }, file);
  }
  t.match(
    await readMemoryTool({ account: acct, bucket: VAULT }),
    { ...pointer, source: 'built', version: 'unknown', publishedAt: String },
    'the pointer is the last good one',
  );
});
