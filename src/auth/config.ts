// The sidecar's configuration file (auth.json, rendered by the operator into the stream's ConfigMap), validated.
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { AuthConfig } from '../render/mediamtx-config.ts';

const schema = Type.Object({
  path: Type.String({ minLength: 1 }),
  publish: Type.Object({ tokenFile: Type.String({ minLength: 1 }) }),
  read: Type.Object({
    access: Type.Union([Type.Literal('public'), Type.Literal('jwt')]),
    jwt: Type.Optional(
      Type.Object({
        issuer: Type.String({ minLength: 1 }),
        audience: Type.String({ minLength: 1 }),
        algorithms: Type.Optional(Type.Array(Type.String())),
        clockSkewSeconds: Type.Number({ minimum: 0, maximum: 300 }),
        keysFile: Type.Optional(Type.String()),
        jwksURL: Type.Optional(Type.String()),
      }),
    ),
  }),
  api: Type.Object({ tokenFile: Type.String({ minLength: 1 }) }),
  metrics: Type.Object({ allow: Type.Boolean() }),
});

export function parseAuthConfig(text: string): AuthConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`auth config is not JSON: ${(e as Error).message}`);
  }
  const first = Value.Errors(schema, value).First();
  if (first) throw new Error(`auth config: ${first.path || '/'}: ${first.message}`);
  const config = value as AuthConfig;
  if (config.read.access === 'jwt' && !config.read.jwt)
    throw new Error('auth config: /read/jwt is required when access is jwt');
  if (config.read.jwt && !config.read.jwt.keysFile && !config.read.jwt.jwksURL) {
    throw new Error('auth config: /read/jwt needs keysFile or jwksURL');
  }
  return config;
}
