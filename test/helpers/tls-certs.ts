/**
 * Throwaway TLS material for tests, made with the openssl CLI (Debian's, present wherever
 * nats-server is): a CA, a server certificate for 127.0.0.1/localhost and a client certificate
 * signed by it, and a second, unrelated CA (what a site with the wrong CA file has).
 * EC P-256 keys, one day of validity, all in a temp dir removed by cleanup().
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here. */
  otherCaFile: string;
  /** A client certificate signed by the other CA (the server must refuse it). */
  strangerCert: string;
  strangerKey: string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; code?: string };
    if (err.code === 'ENOENT') throw new Error('the openssl CLI is missing: apt-get install -y openssl');
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? String(e)}`);
  }
}

function ca(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

function leaf(dir: string, name: string, signer: { cert: string; key: string }, ext: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', csr, '-CA', signer.cert, '-CAkey', signer.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', extFile]);
  return { cert, key };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'pp-pki-'));
  const root = ca(dir, 'test-ca');
  const other = ca(dir, 'other-ca');
  const server = leaf(dir, 'server', root, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature');
  const client = leaf(dir, 'site-client', root, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature');
  const stranger = leaf(dir, 'stranger', other, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature');
  return {
    dir,
    caFile: root.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCaFile: other.cert,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The nats-server config block for mutual TLS with this PKI (clients must present a cert of its CA). */
export function natsTlsBlock(p: TestPki): string {
  return `tls {\n  cert_file: "${p.serverCert}"\n  key_file: "${p.serverKey}"\n  ca_file: "${p.caFile}"\n  verify: true\n  timeout: 5\n}`;
}
