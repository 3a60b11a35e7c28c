/**
 * The toolkit model (src/domain/toolkit.ts) from wheel file names alone: the exact pins of
 * requirements.txt (PEP 503 names, one line per project with every wheel's hash), the tools with
 * their resolved versions, the manifest, and the toolkit id that names the files by content.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import {
  assembleToolkit,
  manifestBytes,
  manifestProblems,
  normalizeName,
  parseWheelName,
  pinsOf,
  pointerProblems,
  requirementName,
  toolkitId,
  type HashedWheel,
} from '../../src/domain/toolkit.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
/** Wheel names as `pip download` saved them for the default package set. */
const FILES = [
  'dissect_target-3.25.1-py3-none-any.whl',
  'dissect_util-3.25.dev10-cp310-abi3-manylinux_2_28_x86_64.whl',
  'dissect_cstruct-4.7-py3-none-any.whl',
  'flow_record-3.21-py3-none-any.whl',
  'msgpack-1.2.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
  'pytsk3-20260715-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl',
  'volatility3-2.28.2-py3-none-any.whl',
  'defusedxml-0.7.1-py2.py3-none-any.whl',
];
const wheels: HashedWheel[] = FILES.map((file) => ({ file, sha256: hex(file), bytes: file.length * 1000 }));

t.test('wheel names are read as the binary distribution format spells them', async (t) => {
  t.match(parseWheelName('dissect_util-3.25.dev10-cp310-abi3-manylinux_2_28_x86_64.whl'), {
    distribution: 'dissect_util',
    name: 'dissect-util',
    version: '3.25.dev10',
    tags: { python: 'cp310', abi: 'abi3', platform: 'manylinux_2_28_x86_64' },
  });
  t.match(parseWheelName('foo_bar-1.0-1build-py3-none-any.whl'), { name: 'foo-bar', version: '1.0', build: '1build' });
  for (const bad of [
    'foo-1.0.tar.gz',
    'foo-1.0-py3-any.whl',
    '../x-1-py3-none-any.whl',
    'a-b-c-d-e-f-g.whl',
    'foo-1.0-x-py3-none-any.whl',
  ])
    t.equal(parseWheelName(bad), undefined, bad);
  t.equal(normalizeName('Dissect.Target'), 'dissect-target');
  t.equal(normalizeName('flow__record'), 'flow-record');
  t.equal(requirementName('dissect.target[cli]>=3.20'), 'dissect.target');
  t.equal(requirementName('volatility3 == 2.28.2'), 'volatility3');
  t.equal(requirementName('pytsk3'), 'pytsk3');
  t.equal(requirementName('>=1'), undefined);
});

t.test('requirements.txt pins every project exactly, with the hash of each of its wheels', async (t) => {
  const { requirements, manifest } = assembleToolkit({
    name: 'default',
    builtAt: '2026-12-05T10:00:00.000Z',
    builtWith: { python: '3.11.7', pip: '23.2.1' },
    arch: 'x86_64',
    packages: ['dissect.target', 'volatility3', 'pytsk3'],
    wheels,
  });
  const pins = requirements
    .toString()
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  t.same(pins, [
    `defusedxml==0.7.1 --hash=sha256:${hex(FILES[7]!)}`,
    `dissect-cstruct==4.7 --hash=sha256:${hex(FILES[2]!)}`,
    `dissect-target==3.25.1 --hash=sha256:${hex(FILES[0]!)}`,
    `dissect-util==3.25.dev10 --hash=sha256:${hex(FILES[1]!)}`,
    `flow-record==3.21 --hash=sha256:${hex(FILES[3]!)}`,
    `msgpack==1.2.4 --hash=sha256:${hex(FILES[4]!)}`,
    `pytsk3==20260715 --hash=sha256:${hex(FILES[5]!)}`,
    `volatility3==2.28.2 --hash=sha256:${hex(FILES[6]!)}`,
  ]);
  t.same(manifest.tools, [
    { name: 'dissect.target', version: '3.25.1' },
    { name: 'volatility3', version: '2.28.2' },
    { name: 'pytsk3', version: '20260715' },
  ]);
  t.same(manifest.target, {
    python: '3.11',
    implementation: 'cp',
    arch: 'x86_64',
    platforms: ['manylinux2014_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_24_x86_64', 'manylinux_2_28_x86_64'],
  });
  t.same(
    manifest.files.map((f) => f.name),
    ['requirements.txt', ...FILES.map((f) => `wheels/${f}`).sort()],
  );
  t.same(manifest.files[0], {
    name: 'requirements.txt',
    sha256: createHash('sha256').update(requirements).digest('hex'),
    bytes: requirements.length,
  });
  t.same(manifestProblems(JSON.parse(manifestBytes(manifest).toString())), [], 'the manifest verifies');

  // The id is over the sorted `name sha256` lines of the files: the same wheels, the same id,
  // whatever the build time or order; one byte of one wheel more, another id.
  const lines = manifest.files.map((f) => `${f.name} ${f.sha256}\n`).sort();
  t.equal(manifest.toolkitId, `tk-${createHash('sha256').update(lines.join('')).digest('hex').slice(0, 20)}`);
  const again = assembleToolkit({
    name: 'other',
    builtAt: '2027-01-01T00:00:00.000Z',
    builtWith: { python: '3.12.1', pip: '25.0' },
    arch: 'x86_64',
    packages: ['dissect.target', 'volatility3', 'pytsk3'],
    wheels: [...wheels].reverse(),
  });
  t.equal(again.manifest.toolkitId, manifest.toolkitId, 'same wheels, same id');
  const changed = wheels.map((w, i) => (i === 5 ? { ...w, sha256: hex('another pytsk3') } : w));
  t.not(toolkitId([{ name: 'x', sha256: hex('a') }]), toolkitId([{ name: 'x', sha256: hex('b') }]));
  t.not(
    assembleToolkit({
      name: 'x',
      builtAt: 'now',
      builtWith: { python: '3', pip: '2' },
      arch: 'x86_64',
      packages: ['pytsk3'],
      wheels: changed,
    }).manifest.toolkitId,
    manifest.toolkitId,
    'another wheel, another id',
  );
});

t.test('two wheels of one project: both hashes on its line; two versions of one project: refused', async (t) => {
  const two = [
    { file: 'msgpack-1.2.4-cp311-cp311-manylinux2014_x86_64.whl', sha256: hex('a'), bytes: 1 },
    { file: 'msgpack-1.2.4-cp311-cp311-manylinux_2_28_x86_64.whl', sha256: hex('b'), bytes: 1 },
  ];
  t.same(
    pinsOf(two).map((p) => [p.name, p.version, p.hashes.length]),
    [['msgpack', '1.2.4', 2]],
  );
  t.throws(
    () => pinsOf([...two, { file: 'msgpack-1.2.5-cp311-cp311-manylinux2014_x86_64.whl', sha256: hex('c'), bytes: 1 }]),
    /msgpack comes in two versions: 1\.2\.4 .* and 1\.2\.5/,
  );
  t.throws(() => pinsOf([{ file: 'x.tar.gz', sha256: hex('x'), bytes: 1 }]), /not a wheel file name/);
  t.throws(
    () =>
      assembleToolkit({
        name: 'n',
        builtAt: 'now',
        builtWith: { python: '3', pip: '2' },
        arch: 'aarch64',
        packages: ['notthere'],
        wheels,
      }),
    /no wheel of notthere/,
  );
});

t.test('manifest and pointer checks name what is wrong', async (t) => {
  const { manifest } = assembleToolkit({
    name: 'n',
    builtAt: 'now',
    builtWith: { python: '3', pip: '2' },
    arch: 'aarch64',
    packages: ['volatility3'],
    wheels,
  });
  const m = JSON.parse(JSON.stringify(manifest));
  t.same(manifestProblems(m), []);
  t.match(manifestProblems({ ...m, schema: 'cleanroom.toolkit.v2' }), [/schema is "cleanroom.toolkit.v2"/]);
  t.match(manifestProblems({ ...m, toolkitId: 'tk-00000000000000000000' }), [/is not the id of its files/]);
  t.match(manifestProblems({ ...m, files: [...m.files, { name: '../../etc/passwd', sha256: hex('x'), bytes: 1 }] }), [
    /is not requirements.txt or wheels/,
  ]);
  t.match(manifestProblems({ ...m, files: m.files.map((f: { name: string }) => ({ ...f, sha256: 'nope' })) }), [
    /a file entry is not/,
  ]);
  t.match(manifestProblems('text'), ['the manifest is not a JSON object']);
  t.same(
    pointerProblems({
      schema: 'cleanroom.toolkit-pointer.v1',
      toolkitId: m.toolkitId,
      manifestSha256: hex('m'),
      publishedAt: 'now',
    }),
    [],
  );
  t.match(pointerProblems({ schema: 'x', toolkitId: 'tk-1', manifestSha256: 'y' }), [
    /schema/,
    /toolkitId/,
    /manifestSha256/,
    /publishedAt/,
  ]);
});
