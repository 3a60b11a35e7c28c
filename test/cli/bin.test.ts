/**
 * The `cleanroom` binary itself (src/cli/bin.ts), run as a user runs it: a child process with no
 * setting of the user's about SDK warnings.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../local-aws/local-aws.js';

const BIN = path.join(ROOT, 'dist/cli/bin.js');

// The tests run on Node 24, where this SDK prints no end-of-support notice: here the test guards
// the user-visible result (no notice on stderr). The suppression in bin.ts is what keeps it so on
// Node 20, for anyone who runs the binary there despite `engines` (npm only warns).
t.test("the SDK's Node 20 end-of-support notice is not printed on every command", async (t) => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('NODE_')) env[k] = v;
  // Nothing listens on port 9: the command builds its SDK clients (which is when the SDK warns) and
  // fails on its first call, without an AWS.
  Object.assign(env, {
    AWS_ENDPOINT_URL: 'https://127.0.0.1:9',
    AWS_MAX_ATTEMPTS: '1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  });
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'vault', 'verify'], { env, cwd: ROOT }, (err, _stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /Could not reach AWS at 127\.0\.0\.1:9 for sts getCallerIdentity/);
  t.notMatch(r.stderr, /NodeVersionSupportWarning|require node >=22/);
});
