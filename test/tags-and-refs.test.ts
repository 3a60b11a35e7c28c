/**
 * Tag keys, role values and resource references have one home each (issue 12): every
 * `cleanroom:…` tag key and every `cleanroom:role` value is in src/domain/tags.ts, and every
 * `{ type: '<svc>:…', id, … }` reference is built by `resourceRef` (src/domain/recorder.ts,
 * re-exported by src/resources/refs.ts). A literal elsewhere is a second spelling of the same fact
 * that can drift from the first, so this test reads the string literals of src/ (TypeScript AST)
 * and fails on one.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ROLE } from '../src/domain/tags.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TAGS_FILE = 'src/domain/tags.ts';
/** Generated from templates/ (the room template writes its own tags). */
const GENERATED = 'src/assets/generated/';

const ROLE_VALUES: ReadonlySet<string> = new Set(Object.values(ROLE));
const SERVICE_TYPE = /^[a-z0-9-]+:[a-z0-9-]+$/;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? sourceFiles(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** What one file spells by hand that has a home elsewhere, one line per literal ("file:line: why"). */
export function strayLiterals(file: string, source: string): string[] {
  if (file === TAGS_FILE || file.startsWith(GENERATED)) return [];
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n)) {
      if (n.text.startsWith('cleanroom:')) found.push(`${at(n)}: tag key '${n.text}' (use src/domain/tags.ts)`);
    }
    if (ts.isObjectLiteralExpression(n)) {
      for (const p of n.properties) {
        if (!ts.isPropertyAssignment(p) || p.name.getText(sf) !== 'type') continue;
        const v = p.initializer;
        if ((ts.isStringLiteral(v) || ts.isNoSubstitutionTemplateLiteral(v)) && SERVICE_TYPE.test(v.text))
          found.push(`${at(n)}: resource reference { type: '${v.text}' } (build it with resourceRef)`);
      }
    }
    if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsEqualsEqualsToken) {
      // tags[TAG_ROLE] === 'working-volume': a role value compared by hand.
      for (const side of [n.left, n.right])
        if (ts.isStringLiteral(side) && ROLE_VALUES.has(side.text) && /TAG_ROLE/.test(n.getText(sf)))
          found.push(`${at(n)}: role value '${side.text}' (use ROLE from src/domain/tags.ts)`);
    }
    if (ts.isPropertyAssignment(n) && /^(Value|TagValue)$/.test(n.name.getText(sf))) {
      const parent = n.parent;
      const key = parent.properties.find(
        (p) => p !== n && ts.isPropertyAssignment(p) && /^(Key|TagKey)$/.test(p.name.getText(sf)),
      );
      if (key && /TAG_ROLE/.test(key.getText(sf)) && ts.isStringLiteral(n.initializer))
        found.push(`${at(n)}: role value '${n.initializer.text}' (use ROLE from src/domain/tags.ts)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

t.test('tag keys, role values and resource references are spelled only in their one place', async (t) => {
  const files = sourceFiles('src');
  t.ok(files.length > 50, `read ${files.length} source files`);
  const found = files.flatMap((f) => strayLiterals(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
  t.same(found, []);
});

t.test('the check finds each kind of stray literal, and passes the one home of each', async (t) => {
  const bad: Array<[string, string, string]> = [
    ['src/workflows/isolate/names.ts', "export const TAG_X = 'cleanroom:quarantine';", 'tag key'],
    ['src/workflows/room/status.ts', 'const f = `cleanroom:${k}`;', 'tag key'],
    ['src/workflows/close/stack.ts', "const r = { type: 'cloudformation:stack', id: n };", 'resource reference'],
    ['src/custody/case-custody.ts', "f([{ type: 's3:object', id: k }]);", 'resource reference'],
    ['src/workflows/close/keys.ts', "if (tags[TAG_ROLE] === 'case-key') skip();", 'role value'],
    ['src/workflows/room/up.ts', "const t = { Key: TAG_ROLE, Value: 'room-stack' };", 'role value'],
  ];
  for (const [file, line, why] of bad) {
    const found = strayLiterals(file, line);
    t.equal(found.length, 1, `${file}: ${line}`);
    t.match(found[0] ?? '', why);
  }
  const fine: Array<[string, string]> = [
    [TAGS_FILE, "export const TAG_CASE = 'cleanroom:case';"],
    ['src/workflows/close/index.ts', "const m = 'WRITTEN TO while in the room (tagged cleanroom:written=true)';"],
    ['src/workflows/close/stack.ts', "const r = resourceRef('cloudformation:stack', n, a, r);"],
    ['src/workflows/room/rules.ts', "const g = { role: 'forensics', type: 'ingress' };"],
    ['src/workflows/close/keys.ts', 'if (tags[TAG_ROLE] === ROLE.caseKey) skip();'],
  ];
  for (const [file, line] of fine) t.same(strayLiterals(file, line), [], `${file}: ${line}`);
});
