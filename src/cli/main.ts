#!/usr/bin/env node
// The `jotasu` command. Each subcommand lives in its own module under src/cli/ and
// loads its component lazily inside its action, so that `jotasu --help` stays fast.
import { Command } from 'commander';
import { VERSION } from '../util/version.js';

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
