/**
 * The input of every step handler, as a JSON Schema checked (ajv) before the step does anything:
 * input that does not match is INVALID_AUTOMATION_INPUT (exit 2), naming the step and the field —
 * never a crash halfway through a step. The state machines build these inputs
 * (templates/automation/*.asl.json); test/templates/automation-asl.test.ts holds them together.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { UsageError } from '../domain/errors.js';
import type { HandlerName } from './types.js';

const CASE_REF = {
  type: 'object',
  required: ['caseId', 'instanceId', 'region', 'account', 'finding', 'policy'],
  properties: {
    caseId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9-]{1,62}$' },
    instanceId: { type: 'string', pattern: '^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$' },
    region: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-\\d+$' },
    account: { type: 'string', pattern: '^\\d{12}$' },
    finding: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['id', 'type', 'severity', 'title', 'source'],
          properties: {
            id: { type: 'string', minLength: 1 },
            type: { type: 'string' },
            severity: { type: 'number' },
            title: { type: 'string' },
            source: { enum: ['guardduty', 'securityhub', 'tag', 'fleet'] },
          },
        },
      ],
    },
    policy: { enum: ['auto', 'approve', 'never'] },
  },
} as const;

const EXECUTION = { type: 'string', pattern: '^arn:aws[a-z-]*:states:' } as const;
const ITEM = {
  type: 'object',
  required: ['evidenceId'],
  properties: { evidenceId: { type: 'string', pattern: '^ev-[a-z0-9][a-z0-9-]{2,80}$' } },
} as const;
const STEP = { type: 'object', required: ['case', 'execution'], properties: { case: CASE_REF, execution: EXECUTION } };
const withProps = (required: string[], properties: Record<string, unknown>) => ({
  ...STEP,
  required: [...STEP.required, ...required],
  properties: { ...STEP.properties, ...properties },
});

export const STEP_SCHEMAS: Record<HandlerName, object> = {
  resolve: { type: 'object', required: ['input', 'execution'], properties: { execution: EXECUTION } },
  isolate: STEP,
  requestApproval: withProps(['taskToken'], { taskToken: { type: 'string', minLength: 1 } }),
  acquire: STEP,
  hash: withProps(['item'], { item: ITEM, resume: { type: ['object', 'null'] } }),
  room: STEP,
  attach: withProps(['item'], { item: ITEM }),
  notify: {
    type: 'object',
    required: ['execution', 'outcome'],
    properties: {
      case: { anyOf: [{ type: 'null' }, CASE_REF] },
      /** A fleet item that failed before its case was resolved (fleet.asl.json's NotifyResolveFailure). */
      item: {
        type: 'object',
        required: ['caseId', 'instanceId', 'region'],
        properties: {
          caseId: CASE_REF.properties.caseId,
          instanceId: CASE_REF.properties.instanceId,
          region: CASE_REF.properties.region,
        },
      },
      execution: EXECUTION,
      outcome: { enum: ['succeeded', 'failed', 'rejected', 'expired'] },
      error: { type: 'object', properties: { Error: { type: 'string' }, Cause: { type: 'string' } } },
    },
  },
  summarize: {
    type: 'object',
    required: ['fleet', 'execution', 'results'],
    properties: {
      fleet: {
        type: 'object',
        required: ['caseId', 'runId'],
        properties: {
          caseId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9-]{1,62}$' },
          runId: { type: 'string', minLength: 1 },
        },
      },
      execution: EXECUTION,
      results: { type: 'array' },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<HandlerName, ValidateFunction>();

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(input)'} ${e.message ?? 'is not valid'}`)
    .join('; ');
}

/** Check a step's input against its schema; INVALID_AUTOMATION_INPUT (exit 2) naming the field. */
export function checkStepInput<T>(step: HandlerName, input: unknown): T {
  let validate = compiled.get(step);
  if (!validate) {
    validate = ajv.compile(STEP_SCHEMAS[step]);
    compiled.set(step, validate);
  }
  if (!validate(input))
    throw new UsageError(
      'INVALID_AUTOMATION_INPUT',
      `The ${step} step got input it cannot use: ${describe(validate.errors)}. The state machine builds this input; is the deployed definition the one of this code (cleanroom automation deploy)?`,
      { details: { step, errors: (validate.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message })) } },
    );
  return input as T;
}
