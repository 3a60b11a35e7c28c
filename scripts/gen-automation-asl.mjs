#!/usr/bin/env node
/**
 * Writes templates/automation/response.asl.json and fleet.asl.json: the response flow is written
 * once here, and the fleet's Distributed Map runs the same states inline (its ItemProcessor).
 * `--check` fails (exit 1) when a file differs from what this script writes
 * (test/templates/automation-asl.test.ts runs it).
 *
 *   node scripts/gen-automation-asl.mjs [--check]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'templates/automation');

/** A DefinitionSubstitutions placeholder for a function's ARN (`${ResolveFunctionArn}`: templates/automation.yaml). */
const fnArn = (name) => `\${${name}FunctionArn}`;
const EXECUTION = { 'execution.$': '$$.Execution.Id' };
const CASE = { 'case.$': '$.resolved.case', ...EXECUTION };

/** Errors worth trying again: the case busy, throttling, a flaky endpoint, Lambda's own failures, a partial acquisition. */
const RETRY = [
  {
    // Another step of the case holds its lease — for one invocation, seconds in hand-off mode. A
    // fleet's children share one case, so with MaxConcurrency N up to N-1 of them wait here at once:
    // come back soon and often (at most 20 s apart), not after an exponential back-off that grows
    // to minutes while the lease is long free. 45 attempts: about as long as the back-off below
    // would wait in all (15 minutes), which outlasts any one holder's invocation. CUSTODY_CONTENTION:
    // two copies of one step (a redelivered invocation) raced for the same slot of its lane; the
    // retry reads the lane's head and finds by idempotency key what the other copy recorded.
    ErrorEquals: ['CASE_BUSY', 'LEASE_CONTENTION', 'CUSTODY_CONTENTION'],
    IntervalSeconds: 2,
    BackoffRate: 1.5,
    MaxAttempts: 45,
    MaxDelaySeconds: 20,
    JitterStrategy: 'FULL',
  },
  {
    ErrorEquals: [
      'ENDPOINT_TIMEOUT',
      'AWS_Throttling',
      'AWS_ThrottlingException',
      'AWS_RequestLimitExceeded',
      'AWS_TooManyRequestsException',
      'AWS_SlowDown',
      'AWS_RequestTimeout',
      'AWS_InternalError',
      'AWS_InternalFailure',
      'AWS_ServiceUnavailable',
      'AWS_NetworkError',
    ],
    IntervalSeconds: 5,
    BackoffRate: 2,
    MaxAttempts: 8,
    MaxDelaySeconds: 300,
    JitterStrategy: 'FULL',
  },
  {
    ErrorEquals: [
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
      'Lambda.Unknown',
      'States.Timeout',
    ],
    IntervalSeconds: 2,
    BackoffRate: 2,
    MaxAttempts: 6,
    MaxDelaySeconds: 120,
    JitterStrategy: 'FULL',
  },
  {
    // Acquire's answer when some volumes failed and the rest are recorded: "run the same command
    // again to finish: nothing already done is repeated". A transient failure mid-volume (a custody
    // write or an AWS call whose retries all failed) ends this way; twice more is what a responder
    // would do before looking at it, and a failure that stays (a key policy, a quota) still ends the
    // response after two more tries.
    ErrorEquals: ['PARTIAL_FAILURE'],
    IntervalSeconds: 5,
    BackoffRate: 2,
    MaxAttempts: 2,
    JitterStrategy: 'FULL',
  },
];
const CATCH = (next) => [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: next }];

/** A terminal outcome: a Pass shaping the execution's output, then a Succeed named for it. */
function outcome(name, parameters) {
  return {
    [`${name}Outcome`]: { Type: 'Pass', Parameters: parameters, Next: name },
    [name]: { Type: 'Succeed' },
  };
}

/** A Notify task; a failure to notify goes on to `next` all the same (the error is kept at $.notifyError). */
function notifyTask(parameters, next) {
  return {
    Type: 'Task',
    Resource: fnArn('Notify'),
    Parameters: parameters,
    ResultPath: '$.notified',
    Retry: RETRY,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.notifyError', Next: next }],
    Next: next,
  };
}

/** A Lambda step that may answer pending: Task → Choice (pending?) → Wait → Task. */
function loop(name, fn, resultPath, parameters, next, catchTo = 'NotifyFailure') {
  return {
    [name]: {
      Type: 'Task',
      Resource: fnArn(fn),
      Parameters: parameters,
      ResultPath: resultPath,
      TimeoutSeconds: 900,
      Retry: RETRY,
      // Inside a Map (catchTo null) an error ends the item, and the Map's own Catch takes it.
      ...(catchTo ? { Catch: CATCH(catchTo) } : {}),
      Next: `${name}Pending`,
    },
    [`${name}Pending`]: {
      Type: 'Choice',
      Choices: [{ Variable: `${resultPath}.status`, StringEquals: 'pending', Next: `${name}Wait` }],
      Default: next,
    },
    [`${name}Wait`]: { Type: 'Wait', SecondsPath: `${resultPath}.waitSeconds`, Next: name },
  };
}

/** A Map over the evidence items of acquire, each item a pending loop of its own. */
function perItem(name, fn, resultPath, next, extra = {}) {
  const inner = `${name}Item`;
  return {
    [name]: {
      Type: 'Map',
      ItemsPath: '$.acquire.evidence',
      ItemSelector: { 'case.$': '$.resolved.case', ...EXECUTION, 'item.$': '$$.Map.Item.Value', ...extra },
      MaxConcurrency: 8,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: inner,
        States: {
          ...loop(
            inner,
            fn,
            '$.result',
            {
              'case.$': '$.case',
              'execution.$': '$.execution',
              'item.$': '$.item',
              ...(extra['result'] ? { 'resume.$': '$.result.resume' } : {}),
            },
            `${inner}Done`,
            null,
          ),
          [`${inner}Done`]: { Type: 'Pass', OutputPath: '$.result', End: true },
        },
      },
      ResultPath: resultPath,
      Catch: CATCH('NotifyFailure'),
      Next: next,
    },
  };
}

/**
 * The response flow's states (StartAt: Start). In a fleet (`fleet`), the input is the run's item
 * `{ fleet, item }`: a failure before the case is resolved is reported with the item, so that it is
 * recorded in the run's case (the item names it) and `automation status` says which and why.
 */
function responseStates({ fleet = false } = {}) {
  const states = {
    Start: {
      Type: 'Pass',
      Comment: 'Keep the execution input (an EventBridge event or a fleet item) under $.event',
      Parameters: { 'event.$': '$' },
      Next: 'Resolve',
    },
    Resolve: {
      Type: 'Task',
      Resource: fnArn('Resolve'),
      Parameters: { 'input.$': '$.event', ...EXECUTION },
      ResultPath: '$.resolved',
      TimeoutSeconds: 900,
      Retry: RETRY,
      Catch: CATCH('NotifyResolveFailure'),
      Next: 'Taken',
    },
    Taken: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.resolved.ignored', BooleanEquals: true, Next: 'IgnoredOutcome' },
        { Variable: '$.resolved.duplicate', BooleanEquals: true, Next: 'DuplicateOutcome' },
      ],
      Default: 'Policy',
    },
    ...outcome('Ignored', { outcome: 'ignored', 'reason.$': '$.resolved.reason' }),
    ...outcome('Duplicate', {
      outcome: 'duplicate',
      'case.$': '$.resolved.case',
      'firstExecution.$': '$.resolved.firstExecution',
    }),
    Policy: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.resolved.case.policy', StringEquals: 'approve', Next: 'RequestApproval' },
        { Variable: '$.resolved.case.policy', StringEquals: 'never', Next: 'Acquire' },
      ],
      Default: 'Isolate',
    },
    RequestApproval: {
      Type: 'Task',
      Comment: 'Pauses until `cleanroom automation approve|reject --execution ARN` sends the task token back',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: fnArn('RequestApproval'),
        Payload: { ...CASE, 'taskToken.$': '$$.Task.Token' },
      },
      ResultPath: '$.approval',
      TimeoutSeconds: 86400,
      Retry: RETRY,
      Catch: [
        { ErrorEquals: ['Rejected'], ResultPath: '$.error', Next: 'NotifyRejected' },
        { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'NotifyExpired' },
        ...CATCH('NotifyFailure'),
      ],
      Next: 'Approved',
    },
    Approved: {
      Type: 'Choice',
      Choices: [{ Variable: '$.approval.approved', BooleanEquals: false, Next: 'NotifyRejected' }],
      Default: 'Isolate',
    },
    NotifyRejected: notifyTask({ ...CASE, outcome: 'rejected' }, 'RejectedOutcome'),
    ...outcome('Rejected', { outcome: 'rejected', 'case.$': '$.resolved.case' }),
    NotifyExpired: notifyTask({ ...CASE, outcome: 'expired', 'error.$': '$.error' }, 'Failed'),
    ...loop('Isolate', 'Isolate', '$.isolate', CASE, 'Acquire'),
    ...loop('Acquire', 'Acquire', '$.acquire', CASE, 'Hash'),
    ...perItem('Hash', 'Hash', '$.hashes', 'Room', { result: { resume: null } }),
    ...loop('Room', 'Room', '$.room', CASE, 'Attach'),
    ...perItem('Attach', 'Attach', '$.attached', 'Notify'),
    Notify: {
      Type: 'Task',
      Resource: fnArn('Notify'),
      Parameters: { ...CASE, outcome: 'succeeded' },
      ResultPath: '$.notified',
      Retry: RETRY,
      Catch: CATCH('NotifyFailure'),
      Next: 'DoneOutcome',
    },
    DoneOutcome: {
      Type: 'Pass',
      Parameters: {
        outcome: 'succeeded',
        'case.$': '$.resolved.case',
        'evidence.$': '$.hashes',
        'attached.$': '$.attached',
        'head.$': '$.notified.head',
      },
      Next: 'Done',
    },
    Done: { Type: 'Succeed' },
    NotifyResolveFailure: notifyTask(
      {
        case: null,
        ...(fleet ? { 'item.$': '$.event.item' } : {}),
        ...EXECUTION,
        outcome: 'failed',
        'error.$': '$.error',
      },
      'Failed',
    ),
    NotifyFailure: notifyTask({ ...CASE, outcome: 'failed', 'error.$': '$.error' }, 'Failed'),
    Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
  };
  return states;
}

const response = {
  Comment:
    'cleanroom: the automated response to one instance — resolve the finding to a case, isolate (auto, after approval, or never), acquire, hash, room, attach, notify. Written by scripts/gen-automation-asl.mjs.',
  StartAt: 'Start',
  States: responseStates(),
};

const fleet = {
  Comment:
    "cleanroom: the response over a fleet — a Distributed Map over the run's item list in the vault, each item the response flow (inline), then one summary. Written by scripts/gen-automation-asl.mjs.",
  StartAt: 'Fleet',
  States: {
    Fleet: {
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.items.bucket', 'Key.$': '$.items.key' },
      },
      ItemSelector: {
        fleet: { 'caseId.$': '$.caseId', 'runId.$': '$.runId' },
        'item.$': '$$.Map.Item.Value',
      },
      MaxConcurrencyPath: '$.maxConcurrency',
      ToleratedFailurePercentagePath: '$.toleratedFailurePercentage',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'Start',
        States: responseStates({ fleet: true }),
      },
      Label: 'Instances',
      ResultPath: '$.results',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'SummarizeFailure' }],
      Next: 'Summarize',
    },
    Summarize: {
      Type: 'Task',
      Resource: fnArn('Summarize'),
      Parameters: {
        fleet: { 'caseId.$': '$.caseId', 'runId.$': '$.runId' },
        ...EXECUTION,
        'results.$': '$.results',
        'items.$': '$.items',
      },
      Retry: RETRY,
      End: true,
    },
    SummarizeFailure: {
      Type: 'Task',
      Resource: fnArn('Summarize'),
      Parameters: {
        fleet: { 'caseId.$': '$.caseId', 'runId.$': '$.runId' },
        ...EXECUTION,
        results: [],
        'items.$': '$.items',
        'error.$': '$.error',
      },
      ResultPath: '$.summary',
      Retry: RETRY,
      Next: 'FleetFailed',
    },
    FleetFailed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
  },
};

const files = {
  'response.asl.json': `${JSON.stringify(response, null, 2)}\n`,
  'fleet.asl.json': `${JSON.stringify(fleet, null, 2)}\n`,
};
const check = process.argv.includes('--check');
let stale = 0;
for (const [name, text] of Object.entries(files)) {
  const file = path.join(OUT, name);
  const now = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (now === text) continue;
  if (check) {
    process.stderr.write(`templates/automation/${name} is stale: run node scripts/gen-automation-asl.mjs\n`);
    stale++;
  } else fs.writeFileSync(file, text);
}
process.exit(stale ? 1 : 0);
