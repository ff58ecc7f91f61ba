/** Operators' API keys: stored by the SHA-256 of their secret, revoked by deleting them, rotated in one transaction. */
import type { ApiKeyRecord } from "../store.js";
import { all, get, run, type Logic } from "./operation.js";
import { toApiKey } from "./records.js";

export function* insertApiKey(key: ApiKeyRecord): Logic<void> {
  yield* run(
    "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at, publisher) VALUES (?, ?, ?, ?, ?, ?)",
    key.id,
    key.secretHash,
    key.scopes.join(" "),
    key.label,
    key.createdAt,
    key.publisher ?? null,
  );
}

export function* findApiKeyByHash(secretHash: string): Logic<ApiKeyRecord | undefined> {
  const row = yield* get("SELECT * FROM api_keys WHERE secret_sha256 = ?", secretHash);
  return row && toApiKey(row);
}

export function* listApiKeys(): Logic<ApiKeyRecord[]> {
  return (yield* all("SELECT * FROM api_keys ORDER BY created_at, id")).map(toApiKey);
}

/** Deletes the key: its secret stops working at once. False if there was no such key. */
export function* revokeApiKey(id: string): Logic<boolean> {
  return (yield* run("DELETE FROM api_keys WHERE id = ?", id)) === 1;
}

/** Replaces key `id` by `next` in one transaction: never both working, never neither. False (nothing changed) if `id` is gone. */
export function* rotateApiKey(id: string, next: ApiKeyRecord): Logic<boolean> {
  if (!(yield* revokeApiKey(id))) return false;
  yield* insertApiKey(next);
  return true;
}
