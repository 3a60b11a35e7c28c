/**
 * The state machine definitions of the automation (templates/automation/*.asl.json, written by
 * scripts/gen-automation-asl.mjs) and the DefinitionSubstitutions each needs from the stack
 * (templates/automation.yaml): the ARN of every function it calls, `<Name>FunctionArn`.
 *
 * The fleet's Distributed Map runs the response flow inline (its ItemProcessor is the response
 * machine's states), so the fleet machine needs every function the response machine needs, and
 * Summarize. Inline rather than `states:startExecution.sync:2` of the response machine: the
 * local AWS's interpreter (moto 5.2.1, with the harness patches of docs/local-aws.md) runs an
 * inline Distributed Map with Lambda tasks and is tested doing so; and each child is still a
 * child execution of its own on AWS.
 */
import { HANDLER_NAMES, type HandlerName } from './types.js';

/** The function ARN placeholder of a handler: `resolve` → `ResolveFunctionArn`. */
export function functionArnSubstitution(name: HandlerName): string {
  return `${name[0]!.toUpperCase()}${name.slice(1)}FunctionArn`;
}

/** Every function the response flow calls (all but the fleet's summary). */
const RESPONSE_HANDLERS = HANDLER_NAMES.filter((n) => n !== 'summarize');

/** The substitutions each definition file uses (each must be in the state machine's DefinitionSubstitutions). */
export const DEFINITION_SUBSTITUTIONS: Record<'response.asl.json' | 'fleet.asl.json', readonly string[]> = {
  'response.asl.json': RESPONSE_HANDLERS.map(functionArnSubstitution),
  'fleet.asl.json': [...RESPONSE_HANDLERS, 'summarize' as const].map(functionArnSubstitution),
};
