/**
 * One typed approval for the destructive steps of every workflow: isolate's deny-all network ACL
 * on shared subnets and its stop (memory lost), room down, case close. The workflow builds an
 * {@link ApprovalRequest} (what it is about to do, in words and as data) and asks the caller's
 * {@link Approve}; the CLI maps it to its prompt and --yes. A library caller that gives none is
 * refused with CONFIRMATION_REQUIRED (exit 2) before anything is changed; an answer of no is
 * ABORTED (exit 2), nothing changed.
 */
import { UsageError } from './errors.js';

/** What asks for approval. */
export type ApprovalAction =
  | 'isolate.nacl'
  | 'isolate.stop'
  /** isolate --capture-memory: the capture failed; isolate without the memory? */
  | 'isolate.without-memory'
  | 'room.down'
  | 'case.close'
  | 'automation.remove';

export interface ApprovalRequest<P = unknown> {
  action: ApprovalAction;
  /** The case it is about (none for the automation stack, which belongs to no case). */
  caseId?: string;
  /** What will happen, in words (the CLI's prompt), ending with the question. */
  question: string;
  /** The same as data: the room down plan, the close plan, the instance and subnets… */
  plan: P;
}

/** Approve (true) or refuse (false) a destructive step. */
export type Approve = (request: ApprovalRequest) => boolean | Promise<boolean>;

/** An {@link Approve} that says yes to everything (a host that decided beforehand, like the CLI's --yes). */
export const approveAll: Approve = () => true;

/**
 * Ask `approve` and go on only on yes: no approver is CONFIRMATION_REQUIRED, a no is ABORTED.
 * An approver may also throw its own error (the CLI does, without a terminal).
 */
export async function requireApproval<P>(approve: Approve | undefined, request: ApprovalRequest<P>): Promise<void> {
  if (!approve) {
    throw new UsageError(
      'CONFIRMATION_REQUIRED',
      `${request.question}\nThis is destructive and no approval was given: pass \`approve\` (the CLI: answer the prompt, or --yes). Nothing was changed.`,
      {
        details: { action: request.action, caseId: request.caseId },
      },
    );
  }
  if (!(await approve(request as ApprovalRequest)))
    throw new UsageError('ABORTED', 'Aborted: nothing was changed.', {
      details: { action: request.action, caseId: request.caseId },
    });
}
