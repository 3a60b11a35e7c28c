// What the exported custody bundle says about the room's toolkit and the analyst's session
// (scripts/demo), read from the bundle's own files — events/<seq>.json and sessions/<id>.log — and
// held against bytes cleanroom did not produce: each toolkit file copied into the case against the
// wheelhouse `room tools` built on this machine, each session transcript against its recorded SHA-256.
//   node scripts/demo-record.mjs BUNDLE_DIR WHEELHOUSE_DIR
// Exits 3 (a verification found a problem) when a hash differs or the bundle lacks the toolkit or a
// session with its transcript, as the CLI does.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [bundle, wheelhouse] = process.argv.slice(2);
if (!bundle || !wheelhouse) {
  console.error('usage: node scripts/demo-record.mjs BUNDLE_DIR WHEELHOUSE_DIR');
  process.exit(2);
}
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const events = readdirSync(path.join(bundle, 'events'))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(bundle, 'events', f), 'utf8')));
const details = (e) => e.outcome?.details ?? {};
let bad = 0;
const check = (ok, what) => {
  if (!ok) bad++;
  return ok ? '✓' : `✗ ${what}`;
};

const toolkit = events.filter((e) => e.action === 'room.toolkit').at(-1);
if (!toolkit?.outcome?.details?.toolkitId) {
  console.log('  room.toolkit: no toolkit recorded');
  bad++;
} else {
  const d = details(toolkit);
  console.log(`  room.toolkit (#${toolkit.seq}): ${d.toolkitId}, manifest SHA-256 ${d.manifestSha256}`);
  console.log(`    tools: ${(d.tools ?? []).map((t) => `${t.name} ${t.version}`).join(', ')}`);
  const files = d.files ?? [];
  let same = 0;
  for (const f of files) {
    // The case copy keeps the wheelhouse's names under cases/<case>/tools/toolkit/.
    const name = f.key.replace(/^.*\/tools\/toolkit\//, '');
    const local = path.join(wheelhouse, name);
    if (existsSync(local) && sha256(local) === f.sha256) same++;
    else console.log(`    ${check(false, `${name}: recorded ${f.sha256}, the wheelhouse's differs or is missing`)}`);
  }
  const where = files[0]?.key.replace(/(\/tools\/toolkit\/).*$/, '$1') ?? '?';
  console.log(
    `    ${files.length} objects copied into ${where}, each SHA-256 in the record; ` +
      `${same} of them equal to the wheelhouse's files here ${check(same === files.length && files.length > 0, 'not all')}`,
  );
}

const sessions = events.filter((e) => e.action === 'room.session');
if (!sessions.length) {
  console.log('  room.session: no session recorded');
  bad++;
}
for (const e of sessions) {
  const s = details(e).session ?? {};
  console.log(
    `  room.session (#${e.seq}): ${s.sessionId} (${s.kind}) by ${s.actor}, ${s.startedAt} – ${s.endedAt}, ${s.status}`,
  );
  const t = s.transcript;
  if (!t) {
    console.log(`    ${check(false, `no transcript: ${s.reason ?? '?'}`)}`);
    continue;
  }
  const file = path.join(bundle, 'sessions', `${s.sessionId}.log`);
  const got = existsSync(file) ? sha256(file) : 'missing';
  console.log(`    transcript s3://${t.bucket}/${t.key} (${t.bytes} bytes), recorded SHA-256 ${t.sha256}`);
  console.log(`    the bundle's sessions/${s.sessionId}.log hashes to ${got} ${check(got === t.sha256, 'different')}`);
}
process.exit(bad ? 3 : 0);
