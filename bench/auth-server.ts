// A server for bench/auth.ts, in its own process so it does not share an event loop with the load generator:
//   sidecar <config>  the real `vstream auth` hook
//   bare              a fastify route that returns 200 (the baseline)
// Answers a 'cpu' message with its CPU time so far (µs, user + system, every thread: WebCrypto's threadpool too).
import fastify from 'fastify';
import { authMetrics, hookServer } from '../src/auth/server.ts';
import { AuthStateStore } from '../src/auth/state.ts';
import { createLogger } from '../src/log/logger.ts';

const [mode, config, port] = process.argv.slice(2) as [string, string, string];
// The sidecar's production logger (stdout, as in src/auth/main.ts); the benchmark points stdout at /dev/null.
const log = createLogger('auth', undefined, undefined, { redact: false });
async function sidecar() {
  const store = new AuthStateStore(config, log);
  await store.init();
  return hookServer(store, authMetrics(), log);
}
function bare() {
  const app = fastify({ logger: false });
  app.post('/auth', async (_req, reply) => reply.code(200).send());
  return app;
}
const app = mode === 'sidecar' ? await sidecar() : bare();
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('message', (m) => {
  if (m !== 'cpu') return;
  const c = process.cpuUsage();
  process.send?.({ cpu: c.user + c.system });
});
process.send?.('ready');
// A clean exit on SIGTERM, so `node --cpu-prof bench/auth-server.ts …` writes its profile.
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
