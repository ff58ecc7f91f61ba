/**
 * Who may drive the wallet's pages. Any web page the user visits can send requests to 127.0.0.1,
 * so the pages need the wallet's secret: a one-time link (printed by the wallet, opened in the
 * browser) is exchanged for a session cookie that is HttpOnly (no script reads it) and
 * SameSite=Strict (no other site's request carries it), and every change also needs the session's
 * CSRF token in a header, which a cross-origin request cannot set without a CORS preflight that
 * the wallet never answers. Links expire after a few minutes and work once.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface UiSession {
  readonly csrf: string;
  lastSeen: number;
}

const LINK_TTL_MS = 10 * 60_000;
const SESSION_IDLE_MS = 12 * 3_600_000;
const MAX_SESSIONS = 16;

export class UiAccess {
  /** The cookie's name carries the port: cookies are shared by every port of a host. */
  readonly cookieName: string;
  readonly #links = new Map<string, number>();
  readonly #sessions = new Map<string, UiSession>();
  readonly #now: () => number;

  constructor(port: number, now: () => number = Date.now) {
    this.cookieName = `peage_wallet_${port}`;
    this.#now = now;
  }

  /** A fresh one-time secret for a link to the pages. */
  mintLink(): string {
    const token = secret();
    this.#sweep();
    this.#links.set(mapKey(token), this.#now() + LINK_TTL_MS);
    return token;
  }

  /** Spends a link's secret; returns the new session's cookie value, or undefined for a used, expired or unknown one. */
  exchange(token: string): { cookie: string; session: UiSession } | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const key = mapKey(token);
    const expires = this.#links.get(key);
    this.#links.delete(key);
    if (expires === undefined || expires < this.#now()) return undefined;
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.#sessions.entries()].sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0]!;
      this.#sessions.delete(oldest[0]);
    }
    const cookie = secret();
    const session: UiSession = { csrf: secret(), lastSeen: this.#now() };
    this.#sessions.set(mapKey(cookie), session);
    return { cookie, session };
  }

  /** The session a request's Cookie header names, if any. */
  session(cookieHeader: string | undefined): UiSession | undefined {
    const value = cookieValue(cookieHeader, this.cookieName);
    if (value === undefined || !/^[A-Za-z0-9_-]{43}$/.test(value)) return undefined;
    const session = this.#sessions.get(mapKey(value));
    if (!session || this.#now() - session.lastSeen > SESSION_IDLE_MS) return undefined;
    session.lastSeen = this.#now();
    return session;
  }

  /** The Set-Cookie header of a new session (no Max-Age: it ends with the browser). */
  setCookie(cookie: string): string {
    return `${this.cookieName}=${cookie}; Path=/ui; HttpOnly; SameSite=Strict`;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, expires] of this.#links) if (expires < now) this.#links.delete(key);
    for (const [key, session] of this.#sessions) if (now - session.lastSeen > SESSION_IDLE_MS) this.#sessions.delete(key);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(presented: string | string[] | undefined, expected: string): boolean {
  return typeof presented === "string" && timingSafeEqual(digest(presented), digest(expected));
}

/** Headers of every page and answer of the UI: no framing, no inline script, nothing cached or leaked. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return undefined;
}

function secret(): string {
  return randomBytes(32).toString("base64url");
}

/** Secrets are kept hashed: a copy of the maps in memory or a log gives no usable link or cookie. */
function mapKey(text: string): string {
  return digest(text).toString("hex");
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
