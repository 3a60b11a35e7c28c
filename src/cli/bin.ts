#!/usr/bin/env node
// Suppress the SDK's Node 20 end-of-support notice on every run: the lockfile pins SDK releases
// that support Node 20 (see README, Requirements).
// The SDK's switch is AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
// (@aws-sdk/core, emitWarningIfUnsupportedVersion); a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('./main.js');
process.exitCode = await main();
