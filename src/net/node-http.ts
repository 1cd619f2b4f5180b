// node:http and node:https for ES modules, without Node's bundled undici.
// `import … from 'node:http'` makes a module namespace, and making it reads every export: node:http's WebSocket,
// CloseEvent and MessageEvent are getters that load Node's own undici bundle and web streams (Node 24.21: +10 MiB
// RSS and +2 MiB heap in a bare process, measured) that nothing here uses. require() returns the module object
// and leaves the getters alone. Every product module takes its http and https from here; type imports are free.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const http = require('node:http') as typeof import('node:http');
export const https = require('node:https') as typeof import('node:https');
