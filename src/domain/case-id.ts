import { UsageError } from './errors.js';
import { TAG_CASE } from './tags.js';

/** The contract's case id pattern: checked before any AWS call. */
export const CASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{1,62}$/;

/** Validate a case id, or throw a {@link UsageError} (exit 2) that says what is allowed. */
export function assertCaseId(id: unknown): string {
  if (typeof id !== 'string' || !CASE_ID_PATTERN.test(id)) {
    throw new UsageError(
      'INVALID_CASE_ID',
      `Case id ${JSON.stringify(id)} is not valid: use 2 to 63 letters, digits or hyphens, starting with a letter or digit (for example IR-2026-0142).`,
      { details: { caseId: id } },
    );
  }
  return id;
}

/** The prefix of a room's CloudFormation stack name: `cleanroom-<case id>`. */
export const ROOM_STACK_PREFIX = 'cleanroom-';

/** The CloudFormation stack name of a case's room. */
export function roomStackName(caseId: string): string {
  return `${ROOM_STACK_PREFIX}${caseId}`;
}

/** Tags for a resource of a case (SDK `Tag[]` shape). */
export function caseTags(caseId: string, extra: Record<string, string> = {}): { Key: string; Value: string }[] {
  return [{ Key: TAG_CASE, Value: caseId }, ...Object.entries(extra).map(([Key, Value]) => ({ Key, Value }))];
}
