/**
 * The TypeScript types of the stored documents (`CustodyEvent`, `CaseManifest` in
 * src/custody/event.ts) and their JSON Schemas (evidence-schema/v1) must describe the same
 * documents. Both are reduced to one shape — per property: optional or required, and the type
 * (string / number / boolean / literal set / array of / object with its properties, closed or
 * open) — the types through the TypeScript compiler's type checker, the schemas by walking them
 * ($ref, const, enum, required, additionalProperties). Any difference, in either direction, fails.
 * The comparison is itself tested on deliberately drifted types and schemas, so it cannot pass
 * by comparing nothing.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from '../../local-aws/local-aws.js';
import { EVENT_SCHEMA_FILE, MANIFEST_SCHEMA_FILE } from '../../src/custody/schema.js';

type Shape =
  | { k: 'string' | 'number' | 'boolean' | 'any' }
  | { k: 'literals'; values: string[] }
  | { k: 'array'; items: Shape }
  | { k: 'object'; open: boolean; props: Record<string, { optional: boolean; shape: Shape }> };

function fromType(checker: ts.TypeChecker, type: ts.Type, depth = 0): Shape {
  if (depth > 12) throw new Error('type too deep');
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { k: 'any' };
  if (type.isUnion()) {
    const parts = type.types.filter((x) => !(x.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
    if (parts.every((p) => p.isStringLiteral()))
      return { k: 'literals', values: parts.map((p) => (p as ts.StringLiteralType).value).sort() };
    if (parts.length === 2 && parts.every((p) => p.flags & ts.TypeFlags.BooleanLiteral)) return { k: 'boolean' };
    if (parts.length === 1) return fromType(checker, parts[0]!, depth + 1);
    throw new Error(`unsupported union ${checker.typeToString(type)}`);
  }
  if (type.isStringLiteral()) return { k: 'literals', values: [type.value] };
  if (type.flags & ts.TypeFlags.String) return { k: 'string' };
  if (type.flags & ts.TypeFlags.Number) return { k: 'number' };
  if (type.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { k: 'boolean' };
  if (checker.isArrayType(type))
    return { k: 'array', items: fromType(checker, checker.getTypeArguments(type as ts.TypeReference)[0]!, depth + 1) };
  if (type.flags & ts.TypeFlags.Object || type.isIntersection()) {
    const props: Record<string, { optional: boolean; shape: Shape }> = {};
    for (const p of checker.getPropertiesOfType(type)) {
      const pt = checker.getTypeOfSymbol(p);
      props[p.name] = { optional: (p.flags & ts.SymbolFlags.Optional) !== 0, shape: fromType(checker, pt, depth + 1) };
    }
    const open = Boolean(checker.getIndexInfoOfType(type, ts.IndexKind.String));
    return { k: 'object', open, props };
  }
  throw new Error(`unsupported type ${checker.typeToString(type)}`);
}

function fromSchema(root: any, s: any): Shape {
  if (s.$ref) {
    const name = String(s.$ref).replace('#/$defs/', '');
    return fromSchema(root, root.$defs[name]);
  }
  if ('const' in s) return { k: 'literals', values: [String(s.const)] };
  if (s.enum) return { k: 'literals', values: [...s.enum].map(String).sort() };
  switch (s.type) {
    case 'string':
      return { k: 'string' };
    case 'integer':
    case 'number':
      return { k: 'number' };
    case 'boolean':
      return { k: 'boolean' };
    case 'array':
      return { k: 'array', items: fromSchema(root, s.items) };
    case 'object': {
      const required: string[] = s.required ?? [];
      const props: Record<string, { optional: boolean; shape: Shape }> = {};
      for (const [name, sub] of Object.entries(s.properties ?? {}))
        props[name] = { optional: !required.includes(name), shape: fromSchema(root, sub) };
      for (const r of required) if (!(r in props)) props[r] = { optional: false, shape: { k: 'any' } };
      return { k: 'object', open: s.additionalProperties !== false, props };
    }
    case undefined:
      return { k: 'any' };
    default:
      throw new Error(`unsupported schema type ${s.type}`);
  }
}

/** Differences between the two shapes, as `path: what`. */
function diff(a: Shape, b: Shape, at = '$'): string[] {
  if (a.k !== b.k) return [`${at}: TypeScript has ${a.k}, the schema has ${b.k}`];
  if (a.k === 'literals' && b.k === 'literals')
    return a.values.join('|') === b.values.join('|')
      ? []
      : [`${at}: TypeScript allows ${a.values.join('|')}, the schema ${b.values.join('|')}`];
  if (a.k === 'array' && b.k === 'array') return diff(a.items, b.items, `${at}[]`);
  if (a.k === 'object' && b.k === 'object') {
    const out: string[] = [];
    if (a.open !== b.open)
      out.push(`${at}: TypeScript is ${a.open ? 'open' : 'closed'}, the schema is ${b.open ? 'open' : 'closed'}`);
    for (const name of new Set([...Object.keys(a.props), ...Object.keys(b.props)])) {
      const x = a.props[name];
      const y = b.props[name];
      if (!x) out.push(`${at}.${name}: only in the schema`);
      else if (!y) out.push(`${at}.${name}: only in TypeScript`);
      else {
        if (x.optional !== y.optional)
          out.push(
            `${at}.${name}: ${x.optional ? 'optional' : 'required'} in TypeScript, ${y.optional ? 'optional' : 'required'} in the schema`,
          );
        out.push(...diff(x.shape, y.shape, `${at}.${name}`));
      }
    }
    return out;
  }
  return [];
}

// The project's own compiler options (types: node, lib, module resolution), from tsconfig.json.
const config = ts.getParsedCommandLineOfConfigFile(
  path.join(ROOT, 'tsconfig.json'),
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(String(d.messageText));
    },
  },
)!;
const program = ts.createProgram(
  [path.join(ROOT, 'src/custody/event.ts'), path.join(ROOT, 'test/custody/fixtures/drift/drifted-types.ts')],
  { ...config.options, noEmit: true, rootDir: ROOT },
);
const checker = program.getTypeChecker();

function typeShape(file: string, name: string): Shape {
  const sf = program.getSourceFile(path.join(ROOT, file));
  if (!sf) throw new Error(`${file} not in the program`);
  const sym = checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!).find((s) => s.name === name);
  if (!sym) throw new Error(`${name} not found in ${file}`);
  return fromType(checker, checker.getDeclaredTypeOfSymbol(sym));
}

const eventSchema = JSON.parse(fs.readFileSync(EVENT_SCHEMA_FILE, 'utf8'));
const manifestSchema = JSON.parse(fs.readFileSync(MANIFEST_SCHEMA_FILE, 'utf8'));

t.test('the compiler sees the project without errors (else every type would read as any)', async (t) => {
  t.same(
    ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')),
    [],
  );
});

t.test('CustodyEvent and custody-event.schema.json describe the same document', async (t) => {
  const shape = typeShape('src/custody/event.ts', 'CustodyEvent');
  t.equal(shape.k, 'object');
  t.ok(Object.keys((shape as { props: object }).props).length >= 12, 'the comparison sees every property');
  t.same(diff(shape, fromSchema(eventSchema, eventSchema)), []);
});

t.test('CaseManifest and case-manifest.schema.json describe the same document', async (t) => {
  t.same(diff(typeShape('src/custody/event.ts', 'CaseManifest'), fromSchema(manifestSchema, manifestSchema)), []);
});

t.test('the comparison finds drift in either direction', async (t) => {
  const drifted = diff(
    typeShape('test/custody/fixtures/drift/drifted-types.ts', 'DriftedEvent'),
    fromSchema(eventSchema, eventSchema),
  );
  t.same(
    drifted.sort(),
    [
      '$.actor: only in the schema',
      '$.idempotencyKey: required in TypeScript, optional in the schema',
      '$.note: only in TypeScript',
    ].sort(),
  );
  t.same(
    diff(
      typeShape('test/custody/fixtures/drift/drifted-types.ts', 'DriftedManifest'),
      fromSchema(manifestSchema, manifestSchema),
    ),
    ['$.events: TypeScript has string, the schema has number'],
  );

  // Schema-side drift: a property dropped, an enum value added, a nested object opened.
  const s = structuredClone(eventSchema);
  delete s.properties.time;
  s.required = s.required.filter((r: string) => r !== 'time');
  s.$defs.outcome.properties.status.enum.push('cancelled');
  s.$defs.resource.additionalProperties = true;
  t.same(diff(typeShape('src/custody/event.ts', 'CustodyEvent'), fromSchema(s, s)).sort(), [
    '$.outcome.status: TypeScript allows failed|partial|skipped|succeeded, the schema cancelled|failed|partial|skipped|succeeded',
    '$.resources[]: TypeScript is closed, the schema is open',
    '$.time: only in TypeScript',
  ]);
  const m = structuredClone(manifestSchema);
  m.$defs.evidence.properties.tag = { type: 'string' };
  t.same(diff(typeShape('src/custody/event.ts', 'CaseManifest'), fromSchema(m, m)), [
    '$.evidence[].tag: only in the schema',
  ]);
});
