#!/usr/bin/env node
// A TEST-ONLY stand-in for AWS's session-manager-plugin (test/cli/room-shell.test.ts puts it on
// PATH as `session-manager-plugin`). The local AWS has Session Manager's control plane but no data
// channel and no SSM agent (docs/local-aws.md, "Session Manager"), so this plays the agent's part:
// it reads the session document the way the agent does (GetDocument: s3BucketName, s3KeyPrefix)
// and puts the session's transcript at <s3KeyPrefix><session id>.log, then exits.
//
// Called as the AWS CLI calls the real plugin:
//   session-manager-plugin <StartSession response JSON | env var name> <region> StartSession <profile> <request JSON> <ssm endpoint>
// FAKE_AGENT: 'upload' (default: the transcript with SSE-KMS asked for), 'upload-as-agent' (no SSE
// header, as the real agent's S3 upload sends none: amazon-ssm-agent agent/s3util/s3util.go), 'none'
// (nothing written: an upload that failed), 'exit1' (the plugin fails). FAKE_PLUGIN_LOG: a file each invocation is appended to, as one JSON line.
import fs from 'node:fs';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { SSMClient, GetDocumentCommand } from '@aws-sdk/client-ssm';

const args = process.argv.slice(2);
if (args[0] === '--version') {
  process.stdout.write(`${process.env.FAKE_PLUGIN_VERSION ?? '1.2.707.0'}\n`);
  process.exit(0);
}
const fromEnv = process.env[args[0]] !== undefined;
const response = JSON.parse(fromEnv ? process.env[args[0]] : args[0]);
const [, region, operation, profile, requestJson, endpoint] = args;
const request = JSON.parse(requestJson);
if (process.env.FAKE_PLUGIN_LOG)
  fs.appendFileSync(
    process.env.FAKE_PLUGIN_LOG,
    `${JSON.stringify({ argc: args.length, responseFromEnv: fromEnv, response, region, operation, profile, request, endpoint })}\n`,
  );
const mode = process.env.FAKE_AGENT ?? 'upload';
if (mode === 'exit1') {
  process.stderr.write('fake session-manager-plugin: failing as asked\n');
  process.exit(1);
}
process.stdout.write(`\nStarting session with SessionId: ${response.SessionId}\n`);
if (mode !== 'none') {
  const doc = await new SSMClient({ region }).send(new GetDocumentCommand({ Name: request.DocumentName }));
  const inputs = JSON.parse(doc.Content).inputs ?? {};
  if (inputs.s3BucketName) {
    const body = `Script started on ${new Date().toISOString()}\n$ target-query -f users /dev/nvme1n1\nroot\ndeploy\n$ exit\n`;
    try {
      await new S3Client({ region }).send(
        new PutObjectCommand({
          Bucket: inputs.s3BucketName,
          Key: `${inputs.s3KeyPrefix ?? ''}${response.SessionId}.log`,
          Body: body,
          ContentType: 'text/plain',
          ...(mode === 'upload' ? { ServerSideEncryption: 'aws:kms' } : {}),
        }),
      );
    } catch (e) {
      // The agent logs a failed upload and the session still ends normally.
      process.stderr.write(`fake session-manager-plugin: the agent's upload failed: HTTP ${e.$metadata?.httpStatusCode} ${e.name}: ${e.message}\n`);
    }
  }
}
process.stdout.write(`\nExiting session with sessionId: ${response.SessionId}.\n`);
