// `jotasu images import|ls|rm|pull`: the agent's image store from the command line
// (what `k3s ctr images ...` / `crictl images` do on a k3s node).
import { Command } from 'commander';
import { join } from 'node:path';

interface Opts { dataDir: string }

async function openStore(o: Opts) {
  const { ImageStore } = await import('../runtime/images/store.js');
  const store = new ImageStore(join(o.dataDir, 'agent'));
  await store.init();
  return store;
}

function human(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)}${u[i]}`;
}

export function command(): Command {
  const cmd = new Command('images').description('manage the images of this node (import, ls, rm, pull)');
  const dataDir = (c: Command) => c.option('--data-dir <dir>', 'data directory', '/var/lib/jotasu');

  dataDir(cmd.command('import').argument('<file>', 'a docker save archive or an OCI image-layout tar')
    .description('import images from an archive'))
    .action(async (file: string, o: Opts) => {
      const { importArchive } = await import('../runtime/images/import.js');
      const recs = await importArchive(await openStore(o), file);
      for (const r of recs) console.log(`imported ${r.repoTags.join(', ') || '<untagged>'} (${r.id})`);
    });

  dataDir(cmd.command('ls').alias('list').description('list images')
    .option('-q, --quiet', 'only image ids'))
    .action(async (o: Opts & { quiet?: boolean }) => {
      const recs = await (await openStore(o)).list();
      if (o.quiet) { for (const r of recs) console.log(r.id); return; }
      const rows = [['IMAGE', 'TAG', 'IMAGE ID', 'SIZE']];
      for (const r of recs) {
        const tags = r.repoTags.length ? r.repoTags : ['<none>:<none>'];
        for (const t of tags) {
          const i = t.lastIndexOf(':');
          rows.push([t.slice(0, i), t.slice(i + 1), r.id.slice(7, 20), human(r.size)]);
        }
      }
      const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) console.log(r.map((x, c) => x.padEnd(w[c]! + 3)).join('').trimEnd());
    });

  dataDir(cmd.command('rm').alias('remove').argument('<refs...>', 'image references or ids').description('remove images'))
    .action(async (refs: string[], o: Opts) => {
      const store = await openStore(o);
      for (const r of refs) { await store.remove(r); console.log(`deleted ${r}`); }
    });

  dataDir(cmd.command('pull').argument('<ref>', 'image reference, e.g. nginx or 127.0.0.1:5000/app:1')
    .description('pull an image from a registry')
    .option('--creds <user:password>', 'registry credentials')
    .option('--insecure-registry <host...>', 'registries allowed over plain HTTP'))
    .action(async (ref: string, o: Opts & { creds?: string; insecureRegistry?: string[] }) => {
      const store = await openStore(o);
      const auth = o.creds ? { username: o.creds.split(':')[0], password: o.creds.split(':').slice(1).join(':') } : undefined;
      const tty = process.stderr.isTTY;
      const seen = new Map<string, string>();
      const rec = await store.pull(ref, auth, (p) => {
        const short = p.digest.startsWith('sha256:') ? p.digest.slice(7, 19) : p.digest;
        const line = p.phase === 'downloading' ? `${short}: downloading ${human(p.current)}/${human(p.total)}`
          : p.phase === 'resolving' ? `resolving ${p.digest}` : `${short}: ${p.phase}`;
        if (!tty && seen.get(p.digest) === p.phase && p.phase === 'downloading') return;
        seen.set(p.digest, p.phase);
        process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      }, { insecureRegistries: o.insecureRegistry });
      if (tty) process.stderr.write('\r\x1b[K');
      console.log(`${ref}: ${rec.repoDigests.at(-1) ?? ''}\nimage id ${rec.id}`);
    });
  return cmd;
}
