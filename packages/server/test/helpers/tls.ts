/**
 * TLS for tests: a self-signed certificate for 127.0.0.1 made with the openssl command line, and
 * an HTTPS JSON client that trusts exactly that certificate (Node's fetch takes no CA option).
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { request } from "node:https";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";

/** Writes NAME.crt and NAME.key (ECDSA P-256, for IP 127.0.0.1 and localhost) in dir. */
export function makeTlsCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "90",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

export interface HttpsAnswer {
  readonly status: number;
  readonly body: any;
  /** SHA-256 fingerprint of the certificate the server presented. */
  readonly peerFingerprint: string;
}

/** One request over a new TLS connection, trusting only `ca`. */
export function httpsJson(
  url: string,
  ca: string | Buffer,
  opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpsAnswer> {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? "GET",
        ca,
        agent: false,
        headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...opts.headers },
      },
      (response) => {
        const peer = (response.socket as TLSSocket).getPeerX509Certificate();
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const json = (response.headers["content-type"] ?? "").includes("json") && text !== "";
          resolve({
            status: response.statusCode ?? 0,
            body: json ? JSON.parse(text) : text,
            peerFingerprint: peer?.fingerprint256 ?? "",
          });
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function fingerprintOf(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256;
}
