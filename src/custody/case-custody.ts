// PLACEHOLDER — replaced by the custody implementation (issue 4). Signature is the contract.
import type { AwsAccount } from '../aws/ports.js';
import type { Reporter } from '../domain/reporter.js';
import type { CustodyRecorder } from './recorder.js';

export interface CaseCustody extends CustodyRecorder {
  readonly caseId: string;
  readonly bucket: string;
  /** Rebuild the manifest from the events and sign its head with the vault's signing key. */
  sealManifest(): Promise<unknown>;
  /** True when this process appended at least one event. */
  readonly dirty: boolean;
}

export async function openCaseCustody(_account: AwsAccount, _opts: { caseId: string; bucket?: string; reporter?: Reporter }): Promise<CaseCustody> {
  throw new Error('custody not implemented yet');
}
