// The thumbnail (spec.thumbnails, src/render/media.ts) on its own public port, behind the same decision as live
// playback (src/auth/decide.ts: public, or a viewer JWT as ?jwt= or a Bearer header).
import { readFile } from 'node:fs/promises';
import fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { MEDIA_FILES } from '../media/files.ts';
import type { AuthRequest } from './contract.ts';
import { decide } from './decide.ts';
import type { AuthStateStore } from './state.ts';

const THUMBNAIL_FILE = MEDIA_FILES.thumbnail;

const bearer = (h: string | undefined) => (h?.startsWith('Bearer ') ? h.slice(7).trim() : '');

/** The thumbnail server: GET /<path>/thumbnail.jpg. */
export function thumbnailServer(store: AuthStateStore, log: Logger): FastifyInstance {
  const app = fastify({ logger: false, return503OnClosing: true });
  app.get('/*', async (req, reply) => {
    const config = store.state.config;
    const url = req.url;
    const q = url.indexOf('?');
    const pathname = decodeURIComponent(q < 0 ? url : url.slice(0, q));
    const suffix = `/${THUMBNAIL_FILE}`;
    if (!pathname.endsWith(suffix) || !config.media?.thumbnails) return reply.code(404).send();
    const body: AuthRequest = {
      ip: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '',
      user: '',
      password: '',
      token: bearer(req.headers.authorization),
      action: 'read',
      path: pathname.slice(1, -suffix.length),
      protocol: '',
      id: null,
      query: q < 0 ? '' : url.slice(q + 1, q + 1 + 8192),
    };
    const d = await decide(body, store.state);
    if (!d.allow) {
      log.info({ decision: 'deny', reason: d.reason, action: 'thumbnail', ip: body.ip }, 'auth');
      return reply.code(d.status).send();
    }
    try {
      const jpeg = await readFile(`${config.media.dir}${THUMBNAIL_FILE}`);
      return reply.type('image/jpeg').header('cache-control', 'no-cache').send(jpeg);
    } catch {
      return reply.code(404).send();
    }
  });
  return app;
}
