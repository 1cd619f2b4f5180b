// Certificates made at test time with Debian's openssl (never committed): a self-signed leaf for the names given,
// returned as PEM text. Expired certificates are tested by moving the clock, not by forging dates.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, hex: what MediaMTX's *Fingerprint settings take. */
  fingerprint: string;
}

export function selfSigned(opts: { dns?: string[]; ips?: string[]; days?: number; cn?: string } = {}): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'vstream-cert-'));
  try {
    const san = [...(opts.dns ?? ['localhost']).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((i) => `IP:${i}`)];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'tls.key'),
        '-out',
        join(dir, 'tls.crt'),
        '-days',
        String(opts.days ?? 30),
        '-subj',
        `/CN=${opts.cn ?? opts.dns?.[0] ?? 'vstream-test'}`,
        '-addext',
        `subjectAltName=${san.join(',')}`,
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
    const der = Buffer.from(cert.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    return {
      cert,
      key: readFileSync(join(dir, 'tls.key'), 'utf8'),
      fingerprint: createHash('sha256').update(der).digest('hex'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A kubernetes.io/tls Secret body. */
export const tlsSecret = (name: string, namespace: string, c: Pick<TestCert, 'cert' | 'key'>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'kubernetes.io/tls',
  metadata: { name, namespace },
  stringData: { 'tls.crt': c.cert, 'tls.key': c.key },
});
