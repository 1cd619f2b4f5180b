// `vstream auth` (the default): the supervisor process. It reads only --listen; the worker it starts (the same
// command with --worker) checks every flag, and a worker that cannot start the first time ends the supervisor with
// its exit code, so a bad flag or config is the container's error as before, not a restart loop in here.
import { parseArgs } from 'node:util';
// Both modules load nothing beyond Node's own (ports.ts imports only a type).
import { hostPort, splitHostPort } from '../cli-flags.ts';
import { AUTH_HOOK_PORT } from '../render/ports.ts';
import { AuthSupervisor, supervisorLog } from './supervisor.ts';

const argv = process.argv.slice(2);
const { values } = parseArgs({ args: argv.slice(1), options: { listen: { type: 'string' } }, strict: false });
let listen: string;
try {
  listen = hostPort('listen', values.listen, `127.0.0.1:${AUTH_HOOK_PORT}`);
} catch (e) {
  console.error(`vstream auth: ${(e as Error).message}`);
  process.exit(2);
}
const sup = new AuthSupervisor({
  hook: splitHostPort(listen),
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
