/**
 * The "Payment" HTTP authentication scheme (the IETF draft draft-httpauth-payment) with Péage as
 * its method: `WWW-Authenticate: Payment id="…", realm="…", method="peage", intent="charge",
 * expires="…", request="<base64url JSON>"` where the request is `{challenge}`; the credential
 * `Authorization: Payment <base64url JSON {id, payload: {challenge, acknowledgment}}>`; and the
 * `Payment-Receipt` header on the served response. Base64url without padding, as the draft says.
 */
import { isPlainObject } from "@peage/protocol";
import type { Challenge } from "../challenge.js";
import type { Credential, Receipt } from "../gate.js";

export const METHOD = "peage";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");

function decode(text: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(text) || text.length > 64 * 1024) return undefined;
  try {
    return JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A quoted-string (RFC 9110 §5.6.4) of ASCII text. */
const quoted = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The WWW-Authenticate header value for a challenge. */
export function wwwAuthenticate(challenge: Challenge, realm: string): string {
  const params: [string, string][] = [
    ["id", challenge.id],
    ["realm", realm],
    ["method", METHOD],
    ["intent", "charge"],
    ["expires", challenge.offer.expiresAt],
    ["request", encode({ challenge })],
  ];
  return `Payment ${params.map(([name, value]) => `${name}=${quoted(value)}`).join(", ")}`;
}

/**
 * The challenges of a WWW-Authenticate value (RFC 9110 §11.6.1), possibly several joined by
 * commas: each a scheme followed by auth-params. A challenge in token68 form is skipped.
 */
function challenges(header: string): { scheme: string; params: Record<string, string> }[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  const token = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
  const item = new RegExp(`\\s*(?:(${token})\\s+)?(${token})\\s*=\\s*("(?:[^"\\\\]|\\\\.)*"|[^\\s,"]*)\\s*,?`, "y");
  let current: { scheme: string; params: Record<string, string> } | undefined;
  let position = 0;
  while (position < header.length) {
    item.lastIndex = position;
    const match = item.exec(header);
    if (!match) {
      const comma = header.indexOf(",", position);
      if (comma < 0) break;
      position = comma + 1;
      current = undefined;
      continue;
    }
    if (match[1] !== undefined) out.push((current = { scheme: match[1].toLowerCase(), params: {} }));
    const raw = match[3]!;
    if (current) current.params[match[2]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    position = item.lastIndex;
  }
  return out;
}

/** The Péage challenge of a WWW-Authenticate value, if it carries one. */
export function challengeFromWwwAuthenticate(header: string): unknown {
  const params = challenges(header).find(
    (c) => c.scheme === "payment" && c.params["method"] === METHOD && c.params["intent"] === "charge",
  )?.params;
  const request = params?.["request"] === undefined ? undefined : decode(params["request"]);
  return isPlainObject(request) ? request["challenge"] : undefined;
}

/** The Authorization header value answering `challenge` with message 3. */
export function authorization(challenge: Challenge, acknowledgment: unknown, session?: unknown): string {
  const payload = { challenge, acknowledgment, ...(session === undefined ? {} : { session }) };
  return `Payment ${encode({ id: challenge.id, payload })}`;
}

/** The credential of an `Authorization: Payment …` value, undefined for another scheme, or why it is none. */
export function credentialFromAuthorization(header: string): Credential | string | undefined {
  const match = /^Payment\s+([A-Za-z0-9_-]+)\s*$/i.exec(header);
  if (!match) return /^Payment\b/i.test(header) ? "Authorization: Payment must carry one base64url token" : undefined;
  const value = decode(match[1]!);
  if (!isPlainObject(value)) return "the Payment credential is not base64url of a JSON object";
  const payload = value["payload"];
  if (!isPlainObject(payload) || !("challenge" in payload) || !("acknowledgment" in payload))
    return "the Payment credential's payload must hold challenge and acknowledgment";
  if (!isPlainObject(payload["challenge"]) || payload["challenge"]["id"] !== value["id"])
    return "the Payment credential's id is not its challenge's";
  return { challenge: payload["challenge"], acknowledgment: payload["acknowledgment"], session: payload["session"] };
}

/** The Payment-Receipt header value of a served request. */
export function paymentReceipt(receipt: Receipt): string {
  return encode({
    status: "success",
    method: METHOD,
    timestamp: receipt.serverTime,
    reference: receipt.paymentId,
    acknowledgment: receipt.acknowledgment,
  });
}

/** The acknowledgment inside a Payment-Receipt value. */
export function acknowledgmentFromReceipt(header: string): unknown {
  const value = decode(header.trim());
  return isPlainObject(value) && value["status"] === "success" ? value["acknowledgment"] : undefined;
}
