/**
 * An evidence item as the custody record holds it: the id checked before any AWS call, the item
 * folded from the record (or UNKNOWN_EVIDENCE naming the items the case has). Shared by the
 * evidence commands (attach, detach, hash, export) of this workflow.
 */
import type { CustodyRecorder } from '../../domain/recorder.js';
import { UsageError } from '../../domain/errors.js';
import { EVIDENCE_ID_PATTERN, foldEvidence, type EvidencePatch } from '../../domain/evidence.js';

/** Refuse a malformed evidence id (before any AWS call). */
export function checkEvidenceId(caseId: string, evidenceId: string): void {
  if (!EVIDENCE_ID_PATTERN.test(evidenceId)) {
    throw new UsageError(
      'INVALID_EVIDENCE_ID',
      `Evidence id ${JSON.stringify(evidenceId)} is not valid (ev- and lower-case letters, digits, hyphens; see \`cleanroom evidence list --case ${caseId}\`).`,
      { details: { evidenceId } },
    );
  }
}

/** The item as the record folds it, or a usage error naming the items there are. */
export function recordedItem(custody: CustodyRecorder, caseId: string, evidenceId: string): EvidencePatch {
  checkEvidenceId(caseId, evidenceId);
  const all = foldEvidence(custody.events());
  const item = all.get(evidenceId);
  if (!item) {
    throw new UsageError(
      'UNKNOWN_EVIDENCE',
      `Case ${caseId} has no evidence ${evidenceId}${all.size ? ` (it has ${[...all.keys()].join(', ')})` : ' (nothing was acquired yet)'}.`,
      { details: { caseId, evidenceId } },
    );
  }
  return item;
}
