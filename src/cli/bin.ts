#!/usr/bin/env node
// Suppress the SDK's Node 20 end-of-support notice on every run: the lockfile pins SDK releases
// that support Node 20 (see README, Requirements).
process.env.AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING ??= '1';
const { main } = await import('./main.js');
process.exitCode = await main();
