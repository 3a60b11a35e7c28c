/**
 * The functions' environment (src/lambda/env.ts): read as templates/automation.yaml sets it; a
 * missing or wrong variable is AUTOMATION_ENV_INVALID naming it, and a handler reports that as its
 * error name before doing anything.
 */
import t from 'tap';
import { readAutomationEnv } from '../../src/lambda/env.js';
import { makeHandlers } from '../../src/lambda/handlers.js';
import { context } from './fake-world.js';

const ENV = {
  AWS_REGION: 'eu-west-1',
  CLEANROOM_VAULT_BUCKET: 'cleanroom-evidence-123456789012-eu-west-1',
  CLEANROOM_VAULT_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/k',
  CLEANROOM_CODE_SHA256: 'a'.repeat(64),
  CLEANROOM_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:cleanroom-responders',
};

t.test('the environment as the template sets it; policy auto and severity 7 by default', async (t) => {
  t.same(readAutomationEnv(ENV), {
    region: 'eu-west-1',
    vaultBucket: ENV.CLEANROOM_VAULT_BUCKET,
    vaultKeyArn: ENV.CLEANROOM_VAULT_KEY_ARN,
    codeSha256: 'a'.repeat(64),
    topicArn: ENV.CLEANROOM_TOPIC_ARN,
    isolationPolicy: 'auto',
    minSeverity: 7,
  });
  t.match(readAutomationEnv({ ...ENV, CLEANROOM_ISOLATION_POLICY: 'approve', CLEANROOM_MIN_SEVERITY: '4.5' }), {
    isolationPolicy: 'approve',
    minSeverity: 4.5,
  });
  t.match(readAutomationEnv({ ...ENV, CLEANROOM_READONLY_CHECK_SECONDS: '5' }), { readOnlyCheckSeconds: 5 });
  t.notOk('readOnlyCheckSeconds' in readAutomationEnv(ENV), "unset: the library's default");
});

t.test('a missing or wrong variable is AUTOMATION_ENV_INVALID, naming it', async (t) => {
  const { CLEANROOM_TOPIC_ARN: _, ...noTopic } = ENV;
  t.throws(() => readAutomationEnv(noTopic), {
    code: 'AUTOMATION_ENV_INVALID',
    exitCode: 2,
    message: /CLEANROOM_TOPIC_ARN is not set/,
  });
  t.throws(() => readAutomationEnv({ ...ENV, CLEANROOM_ISOLATION_POLICY: 'sometimes' }), {
    message: /CLEANROOM_ISOLATION_POLICY is "sometimes": it must be auto, approve or never/,
  });
  t.throws(() => readAutomationEnv({ ...ENV, CLEANROOM_CODE_SHA256: 'xyz' }), {
    message: /CLEANROOM_CODE_SHA256 is "xyz"/,
  });
  for (const v of ['-1', '601', '2.5', 'soon'])
    t.throws(() => readAutomationEnv({ ...ENV, CLEANROOM_READONLY_CHECK_SECONDS: v }), {
      code: 'AUTOMATION_ENV_INVALID',
      message: /CLEANROOM_READONLY_CHECK_SECONDS .* from 0 to 600/,
    });
  const h = makeHandlers(() => readAutomationEnv(noTopic) as never);
  const e = await h.notify({}, context()).then(
    () => undefined,
    (x: Error) => x,
  );
  t.equal(e?.name, 'AUTOMATION_ENV_INVALID', 'the handler fails with the code as its name');
});
