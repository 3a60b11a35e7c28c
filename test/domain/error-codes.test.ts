/**
 * The error-code vocabulary (src/domain/error-codes.ts) is closed, complete and documented: the
 * compiler rejects an undeclared code at a typed throw site; this scan of src/ catches what the
 * compiler cannot (a cast, a code built from pieces, a code only in a custody outcome), checks that
 * each throw site's error class ends in the exit code the table gives, that no entry is dead, and
 * that the "Error codes" table of docs/errors.md is the module's.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ERROR_CODES,
  OUTCOME_CODES,
  NAMED_ERROR_CODES,
  isErrorCode,
  type ExitCode,
} from '../../src/domain/error-codes.js';
import { CleanroomError, UsageError, VerificationFailedError, AwsError } from '../../src/domain/errors.js';
import { FINDING_CODES } from '../../src/custody/verify.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VOCAB = 'src/domain/error-codes.ts';

function sources(dir = path.join(root, 'src')): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts'))
      out.push({
        file: path.relative(root, p).split(path.sep).join('/'),
        text: stripComments(fs.readFileSync(p, 'utf8')),
      });
  }
  return out;
}

/** The source without its comments (strings and template literals kept), so prose does not count. */
function stripComments(s: string): string {
  let out = '';
  let i = 0;
  const stack: string[] = []; // open quotes and `${` of template literals
  while (i < s.length) {
    const c = s[i]!;
    const top = stack[stack.length - 1];
    if (top === "'" || top === '"') {
      if (c === '\\') {
        out += s.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === top) stack.pop();
      out += c;
      i++;
      continue;
    }
    if (top === '`') {
      if (c === '\\') {
        out += s.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (c === '`') stack.pop();
      else if (c === '$' && s[i + 1] === '{') {
        stack.push('{');
        out += '${';
        i += 2;
        continue;
      }
      out += c;
      i++;
      continue;
    }
    if (c === '/' && s[i + 1] === '/') {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && s[i + 1] === '*') {
      const end = s.indexOf('*/', i + 2);
      i = end < 0 ? s.length : end + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') stack.push(c);
    else if (c === '{') stack.push('{');
    else if (c === '}' && top === '{') stack.pop();
    out += c;
    i++;
  }
  return out;
}

/** The text of a call's arguments, from just after its `(` to its matching `)`. */
function callArgs(s: string, open: number): string {
  let depth = 0;
  const quotes: string[] = [];
  for (let i = open; i < s.length; i++) {
    const c = s[i]!;
    const q = quotes[quotes.length - 1];
    if (q === "'" || q === '"' || q === '`') {
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === q) quotes.pop();
      else if (q === '`' && c === '$' && s[i + 1] === '{') {
        quotes.push('{');
        i++;
      }
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      quotes.push(c);
      continue;
    }
    if (c === '{' && q === '{') {
      quotes.push('{');
      continue;
    }
    if (c === '}' && q === '{') {
      quotes.pop();
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return s.slice(open + 1, i);
  }
  return s.slice(open + 1);
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;
const src = sources();
const FINDINGS = new Set<string>(FINDING_CODES);
const declared = (code: string) =>
  Object.hasOwn(ERROR_CODES, code) || Object.hasOwn(OUTCOME_CODES, code) || FINDINGS.has(code);

t.test('every code in the table has an exit code of the contract and a one-line meaning', async (t) => {
  t.ok(NAMED_ERROR_CODES.length >= 100, `${NAMED_ERROR_CODES.length} codes declared`);
  for (const [code, e] of Object.entries(ERROR_CODES)) {
    t.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, `${code} is UPPER_SNAKE`);
    t.ok(([1, 2, 3] as number[]).includes(e.exit), `${code}: exit ${e.exit}`);
    t.ok(
      e.meaning.trim().length > 10 && !e.meaning.includes('\n') && /[.)]$/.test(e.meaning),
      `${code}: meaning is one sentence`,
    );
    t.notOk(code.startsWith('AWS_'), `${code}: AWS_ is the family of AWS error codes, not a named code`);
  }
  for (const [code, meaning] of Object.entries(OUTCOME_CODES)) {
    t.notOk(Object.hasOwn(ERROR_CODES, code), `${code} is either thrown or only recorded, not both`);
    t.ok(meaning.trim().length > 10 && !meaning.includes('\n'), `${code}: meaning`);
  }
  t.ok(
    isErrorCode('AWS_AccessDenied') && isErrorCode('NOT_A_BUNDLE'),
    'isErrorCode knows table codes and the AWS_ family',
  );
  t.notOk(isErrorCode('NOT_A_CODE') || isErrorCode('AWS_'), 'and nothing else');
});

t.test('the error classes carry the code and the exit code the table gives', async (t) => {
  const u = new UsageError('NOT_A_BUNDLE', 'm');
  t.same([u.code, u.exitCode], ['NOT_A_BUNDLE', ERROR_CODES.NOT_A_BUNDLE.exit]);
  const v = new VerificationFailedError('CUSTODY_INVALID', 'm');
  t.same([v.code, v.exitCode], ['CUSTODY_INVALID', ERROR_CODES.CUSTODY_INVALID.exit]);
  const a = new AwsError('s3', 'getObject', 'AccessDenied', 'm');
  t.equal(a.code, 'AWS_AccessDenied', 'an AWS error code is prefixed AWS_');
  t.type(a, CleanroomError);
});

interface Site {
  file: string;
  line: number;
  code: string;
  exit: ExitCode | undefined;
  how: string;
}

/** Where a code is thrown, and the exit code its class gives (undefined when the scan cannot tell). */
function throwSites(): { sites: Site[]; problems: string[] } {
  const sites: Site[] = [];
  const problems: string[] = [];
  // Helpers that make an error of a known class from a code argument.
  const helpers: Record<string, ExitCode> = { refuse: 2, failed: 1 };
  for (const { file, text } of src) {
    for (const m of text.matchAll(/\bnew (\w+Error)\(|\bsuper\(|\b(refuse|failed)\(/g)) {
      const cls = m[1] ?? m[2] ?? 'super';
      const open = m.index! + m[0].length - 1;
      const args = callArgs(text, open);
      const line = lineOf(text, m.index!);
      const first = /^\s*('([^'\\]*)'|`([^`]*)`|[^,]*)/.exec(args)?.[1]?.trim() ?? '';
      const codeFirst = [
        'CleanroomError',
        'UsageError',
        'VerificationFailedError',
        'super',
        'refuse',
        'failed',
      ].includes(cls);
      if (codeFirst && /\bas\b/.test(first))
        problems.push(`${file}:${line}: the code of ${cls}(…) is cast (${first}); give a declared code`);
      // A template literal without a space is a code being built (messages have spaces).
      if (/^`[^\s`]*`$/.test(first) && !(file === 'src/domain/errors.ts' && first === '`AWS_${awsCode}`'))
        problems.push(
          `${file}:${line}: the code of ${cls}(…) is built from pieces (${first}); give each code as a literal`,
        );
      const lit = /^'([A-Z][A-Z0-9_]*)'$/.exec(first)?.[1];
      if (!lit) {
        // StackFailedError takes its code last (default ROOM_STACK_FAILED); AwsError takes it in opts.code.
        if (cls === 'StackFailedError')
          for (const c of args.matchAll(/'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'\s*,?\s*$/g))
            sites.push({ file, line, code: c[1]!, exit: 1, how: cls });
        continue;
      }
      let exit: ExitCode | undefined;
      if (cls === 'UsageError') exit = 2;
      else if (cls === 'VerificationFailedError') exit = 3;
      else if (cls === 'CleanroomError' || cls === 'super')
        exit = Number(/exitCode:\s*([123])\b/.exec(args)?.[1] ?? 1) as ExitCode;
      else if (cls in helpers) exit = helpers[cls];
      else if (cls === 'Error') problems.push(`${file}:${line}: a plain Error given a code`);
      sites.push({ file, line, code: lit, exit, how: cls });
    }
    // Codes passed on through an option or a default: `code: 'X'`, `code = 'X'`, `code: ErrorCode = 'X'`.
    for (const m of text.matchAll(/\bcode(?::\s*\w+)?\s*[:=]\s*'([A-Z][A-Z0-9_]*)'/g))
      sites.push({ file, line: lineOf(text, m.index!), code: m[1]!, exit: undefined, how: 'code:' });
  }
  return { sites, problems };
}

t.test(
  'no code is thrown that the vocabulary lacks, and no cast or built-up code sneaks past the compiler',
  async (t) => {
    const { sites, problems } = throwSites();
    t.ok(sites.length > 150, `${sites.length} throw sites found`);
    t.same(problems, [], 'no casts, no codes built from pieces');
    const undeclared = sites.filter((s) => !declared(s.code)).map((s) => `${s.file}:${s.line}: ${s.code}`);
    t.same(undeclared, [], 'every code thrown or recorded is declared');
    const casts = src
      .filter((f) => f.file !== VOCAB)
      .flatMap((f) =>
        [...f.text.matchAll(/\bas\s+(ErrorCode|NamedErrorCode|RecordedErrorCode|OutcomeCode|AwsErrorCode)\b/g)].map(
          (m) => `${f.file}:${lineOf(f.text, m.index!)}: as ${m[1]}`,
        ),
      );
    t.same(casts, [], 'no string is cast to an error code');
    // Comparisons: a code compared against must be one the product can produce.
    const compared = src.flatMap((f) =>
      [...f.text.matchAll(/\.code\s*[!=]==\s*'([A-Z][A-Z0-9_]*)'/g)].map((m) => ({
        where: `${f.file}:${lineOf(f.text, m.index!)}`,
        code: m[1]!,
      })),
    );
    // (Node's system error codes, ENOENT and the like, are compared on Node errors, not ours.)
    t.same(
      compared.filter((c) => !declared(c.code) && !/^E[A-Z]+$/.test(c.code)).map((c) => `${c.where}: ${c.code}`),
      [],
      'every code compared against is declared',
    );
  },
);

t.test("each throw site's error class agrees with the table's exit code", async (t) => {
  const wrong = throwSites()
    .sites.filter(
      (s) =>
        s.exit !== undefined &&
        Object.hasOwn(ERROR_CODES, s.code) &&
        ERROR_CODES[s.code as keyof typeof ERROR_CODES].exit !== s.exit,
    )
    .map(
      (s) =>
        `${s.file}:${s.line}: ${s.how}('${s.code}') exits ${s.exit}, the table says ${ERROR_CODES[s.code as keyof typeof ERROR_CODES].exit}`,
    );
  t.same(wrong, []);
});

t.test('every declared code is used somewhere in src (no dead entries)', async (t) => {
  const code = src
    .filter((f) => f.file !== VOCAB)
    .map((f) => f.text)
    .join('\n');
  const dead = [...Object.keys(ERROR_CODES), ...Object.keys(OUTCOME_CODES)].filter((c) => !code.includes(`'${c}'`));
  t.same(dead, []);
});

t.test("the Error codes table of docs/errors.md is the module's", async (t) => {
  const section = fs.readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
  t.ok(section.startsWith('# Error codes\n'), 'docs/errors.md is the "Error codes" page');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  t.match(readme, '](docs/errors.md)', 'the README links to it');
  const commands = fs.readFileSync(path.join(root, 'docs/commands.md'), 'utf8');
  t.match(commands, '](errors.md)', 'the CLI reference links to it');
  const rows = [...section.matchAll(/^\| `([A-Z][A-Za-z0-9_<>]*)` \| (\d|—) \| (.+) \|$/gm)].map((m) => ({
    code: m[1]!,
    exit: m[2]!,
    meaning: m[3]!,
  }));
  const want = [
    ...Object.entries(ERROR_CODES).map(([code, e]) => ({ code, exit: String(e.exit), meaning: e.meaning })),
    {
      code: 'AWS_<code>',
      exit: rows.find((r) => r.code === 'AWS_<code>')?.exit ?? '1',
      meaning: rows.find((r) => r.code === 'AWS_<code>')?.meaning ?? '',
    },
    ...Object.entries(OUTCOME_CODES).map(([code, meaning]) => ({ code, exit: '—', meaning })),
  ];
  t.same(rows.map((r) => r.code).sort(), want.map((r) => r.code).sort(), 'the same codes');
  t.same(
    rows.filter((r) => r.code !== 'AWS_<code>'),
    want.filter((r) => r.code !== 'AWS_<code>'),
    'in the same order, with the same exit codes and meanings',
  );
  t.ok((rows.find((r) => r.code === 'AWS_<code>')?.meaning ?? '').length > 10, 'the AWS_ family is documented');
});
