#!/usr/bin/env node
// The `jotasu` command. Each subcommand lives in its own module under src/cli/ and
// loads its component lazily inside its action, so that `jotasu --help` stays fast.
// First: V8's tier-up thresholds apply to the code loaded after them.
import '../util/jit-tuning.js';
import { Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { VERSION } from '../util/version.js';

// V8 lets the old generation grow to as much as 4x what the last full GC kept before it
// collects again (the factor it picks with a large heap limit). The API server keeps ~35 MB
// live with 10,000 pods, and requests, watch lines and list pages promoted during a burst
// then left 35-110 MB of garbage resident (bench:api). 1.5x bounds that at a few more full
// GCs per burst (each ~35 MB of marking, mostly concurrent). Read at every GC, so it can be
// set here, at once for every thread's isolate; the start-time settings are in bin/jotasu.mjs.
// A --heap-growing-percent given to node (command line or NODE_OPTIONS) wins.
if (![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent/.test(a))) setFlagsFromString('--heap-growing-percent=50');

// One line per subcommand module: `export function command(): Command`.
const modules: (() => Promise<{ command(): Command }>)[] = [
  () => import('./proxy.js'),
  () => import('./images.js'),
  () => import('./server.js'),
  () => import('./scheduler.js'),
  () => import('./sim.js'),
  () => import('./controller-manager.js'),
  () => import('./agent.js'),
];

const program = new Command('jotasu')
  .description('a small Kubernetes-compatible container orchestrator')
  .version(VERSION);

for (const load of modules) program.addCommand((await load()).command());

await program.parseAsync(process.argv);
