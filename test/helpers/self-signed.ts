/**
 * A throwaway self-signed certificate (EC P-256, valid one day) made with Debian's openssl,
 * for TLS listeners and upstreams in tests. Files go to `dir` (the caller removes it).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertificatePair {
  /** PEM text. */
  readonly cert: string;
  readonly key: string;
}

/** `subjectAltName`: `DNS:<cn>` by default, or e.g. `IP:127.0.0.1`. */
export function selfSignedCert(dir: string, cn: string, altName = `DNS:${cn}`): CertificatePair {
  const keyFile = join(dir, `${cn}.key`);
  const certFile = join(dir, `${cn}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${altName}`,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
