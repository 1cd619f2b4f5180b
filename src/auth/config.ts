// The sidecar's configuration file (auth.json, rendered by the operator into the stream's ConfigMap), checked against
// the schema the renderer's type comes from (./contract.ts). A file that fails is an error naming the field; at
// start that stops the sidecar, on a reload the last good config stays (./state.ts).
import { Value } from '@sinclair/typebox/value';
import { type AuthConfig, AuthConfigSchema } from './contract.ts';

export function parseAuthConfig(text: string): AuthConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`auth config is not JSON: ${(e as Error).message}`);
  }
  const first = Value.Errors(AuthConfigSchema, value).First();
  if (first) {
    const allowed = (first.schema as { enum?: unknown[] }).enum;
    const message = allowed ? `Expected one of ${allowed.join(', ')}` : first.message;
    throw new Error(`auth config: ${first.path || '/'}: ${message}`);
  }
  const config = value as AuthConfig;
  // What a JSON schema cannot say without unions whose errors name no field:
  if (config.read.access === 'jwt' && !config.read.jwt)
    throw new Error('auth config: /read/jwt: required when /read/access is jwt');
  if (config.read.jwt && !config.read.jwt.keysFile && !config.read.jwt.jwksURL)
    throw new Error('auth config: /read/jwt: needs keysFile or jwksURL');
  return config;
}
