/**
 * Finds every AWS call the product sends, and the account it is sent in, with the TypeScript
 * compiler's type checker (not a text search), so that a call cannot slip past the IAM policy check.
 *
 * A port call is a call of a method declared in one of the command tables of src/aws/commands.ts
 * (the ports are mapped types over those tables, and the checker links each port method back to
 * its table entry — also through `Pick<…>`, aliases and destructuring). Outside src/aws/ a port
 * method may only be reached in the one form the attribution can follow:
 * `<account expression>.<port>.<method>(…)`. Anything else — a port destructured
 * (`const { ec2 } = account`), aliased (`const e = account.ec2`), passed to or returned from a
 * function, a method taken off its port (`const f = account.ec2.createVolume`), element access
 * (`account['ec2']`), an SDK client imported outside the adapter — is reported as an escape.
 *
 * The account of a call is found from the account expression, by rules the caller gives:
 * - a module rule per file: a fixed account set (isolate runs in the source account, the room in
 *   the forensic account, …) or `by-variable`;
 * - property rules (`AcquireDeps.source` is the source account, `AwsAccount.single` is the same
 *   account as its owner, …);
 * - a function parameter holding an account is resolved from every call site of the function in
 *   the scanned files (interprocedurally); a parameter no scanned code calls is an entry point,
 *   which only a fixed module rule (or an explicit parameter rule) can attribute.
 * Anything the rules do not cover is reported, never guessed; a rule that nothing uses is reported
 * too, so the rules cannot rot.
 */
import ts from 'typescript';
import path from 'node:path';
import * as commands from '../../src/aws/commands.js';

export type AccountKind = 'source' | 'forensic';

/** How the account of the calls in a module is decided. */
export type ModuleRule = { accounts: readonly AccountKind[]; why: string } | { byVariable: true; why: string };

/** What a property (declared on a named interface/class) holding an account, or a function returning one, is. */
export type PropertyRule = { accounts: readonly AccountKind[]; why: string } | { sameAsOwner: true; why: string };

/** A function parameter the call sites cannot resolve: fixed accounts, or the same as another function's parameter. */
export type ParameterRule = { accounts: readonly AccountKind[]; why: string } | { sameAs: string; why: string };

export interface Rules {
  /** Path prefix relative to the root (`src/workflows/room/`, or a file) → rule; the longest prefix wins. */
  modules: Record<string, ModuleRule>;
  /** `Interface.property` → rule. */
  properties: Record<string, PropertyRule>;
  /** `file#Function.param` (`src/evidence/watch.ts#describe.account`) → rule. */
  parameters: Record<string, ParameterRule>;
}

export interface PortCall {
  file: string;
  line: number;
  /** The IAM service prefix and SDK operation: `ec2:CreateVolume`. */
  operation: string;
  accounts: AccountKind[];
  receiver: string;
}

export interface Finding {
  file: string;
  line: number;
  text: string;
  message: string;
}

export interface ScanResult {
  calls: PortCall[];
  /** A port or port method reached in a form the scan cannot attribute. */
  escapes: Finding[];
  /** A port call whose account the rules do not decide (or decide inconsistently). */
  unattributed: Finding[];
  /** Files with port calls that no module rule classifies. */
  unclassified: string[];
  /** Rules nothing used. */
  unusedRules: string[];
}

type Resolved = { accounts: Set<AccountKind>; via: string[] } | { error: string };

/** Files under src/aws/ may build and hold ports (the adapter); nowhere else may. */
const ADAPTER_DIR = 'src/aws/';
/** The only modules that may import the AWS SDK. */
const SDK_IMPORTERS = new Set(['src/aws/commands.ts', 'src/aws/account.ts']);

/** Every port method name (`createVolume`, …), to catch one called on a value typed `any`. */
const PORT_METHOD_NAMES = new Set(Object.values(commands.SERVICE_TABLES).flatMap((table) => Object.keys(table)));

/** Service prefix of each command table (`EC2_COMMANDS` → `ec2`), from SERVICE_TABLES itself. */
function tableServices(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [service, table] of Object.entries(commands.SERVICE_TABLES)) {
    const name = Object.entries(commands).find(([k, v]) => v === table && k !== 'SERVICE_TABLES')?.[0];
    if (!name) throw new Error(`no exported table for service ${service} in src/aws/commands.ts`);
    out.set(name, service.split('#')[0]!);
  }
  return out;
}

/** One compiled program over src/ (and any extra files, e.g. test fixtures), reused by every scan. */
export class PortCallScanner {
  readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  private readonly commandsFile: string;
  private readonly services = tableServices();
  /** Port property names of AwsAccount (`ec2`, `kms`, …), from src/aws/ports.ts. */
  readonly portNames: ReadonlySet<string>;
  private callsByFunction?: Map<ts.Node, Array<ts.CallExpression | ts.NewExpression>>;
  private scanFiles = new Set<string>();

  constructor(
    readonly root: string,
    extraFiles: readonly string[] = [],
  ) {
    const cfg = ts.getParsedCommandLineOfConfigFile(
      path.join(root, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!cfg) throw new Error('cannot read tsconfig.json');
    this.program = ts.createProgram({
      rootNames: [...cfg.fileNames, ...extraFiles],
      options: { ...cfg.options, noEmit: true, rootDir: root },
    });
    this.checker = this.program.getTypeChecker();
    this.commandsFile = path.join(root, 'src/aws/commands.ts');
    const ports = this.program.getSourceFile(path.join(root, 'src/aws/ports.ts'));
    const account = ports?.statements.find(
      (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'AwsAccount',
    );
    if (!account) throw new Error('src/aws/ports.ts has no interface AwsAccount');
    const names = new Set<string>();
    for (const m of account.members) {
      if (
        ts.isPropertySignature(m) &&
        m.type &&
        ts.isTypeReferenceNode(m.type) &&
        /Port$/.test(m.type.typeName.getText())
      )
        names.add((m.name as ts.Identifier).text);
    }
    this.portNames = names;
  }

  rel(file: string): string {
    return path.relative(this.root, file).split(path.sep).join('/');
  }

  /** The product's files the policy check covers: src/ outside src/cli/. */
  productFiles(): string[] {
    return this.srcFiles().filter((f) => !f.startsWith('src/cli/'));
  }

  /** The CLI host's files (they must send nothing themselves). */
  cliFiles(): string[] {
    return this.srcFiles().filter((f) => f.startsWith('src/cli/'));
  }

  private srcFiles(): string[] {
    return this.program
      .getSourceFiles()
      .map((sf) => this.rel(sf.fileName))
      .filter((f) => f.startsWith('src/') && !f.endsWith('.d.ts'));
  }

  /** Scan these files (relative paths) under the rules. */
  scan(files: readonly string[], rules: Rules): ScanResult {
    this.scanFiles = new Set(files);
    this.callsByFunction = undefined;
    const used = new Set<string>();
    const result: ScanResult = { calls: [], escapes: [], unattributed: [], unclassified: [], unusedRules: [] };
    const unclassified = new Set<string>();
    for (const f of files) {
      const sf = this.program.getSourceFile(path.join(this.root, f));
      if (!sf) throw new Error(`${f} is not in the program`);
      this.scanFile(sf, rules, used, result, unclassified);
    }
    result.unclassified = [...unclassified].sort();
    const all = [
      ...Object.keys(rules.properties).map((k) => `property ${k}`),
      ...Object.keys(rules.parameters).map((k) => `parameter ${k}`),
    ];
    result.unusedRules = all.filter((k) => !used.has(k));
    return result;
  }

  private finding(node: ts.Node, message: string): Finding {
    const sf = node.getSourceFile();
    return {
      file: this.rel(sf.fileName),
      line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      text: node.getText().slice(0, 120),
      message,
    };
  }

  /** `ec2:CreateVolume` when the symbol is a command-table entry, else undefined. */
  private portOperation(symbol: ts.Symbol | undefined): string | undefined {
    for (const d of symbol?.declarations ?? []) {
      if (d.getSourceFile().fileName !== this.commandsFile || !ts.isPropertyAssignment(d)) continue;
      let table: ts.Node = d.parent.parent;
      while (ts.isAsExpression(table) || ts.isSatisfiesExpression(table) || ts.isParenthesizedExpression(table))
        table = table.parent;
      if (!ts.isVariableDeclaration(table) || !ts.isIdentifier(table.name)) continue;
      const service = this.services.get(table.name.text);
      const name = (d.name as ts.Identifier).text;
      if (service) return `${service}:${name.charAt(0).toUpperCase()}${name.slice(1)}`;
    }
    return undefined;
  }

  /** A type that has a port method among its properties (a port, a Pick of one, an object holding only port methods). */
  private isPortLike(type: ts.Type): boolean {
    const parts = type.isUnion() ? type.types : [type];
    return parts.some((p) => p.getProperties().some((s) => this.portOperation(s) !== undefined));
  }

  /** `X.<port>` where `<port>` is an AwsAccount port property (declared in src/aws/). */
  private isAccountPort(node: ts.Node): node is ts.PropertyAccessExpression {
    if (!ts.isPropertyAccessExpression(node) || !this.portNames.has(node.name.text)) return false;
    const s = this.checker.getSymbolAtLocation(node.name);
    return (s?.declarations ?? []).some((d) => this.rel(d.getSourceFile().fileName).startsWith(ADAPTER_DIR));
  }

  private scanFile(
    sf: ts.SourceFile,
    rules: Rules,
    used: Set<string>,
    out: ScanResult,
    unclassified: Set<string>,
  ): void {
    const file = this.rel(sf.fileName);
    const inAdapter = file.startsWith(ADAPTER_DIR);
    const moduleRule = ruleFor(rules.modules, file);
    let hasCalls = false;

    const visit = (node: ts.Node): void => {
      // The SDK only behind the adapter.
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        if (node.moduleSpecifier.text.startsWith('@aws-sdk/') && !SDK_IMPORTERS.has(file))
          out.escapes.push(
            this.finding(
              node,
              `imports ${node.moduleSpecifier.text}: only src/aws/commands.ts and src/aws/account.ts may use the SDK, everything else goes through the ports`,
            ),
          );
      }
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        const a = node.arguments[0];
        if (a && ts.isStringLiteral(a) && a.text.startsWith('@aws-sdk/') && !SDK_IMPORTERS.has(file))
          out.escapes.push(this.finding(node, `requires ${a.text} outside the adapter`));
      }
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const a = node.arguments[0];
        if (!a || !ts.isStringLiteral(a) || a.text.startsWith('@aws-sdk/'))
          out.escapes.push(
            this.finding(node, 'dynamic import of the SDK (or of a computed module) outside the adapter'),
          );
      }

      // Every reference to a port method.
      if (ts.isIdentifier(node) && !isInType(node) && !isDeclarationName(node)) {
        const op = this.portOperation(this.checker.getSymbolAtLocation(node)) ?? this.bindingOperation(node);
        if (op) {
          const access = node.parent;
          const canonical =
            ts.isPropertyAccessExpression(access) &&
            access.name === node &&
            ts.isCallExpression(access.parent) &&
            access.parent.expression === access &&
            this.isAccountPort(access.expression);
          if (canonical) {
            hasCalls = true;
            const port = (access as ts.PropertyAccessExpression).expression as ts.PropertyAccessExpression;
            const accounts = this.attribute(
              port.expression,
              file,
              moduleRule,
              rules,
              used,
              out,
              access.parent as ts.CallExpression,
            );
            out.calls.push({
              file,
              line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
              operation: op,
              accounts,
              receiver: port.expression.getText(),
            });
          } else if (inAdapter && ts.isCallExpression(access.parent) && access.parent.expression === access) {
            // The adapter's own calls (account.ts asks STS who the caller is, for every account).
            hasCalls = true;
            const accounts = moduleRule && 'accounts' in moduleRule ? [...moduleRule.accounts] : [];
            if (!accounts.length)
              out.unattributed.push(this.finding(node, `${op} in the adapter needs a module rule with fixed accounts`));
            out.calls.push({
              file,
              line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
              operation: op,
              accounts,
              receiver: '(adapter)',
            });
          } else {
            out.escapes.push(
              this.finding(
                access,
                `${op} is reached other than as <account>.<port>.${node.text}(…) (a method taken off its port, a destructured or aliased port)`,
              ),
            );
          }
        }
      }

      if (!inAdapter && ts.isPropertyAccessExpression(node) && PORT_METHOD_NAMES.has(node.name.text)) {
        // `(account as any).ec2.createVolume(…)`: the checker cannot see a port through `any`.
        const objectType = this.safeType(node.expression);
        if (objectType && objectType.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) {
          out.escapes.push(
            this.finding(
              node,
              `${node.name.text} is called on a value typed any/unknown: the type checker cannot tell whether it is a port; type it as a port of an AwsAccount`,
            ),
          );
        }
      }
      if (!inAdapter) {
        // A port-typed value anywhere but as the object of a canonical call.
        if (isValueExpression(node)) {
          const type = this.safeType(node);
          if (type && this.isPortLike(type)) {
            const ok =
              this.isAccountPort(node) &&
              ts.isPropertyAccessExpression(node.parent) &&
              node.parent.expression === node &&
              ts.isCallExpression(node.parent.parent) &&
              node.parent.parent.expression === node.parent;
            if (!ok)
              out.escapes.push(
                this.finding(
                  node,
                  `a port (${this.checker.typeToString(type).slice(0, 60)}) is used as a value: call it as <account>.<port>.<method>(…) so the policy check can attribute the call`,
                ),
              );
          }
        }
        // A declaration (variable, parameter, binding, property) of a port type.
        if (
          (ts.isVariableDeclaration(node) ||
            ts.isParameter(node) ||
            ts.isBindingElement(node) ||
            ts.isPropertySignature(node) ||
            ts.isPropertyDeclaration(node)) &&
          node.name
        ) {
          const type = this.safeType(node.name);
          if (type && this.isPortLike(type))
            out.escapes.push(
              this.finding(
                node,
                `declares a port (${this.checker.typeToString(type).slice(0, 60)}): ports stay on their account`,
              ),
            );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    if (hasCalls && !moduleRule) unclassified.add(file);
  }

  /** A destructured port method (`const { createVolume } = account.ec2`): the operation, when it is one. */
  private bindingOperation(node: ts.Identifier): string | undefined {
    const b = node.parent;
    if (!ts.isBindingElement(b) || !ts.isObjectBindingPattern(b.parent)) return undefined;
    const prop =
      b.propertyName && ts.isIdentifier(b.propertyName)
        ? b.propertyName.text
        : ts.isIdentifier(b.name)
          ? b.name.text
          : undefined;
    if (!prop) return undefined;
    const t = this.safeType(b.parent);
    return t ? this.portOperation(t.getProperty(prop)) : undefined;
  }

  private safeType(node: ts.Node): ts.Type | undefined {
    try {
      return this.checker.getTypeAtLocation(node);
    } catch {
      return undefined;
    }
  }

  // ------------------------------------------------------------------ attribution

  private attribute(
    expr: ts.Expression,
    file: string,
    moduleRule: ModuleRule | undefined,
    rules: Rules,
    used: Set<string>,
    out: ScanResult,
    call: ts.CallExpression,
  ): AccountKind[] {
    const r = this.resolve(expr, rules, used, new Set());
    const fixed = moduleRule && 'accounts' in moduleRule ? new Set(moduleRule.accounts) : undefined;
    if ('error' in r) {
      if (fixed) return [...fixed].sort();
      out.unattributed.push(this.finding(call, `cannot tell which account ${expr.getText()} is: ${r.error}`));
      return [];
    }
    const accounts = [...r.accounts].sort();
    if (fixed && accounts.some((a) => !fixed.has(a))) {
      out.unattributed.push(
        this.finding(
          call,
          `${file} is classified ${[...fixed].join('+')} but this call is reached with the ${accounts.join('+')} account (via ${r.via.join(' ← ')})`,
        ),
      );
    }
    if (!accounts.length) out.unattributed.push(this.finding(call, `${expr.getText()} resolves to no account`));
    return fixed && !accounts.length ? [...fixed].sort() : accounts;
  }

  /** Every call/new site in the scanned files, by the function declaration it calls. */
  private callSites(): Map<ts.Node, Array<ts.CallExpression | ts.NewExpression>> {
    if (this.callsByFunction) return this.callsByFunction;
    const map = new Map<ts.Node, Array<ts.CallExpression | ts.NewExpression>>();
    for (const f of this.scanFiles) {
      const sf = this.program.getSourceFile(path.join(this.root, f))!;
      const visit = (n: ts.Node): void => {
        if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
          const decl = this.checker.getResolvedSignature(n)?.declaration;
          if (decl && !ts.isJSDocSignature(decl)) map.set(decl, [...(map.get(decl) ?? []), n]);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    this.callsByFunction = map;
    return map;
  }

  private resolve(expr: ts.Expression, rules: Rules, used: Set<string>, seen: Set<ts.Node>): Resolved {
    const e = unwrap(expr);
    if (seen.has(e)) return { accounts: new Set(), via: [] };
    seen.add(e);
    const here = `${this.rel(e.getSourceFile().fileName)}:${e.getSourceFile().getLineAndCharacterOfPosition(e.getStart()).line + 1} ${e.getText().slice(0, 40)}`;
    const union = (...parts: ts.Expression[]) => {
      const acc = new Set<AccountKind>();
      const via: string[] = [];
      for (const p of parts) {
        const r = this.resolve(p, rules, used, seen);
        if ('error' in r) return r;
        for (const a of r.accounts) acc.add(a);
        via.push(...r.via);
      }
      return { accounts: acc, via: [here, ...via] };
    };

    if (
      e.kind === ts.SyntaxKind.NullKeyword ||
      (ts.isIdentifier(e) && e.text === 'undefined') ||
      (ts.isArrayLiteralExpression(e) && e.elements.length === 0)
    )
      return { accounts: new Set(), via: [] };
    if (
      ts.isBinaryExpression(e) &&
      [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(e.operatorToken.kind)
    )
      return union(e.left, e.right);
    if (ts.isConditionalExpression(e)) return union(e.whenTrue, e.whenFalse);
    if (ts.isArrayLiteralExpression(e))
      return union(...e.elements.map((x) => (ts.isSpreadElement(x) ? x.expression : x)));
    if (ts.isElementAccessExpression(e)) return union(e.expression);
    if (ts.isCallExpression(e)) {
      const callee = unwrap(e.expression);
      if (
        ts.isPropertyAccessExpression(callee) &&
        ['filter', 'slice', 'concat', 'flat', 'at', 'find'].includes(callee.name.text) &&
        this.checker.isArrayType(this.checker.getTypeAtLocation(callee.expression))
      ) {
        return union(callee.expression, ...(callee.name.text === 'concat' ? e.arguments : []));
      }
      const s = ts.isPropertyAccessExpression(callee)
        ? this.checker.getSymbolAtLocation(callee.name)
        : ts.isIdentifier(callee)
          ? this.checker.getSymbolAtLocation(callee)
          : undefined;
      const key = s && ownerKey(s);
      const rule = key ? rules.properties[key] : undefined;
      if (rule && 'accounts' in rule) {
        used.add(`property ${key}`);
        return { accounts: new Set(rule.accounts), via: [here] };
      }
      return { error: `${here}: a call whose result is an account needs a property rule${key ? ` for ${key}` : ''}` };
    }
    if (ts.isPropertyAccessExpression(e)) {
      const s = this.checker.getSymbolAtLocation(e.name);
      const key = s && ownerKey(s);
      const rule = key ? rules.properties[key] : undefined;
      // A property of an anonymous parameter type (`o: { account: AwsAccount; … }`): followed into
      // the object literals the call sites pass. A named type needs a rule.
      if (!rule && !key) return this.resolveFromLiterals(e.expression, e.name.text, rules, used, seen, here);
      if (!rule) return { error: `${here}: no property rule for ${key ?? e.getText()}` };
      used.add(`property ${key}`);
      if ('sameAsOwner' in rule) return union(e.expression);
      return { accounts: new Set(rule.accounts), via: [here] };
    }
    if (ts.isIdentifier(e) || e.kind === ts.SyntaxKind.ThisKeyword) {
      const s = this.checker.getSymbolAtLocation(e);
      const decl = s?.valueDeclaration ?? s?.declarations?.[0];
      if (!decl) return { error: `${here}: no declaration` };
      return this.resolveDeclaration(decl, rules, used, seen, here);
    }
    return { error: `${here}: an account from a ${ts.SyntaxKind[e.kind]} cannot be followed` };
  }

  private resolveDeclaration(
    decl: ts.Declaration,
    rules: Rules,
    used: Set<string>,
    seen: Set<ts.Node>,
    here: string,
  ): Resolved {
    if (ts.isParameter(decl)) return this.resolveParameter(decl, rules, used, seen, here);
    if (ts.isBindingElement(decl)) return this.resolveBinding(decl, rules, used, seen, here);
    if (ts.isVariableDeclaration(decl)) {
      const list = decl.parent;
      const from = (x: ts.Expression): Resolved => {
        const r = this.resolve(x, rules, used, seen);
        return 'error' in r ? r : { accounts: r.accounts, via: [here, ...r.via] };
      };
      if (ts.isVariableDeclarationList(list) && ts.isForOfStatement(list.parent)) return from(list.parent.expression);
      if (ts.isVariableDeclarationList(list) && list.flags & ts.NodeFlags.Const && decl.initializer)
        return from(decl.initializer);
      return { error: `${here}: only a const with an initializer (or a for-of variable) can be followed` };
    }
    return { error: `${here}: an account held in a ${ts.SyntaxKind[decl.kind]} cannot be followed` };
  }

  /** `o.account` where `o` is a parameter: the `account` property of the object literal each call site passes. */
  private resolveFromLiterals(
    obj: ts.Expression,
    prop: string,
    rules: Rules,
    used: Set<string>,
    seen: Set<ts.Node>,
    here: string,
  ): Resolved {
    const o = unwrap(obj);
    const decl = ts.isIdentifier(o) ? this.checker.getSymbolAtLocation(o)?.valueDeclaration : undefined;
    if (!decl || !ts.isParameter(decl))
      return {
        error: `${here}: no property rule, and ${o.getText()} is not a parameter whose call sites pass object literals`,
      };
    const fn = decl.parent as ts.SignatureDeclaration;
    const index = fn.parameters.indexOf(decl);
    const sites = this.callSites().get(fn) ?? [];
    if (!sites.length) {
      // An entry point taking an anonymous deps object: only an explicit rule can say what it holds.
      const name = functionName(fn);
      const key =
        name && ts.isIdentifier(decl.name)
          ? `${this.rel(decl.getSourceFile().fileName)}#${name}.${decl.name.text}.${prop}`
          : undefined;
      const rule = key ? rules.parameters[key] : undefined;
      if (rule && 'accounts' in rule) {
        used.add(`parameter ${key}`);
        return { accounts: new Set(rule.accounts), via: [here, `rule ${key}`] };
      }
      return {
        error: `${here}: ${name ?? 'the function'} is called by no scanned code, so ${o.getText()}.${prop} cannot be followed; name the deps type and give its property a rule, or add a parameter rule for ${key ?? '(an anonymous function)'}`,
      };
    }
    const acc = new Set<AccountKind>();
    const via = [here];
    for (const call of sites) {
      const arg = call.arguments?.[index];
      const lit = arg && unwrap(arg);
      if (!lit || !ts.isObjectLiteralExpression(lit))
        return { error: `${here}: a call site passes ${arg?.getText() ?? 'nothing'}, not an object literal` };
      const p = lit.properties.find(
        (x) =>
          (ts.isPropertyAssignment(x) || ts.isShorthandPropertyAssignment(x)) &&
          ts.isIdentifier(x.name) &&
          x.name.text === prop,
      );
      if (!p || lit.properties.some(ts.isSpreadAssignment))
        return {
          error: `${here}: the object literal at ${this.rel(lit.getSourceFile().fileName)}:${lit.getSourceFile().getLineAndCharacterOfPosition(lit.getStart()).line + 1} has no plain ${prop}`,
        };
      const r = ts.isPropertyAssignment(p)
        ? this.resolve(p.initializer, rules, used, seen)
        : this.resolveDeclaration(
            this.checker.getShorthandAssignmentValueSymbol(p)?.valueDeclaration ?? p,
            rules,
            used,
            seen,
            here,
          );
      if ('error' in r) return r;
      for (const a of r.accounts) acc.add(a);
      via.push(...r.via);
    }
    return { accounts: acc, via };
  }

  private resolveBinding(
    b: ts.BindingElement,
    rules: Rules,
    used: Set<string>,
    _seen: Set<ts.Node>,
    here: string,
  ): Resolved {
    const pattern = b.parent;
    if (!ts.isObjectBindingPattern(pattern))
      return { error: `${here}: an account from array destructuring cannot be followed` };
    const prop =
      b.propertyName && ts.isIdentifier(b.propertyName)
        ? b.propertyName.text
        : ts.isIdentifier(b.name)
          ? b.name.text
          : undefined;
    const t = this.safeType(pattern);
    const s = prop && t ? t.getProperty(prop) : undefined;
    const key = s && ownerKey(s);
    const rule = key ? rules.properties[key] : undefined;
    if (!rule || !('accounts' in rule)) return { error: `${here}: no property rule for ${key ?? prop}` };
    used.add(`property ${key}`);
    return { accounts: new Set(rule.accounts), via: [here] };
  }

  private resolveParameter(
    p: ts.ParameterDeclaration,
    rules: Rules,
    used: Set<string>,
    seen: Set<ts.Node>,
    here: string,
  ): Resolved {
    const fn = p.parent as ts.SignatureDeclaration;
    const name = functionName(fn);
    const file = this.rel(p.getSourceFile().fileName);
    const key = name && ts.isIdentifier(p.name) ? `${file}#${name}.${p.name.text}` : undefined;
    const rule = key ? rules.parameters[key] : undefined;
    if (rule) {
      used.add(`parameter ${key}`);
      if ('accounts' in rule) return { accounts: new Set(rule.accounts), via: [here, `rule ${key}`] };
      const target = this.findParameter(rule.sameAs);
      if (!target) return { error: `parameter rule ${key}: ${rule.sameAs} is not a parameter in the scanned files` };
      return this.resolveParameter(target, rules, used, seen, `${here} (same as ${rule.sameAs})`);
    }
    const index = fn.parameters.indexOf(p);
    const sites = this.callSites().get(fn) ?? [];
    if (sites.length === 0) {
      const m = ruleFor(rules.modules, file);
      if (m && 'accounts' in m)
        return { accounts: new Set(m.accounts), via: [here, `entry point of ${file} (${m.accounts.join('+')})`] };
      return {
        error: `${here}: ${name ?? 'this function'} is called by no scanned code (an entry point or a callback), so its account parameter cannot be followed; pass the accounts in a deps object whose properties have rules, or add a parameter rule for ${key ?? '(an anonymous function)'}`,
      };
    }
    const acc = new Set<AccountKind>();
    const via: string[] = [here];
    for (const call of sites) {
      const args = call.arguments ?? ts.factory.createNodeArray();
      if (p.dotDotDotToken || args.some((a, i) => i <= index && ts.isSpreadElement(a)))
        return { error: `${here}: spread/rest arguments cannot be followed` };
      const arg = args[index];
      if (!arg) continue;
      const r = this.resolve(arg, rules, used, seen);
      if ('error' in r) return r;
      for (const a of r.accounts) acc.add(a);
      via.push(...r.via);
    }
    return { accounts: acc, via };
  }

  /** `file#Function.param` → the parameter declaration. */
  private findParameter(spec: string): ts.ParameterDeclaration | undefined {
    const m = /^(.+)#(.+)\.([^.]+)$/.exec(spec);
    if (!m) return undefined;
    const sf = this.program.getSourceFile(path.join(this.root, m[1]!));
    let found: ts.ParameterDeclaration | undefined;
    const visit = (n: ts.Node): void => {
      if (found) return;
      if (
        ts.isParameter(n) &&
        ts.isIdentifier(n.name) &&
        n.name.text === m[3] &&
        functionName(n.parent as ts.SignatureDeclaration) === m[2]
      )
        found = n;
      ts.forEachChild(n, visit);
    };
    if (sf) visit(sf);
    return found;
  }
}

/** The longest matching prefix rule. */
function ruleFor<T>(rules: Record<string, T>, file: string): T | undefined {
  const keys = Object.keys(rules).filter((k) => file === k || (k.endsWith('/') && file.startsWith(k)));
  keys.sort((a, b) => b.length - a.length);
  return keys.length ? rules[keys[0]!] : undefined;
}

/** `Interface.property` of a property symbol (the interface, class or type alias declaring it). */
function ownerKey(s: ts.Symbol): string | undefined {
  const d = s.declarations?.[0];
  if (!d) return undefined;
  let owner: ts.Node | undefined = d.parent;
  if (owner && ts.isTypeLiteralNode(owner) && ts.isTypeAliasDeclaration(owner.parent)) owner = owner.parent;
  if (
    owner &&
    (ts.isInterfaceDeclaration(owner) || ts.isClassDeclaration(owner) || ts.isTypeAliasDeclaration(owner)) &&
    owner.name
  )
    return `${owner.name.text}.${s.name}`;
  // A constructor parameter property (`constructor(readonly account: AwsAccount)`).
  if (ts.isParameter(d) && ts.isConstructorDeclaration(d.parent) && d.parent.parent.name)
    return `${d.parent.parent.name.text}.${s.name}`;
  return undefined;
}

/** `name` of a function declaration, `Class.method` of a method, the variable name of an arrow function. */
function functionName(fn: ts.SignatureDeclaration): string | undefined {
  if ((ts.isFunctionDeclaration(fn) || ts.isFunctionExpression(fn)) && fn.name) return fn.name.text;
  if ((ts.isMethodDeclaration(fn) || ts.isConstructorDeclaration(fn)) && ts.isClassLike(fn.parent)) {
    const cls = fn.parent.name?.text ?? '(class)';
    return ts.isConstructorDeclaration(fn) ? `${cls}.constructor` : `${cls}.${(fn.name as ts.Identifier).text}`;
  }
  if (
    (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) &&
    ts.isVariableDeclaration(fn.parent) &&
    ts.isIdentifier(fn.parent.name)
  )
    return fn.parent.name.text;
  return undefined;
}

function unwrap(e: ts.Expression): ts.Expression {
  for (;;) {
    if (
      ts.isParenthesizedExpression(e) ||
      ts.isAwaitExpression(e) ||
      ts.isNonNullExpression(e) ||
      ts.isAsExpression(e) ||
      ts.isTypeAssertionExpression(e) ||
      ts.isSatisfiesExpression(e)
    )
      e = e.expression;
    else return e;
  }
}

function isInType(node: ts.Node): boolean {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if (
      ts.isTypeNode(n) ||
      ts.isTypeAliasDeclaration(n) ||
      ts.isInterfaceDeclaration(n) ||
      ts.isImportDeclaration(n) ||
      ts.isExportDeclaration(n) ||
      ts.isImportSpecifier(n)
    )
      return true;
    if (ts.isStatement(n) || ts.isBlock(n)) return false;
  }
  return false;
}

/** The name of a property/method declaration (a command table's own entries, an interface member). */
function isDeclarationName(node: ts.Identifier): boolean {
  const p = node.parent;
  return (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodSignature(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isMethodDeclaration(p)) &&
    p.name === node
  );
}

/** An expression whose value is used (not a declaration name, not the name part of an access). */
function isValueExpression(node: ts.Node): node is ts.Expression {
  if (!ts.isExpression(node) || isInType(node)) return false;
  const p = node.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === node) return false;
  const declaresName =
    ts.isVariableDeclaration(p) ||
    ts.isParameter(p) ||
    ts.isBindingElement(p) ||
    ts.isPropertyAssignment(p) ||
    ts.isPropertyDeclaration(p) ||
    ts.isFunctionDeclaration(p) ||
    ts.isMethodDeclaration(p) ||
    ts.isClassDeclaration(p) ||
    ts.isPropertySignature(p);
  if (declaresName && (p as { name?: ts.Node }).name === node) return false;
  return !(ts.isBindingElement(p) && p.propertyName === node);
}
