/**
 * Operator API keys: bearer tokens (RFC 6750) with scopes. Only the SHA-256 of a secret is
 * stored, so a copy of the database gives no working key; the secret has 256 random bits, so an
 * unsalted hash is not open to guessing.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { newId } from "@peage/protocol";
import type { FastifyRequest } from "fastify";
import { HttpProblem, problemFor } from "./problems.js";
import type { PartyId } from "@peage/protocol";
import { ApiScopes, PublisherScopes, type ApiKeyRecord, type ApiScope, type Store } from "./store/store.js";

const SECRET_PREFIX = "peage_sk_";
const secretPattern = /^peage_sk_[A-Za-z0-9_-]{43}$/;

/** SHA-256 of a secret, hex: what the database holds. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Creates an API key with these scopes and returns its secret, which is shown once and never stored. */
export async function createApiKey(store: Store, scopes: readonly ApiScope[], label: string): Promise<string> {
  const { secret, record } = newApiKey(scopes, label);
  await store.insertApiKey(record);
  return secret;
}

/**
 * A new key's secret and the record to store (its hash, never the secret); throws TypeError on bad
 * scopes or label. With `publisher`, a publisher's own key, whose scopes are publisher scopes.
 */
export function newApiKey(
  scopes: readonly string[],
  label: string,
  createdAt = new Date(),
  publisher?: PartyId<"publisher">,
): { secret: string; record: ApiKeyRecord } {
  const allowed: readonly string[] = publisher === undefined ? ApiScopes : PublisherScopes;
  const unknown = scopes.filter((scope) => !allowed.includes(scope));
  if (unknown.length > 0) throw new TypeError(`unknown scope(s) ${unknown.join(", ")}: use ${allowed.join(", ")}`);
  if (scopes.length === 0) throw new TypeError("an API key needs at least one scope");
  if (label.trim() === "" || label.length > 200) throw new TypeError("an API key label is 1 to 200 characters");
  const secret = `${SECRET_PREFIX}${randomBytes(32).toString("base64url")}`;
  const record: ApiKeyRecord = {
    id: newId("key"),
    secretHash: hashSecret(secret),
    scopes: [...new Set(scopes)] as ApiScope[],
    label,
    createdAt: createdAt.toISOString(),
    ...(publisher === undefined ? {} : { publisher }),
  };
  return { secret, record };
}

/**
 * On a database without any API key, creates one with every scope and writes its secret to
 * `file` (mode 0600, never over an existing file). Returns false, creating nothing, if keys exist.
 */
export async function bootstrapApiKey(store: Store, file: string): Promise<boolean> {
  if ((await store.counts()).apiKeys > 0) return false;
  if (existsSync(file)) throw new Error(`${file} already exists: remove it or choose another file for the bootstrap key`);
  const secret = await createApiKey(store, ApiScopes, "bootstrap");
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return true;
}

const unauthorized = (detail: string) =>
  new HttpProblem(problemFor("ERR_UNAUTHORIZED", detail), { "www-authenticate": 'Bearer realm="peage-operator"' });

/** The API key of a request, checked for `scope`; throws the 401 or 403 problem otherwise. */
export async function authorizeOperator(store: Store, request: FastifyRequest, scope: ApiScope): Promise<ApiKeyRecord> {
  const key = await bearerKey(store, request);
  if (key.publisher !== undefined) {
    throw HttpProblem.of(
      "ERR_FORBIDDEN",
      `API key ${key.id} is ${key.publisher}'s own key: it reads that publisher's data under /v1/publisher, and no operator endpoint`,
    );
  }
  return withScope(key, scope);
}

/** A publisher's own key, checked for `scope`: the publisher whose data the request may read. */
export async function authorizePublisher(
  store: Store,
  request: FastifyRequest,
  scope: ApiScope,
): Promise<ApiKeyRecord & { readonly publisher: PartyId<"publisher"> }> {
  const key = withScope(await bearerKey(store, request), scope);
  if (key.publisher === undefined) {
    throw HttpProblem.of(
      "ERR_FORBIDDEN",
      `API key ${key.id} is an operator key: /v1/publisher answers a publisher's own key (peage admin publisher-key makes one)`,
    );
  }
  return key as ApiKeyRecord & { readonly publisher: PartyId<"publisher"> };
}

async function bearerKey(store: Store, request: FastifyRequest): Promise<ApiKeyRecord> {
  const header = request.headers.authorization;
  if (!header) throw unauthorized("this operator endpoint needs an API key: send Authorization: Bearer <secret>");
  const match = /^Bearer +(\S+)$/i.exec(header);
  if (!match) throw unauthorized("the Authorization header must be Bearer <secret>");
  const secret = match[1]!;
  const key = secretPattern.test(secret) ? await store.findApiKeyByHash(hashSecret(secret)) : undefined;
  if (!key) throw unauthorized("the API key is not valid: check the secret, or ask the operator for a new key");
  return key;
}

function withScope(key: ApiKeyRecord, scope: ApiScope): ApiKeyRecord {
  if (!key.scopes.includes(scope)) {
    throw HttpProblem.of(
      "ERR_FORBIDDEN",
      `API key ${key.id} lacks the scope ${scope} this endpoint needs (it has: ${key.scopes.join(", ")})`,
    );
  }
  return key;
}
