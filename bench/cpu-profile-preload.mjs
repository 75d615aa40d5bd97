// Preloaded with NODE_OPTIONS="--import .../cpu-profile-preload.mjs" (node refuses
// --cpu-prof there): profiles the whole process with the inspector and writes
// $CPU_PROFILE_DIR/<name>-<pid>.cpuprofile when it exits. SIGUSR2 restarts the profile, so
// a benchmark can leave startup out of it. Worker threads (the server's control-loop
// thread) are profiled too, into <name>-<pid>-<thread name>.cpuprofile; signals reach
// only the main thread, which passes the restart on to them.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BroadcastChannel, isMainThread, threadId, workerData } from 'node:worker_threads';

const dir = process.env.CPU_PROFILE_DIR;
if (dir) {
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 1000 });
  s.post('Profiler.start');
  // CPU_PROFILE_WINDOWS=1: each restart first writes the window that ends (…-w<k>.cpuprofile).
  let windowNo = 0;
  const restart = () => s.post('Profiler.stop', (err, r) => {
    if (!err && process.env.CPU_PROFILE_WINDOWS) writeFileSync(join(dir, `${name}-${process.pid}${thread}-w${windowNo++}.cpuprofile`), JSON.stringify(r.profile));
    s.post('Profiler.start');
  });
  const channel = new BroadcastChannel('jotasu-cpu-profile-preload');
  channel.unref();
  if (isMainThread) {
    process.on('SIGUSR2', () => { restart(); channel.postMessage('restart'); });
  } else {
    channel.onmessage = restart;
  }
  const name = workerData?.controlLoops ? 'server' : process.argv.slice(2).find((a) => /^(server|scheduler|agent)$/.test(a)) ?? 'node';
  const thread = isMainThread ? '' : `-${workerData?.controlLoops ? 'control-loops' : `thread${threadId}`}`;
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this works in 'exit'.
    s.post('Profiler.stop', (err, r) => {
      if (!err) writeFileSync(join(dir, `${name}-${process.pid}${thread}.cpuprofile`), JSON.stringify(r.profile));
    });
  });
}
