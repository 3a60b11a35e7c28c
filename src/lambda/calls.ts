/**
 * What each handler reaches, by module, for the roles of the functions (templates/automation.yaml,
 * templates/iam/): the IAM scan (test/iam-policy.test.ts, test/iam/port-calls.ts) finds the AWS
 * calls of these modules, so a function's role can be held to exactly what its handler sends — as
 * the analyst's policy is held to `room shell`'s modules. Every handler also writes the case's
 * custody record (CUSTODY_WRITER) and asks STS who it is (src/aws/account.ts).
 */
import type { HandlerName } from './types.js';

/** The custody record as a writer: open (vault audit, lease), append, seal. */
export const CUSTODY_WRITER = [
  'src/aws/account.ts',
  'src/custody/case-custody.ts',
  'src/custody/case-exists.ts',
  'src/custody/lease.ts',
  'src/custody/store.ts',
  'src/custody/vault/',
] as const;

/**
 * The isolate workflow as the handlers use it: isolation, not its undo (`release.ts`, which only
 * the CLI runs: no step role needs its calls).
 */
const ISOLATION = [
  'src/workflows/isolate/index.ts',
  'src/workflows/isolate/steps.ts',
  'src/workflows/isolate/discover.ts',
  'src/workflows/isolate/calls.ts',
  'src/workflows/isolate/names.ts',
] as const;

/** The responders' topic (sns:Publish), sent from the host itself. */
export const TOPIC = 'src/lambda/library.ts';

export const HANDLER_MODULES: Record<HandlerName, { modules: readonly string[]; why: string }> = {
  resolve: {
    modules: [...ISOLATION, 'src/resources/'],
    why: 'refuses an instance isolate would refuse (a dry run of isolation: reads only), then appends automation.start',
  },
  isolate: { modules: [...ISOLATION, 'src/resources/'], why: 'isolates the instance (isolateInstance)' },
  requestApproval: {
    modules: [TOPIC],
    why: 'writes the approval document into the vault (custody store) and publishes to the topic',
  },
  acquire: {
    modules: ['src/workflows/acquire/', 'src/evidence/', 'src/resources/', 'src/workflows/room/'],
    why: 'acquires the evidence (acquireEvidence; the room gate reads the room stack and audits it)',
  },
  hash: {
    modules: ['src/workflows/evidence/', 'src/evidence/'],
    why: "hashes the forensic snapshot's bytes through the EBS direct APIs, resumably",
  },
  room: {
    modules: ['src/workflows/room/', 'src/resources/', 'src/evidence/'],
    why: 'brings the room up (roomUp: change set, stack events, guard rails, guest tools, toolkit, audit)',
  },
  attach: {
    modules: ['src/workflows/evidence/', 'src/evidence/', 'src/resources/', 'src/workflows/room/'],
    why: 'attaches an evidence item read-only to the forensic instance (attachEvidence)',
  },
  notify: { modules: [TOPIC], why: 'publishes the summary and appends automation.notify' },
  summarize: { modules: [TOPIC], why: "publishes the fleet's summary and appends automation.notify" },
};
