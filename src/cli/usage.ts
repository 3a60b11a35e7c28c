/**
 * Usage errors from the parser (yargs), turned into the contract's errors: exit 2, a stable code,
 * and a message that names the option as the user typed it, the command it was given to, and the
 * fix. With --json they are printed like every other failure, as the one document on stdout.
 *
 * Codes: UNKNOWN_OPTION, UNKNOWN_COMMAND, UNEXPECTED_ARGUMENT, MISSING_OPTION, MISSING_VALUE,
 * MISSING_COMMAND, CONFLICTING_OPTIONS, INVALID_VALUE, USAGE (anything else the parser refuses).
 */
import { CleanroomError, UsageError } from '../domain/errors.js';

/** The command tree, for naming the command an error belongs to (kept in step with commands/). */
export const COMMAND_TREE: Readonly<Record<string, readonly string[]>> = {
  vault: ['init', 'verify'],
  room: ['up', 'verify', 'status', 'list', 'down'],
  isolate: [],
  acquire: [],
  evidence: ['list', 'attach', 'detach'],
  custody: ['log', 'verify', 'export', 'seal'],
  case: ['close'],
  memory: ['tools'],
};

const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** The command path as typed (`custody export`), from the leading words of the command line. */
export function typedCommand(argv: readonly string[]): string[] {
  // The first word that is a command (values of options before it, like --region R, are skipped).
  const words = argv.filter((a) => !a.startsWith('-'));
  const at = words.findIndex((w) => Object.hasOwn(COMMAND_TREE, w));
  if (at < 0) return [];
  const top = words[at]!;
  const sub = words[at + 1];
  return sub && COMMAND_TREE[top]!.includes(sub) ? [top, sub] : [top];
}

/** Does the command line ask for JSON output (`--json`, `--json=true`)? */
export function wantsJson(argv: readonly string[]): boolean {
  let json = false;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--json' || a === '--json=true') json = true;
    if (a === '--no-json' || a === '--json=false') json = false;
  }
  return json;
}

/** The option as the user typed it (`--source-role-arn`, `-x`), from a name yargs reports. */
function asTyped(name: string, argv: readonly string[]): { flag: string; typed: boolean } {
  for (const form of new Set([name, kebab(name)])) {
    for (const a of argv) {
      const bare = a.split('=')[0]!;
      if (
        bare === `--${form}` ||
        bare === `--no-${form}` ||
        (form.length === 1 && /^-[^-]/.test(a) && a.slice(1).includes(form))
      ) {
        return { flag: bare.startsWith('--') ? bare : `-${form}`, typed: true };
      }
    }
  }
  return { flag: name, typed: false };
}

/**
 * Errors thrown by option checks inside the parser (`coerce`): yargs re-throws them as its own
 * error with the same message, so they are remembered here to keep their code and details.
 */
const fromChecks = new Map<string, CleanroomError>();

/** Throw `e` from a check that yargs runs (coerce), keeping its code through the parser. */
export function throwFromCheck(e: CleanroomError): never {
  fromChecks.set(e.message, e);
  throw e;
}

/** Turn a yargs failure into the contract's usage error. */
export function usageError(msg: string | undefined, err: Error | undefined, argv: readonly string[]): CleanroomError {
  if (err instanceof CleanroomError) return err;
  const remembered = fromChecks.get(err?.message ?? msg ?? '');
  if (remembered) return remembered;
  const cmd = typedCommand(argv);
  const where = cmd.length ? `\`cleanroom ${cmd.join(' ')}\`` : '`cleanroom`';
  const help = `See \`cleanroom${cmd.length ? ` ${cmd.join(' ')}` : ''} --help\`.`;
  const text = (msg ?? err?.message ?? 'bad usage').trim();
  const details = { command: cmd.join(' ') };

  let m = /^Unknown arguments?: (.*)$/s.exec(text);
  if (m) return unknownArguments(m[1]!, argv, { cmd, where, help, details });
  m = /^Did you mean (.*)\?$/.exec(text);
  if (m) {
    const given = argv.find((a) => !a.startsWith('-') && !(cmd as string[]).includes(a));
    return new UsageError(
      'UNKNOWN_COMMAND',
      `Unknown command ${JSON.stringify(given ?? '')}${cmd.length ? ` for ${where}` : ''}: did you mean ${m[1]}? ${help}`,
      { details: { ...details, given, suggestion: m[1] } },
    );
  }
  m = /^Missing required arguments?: (.*)$/.exec(text);
  if (m) {
    const flags = m[1]!.split(', ').map((n) => `--${kebab(n)}`);
    return new UsageError('MISSING_OPTION', `${where} needs ${flags.join(' and ')}. ${help}`, {
      details: { ...details, options: flags },
    });
  }
  m = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(text);
  if (m) {
    const a = `--${kebab(m[1]!)}`;
    const b = `--${kebab(m[2]!)}`;
    return new UsageError(
      'CONFLICTING_OPTIONS',
      `${a} and ${b} are mutually exclusive (${where}): give one of them. ${help}`,
      { details: { ...details, options: [a, b] } },
    );
  }
  m = /^Invalid values?:\s*Argument: (\S+), Given: (.*), Choices: (.*)$/s.exec(text);
  if (m) {
    const flag = `--${kebab(m[1]!)}`;
    return new UsageError('INVALID_VALUE', `${flag} must be one of ${m[3]!.replace(/"/g, '')}, got ${m[2]}. ${help}`, {
      details: { ...details, option: flag },
    });
  }
  m = /^Not enough arguments following: (.*)$/.exec(text);
  if (m) {
    const flag = asTyped(m[1]!, argv).flag;
    return new UsageError(
      'MISSING_VALUE',
      `${flag.startsWith('-') ? flag : `--${flag}`} needs a value (${where}). ${help}`,
      { details: { ...details, option: flag } },
    );
  }
  if (/^Name (a|an) .*command/.test(text)) return new UsageError('MISSING_COMMAND', `${text} ${help}`, { details });
  if (/^Give /.test(text)) return new UsageError('MISSING_OPTION', `${text} ${help}`, { details });
  return new UsageError('USAGE', `${text} ${help}`, { details });
}

/** yargs' "Unknown argument(s)": options the command does not have, an unknown command, or words it does not take. */
function unknownArguments(
  list: string,
  argv: readonly string[],
  c: { cmd: readonly string[]; where: string; help: string; details: { command: string } },
): CleanroomError {
  const { cmd, where, help, details } = c;
  const seen = new Set<string>();
  const options: string[] = [];
  const words: string[] = [];
  for (const raw of list.split(', ')) {
    const { flag, typed } = asTyped(raw, argv);
    const key = typed ? flag : kebab(raw);
    if (seen.has(key) || seen.has(kebab(raw))) continue;
    seen.add(key);
    seen.add(kebab(raw));
    if (typed) options.push(flag);
    else if (!argv.some((a) => a.startsWith('-') && (a.includes(raw) || a.includes(kebab(raw))))) words.push(raw);
  }
  if (options.length) {
    return new UsageError(
      'UNKNOWN_OPTION',
      `Unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')} for ${where}. ${help}`,
      { details: { ...details, options } },
    );
  }
  if (!cmd.length) {
    return new UsageError(
      'UNKNOWN_COMMAND',
      `Unknown command ${JSON.stringify(words[0] ?? raw0(argv))}: the commands are ${Object.keys(COMMAND_TREE).join(', ')}. ${help}`,
      { details: { ...details, given: words } },
    );
  }
  return new UsageError(
    'UNEXPECTED_ARGUMENT',
    `${where} does not take ${words.map((w) => JSON.stringify(w)).join(', ')}. ${help}`,
    { details: { ...details, given: words } },
  );
}

function raw0(argv: readonly string[]): string {
  return argv.find((a) => !a.startsWith('-')) ?? '';
}
