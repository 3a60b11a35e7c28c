/**
 * Who appended an event, in words: the STS caller (`actor`) and, for an event automation appended,
 * its `via` — the Step Functions execution, the Lambda function and the deployed code's SHA-256
 * (domain/recorder.ts ActorContext). Read from stored events, which may be of any age: an event
 * without `via` (every event before automation, every CLI event) reads as its actor alone.
 */
import type { ActorContext } from '../domain/recorder.js';

/** The `via` of a stored event, when it has a well-formed one. */
export function viaOf(ev: unknown): ActorContext | undefined {
  const v = (ev as { via?: unknown } | null | undefined)?.via as Partial<ActorContext> | undefined;
  if (!v || typeof v !== 'object') return undefined;
  const { execution, function: fn, codeSha256 } = v;
  if (typeof execution !== 'string' || typeof fn !== 'string' || typeof codeSha256 !== 'string') return undefined;
  return { execution, function: fn, codeSha256 };
}

/** "<actor>, by execution <arn> (function <name>, code sha256 <hex>)", or the actor alone. */
export function actorLine(ev: unknown): string {
  const actor = String((ev as { actor?: unknown } | null | undefined)?.actor ?? '');
  const via = viaOf(ev);
  if (!via) return actor;
  return `${actor ? `${actor}, ` : ''}by execution ${via.execution} (function ${via.function}, code sha256 ${via.codeSha256})`;
}
