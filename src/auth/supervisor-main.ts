// `vstream auth` (the default): the supervisor process. It reads only --listen; the worker it starts (the same
// command with --worker) checks every flag, and a worker that cannot start the first time ends the supervisor with
// its exit code, so a bad flag or config is the container's error as before, not a restart loop in here.
import { parseArgs } from 'node:util';
import { AuthSupervisor, supervisorLog } from './supervisor.ts';

/** The hook port MediaMTX calls (src/render/ports.ts AUTH_HOOK_PORT; not imported: that module pulls in more). */
const DEFAULT_HOOK = '127.0.0.1:9000';

const argv = process.argv.slice(2);
const { values } = parseArgs({ args: argv.slice(1), options: { listen: { type: 'string' } }, strict: false });
const listen = typeof values.listen === 'string' ? values.listen : DEFAULT_HOOK;
const i = listen.lastIndexOf(':');
const port = Number(listen.slice(i + 1));
if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`vstream auth: --listen must be HOST:PORT with a port from 0 to 65535, got "${listen}"`);
  process.exit(2);
}
const sup = new AuthSupervisor({
  hook: { host: listen.slice(0, i) || '0.0.0.0', port },
  workerModule: process.argv[1] as string,
  workerArgs: [...argv, '--worker'],
  log: supervisorLog,
});
try {
  await sup.start();
} catch (e) {
  const code = (e as { exitCode?: number }).exitCode;
  if (code === undefined) supervisorLog.error({ error: (e as Error).message }, 'auth supervisor could not start');
  process.exit(code ?? 1);
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void sup.stop().then(() => process.exit(0)));
