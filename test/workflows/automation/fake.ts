/**
 * A fake forensic account for the operator's automation workflows (run, status, approve): EC2
 * instances, the automation stack's outputs, Step Functions executions and the vault's objects,
 * each call recorded; a MemoryRecorder as the case's record.
 */
import { MemoryRecorder } from '../../../src/domain/recorder.js';
import type { RunDeps, DecideDeps, StatusDeps, RunCustody } from '../../../src/workflows/automation/index.js';
import { awsError, Calls, IDENTITY } from '../../fakes/ports.js';

export const FLEET_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:cleanroom-fleet';
export const RESPONSE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:cleanroom-response';
export const BUCKET = 'cleanroom-evidence-123456789012-us-east-1';

export interface FakeExecution {
  arn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: string;
  output?: string;
  error?: string;
  cause?: string;
  /** A task token waiting for a decision, and what it got. */
  token?: FakeToken;
  /** More paused tasks of the same execution (the fleet children the local AWS gives one execution id). */
  moreTokens?: FakeToken[];
}

export interface FakeToken {
  token: string;
  outcome?: { kind: 'success' | 'failure'; payload: string };
}

export class World {
  readonly calls = new Calls();
  instances = new Map<string, { state: string; volumes: number; tags: Record<string, string> }>();
  stack: { status: string; outputs: Record<string, string> } | undefined = {
    status: 'CREATE_COMPLETE',
    outputs: { ResponseStateMachineArn: RESPONSE_ARN, FleetStateMachineArn: FLEET_ARN },
  };
  readonly executions = new Map<string, FakeExecution>();
  readonly objects = new Map<string, Buffer>();
  readonly puts: Array<Record<string, unknown>> = [];
  readonly record = new MemoryRecorder('arn:aws:sts::123456789012:assumed-role/Custodian/alice');

  custody(): RunCustody & { bucket: string } {
    const r = this.record;
    return Object.assign(r, {
      bucket: BUCKET,
      vaultTarget: {
        bucket: BUCKET,
        vaultKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/vault',
        lockMode: 'GOVERNANCE' as const,
        retentionDays: 30,
      },
    });
  }

  account(): RunDeps['account'] & DecideDeps['account'] & StatusDeps['account'] {
    const c = this.calls;
    return {
      ...IDENTITY,
      ec2: {
        describeInstances: async (i) => {
          c.add('describeInstances', i);
          const f = i.Filters?.[0];
          const hits = [...this.instances.entries()].filter(([id, x]) =>
            f?.Name === 'instance-id'
              ? f.Values?.includes(id)
              : f?.Name?.startsWith('tag:')
                ? x.tags[f.Name.slice(4)] === f.Values?.[0]
                : false,
          );
          return {
            $metadata: {},
            Reservations: [
              {
                Instances: hits.map(([id, x]) => ({
                  InstanceId: id,
                  State: { Name: x.state as never },
                  BlockDeviceMappings: Array.from({ length: x.volumes }, (_, n) => ({
                    DeviceName: `/dev/sd${'fghij'[n]}`,
                    Ebs: { VolumeId: `vol-${n}${id.slice(2)}` },
                  })),
                })),
              },
            ],
          };
        },
      },
      cfn: {
        describeStacks: async (i) => {
          c.add('describeStacks', i);
          if (!this.stack)
            throw awsError(
              'cloudformation',
              'DescribeStacks',
              'ValidationError',
              `Stack with id ${i.StackName} does not exist`,
            );
          return {
            $metadata: {},
            Stacks: [
              {
                StackName: i.StackName!,
                StackId: `arn:aws:cloudformation:us-east-1:123456789012:stack/${i.StackName}/1`,
                StackStatus: this.stack.status as never,
                CreationTime: new Date(0),
                Outputs: Object.entries(this.stack.outputs).map(([OutputKey, OutputValue]) => ({
                  OutputKey,
                  OutputValue,
                })),
              },
            ],
          };
        },
      },
      sfn: {
        startExecution: async (i) => {
          c.add('startExecution', i);
          const arn = `${i.stateMachineArn!.replace(':stateMachine:', ':execution:')}:${i.name}`;
          const x = this.executions.get(arn);
          if (x && (x.status !== 'RUNNING' || x.input !== i.input))
            throw awsError('states', 'StartExecution', 'ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
          if (!x)
            this.executions.set(arn, {
              arn,
              stateMachineArn: i.stateMachineArn!,
              name: i.name!,
              input: i.input ?? '{}',
              status: 'RUNNING',
            });
          return { $metadata: {}, executionArn: arn, startDate: new Date(1_000) };
        },
        describeExecution: async (i) => {
          c.add('describeExecution', i);
          const x = this.executions.get(i.executionArn!);
          if (!x)
            throw awsError(
              'states',
              'DescribeExecution',
              'ExecutionDoesNotExist',
              `Execution Does Not Exist: '${i.executionArn}'`,
            );
          return {
            $metadata: {},
            executionArn: x.arn,
            stateMachineArn: x.stateMachineArn,
            status: x.status as never,
            startDate: new Date(1_000),
            input: x.input,
            ...(x.output ? { output: x.output } : {}),
            ...(x.error ? { error: x.error } : {}),
            ...(x.cause ? { cause: x.cause } : {}),
          };
        },
        listExecutions: async (i) => {
          c.add('listExecutions', i);
          return {
            $metadata: {},
            executions: [...this.executions.values()]
              .filter((x) => x.stateMachineArn === i.stateMachineArn)
              .map((x) => ({
                executionArn: x.arn,
                stateMachineArn: x.stateMachineArn,
                name: x.name,
                status: x.status as never,
                startDate: new Date(1_000),
              })),
          };
        },
        getExecutionHistory: async (i) => {
          c.add('getExecutionHistory', i);
          const x = this.executions.get(i.executionArn!);
          return {
            $metadata: {},
            events: x?.output
              ? [
                  {
                    id: 1,
                    timestamp: new Date(0),
                    type: 'TaskStateExited' as never,
                    stateExitedEventDetails: { name: 'Resolve', output: x.output },
                  },
                ]
              : [],
          };
        },
        sendTaskSuccess: async (i) => {
          c.add('sendTaskSuccess', i);
          this.answer(i.taskToken!, { kind: 'success', payload: i.output ?? '' });
          return { $metadata: {} };
        },
        sendTaskFailure: async (i) => {
          c.add('sendTaskFailure', i);
          this.answer(i.taskToken!, { kind: 'failure', payload: `${i.error}: ${i.cause}` });
          return { $metadata: {} };
        },
      },
      s3: {
        putObject: async (i) => {
          c.add('putObject', i);
          if (i.IfNoneMatch === '*' && this.objects.has(i.Key!))
            throw awsError(
              's3',
              'PutObject',
              'PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
              412,
            );
          this.objects.set(i.Key!, Buffer.from(i.Body as Buffer));
          this.puts.push(i as never);
          return { $metadata: {}, VersionId: `v${this.puts.length}` };
        },
        listObjectsV2: async (i) => {
          c.add('listObjectsV2', i);
          const keys = [...this.objects.keys()].filter((k) => k.startsWith(i.Prefix ?? '')).sort();
          return { $metadata: {}, Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
        },
        getObject: async (i) => {
          c.add('getObject', i);
          const b = this.objects.get(i.Key!);
          if (!b) throw awsError('s3', 'GetObject', 'NoSuchKey', 'The specified key does not exist.', 404);
          return { $metadata: {}, Body: { transformToByteArray: async () => new Uint8Array(b) } as never };
        },
      },
    };
  }

  private answer(token: string, outcome: { kind: 'success' | 'failure'; payload: string }): void {
    const tokens = (e: FakeExecution) => [...(e.token ? [e.token] : []), ...(e.moreTokens ?? [])];
    const x = [...this.executions.values()].find((e) => tokens(e).some((k) => k.token === token));
    const k = x && tokens(x).find((k) => k.token === token);
    if (!k || k.outcome || x?.status !== 'RUNNING')
      throw awsError('states', 'SendTaskSuccess', 'TaskTimedOut', 'Task Timed Out');
    k.outcome = outcome;
  }
}

/** `n` instance ids, i-000…001 onwards (17 hex digits). */
export function instanceIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `i-${(i + 1).toString(16).padStart(17, '0')}`);
}
