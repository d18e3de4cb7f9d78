import { writeFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SystemCas } from '../../src/transfer/trust.js';
import { HttpFileServer, testTls } from '../support/file-servers.js';
import { failureOf, quickDownload, resetHttpServer, tempDirs, trusting } from '../support/transfer.js';

/** The system's CAs of HTTPS / FTPS transfers: the operating system's bundle, else Node's list. */

const inTemp = tempDirs('cp-transfer-trust-');
let https: HttpFileServer;

beforeAll(async () => {
  https = await HttpFileServer.start({ tls: true });
});

afterAll(async () => {
  await https.close();
});

beforeEach(() => resetHttpServer(https));

/** A CA bundle file holding `pems`, as update-ca-certificates writes one. */
function bundle(name: string, ...pems: string[]): string {
  const path = inTemp(name);
  writeFileSync(path, pems.join('\n'));
  return path;
}

describe('SystemCas', () => {
  it('is the first bundle that holds a certificate, read at the first use and only then', () => {
    const other = testTls().ca.cert;
    const empty = bundle('empty.crt');
    const path = inTemp('ca-certificates.crt');
    const cas = new SystemCas([inTemp('missing.crt'), empty, path]);
    // Not read when made: the bundle written afterwards is the one used.
    writeFileSync(path, https.tls!.ca.cert);

    expect(cas.certificates()).toEqual([https.tls!.ca.cert]);
    writeFileSync(path, other);
    expect(cas.certificates()).toEqual([https.tls!.ca.cert]);
  });

  it("without a bundle: Node's built-in list, left to TLS itself unless roots are added to it", () => {
    const cas = new SystemCas([inTemp('missing.crt')]);

    expect(cas.certificates()).toBe(rootCertificates);
    expect(cas.anchors(undefined)).toBeUndefined();
    expect(cas.anchors('ROOT')).toEqual([...rootCertificates, 'ROOT']);
  });

  it('a file without a certificate is no bundle; the central-system roots come in addition to one', () => {
    const system = testTls().ca.cert;
    const cas = new SystemCas([bundle('not-pem.crt', 'no certificate here'), bundle('ca.crt', system)]);

    expect(cas.anchors(undefined)).toEqual([system]);
    expect(cas.anchors(['ROOT-1', 'ROOT-2'])).toEqual([system, 'ROOT-1', 'ROOT-2']);
  });
});

describe('HTTP download', () => {
  it("never reads the system's bundle (only a TLS connection needs it)", async () => {
    const http = await HttpFileServer.start();
    try {
      const sha256 = http.put('image.bin', 10_000);
      const path = inTemp('ca-certificates.crt');
      const systemCas = new SystemCas([path]);
      let read = 0;
      systemCas.certificates = () => {
        read += 1;
        return rootCertificates;
      };

      const result = await quickDownload(http.url('image.bin'), inTemp('image.bin'), {
        systemCas,
        ca: 'ROOT',
      });

      expect(result.sha256).toBe(sha256);
      expect(read).toBe(0);
    } finally {
      await http.close();
    }
  });
});

describe('HTTPS download with the system CAs', () => {
  it("trusts a server whose CA is in the operating system's bundle", async () => {
    const sha256 = https.put('image.bin', 10_000);
    const systemCas = new SystemCas([bundle('ca-certificates.crt', ...rootCertificates, https.tls!.ca.cert)]);

    const result = await quickDownload(https.url('image.bin'), inTemp('image.bin'), { systemCas });

    expect(result.sha256).toBe(sha256);
  });

  it('refuses it when the bundle does not hold its CA, and trusts it through a central-system root', async () => {
    const sha256 = https.put('image.bin', 10_000);
    const systemCas = new SystemCas([bundle('ca-certificates.crt', testTls().ca.cert)]);

    const error = await failureOf(quickDownload(https.url('image.bin'), inTemp('image.bin'), { systemCas }));
    expect(error.kind).toBe('Certificate');

    const result = await quickDownload(https.url('image.bin'), inTemp('image.bin'), {
      systemCas,
      ...trusting(https),
    });
    expect(result.sha256).toBe(sha256);
  });
});
