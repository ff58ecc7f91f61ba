/**
 * The wallet's pages and their JSON, under /ui on the wallet's own local service:
 *
 *   GET  /ui/open?t=LINK      spends a one-time link, sets the session cookie, → /ui/
 *   GET  /ui/ /ui/history /ui/rules /ui/statement   the pages (one shell, app.js draws them)
 *   GET  /ui/app.js /ui/wallet.css                   static, public
 *   GET  /ui/api/pending | history | rules | account | statement?period= | acknowledgment?id=
 *   POST /ui/api/shown | decide | rules               changes: CSRF header + same Origin
 *
 * Everything but the static files needs the session (access.ts). No answer carries CORS headers.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isPlainObject, parseStrictJson } from "@peage/protocol";
import { WalletError } from "../errors.js";
import { parseRules } from "../rules.js";
import type { Wallet } from "../wallet.js";
import { csrfMatches, SECURITY_HEADERS, type UiAccess, type UiSession } from "./access.js";
import type { ConsentWindow, PendingOffer } from "./consent-window.js";
import { amountOf, UserPages } from "./user-pages.js";
import type { OfferView } from "../consent-prompt.js";
import { mandateForPage, mandateRead, mandateChange } from "../mandates/ui-api.js";

export interface UiContext {
  readonly wallet: Wallet;
  readonly window: ConsentWindow | undefined;
  readonly access: UiAccess;
  /** The origins the pages are served from: http://127.0.0.1:PORT and http://localhost:PORT. */
  readonly origins: readonly string[];
  readonly readBody: (req: IncomingMessage) => Promise<string>;
}

const PAGES = new Set(["/ui/", "/ui/history", "/ui/rules", "/ui/statement", "/ui/mandates"]);

const assets = {
  shell: () => readAsset(new URL("../../../ui/page.html", import.meta.url)),
  css: () => readAsset(new URL("../../../ui/wallet.css", import.meta.url)),
  script: () => readAsset(new URL("./browser/app.js", import.meta.url)),
  texts: () => readAsset(new URL("./browser/texts.js", import.meta.url)),
};

function readAsset(url: URL): string {
  return readFileSync(url, "utf8");
}

/** Answers a request under /ui; throws WalletError for the service to send as a problem. */
export async function handleUi(req: IncomingMessage, res: ServerResponse, ctx: UiContext): Promise<void> {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const path = url.pathname;
  if (path === "/ui/app.js") return send(res, 200, "text/javascript; charset=utf-8", assets.script());
  if (path === "/ui/texts.js") return send(res, 200, "text/javascript; charset=utf-8", assets.texts());
  if (path === "/ui/wallet.css") return send(res, 200, "text/css; charset=utf-8", assets.css());
  if (path === "/ui/open") return open(req, res, ctx, url.searchParams.get("t") ?? "");
  if (path === "/ui") return redirect(res, "/ui/");

  const session = ctx.access.session(req.headers.cookie);
  if (PAGES.has(path)) {
    if (req.method !== "GET") throw methodNotAllowed("GET");
    if (!session) return send(res, 401, "text/html; charset=utf-8", noSession());
    const page = path === "/ui/" ? "consent" : path.slice("/ui/".length);
    const html = assets.shell().replaceAll("{{csrf}}", session.csrf).replaceAll("{{page}}", page);
    return send(res, 200, "text/html; charset=utf-8", html);
  }
  if (!path.startsWith("/ui/api/"))
    throw new WalletError("ERR_NOT_FOUND", `no page ${path}: open /ui/ through the link the wallet prints`, 404, false);
  if (!session) throw new WalletError("ERR_UNAUTHORIZED", "no wallet session: open the link the wallet prints", 401, false);
  // Fetch metadata: a request another site started is refused even before the cookie would be.
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") throw forbidden("requests from other sites may not use the wallet's pages");
  if (req.method === "GET") return sendJson(res, await read(path, url.searchParams, ctx));
  if (req.method !== "POST") throw methodNotAllowed("GET or POST");
  checkChange(req, ctx, session);
  const body = parseBody(await ctx.readBody(req));
  onlyKnownMembers(path, body);
  return sendJson(res, await change(path, body, ctx));
}

async function read(path: string, query: URLSearchParams, ctx: UiContext): Promise<unknown> {
  const pages = new UserPages(ctx.wallet);
  switch (path) {
    case "/ui/api/pending":
      return {
        pending: (ctx.window?.pending() ?? []).map(forPage),
        minVisibleMs: ctx.window?.minVisibleMs ?? 0,
        home: ctx.wallet.config.homeCurrency,
        user: ctx.wallet.config.user,
      };
    case "/ui/api/history":
      return await pages.history();
    case "/ui/api/rules":
      return { rules: ctx.wallet.config.rules, home: ctx.wallet.config.homeCurrency };
    case "/ui/api/account":
      return await pages.account();
    case "/ui/api/statement":
      return await pages.statement(query.get("period") ?? "");
    case "/ui/api/acknowledgment": {
      const id = query.get("id") ?? "";
      if (!/^[1-9][0-9]{0,15}$/.test(id)) throw badRequest("id is the history entry's number, plain decimal digits");
      return pages.acknowledgment(Number(id));
    }
    default:
      if (path.startsWith("/ui/api/mandates")) return mandateRead(path, ctx.wallet);
      throw new WalletError("ERR_NOT_FOUND", `no route ${path}`, 404, false);
  }
}

/** A question with its figures as Amounts (minor units and exact decimal text) for Intl on the page. */
function forPage(p: PendingOffer): unknown {
  if (!("kind" in p.view)) return { ...p, view: offerForPage(p.view) };
  if (p.view.kind === "pin") return { ...p, view: { ...p.view, offer: offerForPage(p.view.offer) } };
  return mandateForPage(p.view, p);
}

function offerForPage(view: OfferView): unknown {
  const { facts } = view;
  const converted = facts.converted && { ...facts.converted, price: amountOf(facts.converted.price) };
  return { ...view, facts: { ...facts, price: amountOf(facts.price), ...(converted ? { converted } : {}) } };
}

async function change(path: string, body: Record<string, unknown>, ctx: UiContext): Promise<unknown> {
  const id = typeof body["id"] === "string" ? body["id"] : "";
  switch (path) {
    case "/ui/api/shown":
      return { shown: ctx.window?.shown(id) ?? false };
    case "/ui/api/decide": {
      if (typeof body["approve"] !== "boolean") throw badRequest('send {"id": …, "approve": true | false}');
      const pin = typeof body["pin"] === "string" ? body["pin"] : undefined;
      const result = ctx.window?.decide(id, body["approve"], pin) ?? "unknown";
      if (result === "bad-pin") throw badRequest("a PIN is 4 to 12 digits: type it again (the card was not asked)");
      if (result === "unknown")
        throw new WalletError(
          "ERR_NOT_FOUND",
          "this offer is no longer waiting: it was answered, withdrawn or timed out",
          404,
          false,
        );
      if (result === "too-soon")
        throw new WalletError(
          "ERR_CONFLICT",
          "the offer was not on screen long enough to be approved: read it, then approve",
          409,
          true,
        );
      return { decided: body["approve"] ? "approved" : "declined" };
    }
    case "/ui/api/rules": {
      let rules;
      try {
        rules = parseRules(body["rules"]);
      } catch (error) {
        throw badRequest((error as Error).message);
      }
      await ctx.wallet.setRules(rules);
      return { rules: ctx.wallet.config.rules };
    }
    default:
      if (path.startsWith("/ui/api/mandates")) return mandateChange(path, body, ctx.wallet);
      throw new WalletError("ERR_NOT_FOUND", `no route ${path}`, 404, false);
  }
}

/** A change must come from the wallet's own page: its Origin, its CSRF token, JSON. */
function checkChange(req: IncomingMessage, ctx: UiContext, session: UiSession): void {
  const origin = req.headers.origin;
  if (origin === undefined || !ctx.origins.includes(origin))
    throw forbidden("changes are accepted only from the wallet's own page");
  if (!csrfMatches(req.headers["x-peage-csrf"], session.csrf))
    throw forbidden("missing or wrong CSRF token: reload the wallet's page");
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new WalletError("ERR_BAD_REQUEST", "send the change as application/json", 415, false);
}

function open(req: IncomingMessage, res: ServerResponse, ctx: UiContext, token: string): void {
  if (req.method !== "GET") throw methodNotAllowed("GET");
  const exchanged = ctx.access.exchange(token);
  if (!exchanged) return send(res, 403, "text/html; charset=utf-8", noSession("This link was already used or has expired."));
  res.setHeader("set-cookie", ctx.access.setCookie(exchanged.cookie));
  redirect(res, "/ui/");
}

/** The members each change may carry (what the wallet's page sends): any other is refused, not ignored. */
const CHANGE_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  "/ui/api/shown": ["id"],
  "/ui/api/decide": ["id", "approve", "pin"],
  "/ui/api/rules": ["rules"],
  "/ui/api/mandates/revoke": ["id"],
};

function onlyKnownMembers(path: string, body: Record<string, unknown>): void {
  const known = CHANGE_MEMBERS[path];
  const unknown = known === undefined ? undefined : Object.keys(body).find((name) => !known.includes(name));
  if (unknown !== undefined) throw badRequest(`unknown member "${unknown}": send only ${known!.join(", ")}`);
}

function parseBody(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch {
    throw badRequest("the body is not JSON without repeated member names");
  }
  if (!isPlainObject(value)) throw badRequest("the body must be a JSON object");
  return value;
}

/** The page shown without a session: no data, a next step. */
function noSession(first = "This page needs the link your wallet gives."): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Péage wallet</title>' +
    '<link rel="stylesheet" href="/ui/wallet.css"></head><body><main class="card"><h1>Péage wallet</h1>' +
    `<p>${first} Run <code>peage wallet open</code> for a new link, or open the link the wallet prints when it needs you.</p>` +
    "</main></body></html>"
  );
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, body: unknown): void {
  send(res, 200, "application/json", JSON.stringify(body));
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, "content-length": 0 });
  res.end();
}

function forbidden(message: string): WalletError {
  return new WalletError("ERR_FORBIDDEN", message, 403, false);
}

function badRequest(message: string): WalletError {
  return new WalletError("ERR_BAD_REQUEST", message, 400, false);
}

function methodNotAllowed(allowed: string): WalletError {
  return new WalletError("ERR_BAD_REQUEST", `use ${allowed} on this route`, 405, false);
}
