/**
 * Checks an output path given on the command line (`custody export --out DIR`) before any work and
 * before any AWS call, so that a bad path is bad input (exit 2) with a message naming the option,
 * the path and the fix — not a stack trace after a full vault verification.
 *
 * The parent must exist and be a writable folder on a regular filesystem; /proc, /sys and /dev (by
 * name, and after resolving symbolic links of the parent) and other kernel pseudo-filesystems are
 * refused without looking inside them; the path itself must not exist, or be an empty folder; a
 * symbolic link (dangling or not) is refused, so a bundle never lands somewhere else than named.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../domain/errors.js';
import type { ErrorCode } from '../domain/errors.js';

/** Trees of the kernel, not places for files. Checked by name first: nothing under them is read. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'];

/** statfs magic numbers of pseudo-filesystems (linux/magic.h). */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0xcafe4a11, 'bpf'],
]);

function kernelTree(p: string): string | undefined {
  return KERNEL_TREES.find((t) => p === t || p.startsWith(`${t}/`));
}

/** The first existing component of `p` that is not a folder (for "…/file/x" paths). */
function fileComponent(p: string): string | undefined {
  const parts = p.split(path.sep).filter(Boolean);
  let cur: string = path.sep;
  for (const part of parts) {
    cur = path.join(cur, part);
    try {
      if (!fs.statSync(cur).isDirectory()) return cur;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Check `out` (the value of `flag`) as a new output folder; returns the absolute path to write to
 * (its parent with symbolic links resolved). Throws {@link UsageError} (exit 2): code OUT_INVALID,
 * or OUT_NOT_EMPTY for an existing folder that is not empty.
 */
export function checkOutPath(out: string, flag = '--out'): string {
  const { fail, elsewhere, abs, parent } = outTarget(out, flag, 'a new folder', './bundle');

  const realParent = writableParent(parent, fail, elsewhere, flag);
  const target = path.join(realParent, path.basename(abs));
  return checkNewFolder(target, fail, elsewhere, flag);
}

type Fail = (why: string, fix: string, code?: ErrorCode) => UsageError;

/** The parent folder with links resolved: a folder, on a real filesystem, writable. */
function writableParent(parent: string, fail: Fail, elsewhere: string, flag: string): string {
  let realParent: string;
  try {
    realParent = fs.realpathSync(parent);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw fail(
        `its parent folder ${parent} does not exist`,
        `Create it first (mkdir -p ${parent}) or choose another ${flag}.`,
      );
    if (code === 'ENOTDIR') {
      const file = fileComponent(parent);
      throw fail(`${file ?? 'a part of it'} is a file, not a folder`, elsewhere);
    }
    if (code === 'ELOOP') throw fail(`its parent folder ${parent} is a loop of symbolic links`, elsewhere);
    throw fail(`its parent folder ${parent} cannot be read (${code ?? (e as Error).message})`, elsewhere);
  }
  const realTree = kernelTree(realParent);
  if (realTree)
    throw fail(
      `its parent folder ${parent} is ${realParent}, under ${realTree}, a kernel pseudo-filesystem`,
      elsewhere,
    );
  if (!fs.statSync(realParent).isDirectory()) throw fail(`${realParent} is a file, not a folder`, elsewhere);
  try {
    const fsType = PSEUDO_FS.get(Number(fs.statfsSync(realParent).type));
    if (fsType) throw fail(`its parent folder ${realParent} is on a ${fsType} pseudo-filesystem`, elsewhere);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // statfs unavailable: the name checks above still hold
  }
  try {
    fs.accessSync(realParent, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw fail(`its parent folder ${realParent} is not writable by you`, elsewhere);
  }
  return realParent;
}

/** The folder to write: new, or an empty folder (not a link, not a file). */
function checkNewFolder(target: string, fail: Fail, elsewhere: string, flag: string): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw fail(`it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, elsewhere);
  }
  if (st.isSymbolicLink()) {
    let to = '?';
    try {
      to = fs.readlinkSync(target);
    } catch {
      // keep '?'
    }
    const dangling = !fs.existsSync(target);
    throw fail(
      `it is a symbolic link${dangling ? ' to nothing' : ''} (→ ${to})`,
      `Give ${flag} a new folder, not a link, so the bundle lands where it is named.`,
    );
  }
  if (!st.isDirectory()) throw fail('it exists and is not a folder', `Give ${flag} a new folder.`);
  if (fs.readdirSync(target).length > 0) {
    throw fail(
      'it is a folder that is not empty',
      `Give ${flag} a new folder, so an earlier bundle is never mixed with this one.`,
      'OUT_NOT_EMPTY',
    );
  }
  return target;
}

/**
 * Check `out` (the value of `flag`) as an output file (`evidence export --out FILE`); returns the
 * absolute path to write (its parent with symbolic links resolved). The parent follows the rules
 * of {@link checkOutPath}; the file itself must not exist — unless `force`, and then it must be a
 * regular file (never a link, a folder or a device). Throws {@link UsageError} (exit 2): OUT_INVALID,
 * or OUT_EXISTS for an existing file without `force`.
 */
export function checkOutFile(out: string, flag = '--out', opts: { force?: boolean } = {}): string {
  const { fail, elsewhere, abs, parent } = outTarget(out, flag, 'a new file', './evidence.raw');
  const target = path.join(writableParent(parent, fail, elsewhere, flag), path.basename(abs));
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw fail(`it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, elsewhere);
  }
  if (st.isSymbolicLink())
    throw fail('it is a symbolic link', `Give ${flag} a new file, not a link, so the image lands where it is named.`);
  if (!st.isFile()) throw fail('it exists and is not a regular file', elsewhere);
  if (!opts.force)
    throw fail(
      'the file exists',
      'Give a new file name, or add --force to replace it (the old file is replaced only once the new image is written and its SHA-256 matches).',
      'OUT_EXISTS',
    );
  return target;
}

/** The checks every output path gets first (empty, NUL, the root folder, a kernel pseudo-filesystem). */
function outTarget(
  out: string,
  flag: string,
  what: string,
  example: string,
): { fail: Fail; elsewhere: string; abs: string; parent: string } {
  const fail: Fail = (why, fix, code = 'OUT_INVALID') =>
    new UsageError(code, `${flag} ${JSON.stringify(out)} cannot be used: ${why}. ${fix}`, {
      details: { option: flag, out },
    });
  const elsewhere = `Give ${flag} ${what} in a writable folder on a regular disk (for example ${flag} ${example}).`;
  if (typeof out !== 'string' || out.trim() === '') throw fail('it is empty', elsewhere);
  if (out.includes('\0')) throw fail('it contains a NUL character', elsewhere);
  const abs = path.resolve(out);
  const parent = path.dirname(abs);
  if (abs === parent) throw fail('it is the root folder', elsewhere);
  const tree = kernelTree(abs);
  if (tree) throw fail(`it is under ${tree}, a kernel pseudo-filesystem, not a place for files`, elsewhere);
  return { fail, elsewhere, abs, parent };
}
