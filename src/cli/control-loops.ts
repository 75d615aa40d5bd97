// The control loops of `jotasu server` (scheduler, controller manager) on a thread of
// their own. They are API clients like any other (HTTPS to the API server, rule 1),
// so nothing but their connection is shared with the API server; on their own thread
// they no longer take turns with it for one core: decoding watch events, scheduling
// and writing bindings run beside the serving of those writes, as the Go components
// of k3s use every core. Both share one informer factory there.
//
// This module is both sides: startControlLoopThread() runs on the server's main thread;
// imported on a worker thread (workerData set), it starts the components it is given.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { ComponentContext, RunningComponent } from './server.js';

/** What crosses to the thread: the context without its functions and informers. */
export type ThreadContext = Omit<ComponentContext, 'issueClientCert' | 'informers'>;

interface ThreadData { controlLoops: { names: string[]; ctx: ThreadContext } }

type FromThread = { type: 'started'; failed: { name: string; err: string }[] };

/** How long stop() waits for the components to stop before the thread is terminated. */
const STOP_TIMEOUT_MS = 8_000;

/**
 * Starts the named components on a new thread; resolves once they have started. A
 * thread that dies unexpectedly is started again after a second (their state is the
 * cluster's: they pick up where they were, as after a restart of the process).
 */
export async function startControlLoopThread(ctx: ThreadContext, names: string[], log: { info(o: object, m: string): void; error(o: object, m: string): void }): Promise<RunningComponent> {
  // From the sources (tsx), the thread registers tsx's loader before it loads this module
  // (an --import in a worker's execArgv is not applied).
  const fromSource = import.meta.url.endsWith('.ts');
  const boot = fromSource
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); });`
    : undefined;
  let stopping = false;
  let worker: Worker;
  const spawn = (): Promise<void> => new Promise((resolve, reject) => {
    const data: ThreadData = { controlLoops: { names, ctx } };
    worker = boot
      ? new Worker(boot, { eval: true, workerData: data, name: 'control-loops' })
      : new Worker(new URL(import.meta.url), { workerData: data, name: 'control-loops' });
    worker.on('message', (m: FromThread) => {
      if (m.type !== 'started') return;
      for (const f of m.failed) log.error({ component: f.name, err: f.err }, 'component failed to start');
      resolve();
    });
    worker.once('error', (e) => { log.error({ err: e.stack ?? String(e) }, 'control-loop thread failed'); reject(e); });
    worker.once('exit', (code) => {
      if (stopping) return;
      log.error({ code }, 'control-loop thread exited; starting it again in 1 s');
      setTimeout(() => { if (!stopping) spawn().catch(() => undefined); }, 1000).unref();
    });
  });
  await spawn();
  log.info({ components: names }, 'control loops running on their own thread');
  return {
    async stop(): Promise<void> {
      stopping = true;
      const w = worker;
      // The thread ends itself once its components have stopped (its exit handlers run).
      const done = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage({ type: 'stop' });
      const timer = setTimeout(() => void w.terminate(), STOP_TIMEOUT_MS);
      await done;
      clearTimeout(timer);
    },
  };
}

/**
 * The control loops on informers shared among them, on the calling thread (the
 * control-loop thread, or the main one with --no-control-loop-thread). `ctx` may carry
 * the main thread's issueClientCert; on the thread there is none.
 */
export async function startControlLoops(base: ThreadContext & Partial<Pick<ComponentContext, 'issueClientCert'>>, names: string[]): Promise<{ running: RunningComponent; failed: { name: string; err: string }[] }> {
  const [{ componentsByName }, { createClientFromKubeconfig }, { createInformerFactory }, { VERSION }] = await Promise.all([
    import('./server.js'), import('../client/rest.js'), import('../client/informer.js'), import('../util/version.js'),
  ]);
  const informerClient = createClientFromKubeconfig(base.kubeconfig, { userAgent: `jotasu-server-informers/${VERSION}`, qps: 1000, burst: 2000 });
  const informers = createInformerFactory(informerClient, { trimManagedFields: true });
  informers.start();
  const ctx: ComponentContext = {
    issueClientCert: () => Promise.reject(new Error('client certificates are issued on the server\'s main thread')),
    ...base, informers,
  };
  const running: RunningComponent[] = [];
  const failed: { name: string; err: string }[] = [];
  for (const name of names) {
    const entry = componentsByName(name);
    try {
      if (!entry) throw new Error(`unknown component ${name}`);
      running.push(await entry.start(ctx));
    } catch (e) {
      failed.push({ name, err: (e as Error).stack ?? String(e) });
    }
  }
  return {
    failed,
    running: {
      async stop(): Promise<void> {
        for (const c of running.reverse()) { try { await c.stop(); } catch { /* stopping anyway */ } }
        informers.stop();
        informerClient.close();
      },
    },
  };
}

/** The thread's side. */
async function runThread(data: ThreadData['controlLoops']): Promise<void> {
  const { running, failed } = await startControlLoops(data.ctx, data.names);
  parentPort!.postMessage({ type: 'started', failed } satisfies FromThread);
  parentPort!.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    void Promise.resolve(running.stop()).then(() => process.exit(0)); // ends this thread only (its 'exit' handlers run, as a process's would)
  });
}

if (!isMainThread && (workerData as Partial<ThreadData> | undefined)?.controlLoops) {
  await runThread((workerData as ThreadData).controlLoops);
}
