/**
 * The layering of src/, read from the folder names (issue 12), held against every import in src/:
 *
 *   src/index.ts, src/cli, src/lambda  →  src/workflows/<name>  →  src/custody | src/evidence  →  src/resources
 *   →  src/aws  →  src/domain          (src/assets: read by any layer below the CLI)
 *
 * A file imports only its own layer or a lower one; custody and evidence stand side by side and do not
 * import each other; a workflow folder imports no other workflow folder, and whatever sits outside
 * src/workflows reaches a workflow through its one entry file, `workflows/<name>/index.ts`. Only
 * src/aws imports the AWS SDK. The two hosts, src/cli and src/lambda (the Step Functions steps), stand
 * side by side, and nothing imports the Lambda host (not even src/index.ts: it is an entry of its
 * own). Imports are read as text (static, `export … from` and `import()`), type-only imports included: a type that points up is a layer that leans up.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Layers from the top; a higher number may import a lower one. */
const LAYERS: ReadonlyArray<{ folder: string; rank: number }> = [
  { folder: 'src/index.ts', rank: 7 },
  { folder: 'src/cli/', rank: 6 },
  { folder: 'src/lambda/', rank: 6 },
  { folder: 'src/workflows/', rank: 5 },
  { folder: 'src/custody/', rank: 4 },
  { folder: 'src/evidence/', rank: 4 },
  { folder: 'src/resources/', rank: 3 },
  { folder: 'src/aws/', rank: 2 },
  { folder: 'src/domain/', rank: 1 },
  { folder: 'src/assets/', rank: 0 },
];

function layerOf(file: string): { folder: string; rank: number } | undefined {
  return LAYERS.find((l) => (l.folder.endsWith('/') ? file.startsWith(l.folder) : file === l.folder));
}

/** `src/workflows/<name>/` of a file, if it is in a workflow folder. */
function workflowOf(file: string): string | undefined {
  return /^src\/workflows\/([^/]+)\//.exec(file)?.[1];
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Every import of one file: `{ to }` is a src/ path for a relative import, the bare name otherwise. */
export function importsOf(file: string, source: string): Array<{ to: string; relative: boolean }> {
  const out: Array<{ to: string; relative: boolean }> = [];
  for (const m of source.matchAll(SPECIFIER)) {
    const spec = m[1]!;
    if (!spec.startsWith('.')) {
      out.push({ to: spec, relative: false });
      continue;
    }
    out.push({
      to: path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'),
      relative: true,
    });
  }
  return out;
}

/** What breaks the layering, one line per import ("from -> to: why"). */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, source] of files) {
    const from = layerOf(file);
    if (!from) {
      found.push(`${file}: in no layer (add its folder to the layering)`);
      continue;
    }
    for (const { to, relative } of importsOf(file, source)) {
      if (!relative) {
        if (/^@(aws-sdk|smithy)\//.test(to) && !file.startsWith('src/aws/'))
          found.push(`${file} -> ${to}: only src/aws imports the AWS SDK`);
        continue;
      }
      const into = layerOf(to);
      if (!into) {
        found.push(`${file} -> ${to}: outside every layer`);
        continue;
      }
      const why =
        into.folder === 'src/lambda/' && from.folder !== 'src/lambda/'
          ? 'nothing imports the Lambda host (it is an entry of its own: src/lambda/handlers.ts)'
          : into.folder === 'src/assets/' && from.folder === 'src/cli/'
            ? 'the CLI reads no assets (the library does)'
            : into.rank > from.rank
              ? `imports upward (${from.folder} is below ${into.folder})`
              : into.rank === from.rank && into.folder !== from.folder
                ? `imports sideways (${from.folder} and ${into.folder} stand side by side)`
                : crossesWorkflow(file, to);
      if (why) found.push(`${file} -> ${to}: ${why}`);
    }
  }
  return found;
}

function crossesWorkflow(file: string, to: string): string | undefined {
  const target = workflowOf(to);
  if (!target) return undefined;
  const own = workflowOf(file);
  if (own === target) return undefined;
  if (own) return `workflow ${own} imports workflow ${target} (shared code goes down a layer)`;
  if (to !== `src/workflows/${target}/index.ts`)
    return `reaches into workflow ${target} past its entry file src/workflows/${target}/index.ts`;
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? sourceFiles(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

t.test('every import in src/ runs down the layers, never sideways, never into another workflow', async (t) => {
  const files = new Map(sourceFiles('src').map((f) => [f, fs.readFileSync(path.join(ROOT, f), 'utf8')]));
  t.ok(files.size > 50, `read ${files.size} source files`);
  t.ok(
    [...files].some(([f, s]) => importsOf(f, s).some((i) => i.relative)),
    'the imports are seen (a reader that sees none would pass anything)',
  );
  t.same(violations(files), []);
});

t.test('every workflow folder has its entry file, and no workflow file sits beside the folders', async (t) => {
  const dir = path.join(ROOT, 'src/workflows');
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    t.ok(e.isDirectory(), `src/workflows/${e.name} is a workflow folder`);
    if (e.isDirectory())
      t.ok(fs.existsSync(path.join(dir, e.name, 'index.ts')), `src/workflows/${e.name}/index.ts exists`);
  }
});

t.test('the check finds each kind of break', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['src/domain/evidence.ts', "import type { X } from '../custody/recorder.js';", 'imports upward'],
    ['src/custody/log.ts', "import { a } from '../workflows/vault/index.js';", 'imports upward'],
    ['src/custody/log.ts', "import { a } from '../evidence/run.js';", 'imports sideways'],
    ['src/evidence/run.ts', "const m = await import('../custody/store.js');", 'imports sideways'],
    ['src/resources/stacks.ts', "export { b } from '../evidence/run.js';", 'imports upward'],
    [
      'src/workflows/close/sharing.ts',
      "import { k } from '../acquire/pipeline.js';",
      'workflow close imports workflow acquire',
    ],
    [
      'src/workflows/close/sharing.ts',
      "import { k } from '../acquire/index.js';",
      'workflow close imports workflow acquire',
    ],
    ['src/cli/commands/room.ts', "import { up } from '../../workflows/room/up.js';", 'past its entry file'],
    ['src/cli/commands/room.ts', "import { p } from '../../assets/package-path.js';", 'the CLI reads no assets'],
    ['src/workflows/room/up.ts', "import { EC2 } from '@aws-sdk/client-ec2';", 'only src/aws imports the AWS SDK'],
    ['src/helpers/x.ts', '', 'in no layer'],
    ['src/index.ts', "export { resolve } from './lambda/handlers.js';", 'nothing imports the Lambda host'],
    ['src/cli/commands/room.ts', "import { STEPS } from '../../lambda/steps.js';", 'nothing imports the Lambda host'],
    ['src/lambda/host.ts', "import { runCommand } from '../cli/host.js';", 'imports sideways'],
    ['src/lambda/library.ts', "import { SNSClient } from '@aws-sdk/client-sns';", 'only src/aws imports the AWS SDK'],
    ['src/lambda/library.ts', "import { up } from '../workflows/room/up.js';", 'past its entry file'],
  ];
  for (const [file, line, why] of cases) {
    const found = violations(new Map([[file, line]]));
    t.equal(found.length, 1, `${file}: ${line || '(empty)'}`);
    t.match(found[0] ?? '', why);
  }
  const fine: Array<[string, string]> = [
    ['src/cli/commands/room.ts', "import { roomUp } from '../../workflows/room/index.js';"],
    ['src/workflows/room/down.ts', "import { roomUp } from './up.js';"],
    ['src/workflows/close/index.ts', "import { ROLE } from '../../evidence/run.js';"],
    ['src/evidence/volume.ts', "import { describeVolumes } from '../resources/volumes.js';"],
    ['src/custody/vault/gate.ts', "import { auditVault } from './audit.js';"],
    ['src/aws/region.ts', "import { P } from '../assets/generated/partitions.js';"],
    ['src/aws/commands.ts', "import * as ec2 from '@aws-sdk/client-ec2';"],
    ['src/lambda/library.ts', "import { roomUp } from '../workflows/room/index.js';"],
    ['src/lambda/library.ts', "import { openCaseCustody } from '../custody/case-custody.js';"],
    ['src/lambda/steps.ts', "import { STEPS } from './host.js';"],
  ];
  for (const [file, line] of fine) t.same(violations(new Map([[file, line]])), [], `${file}: ${line}`);
});
