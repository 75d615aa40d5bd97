// V8's tier-up thresholds for jotasu's long-running processes (the server, agents).
// V8 hands a function to its optimizing compiler once it has used up an "interrupt
// budget" of executed bytecode (67,584 bytes in Node 20) and, after any inline cache of
// it changed, at least 500 more calls. A request path of many mid-sized functions whose
// caches keep seeing new object shapes for a while (decoded bodies, events, options)
// stays in the baseline tiers for thousands of requests: a fresh API server spent
// 2-3x its steady CPU per create for its first ~2,000 creates, and some functions were
// still unoptimized after 7,000. A quarter of the budget and 100 calls after a cache
// change let the hot path reach optimized code several times sooner; code that is not
// hot is unaffected (it never uses up even the smaller budget).
// Must run before the code it should affect: imported first by the CLI entry.
// JOTASU_V8_DEFAULT_TIERING=1 keeps V8's defaults (for comparisons).
import { setFlagsFromString } from 'node:v8';

export const JIT_FLAGS = ['--interrupt-budget=16384', '--minimum-invocations-after-ic-update=100'];

if (!process.env.JOTASU_V8_DEFAULT_TIERING) {
  // Flags given on the command line win (node --interrupt-budget=... bin/jotasu.mjs).
  for (const flag of JIT_FLAGS) {
    const name = flag.slice(0, flag.indexOf('='));
    if (!process.execArgv.some((a) => a.startsWith(name))) setFlagsFromString(flag);
  }
}
