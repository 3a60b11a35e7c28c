// The demo's hash checks (scripts/demo): holds what cleanroom recorded against the SHA-256 of the
// fixture images computed independently of it (scripts/fixture-images.mjs, printed by
// scripts/demo-fixture.mjs as `images`).
//   cleanroom evidence list --json | node scripts/demo-hashes.mjs acquired FIXTURE_JSON
//       every item's acquisition hash (`sha256`) against its volume's image
//   cleanroom evidence list --json | node scripts/demo-hashes.mjs evidence-id FIXTURE_JSON NAME
//       the evidence id of the volume that holds image NAME
//   cleanroom evidence list --json | node scripts/demo-hashes.mjs exported FIXTURE_JSON NAME EID
//       the hash of EID's last export (`lastExport.sha256`, from its `evidence.export` events)
//       against image NAME
// Exits 3 (a verification found a problem) when a hash differs or is missing, as the CLI does.
import { readFileSync } from 'node:fs';

const [mode, fixtureJson, name, eid] = process.argv.slice(2);
const { images } = JSON.parse(fixtureJson);
const input = JSON.parse(readFileSync(0, 'utf8'));
const itemOf = (image) => input.evidence.find((e) => e.sourceVolumeId === image.sourceVolumeId);

let bad = 0;
const compare = (label, image, item, recorded) => {
  const ok = recorded === image.sha256;
  if (!ok) bad++;
  console.log(`  ${image.device} (${image.name} image), evidence ${item?.evidenceId ?? '(none)'}:`);
  console.log(`    ${label.padEnd(22)} ${recorded ?? '(not recorded)'}`);
  console.log(`    ${'fixture image'.padEnd(22)} ${image.sha256}  ${ok ? '✓ equal' : '✗ DIFFERENT'}`);
};

if (mode === 'evidence-id') {
  const item = itemOf(images.find((i) => i.name === name));
  if (!item) {
    console.error(`No evidence item holds the ${name} volume.`);
    process.exit(3);
  }
  console.log(item.evidenceId);
} else if (mode === 'acquired') {
  console.log('SHA-256 of each whole disk as acquired (cleanroom, through the EBS direct APIs) and of the');
  console.log('fixture image padded to the volume size (computed without cleanroom):');
  for (const image of images) compare('acquisition hash', image, itemOf(image), itemOf(image)?.sha256);
} else if (mode === 'exported') {
  const image = images.find((i) => i.name === name);
  // The item's last export (`lastExport`, folded from its `evidence.export` events).
  const exported = input.evidence.find((e) => e.evidenceId === eid)?.lastExport;
  console.log(`SHA-256 of the exported image (${exported?.location ?? 'no export recorded'}):`);
  compare('exported image', image, { evidenceId: eid }, exported?.sha256);
} else {
  console.error('usage: demo-hashes.mjs acquired|evidence-id|exported FIXTURE_JSON [NAME [EID]]');
  process.exit(2);
}
if (bad) {
  console.error(`${bad} hash(es) differ from the fixture images'.`);
  process.exit(3);
}
