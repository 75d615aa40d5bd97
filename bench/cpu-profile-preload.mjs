// Preloaded with NODE_OPTIONS="--import .../cpu-profile-preload.mjs" (node refuses
// --cpu-prof there): profiles the whole process with the inspector and writes
// $CPU_PROFILE_DIR/<pid>.cpuprofile when it exits. SIGUSR2 restarts the profile, so
// a benchmark can leave startup out of it.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CPU_PROFILE_DIR;
if (dir) {
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 1000 });
  s.post('Profiler.start');
  process.on('SIGUSR2', () => {
    s.post('Profiler.stop', () => s.post('Profiler.start'));
  });
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this works in 'exit'.
    s.post('Profiler.stop', (err, r) => {
      if (!err) writeFileSync(join(dir, `${process.argv.slice(2).find((a) => /^(server|scheduler|agent)$/.test(a)) ?? 'node'}-${process.pid}.cpuprofile`), JSON.stringify(r.profile));
    });
  });
}
