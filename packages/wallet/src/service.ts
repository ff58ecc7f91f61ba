/**
 * The wallet's local service: HTTP on 127.0.0.1 at a random port, for the user's own programs.
 *
 *   GET  /v1/health   → 200 {"status":"ok"}
 *   POST /v1/offers   (Authorization: Bearer <token>, body {"offer": message 1})
 *                     → 200 {"acknowledgment": message 3} or an RFC 9457 problem
 *   POST /v2/mandates (Authorization: Bearer <token>, body {"mandate": limits and the agent's key})
 *                     → 200 {"mandate": the mandate the user signed} (mandates/local-route.ts)
 *   POST /v1/ui-link  (Authorization: Bearer <token>) → 200 {"url": a one-time link to the user's pages}
 *   /ui/…             the user's pages and the consent window, for the browser (ui/routes.ts)
 *
 * Defences, because any web page the user visits can send requests to 127.0.0.1: a random 256-bit
 * bearer token that only the user's files hold (compared in constant time); the Host header must
 * be 127.0.0.1:<port> or localhost:<port>, which defeats DNS rebinding; any request carrying an
 * Origin header is refused, since browsers add it to every cross-origin and every POST request,
 * and no web page may pay; the body must be application/json (never a CORS "simple" request)
 * and small. The pages under /ui have their own defences (a session from a one-time link, CSRF
 * token, same Origin, CSP), described in ui/access.ts.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isPlainObject, parseStrictJson, PROBLEM_CONTENT_TYPE } from "@peage/protocol";
import { defaultEndpointFile, removeEndpointFile, writeEndpointFile, type WalletEndpoint } from "./endpoint-file.js";
import { WalletError } from "./errors.js";
import { SECURITY_HEADERS, UiAccess } from "./ui/access.js";
import type { ConsentWindow } from "./ui/consent-window.js";
import { handleUi, type UiContext } from "./ui/routes.js";
import { mandateRequest } from "./mandates/local-route.js";
import { createWallet, Wallet, type OpenWalletOptions } from "./wallet.js";

export interface StartWalletOptions {
  /** A wallet already open, or what it takes to open one (it is then closed with the service). */
  readonly wallet: Wallet | OpenWalletOptions;
  /** Where to write {url, token, pid}; default $PEAGE_WALLET_FILE or ~/.peage/wallet.json. */
  readonly endpointFile?: string;
  /** Largest request body accepted (default 64 KiB). */
  readonly bodyLimitBytes?: number;
  /** Most offers waiting at once (default 16); more are answered 503. */
  readonly maxPending?: number;
  /** Called with one line per handled offer, for the wallet's console. */
  readonly log?: (line: string) => void;
  /** The consent window the wallet's prompt is (its pages are served here); without it the pages show no questions. */
  readonly consentWindow?: ConsentWindow;
}

export interface WalletService {
  readonly url: string;
  readonly endpointFile: string;
  readonly token: string;
  readonly wallet: Wallet;
  /** A fresh one-time link to the user's pages (/ui/). */
  uiLink(): string;
  /** Stops listening, removes the endpoint file, and closes the wallet if the service opened it. */
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 64 * 1024;

/** What the request handlers share: the wallet, the token's digest, the limits, and what is known once listening. */
interface ServiceState {
  readonly wallet: Wallet;
  readonly tokenDigest: Buffer;
  readonly bodyLimit: number;
  readonly maxPending: number;
  readonly log: (line: string) => void;
  readonly window: ConsentWindow | undefined;
  /** Offers waiting for the user or the server now. */
  pending: number;
  /** Set once listening; the handlers run only after. */
  port: number;
  ui: UiContext | undefined;
  uiLink: () => string;
}

/** Starts the local service and writes the endpoint file. */
export async function startWallet(options: StartWalletOptions): Promise<WalletService> {
  const owned = !(options.wallet instanceof Wallet);
  const wallet = options.wallet instanceof Wallet ? options.wallet : await createWallet(options.wallet);
  const token = randomBytes(32).toString("base64url");
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const state: ServiceState = {
    wallet,
    tokenDigest: digest(token),
    bodyLimit,
    maxPending: options.maxPending ?? 16,
    log: options.log ?? (() => undefined),
    window: options.consentWindow,
    pending: 0,
    port: 0,
    ui: undefined,
    uiLink: () => "",
  };
  const server: Server = createServer((req, res) => {
    handle(state, req, res).catch((error: unknown) => {
      sendProblem(
        res,
        error instanceof WalletError
          ? error
          : new WalletError("ERR_INTERNAL", "the wallet failed unexpectedly; see its console", 500, true),
      );
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const port = await listen(server);
  const url = `http://127.0.0.1:${port}`;
  const access = new UiAccess(port);
  const uiLink = () => `${url}/ui/open?t=${access.mintLink()}`;
  state.port = port;
  state.uiLink = uiLink;
  state.ui = {
    wallet,
    window: options.consentWindow,
    access,
    origins: [url, `http://localhost:${port}`],
    readBody: (req) => readBody(req, bodyLimit),
  };
  options.consentWindow?.attach(uiLink);
  const endpointFile = options.endpointFile ?? defaultEndpointFile();
  const endpoint: WalletEndpoint = { url, token, pid: process.pid };
  try {
    await writeEndpointFile(endpointFile, endpoint);
  } catch (error) {
    await closeServer(server);
    if (owned) wallet.close();
    throw error;
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    endpointFile,
    token,
    wallet,
    uiLink,
    close() {
      closed ??= (async () => {
        options.consentWindow?.closeAll();
        await removeEndpointFile(endpointFile, endpoint);
        await closeServer(server);
        if (owned) wallet.close();
      })();
      return closed;
    },
  };
}

/** Listens on a random port of 127.0.0.1; the port. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** One request: the Host and Origin defences first, then the pages under /ui or the routes of /v1. */
async function handle(state: ServiceState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = req.headers.host;
  if (host !== `127.0.0.1:${state.port}` && host !== `localhost:${state.port}`) {
    return sendProblem(
      res,
      new WalletError(
        "ERR_FORBIDDEN",
        "the wallet answers only requests addressed to 127.0.0.1 or localhost with its port",
        403,
        false,
      ),
    );
  }
  if ((req.url ?? "").startsWith("/ui")) return handleUi(req, res, state.ui!);
  if (req.headers.origin !== undefined) {
    return sendProblem(
      res,
      new WalletError("ERR_FORBIDDEN", "requests from web pages (with an Origin header) may not ask for payments", 403, false),
    );
  }
  const path = (req.url ?? "").split("?")[0];
  if (path === "/v1/health") {
    if (req.method !== "GET") return sendProblem(res, methodNotAllowed("GET"));
    return sendJson(res, 200, { status: "ok" });
  }
  if (path === "/v1/ui-link") {
    if (req.method !== "POST") return sendProblem(res, methodNotAllowed("POST"));
    if (!authorized(req.headers.authorization, state.tokenDigest)) return sendProblem(res, unauthorized(res));
    return sendJson(res, 200, { url: state.uiLink() });
  }
  if (path === "/v2/mandates") {
    if (req.method !== "POST") return sendProblem(res, methodNotAllowed("POST"));
    if (!authorized(req.headers.authorization, state.tokenDigest)) return sendProblem(res, unauthorized(res));
    return askMandate(state, req, res);
  }
  if (path === "/v1/ticks") return tick(state, req, res);
  if (path !== "/v1/offers")
    return sendProblem(res, new WalletError("ERR_NOT_FOUND", `no route ${path}: use POST /v1/offers`, 404, false));
  if (req.method !== "POST") return sendProblem(res, methodNotAllowed("POST"));
  if (!authorized(req.headers.authorization, state.tokenDigest)) return sendProblem(res, unauthorized(res));
  return payOffer(state, req, res);
}

/** POST /v1/offers: the offer read, then paid (or refused) by the wallet while the program waits. */
async function payOffer(state: ServiceState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const offer = await readOffer(req, state.bodyLimit);
  if (state.pending >= state.maxPending) {
    throw busy();
  }
  // When the program stops waiting (its timeout), an offer still waiting for the user is dropped.
  const abandoned = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abandoned.abort();
  });
  state.pending++;
  try {
    const result = await state.wallet.pay(offer, abandoned.signal);
    const { claims } = result.verified;
    state.log(
      `paid ${claims.price.amount} ${claims.price.currency} minor units to ${claims.publisher} (${claims.paymentId}, ${result.consent}${result.card ? `, by card ${result.card.card}` : ""})`,
    );
    sendJson(res, 200, { acknowledgment: result.acknowledgment, ...(result.session ? { session: result.session } : {}) });
  } catch (error) {
    if (error instanceof WalletError) state.log(`not paid: ${error.code} ${error.message}`);
    throw error;
  } finally {
    state.pending--;
  }
}

/** POST /v1/ticks {session, ticks}: the word paying that tick of a metered session (sessions.ts). */
async function tick(state: ServiceState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST") return sendProblem(res, methodNotAllowed("POST"));
  if (!authorized(req.headers.authorization, state.tokenDigest)) return sendProblem(res, unauthorized(res));
  let parsed: unknown;
  try {
    parsed = parseStrictJson(await readBody(req, state.bodyLimit));
  } catch {
    parsed = undefined;
  }
  // Exactly these two members, the count a whole number of ticks: anything else is a mistake to report, not to guess at.
  if (
    !isPlainObject(parsed) ||
    Object.keys(parsed).sort().join() !== "session,ticks" ||
    typeof parsed["session"] !== "string" ||
    !Number.isSafeInteger(parsed["ticks"]) ||
    Number(parsed["ticks"]) < 1
  )
    return sendProblem(
      res,
      new WalletError(
        "ERR_BAD_REQUEST",
        'the body must be exactly {"session": <id>, "ticks": <whole number from 1>}',
        400,
        false,
      ),
    );
  sendJson(res, 200, state.wallet.tick(parsed["session"], Number(parsed["ticks"])));
}

/** POST /v2/mandates: the user asked to sign a spending mandate (mandates/local-route.ts). */
async function askMandate(state: ServiceState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (state.pending >= state.maxPending) return sendProblem(res, busy());
  const deps = {
    wallet: state.wallet,
    window: state.window,
    readBody: (r: IncomingMessage) => readBody(r, state.bodyLimit),
    log: state.log,
  };
  state.pending++;
  try {
    return sendJson(res, 200, await mandateRequest(req, res, deps));
  } finally {
    state.pending--;
  }
}

/** The body of POST /v1/offers: application/json, strict JSON, exactly {"offer": message 1}; the offer. */
async function readOffer(req: IncomingMessage, bodyLimit: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new WalletError("ERR_BAD_REQUEST", "send the offer as application/json", 415, false);
  const body = await readBody(req, bodyLimit);
  let parsed: unknown;
  try {
    parsed = parseStrictJson(body);
  } catch {
    throw new WalletError(
      "ERR_BAD_REQUEST",
      'the body is not JSON without repeated member names: send {"offer": <message 1>}',
      400,
      false,
    );
  }
  if (!isPlainObject(parsed) || Object.keys(parsed).length !== 1 || !("offer" in parsed)) {
    throw new WalletError("ERR_BAD_REQUEST", 'the body must be exactly {"offer": <message 1>}', 400, false);
  }
  return parsed["offer"];
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Constant-time comparison of the presented token with ours (hashed first so lengths match). */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header ?? "");
  const presented = digest(match?.[1] ?? "");
  return timingSafeEqual(presented, expected) && match !== null;
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function tooLarge(limit: number): WalletError {
  return new WalletError("ERR_PAYLOAD_TOO_LARGE", `the body is larger than ${limit} bytes: an offer is far smaller`, 413, false);
}

function busy(): WalletError {
  return new WalletError("ERR_WALLET_UNAVAILABLE", "the wallet is busy with other questions: try again shortly", 503, true);
}

function unauthorized(res: ServerResponse): WalletError {
  res.setHeader("www-authenticate", 'Bearer realm="peage-wallet"');
  return new WalletError(
    "ERR_UNAUTHORIZED",
    "missing or wrong bearer token: read it from the wallet's endpoint file",
    401,
    false,
  );
}

function methodNotAllowed(allowed: string): WalletError {
  return new WalletError("ERR_BAD_REQUEST", `use ${allowed} on this route`, 405, false);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendProblem(res: ServerResponse, error: WalletError): void {
  if (res.headersSent) return;
  const text = JSON.stringify(error.toProblem());
  res.writeHead(error.status, {
    ...SECURITY_HEADERS,
    "content-type": PROBLEM_CONTENT_TYPE,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
