// Checks a kubernetes.io/tls Secret's certificate and key before a pod is given them: MediaMTX exits when it cannot
// load its certificate, so a bad one must stop at a condition, never reach a pod. Pure (node:crypto only); the
// messages name what is wrong and never include any of the key material.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export type CertificateCheck =
  | {
      ok: true;
      /** When the leaf certificate expires. */
      validTo: Date;
      validFrom: Date;
      /** Whether a TLS client dialling this host (a DNS name or an IP) accepts the certificate's names. */
      covers(host: string): boolean;
    }
  | { ok: false; problem: string; validTo?: Date };

const day = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The leaf (first) certificate of tls.crt, its validity at `now`, and whether tls.key is its private key. */
export function checkCertificate(crtPem: string, keyPem: string, now: Date): CertificateCheck {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(crtPem);
  } catch {
    return { ok: false, problem: 'tls.crt is not a PEM-encoded X.509 certificate' };
  }
  const validFrom = new Date(cert.validFrom);
  const validTo = new Date(cert.validTo);
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return { ok: false, problem: 'tls.key is not a PEM-encoded private key', validTo };
  }
  if (!cert.checkPrivateKey(key))
    return { ok: false, problem: 'tls.key is not the private key of the certificate in tls.crt', validTo };
  if (now > validTo) return { ok: false, problem: `the certificate expired on ${day(validTo)}`, validTo };
  if (now < validFrom) return { ok: false, problem: `the certificate is not valid before ${day(validFrom)}`, validTo };
  return {
    ok: true,
    validTo,
    validFrom,
    covers: (host) => Boolean(isIP(host) ? cert.checkIP(host) : cert.checkHost(host)),
  };
}

export const isoSeconds = day;
