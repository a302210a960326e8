// The reasons a NATS connection fails, for people (src/fleet/nats.ts explainNatsError): each names
// the server and the setting to change; a password in the URL never shows.
import { describe, expect, it } from 'vitest';
import { CENTRAL_PLACE, explainNatsError, SITE_PLACE } from '../../src/fleet/nats.js';

const err = (message: string, code?: string, name?: string) => Object.assign(new Error(message), code ? { code } : {}, name ? { name } : {});
const site = { servers: 'tls://site-a:secret-pw@nats.example.net:4222', place: SITE_PLACE, tls: { caFile: '/etc/pp/ca.pem' } };

describe('NATS connection failures in words', () => {
  it('an untrusted server certificate: which CA file to set (site and central keys)', () => {
    const m = explainNatsError(err('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), site);
    expect(m).toBe("NATS at tls://nats.example.net:4222: its TLS certificate is not trusted by this site (unable to verify the first certificate): set fleet.tls.caFile to the CA file that signed the server's certificate (now /etc/pp/ca.pem, which did not sign it)");
    expect(explainNatsError(err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), { servers: 'tls://h:4222', place: CENTRAL_PLACE })).toContain('set nats.tls.caFile to the CA file that signed the server\'s certificate (none is set, so only the system CAs are trusted)');
  });

  it('a refused client certificate, an expired one, a wrong host name', () => {
    const alert = err('C0:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE');
    expect(explainNatsError(alert, site)).toBe('NATS at tls://nats.example.net:4222 refused this site\'s certificate (TLS alert "bad certificate"): set fleet.tls.certFile and fleet.tls.keyFile to a client certificate signed by the CA the server trusts (its tls { ca_file }); none is set');
    expect(explainNatsError(err('certificate has expired', 'CERT_HAS_EXPIRED'), site)).toMatch(/has expired .*renew the server's certificate, or check this machine's clock$/);
    expect(explainNatsError(err("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), site)).toMatch(/put in fleet\.natsUrl a host name the certificate names$/);
  });

  it('nothing listening, refused credentials, a missing file, a timeout', () => {
    expect(explainNatsError(err('connection refused'), { servers: 'nats://10.0.0.5:4222', place: CENTRAL_PLACE })).toBe('nothing answers at nats://10.0.0.5:4222 (connection refused): start nats-server there, or correct nats.url');
    expect(explainNatsError(err("'Authorization Violation'", undefined, 'AuthorizationError'), site)).toMatch(/refused the credentials .*check fleet\.credentials/);
    expect(explainNatsError(err('/etc/pp/ca.pem doesn\'t exist'), site)).toMatch(/^fleet\.tls \(or fleet\.credentials\): .*give the path of a file powerplane can read$/);
    expect(explainNatsError(err('timeout', undefined, 'TimeoutError'), { ...site, timeoutMs: 5000 })).toMatch(/did not answer within 5 s: check fleet\.natsUrl/);
    for (const e of [err('x', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), err('connection refused'), err('timeout')]) expect(explainNatsError(e, site)).not.toContain('secret-pw');
  });
});
