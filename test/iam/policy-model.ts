/**
 * What the IAM policy test reasons about: the policy documents in templates/iam/, the
 * CloudFormation handler permissions of the room template's resource types, the actions an SDK
 * operation needs (its own IAM action, plus the permissions AWS checks on the caller's behalf), and
 * the IAM policy linter (parliament, pinned in scripts/local-aws/requirements.txt).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { yamlParse } from 'yaml-cfn';

/** IAM policy documents, as the vault's bucket policy types them. */
export type { PolicyDocument, PolicyStatement } from '../../src/custody/vault/policy.js';
import type { PolicyDocument } from '../../src/custody/vault/policy.js';

export const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

export function readPolicy(file: string): { text: string; doc: PolicyDocument } {
  const text = fs.readFileSync(file, 'utf8');
  return { text, doc: JSON.parse(text) as PolicyDocument };
}

/** Actions an Allow statement grants, by name (the test forbids wildcards, so names are exact). */
export function allowedActions(doc: PolicyDocument): Set<string> {
  const out = new Set<string>();
  for (const s of doc.Statement) if (s.Effect === 'Allow') for (const a of list(s.Action)) out.add(a);
  return out;
}

/** Actions granted by Allow statements that do not require the request to come through another service (aws:CalledVia). */
export function allowedDirectly(doc: PolicyDocument): Set<string> {
  const out = new Set<string>();
  for (const s of doc.Statement)
    if (s.Effect === 'Allow' && !JSON.stringify(s.Condition ?? {}).includes('aws:CalledVia'))
      for (const a of list(s.Action)) out.add(a);
  return out;
}

/** SDK operation → IAM actions, where they differ from `service:Operation`. */
export type NameMap = Record<string, { actions: string[]; source: string }>;
/** IAM action → further actions AWS checks on the caller's behalf. */
export type ImpliedMap = Record<string, { actions: string[]; source: string }>;

/** The IAM actions behind a set of SDK operations (names mapped, implied permissions closed over). */
export function iamActionsFor(
  operations: Iterable<string>,
  names: NameMap,
  implied: ImpliedMap,
): Map<string, string[]> {
  const why = new Map<string, string[]>();
  const add = (action: string, reason: string) => {
    const had = why.has(action);
    why.set(action, [...(why.get(action) ?? []), reason]);
    if (!had) for (const next of implied[action]?.actions ?? []) add(next, `implied by ${action}`);
  };
  for (const op of operations) for (const a of names[op]?.actions ?? [op]) add(a, `sent as ${op}`);
  return why;
}

export interface HandlerData {
  resourceTypes: Record<
    string,
    {
      source: { repository: string; path: string; commit: string; url: string };
      handlers: Partial<Record<'create' | 'read' | 'update' | 'delete' | 'list', string[]>>;
    }
  >;
  parameterTypes: Record<string, { permissions: string[]; source: string }>;
  notIamActions: Record<string, string>;
}

/** The CloudFormation operations `room up` / `room down` / `case close` make CloudFormation run. */
export const STACK_HANDLERS = ['create', 'read', 'update', 'delete'] as const;

/** Resource types and parameter types of a CloudFormation template (short-form tags understood). */
export function templateTypes(file: string): { resourceTypes: string[]; parameterTypes: string[] } {
  const t = yamlParse(fs.readFileSync(file, 'utf8')) as {
    Resources?: Record<string, { Type: string }>;
    Parameters?: Record<string, { Type: string }>;
  };
  return {
    resourceTypes: [...new Set(Object.values(t.Resources ?? {}).map((r) => r.Type))].sort(),
    parameterTypes: [...new Set(Object.values(t.Parameters ?? {}).map((p) => p.Type))].sort(),
  };
}

/** Template parameter types CloudFormation resolves or validates against the account (not String/Number/List). */
export function awsSpecificParameterType(type: string): boolean {
  return /^(AWS::|List<AWS::)/.test(type);
}

/** Handler permissions the template's resource types need, action → the handlers naming it. */
export function handlerPermissions(data: HandlerData, resourceTypes: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const type of resourceTypes) {
    const entry = data.resourceTypes[type];
    if (!entry) continue;
    for (const h of STACK_HANDLERS)
      for (const p of entry.handlers[h] ?? []) out.set(p, [...(out.get(p) ?? []), `${type} ${h}`]);
  }
  return out;
}

export interface LintFinding {
  issue: string;
  severity: string;
  detail: unknown;
  location?: unknown;
}

/** Run the pinned parliament on a policy document (text on stdin; `--file` refuses a non-TTY stdin). */
export function parliament(root: string, policyText: string): LintFinding[] {
  const bin = path.join(root, '.venv/bin/parliament');
  let out: string;
  try {
    out = execFileSync(bin, ['--json', '--minimum_severity', 'INFO'], {
      input: policyText,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    // parliament exits 1 when it reports findings; anything else is a failure of the linter itself.
    if (err.status !== 1) throw new Error(`parliament failed (exit ${err.status}): ${err.stderr ?? ''}`);
    out = err.stdout ?? '';
  }
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LintFinding);
}

/** The version of a package pinned in a requirements file (`name==version`). */
export function pinnedVersion(requirementsFile: string, name: string): string | undefined {
  const line = fs
    .readFileSync(requirementsFile, 'utf8')
    .split('\n')
    .find((l) => l.trim().toLowerCase().startsWith(`${name.toLowerCase()}==`));
  return line?.trim().split('==')[1];
}

/** The linter's copy of the Service Authorization Reference (parliament's iam_definition.json). */
export interface Sar {
  /** `service:Action` (lower case) → the resource types it applies to, with their condition keys. */
  resourceKeys(action: string): string[][];
}

export function linterSar(root: string): Sar {
  const dir = execFileSync(
    path.join(root, '.venv/bin/python'),
    ['-c', 'import os, parliament; print(os.path.dirname(parliament.__file__))'],
    { encoding: 'utf8' },
  ).trim();
  type Service = {
    prefix: string;
    privileges: Array<{ privilege: string; resource_types: Array<{ resource_type: string }> }>;
    resources: Array<{ resource: string; condition_keys: string[] }>;
  };
  const services = JSON.parse(fs.readFileSync(path.join(dir, 'iam_definition.json'), 'utf8')) as Service[];
  const index = new Map<string, string[][]>();
  for (const s of services) {
    for (const p of s.privileges) {
      const keys = p.resource_types
        .map((r) => r.resource_type.replace(/\*$/, ''))
        .filter(Boolean)
        .map((rt) => s.resources.find((r) => r.resource === rt)?.condition_keys ?? []);
      index.set(`${s.prefix}:${p.privilege}`.toLowerCase(), keys);
    }
  }
  return { resourceKeys: (a) => index.get(a.toLowerCase()) ?? [] };
}

const globRegex = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

/**
 * Why a linter finding is not a defect, or undefined when it is one. Two kinds of finding come
 * from what parliament checks per statement while IAM evaluates per resource:
 * - RESOURCE_MISMATCH: parliament wants every required resource type of an action in each
 *   statement, but IAM authorizes each resource of a request against all statements; a statement
 *   may scope one resource type (e.g. the volume of CreateSnapshot by its tag) when another Allow
 *   grants the same action on the other type (the new snapshot, by its request tags).
 * - UNKNOWN_CONDITION_FOR_ACTION: parliament knows only the action-level condition keys, but the
 *   Service Authorization Reference also lists keys per resource type, which apply to every action
 *   on that resource (e.g. kms:ResourceAliases of the KMS key resource).
 * Both are verified here against the policy and the reference, not taken on trust.
 */
export function acceptedBecause(f: LintFinding, doc: PolicyDocument, sar: Sar): string | undefined {
  if (f.issue === 'RESOURCE_MISMATCH' && Array.isArray(f.detail)) {
    const uncovered = (f.detail as Array<{ action: string; required_format: string }>).filter(
      ({ action, required_format }) => {
        const re = globRegex(required_format);
        return !doc.Statement.some(
          (s) =>
            s.Effect === 'Allow' &&
            list(s.Action).includes(action) &&
            list(s.Resource).some((r) => r === '*' || re.test(r.replace(/\*/g, 'x'))),
        );
      },
    );
    return uncovered.length
      ? undefined
      : `another Allow grants ${(f.detail as Array<{ action: string; required_format: string }>).map((d) => `${d.action} on ${d.required_format}`).join(', ')}`;
  }
  if (f.issue === 'UNKNOWN_CONDITION_FOR_ACTION') {
    const m = /^Unknown condition (\S+) for action (\S+)$/.exec(String(f.detail));
    if (!m) return undefined;
    const [, key, action] = m;
    return sar.resourceKeys(action!).some((keys) => keys.includes(key!))
      ? `${key} is a condition key of a resource type of ${action} in the Service Authorization Reference`
      : undefined;
  }
  return undefined;
}
