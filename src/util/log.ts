// Structured logs (pino, JSON lines on stderr) for every component.
// LOG_LEVEL sets the level (default "info"; tests usually set "warn").
import { pino, type Logger } from 'pino';

const root = pino(
  { level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ dest: 2, sync: false }),
);

/** A child logger tagged with the component name, e.g. logger('scheduler'). */
export function logger(component: string, fields: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...fields });
}

export type { Logger };
