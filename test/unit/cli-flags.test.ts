// Bad numeric and enumerated flags stop the command at start, naming the flag, before anything connects anywhere.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hostAddress, hostPort, oneOf, positiveDuration, positiveInt, splitHostPort } from '../../src/cli-flags.ts';
import { durationSeconds } from '../../src/render/mediamtx-config.ts';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run(process.execPath, ['src/cli.ts', ...args], {
    // Nothing to connect to, should validation let it through: the command would fail differently.
    env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' },
    timeout: 20_000,
  }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );

describe('vstream controller flags', () => {
  for (const [args, message] of [
    [['--concurrency', 'abc'], '--concurrency must be a positive whole number, got "abc"'],
    [['--concurrency', '0'], '--concurrency must be a positive whole number, got "0"'],
    [['--concurrency=-3'], '--concurrency must be a positive whole number, got "-3"'],
    [['--concurrency', '2.5'], '--concurrency must be a positive whole number, got "2.5"'],
    [['--metrics-addr', '0.0.0.0:http'], '--metrics-addr must be HOST:PORT'],
    [['--metrics-addr', ':70000'], '--metrics-addr must be HOST:PORT'],
    [['--probe', 'sometimes'], '--probe must be one of cluster, off, got "sometimes"'],
  ] as const) {
    it(`${args.join(' ')} is an error naming the flag`, async () => {
      const r = await cli('controller', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`vstream controller: ${message}`);
      // It stopped before loading the configuration.
      expect(r.stderr).not.toContain('KUBECONFIG');
    });
  }
  it('valid flags get as far as the configuration', async () => {
    const r = await cli(
      'controller',
      '--concurrency',
      '4',
      '--metrics-addr',
      '127.0.0.1:0',
      '--probe',
      'off',
      '--no-memory-saver',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('$KUBECONFIG lists no file that exists');
  });
});

describe('flag parsers', () => {
  it('positiveInt', () => {
    expect(positiveInt('n', undefined, 8)).toBe(8);
    expect(positiveInt('n', '16', 8)).toBe(16);
    for (const bad of ['', ' ', '1e3', '0x10', 'NaN', 'Infinity', '99999999999999999999', true])
      expect(() => positiveInt('n', bad, 8), String(bad)).toThrow(/--n must be a positive whole number/);
  });
  it('hostAddress: an IP (IPv6 brackets dropped) or a DNS name', () => {
    expect(hostAddress('node-address', undefined)).toBeUndefined();
    expect(hostAddress('node-address', '198.51.100.4')).toBe('198.51.100.4');
    expect(hostAddress('node-address', '[2001:db8::4]')).toBe('2001:db8::4');
    expect(hostAddress('node-address', 'node1.example.com')).toBe('node1.example.com');
    for (const bad of ['', 'http://x', 'a b', 'x:80', '-x.example'])
      expect(() => hostAddress('node-address', bad), String(bad)).toThrow(/--node-address must be an IP/);
  });

  it('hostPort', () => {
    for (const ok of ['0.0.0.0:8080', ':9000', '[::1]:0', 'localhost:65535'])
      expect(hostPort('a', ok, 'x'), ok).toBe(ok);
    for (const bad of ['8080', 'host:', 'host:-1', 'host:65536', 'host:80x'])
      expect(() => hostPort('a', bad, 'x'), bad).toThrow(/--a must be HOST:PORT/);
  });
  it('splitHostPort: what listen() takes (every address for an empty host, IPv6 without its brackets)', () => {
    expect(splitHostPort('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(splitHostPort(':9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(splitHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(splitHostPort('[::]:8080')).toEqual({ host: '::', port: 8080 });
    expect(splitHostPort('localhost:65535')).toEqual({ host: 'localhost', port: 65535 });
  });
  it('oneOf and positiveDuration', () => {
    expect(oneOf('p', undefined, ['a', 'b'] as const, 'a')).toBe('a');
    expect(() => oneOf('p', 'c', ['a', 'b'] as const, 'a')).toThrow('--p must be one of a, b, got "c"');
    expect(positiveDuration('ttl', '1h30m', '1h', durationSeconds)).toBe(5400);
    for (const bad of ['0s', '1x', 'soon', '', '-1h'])
      expect(() => positiveDuration('ttl', bad, '1h', durationSeconds), bad).toThrow(/--ttl must be a positive/);
  });
});

describe('vstream token viewer --ttl', () => {
  it('rejects a ttl that is not a positive duration', async () => {
    const r = await cli('token', 'viewer', '--key', '/dev/null', '--path', 'live/x', '--issuer', 'i', '--ttl', '10x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vstream token viewer: --ttl must be a positive duration');
  });
});
