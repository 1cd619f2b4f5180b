// `vstream auth` as two processes: this small supervisor holds the hook's listening socket, a worker (./main.ts)
// decides. MediaMTX 1.20.1 counts a hook it cannot reach as a failed authentication and answers a publish
// NetStream.Publish.Unauthorized, after which OBS stops retrying: a streamer with a valid token would be locked out
// because the sidecar crashed or was OOM-killed (the kernel picks the largest process of the container: the
// worker). With the socket held here, a connection that arrives while the worker restarts waits, paused and
// unread, until the new worker takes it (MediaMTX waits up to its readTimeout, 10 s); it is never refused.
// Each connection is handed over with its file descriptor (IPC), so this process reads no request and holds no
// secret. It loads nothing but Node's own modules (one per stream pod: ≈ 9 MiB of private memory; pino alone would
// add 3.4 MiB), and so writes its few log lines itself, in the format every other vstream log line has.
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';

export interface SupervisorLog {
  info(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** pino's JSON lines as src/log/logger.ts configures them (level label, ISO time, component). */
export const supervisorLog: SupervisorLog = {
  info: (fields, msg) => writeLine('info', fields, msg),
  error: (fields, msg) => writeLine('error', fields, msg),
};
function writeLine(level: string, fields: Record<string, unknown>, msg: string) {
  const line = { level, time: new Date().toISOString(), component: 'auth-supervisor', ...fields, msg };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export interface SupervisorOptions {
  /** Where the hook listens (loopback in a pod). Port 0 picks one (tests). */
  hook: { host: string; port: number };
  /** The module and arguments that run the worker (the CLI with `auth --worker ...`). */
  workerModule: string;
  workerArgs: string[];
  log: SupervisorLog;
  /** Connections kept while no worker is up; beyond it the oldest are dropped (a storm, not a restart). */
  maxQueued?: number;
  /** How long a worker may take to stop on SIGTERM before it is killed. */
  stopTimeoutMs?: number;
}

/** The messages between supervisor and worker. */
export const WorkerMessage = {
  Ready: 'vstream-auth-ready',
  Hook: 'vstream-auth-hook',
  Taken: 'vstream-auth-taken',
} as const;

const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that ran this long was healthy: its successor starts without delay. */
const HEALTHY_MS = 10_000;

export class AuthSupervisor {
  private readonly opts: Required<Omit<SupervisorOptions, 'log'>> & { log: SupervisorLog };
  private server?: Server;
  private worker?: ChildProcess;
  private ready = false;
  private readonly queue: Socket[] = [];
  private readonly guarded = new WeakSet<Socket>();
  /**
   * Connections sent to the worker that it has not confirmed. Each is sent with keepOpen, so this process keeps its
   * descriptor until the worker says it has its own: a worker that dies first never loses one (Node drops handles
   * queued on a channel that closes), the next worker gets it, still unread.
   */
  private readonly unconfirmed = new Map<number, Socket>();
  private nextId = 0;
  private stopping = false;
  private restartDelay = 0;
  private restartTimer?: NodeJS.Timeout;
  /** Workers started so far (1 after the first start). */
  starts = 0;

  constructor(opts: SupervisorOptions) {
    this.opts = { maxQueued: 1024, stopTimeoutMs: 20_000, ...opts };
  }

  /** The worker's process id, while one runs. */
  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  /** Resolves with the hook's address once it listens and the first worker is ready. */
  async start(): Promise<{ host: string; port: number }> {
    // pauseOnConnect: not one byte is read here, so a handed-over connection reaches the worker whole.
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.hook.port, this.opts.hook.host, resolve);
    });
    // A first worker that exits before it is ready (a bad flag, an unreadable config) ends the start with its code.
    await new Promise<void>((resolve, reject) => this.spawn(resolve, reject));
    const a = server.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  private accept(socket: Socket): void {
    if (this.ready && this.worker?.connected) {
      this.handOver(socket);
      return;
    }
    // Once per connection: one that a dead worker left unconfirmed comes back here, listeners already in place.
    if (!this.guarded.has(socket)) {
      this.guarded.add(socket);
      socket.on('error', () => {}); // a queued connection that resets is simply gone
      socket.once('close', () => {
        const i = this.queue.indexOf(socket);
        if (i >= 0) this.queue.splice(i, 1);
      });
    }
    this.queue.push(socket);
    while (this.queue.length > this.opts.maxQueued) this.queue.shift()?.destroy();
  }

  private handOver(socket: Socket): void {
    const worker = this.worker;
    if (!worker?.connected) {
      this.accept(socket);
      return;
    }
    const id = ++this.nextId;
    this.unconfirmed.set(id, socket);
    worker.send({ t: WorkerMessage.Hook, id }, socket, { keepOpen: true }, (err) => {
      // The worker went away between the check and the send: keep the connection for the next one.
      if (err && this.unconfirmed.delete(id)) {
        this.ready = false;
        this.accept(socket);
      }
    });
  }

  private spawn(onReady?: () => void, onFirstFailure?: (e: Error) => void): void {
    if (this.stopping) return;
    const startedAt = Date.now();
    this.starts++;
    const worker = fork(this.opts.workerModule, this.opts.workerArgs, { stdio: 'inherit' });
    this.worker = worker;
    this.ready = false;
    worker.on('message', (m: { t?: string; id?: number }) => {
      if (m?.t === WorkerMessage.Taken && m.id !== undefined) {
        // The worker holds its own descriptor now: closing ours leaves the connection open.
        this.unconfirmed.get(m.id)?.destroy();
        this.unconfirmed.delete(m.id);
        return;
      }
      if (m?.t !== WorkerMessage.Ready || worker !== this.worker) return;
      this.ready = true;
      onReady?.();
      if (this.starts > 1) this.opts.log.info({ pid: worker.pid, starts: this.starts }, 'auth worker ready');
      for (const s of this.queue.splice(0)) if (!s.destroyed) this.handOver(s);
    });
    worker.once('exit', (code, signal) => {
      if (worker !== this.worker) return;
      const wasReady = this.ready;
      this.ready = false;
      this.worker = undefined;
      const orphans = [...this.unconfirmed.values()];
      this.unconfirmed.clear();
      for (const socket of orphans) if (!socket.destroyed) this.accept(socket);
      if (this.stopping) return;
      if (!wasReady && this.starts === 1 && onFirstFailure) {
        this.server?.close();
        onFirstFailure(Object.assign(new Error(`auth worker exited with ${code ?? signal}`), { exitCode: code ?? 1 }));
        return;
      }
      const ran = Date.now() - startedAt;
      this.restartDelay = ran >= HEALTHY_MS ? 0 : Math.min(MAX_RESTART_DELAY_MS, Math.max(100, this.restartDelay * 2));
      this.opts.log.error(
        { code, signal, ranMs: ran, restartInMs: this.restartDelay, waiting: this.queue.length },
        'auth worker exited; starting another (hook connections wait for it)',
      );
      this.restartTimer = setTimeout(() => this.spawn(onReady), this.restartDelay);
    });
  }

  /** Stops taking connections, lets the worker finish (SIGTERM), and closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.server?.close();
    for (const s of this.queue.splice(0)) s.destroy();
    for (const s of this.unconfirmed.values()) s.destroy();
    this.unconfirmed.clear();
    const worker = this.worker;
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker.kill('SIGKILL'), this.opts.stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    }
  }
}

/**
 * In the worker: connections handed over by the supervisor go to `serve`; `ready()` tells the supervisor to send
 * them. A worker whose supervisor is gone exits (the container restarts both).
 */
export function workerChannel(serve: (socket: Socket) => void) {
  process.on('message', (m: { t?: string; id?: number }, socket?: Socket) => {
    if (m?.t !== WorkerMessage.Hook || !socket) return;
    process.send?.({ t: WorkerMessage.Taken, id: m.id });
    serve(socket);
  });
  process.once('disconnect', () => process.exit(0));
  return { ready: () => process.send?.({ t: WorkerMessage.Ready }) };
}
