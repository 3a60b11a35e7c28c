/**
 * What started a response, read from the execution's input: an EventBridge event (a GuardDuty
 * finding on an EC2 instance, a Security Hub custom action, a `cleanroom:respond` tag change on an
 * instance) or a fleet item (`{ fleet: { caseId, runId }, item: { caseId, instanceId, region } }`).
 * Pure: no AWS call. Anything else is refused (UNSUPPORTED_EVENT, exit 2) naming what it is.
 *
 * Security Hub: a custom action may carry several findings, each naming several resources. The
 * response machine handles ONE instance per execution, so it takes the first EC2 instance of the
 * first finding that names one, and lists the others (`others`) in the record and the
 * notification: to respond to each, select them one at a time, or run them as a fleet
 * (`cleanroom automation run --instance …`).
 */
import { UsageError } from '../domain/errors.js';
import { TAG_RESPOND } from '../domain/tags.js';
import { assertCaseId } from '../domain/case-id.js';
import { automationCaseId } from './case-id.js';
import type { Finding } from './types.js';

/** A response to run: the case, the instance, where, and the finding (null for none). */
export interface Trigger {
  caseId: string;
  instanceId: string;
  region: string;
  account: string;
  finding: Finding;
  /** Further instances the event named that this execution does not take (Security Hub). */
  others: Array<{ instanceId: string; region: string; account: string; findingId: string }>;
}

/** An event the response takes no action on, and why (the execution ends "Ignored"). */
export interface Ignored {
  ignored: string;
}

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:([a-z0-9-]+):(\d{12}):instance\/(i-[0-9a-f]+)$/;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function unsupported(what: string, details: Json = {}): never {
  throw new UsageError(
    'UNSUPPORTED_EVENT',
    `The response cannot start from this input: ${what}. It starts from a GuardDuty finding on an EC2 instance, a Security Hub custom action naming an EC2 instance, a change of the ${TAG_RESPOND} tag on an instance, or a fleet item ({ fleet: { caseId, runId }, item: { caseId, instanceId, region } }).`,
    { details },
  );
}

/**
 * Read the execution's input. `minSeverity` gates GuardDuty findings only: the other sources are a
 * person's decision (a custom action, a tag, a fleet run) and are taken as they are.
 */
export function readTrigger(input: unknown, minSeverity: number): Trigger | Ignored {
  const e = obj(input) ?? unsupported('it is not a JSON object');
  if (obj(e['fleet']) || obj(e['item'])) return fleetItem(e);
  const source = str(e['source']);
  const detailType = str(e['detail-type']);
  if (source === 'aws.guardduty') return guardDuty(e, minSeverity);
  if (source === 'aws.securityhub' && detailType === 'Security Hub Findings - Custom Action') return securityHub(e);
  if (source === 'aws.tag' && detailType === 'Tag Change on Resource') return tagChange(e);
  return unsupported(`source ${JSON.stringify(source)}, detail-type ${JSON.stringify(detailType)}`, {
    source,
    detailType,
  });
}

function guardDuty(e: Json, minSeverity: number): Trigger | Ignored {
  const d = obj(e['detail']) ?? unsupported('a GuardDuty event without detail');
  const findingId = str(d['id']) ?? unsupported('a GuardDuty finding without an id');
  const resource = obj(d['resource']);
  const instanceId = str(obj(resource?.['instanceDetails'])?.['instanceId']);
  if (resource?.['resourceType'] !== 'Instance' || !instanceId || !INSTANCE_ID.test(instanceId))
    return {
      ignored: `GuardDuty finding ${findingId} is not about an EC2 instance (resource ${String(resource?.['resourceType'])})`,
    };
  const severity = typeof d['severity'] === 'number' ? d['severity'] : 0;
  if (severity < minSeverity)
    return { ignored: `GuardDuty finding ${findingId} has severity ${severity}, below the minimum ${minSeverity}` };
  const account = str(d['accountId']) ?? str(e['account']) ?? unsupported('a GuardDuty finding without an account');
  const region = str(d['region']) ?? str(e['region']) ?? unsupported('a GuardDuty finding without a region');
  return {
    caseId: automationCaseId('guardduty', account, region, findingId),
    instanceId,
    region,
    account,
    finding: {
      id: findingId,
      type: str(d['type']) ?? 'unknown',
      severity,
      title: str(d['title']) ?? '',
      source: 'guardduty',
    },
    others: [],
  };
}

function securityHub(e: Json): Trigger | Ignored {
  const findings = obj(e['detail'])?.['findings'];
  if (!Array.isArray(findings) || findings.length === 0)
    return unsupported('a Security Hub custom action without findings');
  const named: Array<{ instanceId: string; region: string; account: string; finding: Json }> = [];
  for (const f of findings.map(obj)) {
    for (const r of (Array.isArray(f?.['Resources']) ? f['Resources'] : []).map(obj)) {
      const m = r?.['Type'] === 'AwsEc2Instance' ? INSTANCE_ARN.exec(str(r['Id']) ?? '') : null;
      if (m && f) named.push({ region: m[1]!, account: m[2]!, instanceId: m[3]!, finding: f });
    }
  }
  const first = named[0];
  if (!first) return { ignored: 'the Security Hub custom action names no EC2 instance' };
  const f = first.finding;
  const findingId = str(f['Id']) ?? unsupported('a Security Hub finding without an Id');
  const normalized = obj(f['Severity'])?.['Normalized'];
  return {
    caseId: automationCaseId('securityhub', first.account, first.region, findingId),
    instanceId: first.instanceId,
    region: first.region,
    account: first.account,
    finding: {
      id: findingId,
      type: (Array.isArray(f['Types']) ? str(f['Types'][0]) : undefined) ?? 'unknown',
      severity: typeof normalized === 'number' ? normalized / 10 : 0,
      title: str(f['Title']) ?? '',
      source: 'securityhub',
    },
    others: named.slice(1).map((n) => ({
      instanceId: n.instanceId,
      region: n.region,
      account: n.account,
      findingId: str(n.finding['Id']) ?? '',
    })),
  };
}

function tagChange(e: Json): Trigger | Ignored {
  const d = obj(e['detail']) ?? unsupported('a tag change without detail');
  const arn = Array.isArray(e['resources']) ? str(e['resources'][0]) : undefined;
  const m = INSTANCE_ARN.exec(arn ?? '');
  if (d['service'] !== 'ec2' || d['resource-type'] !== 'instance' || !m)
    return { ignored: `the tag change is not on an EC2 instance (${String(arn)})` };
  const tags = obj(d['tags']) ?? {};
  if (!(TAG_RESPOND in tags)) return { ignored: `${m[3]} does not carry the ${TAG_RESPOND} tag (it was removed)` };
  const [, region, account, instanceId] = m as unknown as [string, string, string, string];
  return {
    caseId: automationCaseId('tag', account, region, instanceId),
    instanceId,
    region,
    account,
    finding: {
      id: `tag:${instanceId}`,
      type: TAG_RESPOND,
      severity: 0,
      title: `${TAG_RESPOND}=${String(tags[TAG_RESPOND])} on ${instanceId}`,
      source: 'tag',
    },
    others: [],
  };
}

function fleetItem(e: Json): Trigger {
  const fleet = obj(e['fleet']);
  const item = obj(e['item']);
  const runId = str(fleet?.['runId']);
  const instanceId = str(item?.['instanceId']);
  const region = str(item?.['region']);
  if (!fleet || !item || !runId || !instanceId || !region)
    return unsupported('a fleet item needs fleet.runId, item.caseId, item.instanceId and item.region', { fleet, item });
  if (!INSTANCE_ID.test(instanceId))
    throw new UsageError('INVALID_INSTANCE_ID', `Fleet item ${JSON.stringify(instanceId)} is not an EC2 instance id.`, {
      details: { instanceId },
    });
  const caseId = assertCaseId(item['caseId'] ?? fleet['caseId']);
  const account = str(e['account']) ?? '';
  return {
    caseId,
    instanceId,
    region,
    account,
    finding: {
      id: `fleet:${runId}`,
      type: 'fleet-run',
      severity: 0,
      title: `fleet run ${runId}`,
      source: 'fleet',
    },
    others: [],
  };
}
