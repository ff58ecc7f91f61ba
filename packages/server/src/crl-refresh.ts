/**
 * Certificate revocation lists kept current while the server runs. CRLs expire (nextUpdate): read
 * once at start, a CRL goes stale and every payment whose chain it covers is refused with 503, so
 * they are fetched again on a schedule from the data directory's crls/, the configured sources and
 * the CRL distribution points of the trusted certificates (file paths, file: or http(s) URLs).
 * What is installed, and whether it is fresh, is what /healthz and /metrics report.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCertificatesPem, parseCrlDer, parseCrlsPem, toX5c, x509, type Clock, type TrustStore } from "@peage/protocol";

/** Largest CRL accepted from a source: a CRL of 100 000 entries is about 3.5 MB. */
const MAX_CRL_BYTES = 8 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

/** One installed CRL, as reported. */
export interface CrlState {
  readonly issuer: string;
  readonly thisUpdate: string;
  readonly nextUpdate: string | null;
  /** Past its nextUpdate: chains it covers cannot be checked (payments are answered 503). */
  readonly stale: boolean;
}

/** The revocation checking in force, as /healthz reports it. */
export interface RevocationReport {
  readonly policy: TrustStore["revocation"];
  readonly crls: readonly CrlState[];
  /** True when no installed CRL is stale (and, with the "require" policy, at least one is installed). */
  readonly fresh: boolean;
}

export function revocationReport(trust: TrustStore, now: Date): RevocationReport {
  const crls = trust.crls.map((crl) => ({
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate ? crl.nextUpdate.toISOString() : null,
    stale: !crl.nextUpdate || crl.nextUpdate.getTime() < now.getTime(),
  }));
  const fresh = crls.every((crl) => !crl.stale) && (trust.revocation !== "require" || crls.length > 0);
  return { policy: trust.revocation, crls, fresh };
}

/** The outcome of fetching one source. */
export interface SourceOutcome {
  readonly source: string;
  /** CRLs read from it (each installed, or ignored when not newer than the one installed). */
  readonly crls: number;
  readonly error?: string;
}

/** The CRL distribution point URLs (RFC 5280 §4.2.1.13) named by these certificates. */
export function distributionPoints(certificates: readonly x509.X509Certificate[]): string[] {
  const urls = new Set<string>();
  for (const certificate of certificates) {
    const extension = certificate.getExtension(x509.CRLDistributionPointsExtension);
    for (const point of extension?.distributionPoints ?? []) {
      for (const name of point.distributionPoint?.fullName ?? []) {
        const uri = name.uniformResourceIdentifier;
        if (uri && /^(https?|file):/i.test(uri)) urls.add(uri);
      }
    }
  }
  return [...urls].sort();
}

/** CRLs in a file's bytes: PEM (one or several) or a single DER CRL. */
function parseCrls(bytes: Uint8Array, source: string): x509.X509Crl[] {
  const text = Buffer.from(bytes).toString("latin1");
  if (text.includes("-----BEGIN")) return parseCrlsPem(text);
  // A copy: a Buffer may be a view into a shared pool, which the DER parser would read whole.
  return [parseCrlDer(new Uint8Array(bytes), `CRL from ${source}`)];
}

async function fetchBytes(source: string): Promise<Uint8Array> {
  if (/^https?:/i.test(source)) {
    const response = await fetch(source, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "follow" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    // Read with a cap: a source that sends without end is cut off, not buffered.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body?.getReader();
    for (let read = await reader?.read(); read && !read.done; read = await reader!.read()) {
      size += read.value.length;
      if (size > MAX_CRL_BYTES) {
        await reader!.cancel();
        throw new Error(`more than the ${MAX_CRL_BYTES} bytes accepted`);
      }
      chunks.push(read.value);
    }
    return Buffer.concat(chunks);
  }
  const path = source.startsWith("file:") ? fileURLToPath(source) : source;
  if ((await stat(path)).size > MAX_CRL_BYTES) throw new Error(`larger than the ${MAX_CRL_BYTES} bytes accepted`);
  return readFile(path);
}

export interface CrlRefresherOptions {
  readonly trust: TrustStore;
  /** DIR/crls: every *.pem and *.crl in it, read at each refresh. */
  readonly directory?: string;
  /** URLs and paths, fetched at each refresh. */
  readonly sources: readonly string[];
  readonly clock: Clock;
  /** Told of every refresh that failed for a source (logged by the server). */
  readonly onError?: (outcome: SourceOutcome) => void;
}

/** Fetches CRLs into a trust store, now and on a schedule; a source that fails keeps the CRL installed before. */
export class CrlRefresher {
  #timer: NodeJS.Timeout | undefined;
  #lastRefresh: Date | undefined;
  #failures = 0;
  #running: Promise<readonly SourceOutcome[]> | undefined;

  constructor(private readonly opts: CrlRefresherOptions) {}

  /** Every source this refresh reads: the directory's files, then the configured sources. */
  async #sources(): Promise<string[]> {
    const files: string[] = [];
    const dir = this.opts.directory;
    if (dir) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith(".pem") || n.endsWith(".crl")).sort()) files.push(join(dir, name));
    }
    return [...files, ...this.opts.sources];
  }

  /** Reads every source once and installs what it finds; one refresh at a time. */
  refresh(): Promise<readonly SourceOutcome[]> {
    this.#running ??= this.#refresh().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #refresh(): Promise<readonly SourceOutcome[]> {
    const outcomes: SourceOutcome[] = [];
    for (const source of await this.#sources()) {
      try {
        const bytes = await fetchBytes(source);
        if (await this.#issuerChain(bytes)) {
          outcomes.push({ source, crls: 0 });
          continue;
        }
        const crls = parseCrls(bytes, source);
        // The trust store keeps the newest CRL per issuer and checks its signature when a chain needs it.
        for (const crl of crls) this.opts.trust.addCrl(crl);
        outcomes.push({ source, crls: crls.length });
      } catch (error) {
        const outcome = { source, crls: 0, error: (error as Error).message };
        this.#failures++;
        this.opts.onError?.(outcome);
        outcomes.push(outcome);
      }
    }
    this.#lastRefresh = this.opts.clock.now();
    return outcomes;
  }

  /**
   * A PEM source of certificates rather than CRLs is a CRL issuer's chain (issuer first): once it
   * validates, that issuer is known to what checks a CRL on its own (the card desk). False for a CRL source.
   */
  async #issuerChain(bytes: Uint8Array): Promise<boolean> {
    const text = Buffer.from(bytes).toString("latin1");
    if (!text.includes("-----BEGIN CERTIFICATE")) return false;
    const chain = parseCertificatesPem(text).map(toX5c);
    const added = await this.opts.trust.addCrlIssuer(chain, this.opts.clock.now());
    if (!added.ok) throw new Error(`this CRL issuer's chain is refused: ${added.error.message}`);
    return true;
  }

  /** Refreshes every `seconds` until stop(); the timer does not keep the process alive. */
  start(seconds: number): void {
    this.stop();
    this.#timer = setInterval(() => void this.refresh(), seconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get lastRefresh(): Date | undefined {
    return this.#lastRefresh;
  }

  /** Sources that failed, counted over every refresh. */
  get failures(): number {
    return this.#failures;
  }
}
