/**
 * Lanes against the local AWS (issue 14): sixteen writers, each with its own account (SDK clients
 * and connections, as Lambda steps of one execution) and its own lane, append at once — no
 * contention, one conditional PUT per batch. Before a seal `cleanroom custody verify` names the
 * uncommitted lane events (exit 3); `cleanroom custody seal` commits them; then verify is green with
 * every acknowledged event present once, and the exported bundle verifies offline.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { useLocalAws } from '../../local-aws/local-aws.js';
import { openCaseCustody } from '../../src/custody/case-custody.js';
import { account, cli, offlineEnv } from './helpers.js';

t.test(
  'sixteen lane writers on one case: verify names them uncommitted, seal commits, export verifies offline',
  async (t) => {
    const aws = await useLocalAws(t);
    t.equal((await cli(aws, ['vault', 'init'])).code, 0);
    const writers = await Promise.all(
      Array.from({ length: 16 }, async (_, w) =>
        openCaseCustody(await account(), { caseId: 'IR-65', lane: `step${w}` }),
      ),
    );
    const acked = (
      await Promise.all(
        writers.map((c, w) =>
          Promise.all(
            Array.from({ length: 3 }, (_, i) =>
              c.record({
                action: 'room.audit',
                resources: [{ type: 'ec2:instance', id: `i-${String(w).padStart(17, '0')}` }],
                inputs: { writer: w, i },
                outcome: { status: 'succeeded' },
                idempotencyKey: `unit:${w}:${i}`,
              }),
            ),
          ),
        ),
      )
    ).flat();
    t.equal(acked.length, 48, 'every append was acknowledged');
    t.equal(new Set(acked.map((e) => `${e.lane}:${e.seq}`)).size, 48, 'each at its own lane position');

    // No writer sealed (they all "died"): nothing commits their lanes yet.
    const before = await cli(aws, ['custody', 'verify', '--case', 'IR-65', '--json']);
    t.equal(before.code, 3, 'uncommitted lane events are a verification failure');
    const codes = (before.json().findings as Array<{ code: string }>).map((f) => f.code);
    t.equal(codes.filter((c) => c === 'LANE_UNCOMMITTED').length, 16, `every lane is named: ${codes.join(', ')}`);

    const seal = await cli(aws, ['custody', 'seal', '--case', 'IR-65']);
    t.equal(seal.code, 0, seal.stdout + seal.stderr);
    const ok = await cli(aws, ['custody', 'verify', '--case', 'IR-65', '--json']);
    t.equal(ok.code, 0, ok.stdout + ok.stderr);
    t.equal(ok.json().events, 1, 'the main chain: one checkpoint');
    const reader = await openCaseCustody(await account(), { caseId: 'IR-65' });
    t.equal(reader.events().length, 49, 'the total order: 48 lane events and the checkpoint');
    for (const e of acked)
      t.equal(reader.find(e.idempotencyKey!)?.hash, e.hash, `${e.idempotencyKey} is in the record`);

    const out = path.join(t.testdir(), 'bundle');
    const ex = await cli(aws, ['custody', 'export', '--case', 'IR-65', '--out', out, '--json']);
    t.equal(ex.code, 0, ex.stderr);
    t.equal(fs.readdirSync(path.join(out, 'lanes')).length, 16, 'the bundle carries every lane');
    const off = await cli(
      undefined,
      ['custody', 'verify', '--bundle', out, '--key-fingerprint', ex.json().keyFingerprint as string, '--json'],
      offlineEnv(),
    );
    t.equal(off.code, 0, off.stdout + off.stderr);
  },
);
