// The demo's hash checks (scripts/demo): holds what cleanroom recorded against the SHA-256 of the
// fixture images computed independently of it (scripts/fixture-images.mjs, printed by
// scripts/demo-fixture.mjs as `images`). Reads `cleanroom evidence list --json` on stdin.
//   node scripts/demo-hashes.mjs acquired FIXTURE_JSON        # every item's acquisition hash
//   node scripts/demo-hashes.mjs exported FIXTURE_JSON EID    # the hash of EID's exported image
//   node scripts/demo-hashes.mjs evidence-id FIXTURE_JSON NAME # the evidence id of image NAME's volume
// Exits 3 (a verification found a problem) when a hash differs or is missing, as the CLI does.
import { readFileSync } from 'node:fs';

const [mode, fixtureJson, arg] = process.argv.slice(2);
const { images } = JSON.parse(fixtureJson);
const { evidence } = JSON.parse(readFileSync(0, 'utf8'));
const itemOf = (image) => evidence.find((e) => e.sourceVolumeId === image.sourceVolumeId);

let bad = 0;
const compare = (label, image, item, recorded) => {
  const ok = recorded === image.sha256;
  if (!ok) bad++;
  console.log(`  ${image.device} (${image.name} image), evidence ${item?.evidenceId ?? '(none)'}:`);
  console.log(`    ${label.padEnd(22)} ${recorded ?? '(not recorded)'}`);
  console.log(`    ${'fixture image'.padEnd(22)} ${image.sha256}  ${ok ? '✓ equal' : '✗ DIFFERENT'}`);
};

if (mode === 'evidence-id') {
  const item = itemOf(images.find((i) => i.name === arg));
  if (!item) {
    console.error(`No evidence item holds the ${arg} volume.`);
    process.exit(3);
  }
  console.log(item.evidenceId);
} else if (mode === 'acquired') {
  console.log('SHA-256 of each whole disk as acquired (cleanroom, through the EBS direct APIs) and of the');
  console.log('fixture image padded to the volume size (computed without cleanroom):');
  for (const image of images) compare('acquisition hash', image, itemOf(image), itemOf(image)?.sha256);
} else if (mode === 'exported') {
  const item = evidence.find((e) => e.evidenceId === arg);
  const image = images.find((i) => i.sourceVolumeId === item?.sourceVolumeId);
  if (!image) {
    console.error(`Evidence ${arg} holds none of the fixture images.`);
    process.exit(3);
  }
  console.log(`SHA-256 of the exported image (${item.lastExport?.location ?? 'no export recorded'}):`);
  compare('exported image', image, item, item.lastExport?.sha256);
} else {
  console.error('usage: demo-hashes.mjs acquired|exported|evidence-id FIXTURE_JSON [EID|NAME]');
  process.exit(2);
}
if (bad) {
  console.error(`${bad} hash(es) differ from the fixture images'.`);
  process.exit(3);
}
