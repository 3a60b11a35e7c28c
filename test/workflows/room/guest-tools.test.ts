/**
 * A broken install is named, not a stack trace: guest tooling without install.sh fails with
 * INSTALLATION_INCOMPLETE (exit 1, "reinstall cleanroom") before any AWS call. No local AWS needed.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AwsAccount } from '../../../src/aws/ports.js';
import type { CustodyRecorder } from '../../../src/domain/recorder.js';
import { CleanroomError } from '../../../src/domain/errors.js';
import { silentReporter } from '../../../src/domain/reporter.js';
import { uploadGuestTools } from '../../../src/workflows/room/guest-tools.js';

t.test('guest tooling without install.sh: INSTALLATION_INCOMPLETE, exit 1, nothing called or recorded', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanroom-guest-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'mount-evidence.sh'), '#!/bin/sh\n');
  const touched: string[] = [];
  const account = new Proxy({}, { get: (_, k) => (touched.push(String(k)), undefined) }) as unknown as AwsAccount;
  const custody = { record: async () => (touched.push('record'), undefined) } as unknown as CustodyRecorder;
  const err = await uploadGuestTools(account, {
    caseId: 'IR-1',
    bucket: 'b',
    vaultKeyArn: 'k',
    dir,
    custody,
    reporter: silentReporter,
  }).catch((e: unknown) => e);
  t.type(err, CleanroomError, 'a cleanroom error, not a plain Error (which the CLI shows as INTERNAL, a bug)');
  t.match(err, {
    code: 'INSTALLATION_INCOMPLETE',
    exitCode: 1,
    message: /has no install\.sh.*reinstall cleanroom/,
    details: { dir },
  });
  t.same(touched, [], 'no AWS call, no custody event');
});
