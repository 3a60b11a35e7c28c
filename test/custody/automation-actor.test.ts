/**
 * The automation actor against the local AWS: a record opened with `actorContext` (a Lambda step
 * of a Step Functions execution) appends events that carry `via` { execution, function,
 * codeSha256 } beside the caller's `actor`; the same case mixes them with events appended without
 * it (the CLI, every event before automation). `custody verify` is green, `custody log` shows who
 * appended each ("by execution … (function …, code sha256 …)"), and so does the exported bundle's
 * report; a malformed context is refused before anything is read.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { eventKey, type CustodyEvent } from '../../src/custody/event.js';
import { eventSchemaErrors } from '../../src/custody/schema.js';
import { VAULT, cli, withVault } from './helpers.js';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:cleanroom-response:GD-0123456789abcdef';
const CODE = 'ab'.repeat(32);
const CTX = { execution: EXECUTION, function: 'cleanroom-isolate', codeSha256: CODE };

t.test(
  'events appended by automation name the execution, the function and the code; the record verifies',
  async (t) => {
    const { aws, acct } = await withVault(t);

    // The CLI's events (no context) first, then automation's, in one chain.
    const byCli = await openCaseCustody(acct, { caseId: 'IR-AUTO' });
    await byCli.record({
      action: 'room.deploy',
      resources: [{ type: 'cloudformation:stack', id: 'cleanroom-IR-AUTO' }],
      outcome: { status: 'succeeded' },
      idempotencyKey: 'room:up',
    });
    await byCli.sealManifest();
    const byLambda = await openCaseCustody(acct, { caseId: 'IR-AUTO', actorContext: CTX });
    const ev = await byLambda.record({
      action: 'isolate.tag',
      resources: [{ type: 'ec2:instance', id: 'i-0123456789abcdef0' }],
      outcome: { status: 'succeeded' },
      idempotencyKey: 'isolate:state:i-0123456789abcdef0',
    });
    await byLambda.sealManifest();

    const s3 = new S3Client({});
    const stored = async (seq: number) =>
      JSON.parse(
        await (
          await s3.send(new GetObjectCommand({ Bucket: VAULT, Key: eventKey('IR-AUTO', seq) }))
        ).Body!.transformToString(),
      ) as CustodyEvent & { via?: unknown };
    const first = await stored(1);
    const second = await stored(ev.seq);
    t.notOk('via' in first, 'an event appended without a context has no via');
    t.same(second.via, CTX, 'the stored event carries the context');
    t.same(eventSchemaErrors(second), [], 'and matches the event schema');

    const verify = await cli(aws, ['custody', 'verify', '--case', 'IR-AUTO', '--json']);
    t.equal(verify.code, 0, verify.stdout + verify.stderr);

    const log = await cli(aws, ['custody', 'log', '--case', 'IR-AUTO']);
    t.equal(log.code, 0, log.stderr);
    t.match(log.stdout, `by execution ${EXECUTION} (function cleanroom-isolate, code sha256 ${CODE})`);
    const logJson = (await cli(aws, ['custody', 'log', '--case', 'IR-AUTO', '--json'])).json();
    t.same(logJson.events.find((e: { seq: number }) => e.seq === ev.seq).via, CTX);
    t.notOk(logJson.events[0].via);

    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-actor-'));
    t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
    const bundle = path.join(out, 'bundle');
    const exported = await cli(aws, ['custody', 'export', '--case', 'IR-AUTO', '--out', bundle]);
    t.equal(exported.code, 0, exported.stderr);
    const report = fs
      .readdirSync(bundle)
      .filter((f) => /^report\.(md|html)$/.test(f))
      .map((f) => fs.readFileSync(path.join(bundle, f), 'utf8'))
      .join('\n');
    t.match(report, `by execution ${EXECUTION}`, 'the report names the execution');
    t.match(report, 'cleanroom-isolate');
    const offline = await cli(aws, ['custody', 'verify', '--bundle', bundle, '--trust-vault']);
    t.equal(offline.code, 0, offline.stdout + offline.stderr);

    await t.rejects(openCaseCustody(acct, { caseId: 'IR-AUTO', actorContext: { ...CTX, codeSha256: 'not-a-hash' } }), {
      code: 'INVALID_VALUE',
    });
  },
);
