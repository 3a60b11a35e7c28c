#!/usr/bin/env node
// Suppress the SDK's Node 20 end-of-support notice on every run. cleanroom needs Node 22+ (engines;
// Node 24 LTS is the runtime), where the SDK does not warn; this stays for anyone who runs it on 20
// anyway (npm enforces engines only with engine-strict) — see docs/using-aws.md, Requirements.
// The SDK's switch is AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
// (@aws-sdk/core, emitWarningIfUnsupportedVersion); a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Last resort: whatever escapes the host (a bug, a stray rejection) is one line on stderr (the
// stack with --verbose) and, with --json, the one document {"error": {"code": "INTERNAL"}}; exit 1.
let lastResortUsed = false;
const lastResort = (e: unknown) => {
  if (lastResortUsed) return;
  lastResortUsed = true;
  const err = e instanceof Error ? e : new Error(String(e));
  const args = process.argv.slice(2);
  if (args.includes('--json'))
    process.stdout.write(
      `${JSON.stringify({ error: { code: 'INTERNAL', message: `${err.name}: ${err.message}`, details: {} } }, null, 2)}\n`,
    );
  process.stderr.write(`error: ${err.name}: ${err.message}\n`);
  process.stderr.write(
    args.includes('--verbose')
      ? `${err.stack ?? ''}\n`
      : 'This is a bug in cleanroom: run again with --verbose for the details to report.\n',
  );
  process.exit(1);
};
process.on('uncaughtException', lastResort);
process.on('unhandledRejection', lastResort);

try {
  const { main } = await import('./main.js');
  const code = await main();
  // 130: stopped by Ctrl-C; work still in flight must not keep the process alive.
  if (code === 130) process.exit(code);
  process.exitCode = code;
} catch (e) {
  lastResort(e);
}
