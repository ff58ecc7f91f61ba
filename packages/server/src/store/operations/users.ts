/** Users: their accounts, keys, SEPA mandates, postpaid limits and status, and what a postpaid user used in a month. */
import type { AccountStatus, NewUser, SepaMandate, UserRecord } from "../store.js";
import { get, lockedRow, run, type Logic } from "./operation.js";
import { toAccount, toUser, USER_SELECT } from "./records.js";
import { big, str } from "./rows.js";

export function* createUser(
  user: NewUser,
): Logic<{ kind: "created"; user: UserRecord } | { kind: "exists" } | { kind: "key-enrolled" }> {
  if (yield* get("SELECT id FROM users WHERE id = ?", user.id)) return { kind: "exists" };
  if (yield* get("SELECT id FROM users WHERE kid = ?", user.kid)) return { kind: "key-enrolled" };
  yield* run(
    `INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, monthly_limit_minor, created_at, deposit_required_minor)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    user.id,
    user.publicKeyJwk,
    user.alg,
    user.kid,
    user.mode,
    user.homeCurrency,
    user.monthlyLimit ?? null,
    user.createdAt,
    user.depositRequired ?? 0,
  );
  return { kind: "created", user: (yield* getUser(user.id))! };
}

/**
 * Replaces a user's enrolled key (a lost or compromised wallet): requests signed with the old key
 * are refused from the moment this commits, since every payment reads the key it is checked with.
 */
export function* replaceUserKey(
  id: string,
  key: { publicKeyJwk: string; alg: string; kid: string },
): Logic<{ kind: "replaced"; user: UserRecord } | { kind: "unknown-user" } | { kind: "key-enrolled" }> {
  if (!(yield* get("SELECT id FROM users WHERE id = ?", id))) return { kind: "unknown-user" };
  const holder = yield* get("SELECT id FROM users WHERE kid = ?", key.kid);
  if (holder && str(holder["id"]) !== id) return { kind: "key-enrolled" };
  yield* run("UPDATE users SET public_key_jwk = ?, alg = ?, kid = ? WHERE id = ?", key.publicKeyJwk, key.alg, key.kid, id);
  return { kind: "replaced", user: (yield* getUser(id))! };
}

/** A user's row, locked until the end of the transaction: payments, top-ups and refunds of one user run one after the other. */
export function* lockedAccount(id: string): Logic<Omit<UserRecord, "mandate"> | undefined> {
  const row = yield* lockedRow("SELECT * FROM users WHERE id = ?", id);
  return row && toAccount(row);
}

export function* getUser(id: string): Logic<UserRecord | undefined> {
  const row = yield* get(`${USER_SELECT} WHERE u.id = ?`, id);
  return row && toUser(row);
}

export function* setMandate(id: string, mandate: SepaMandate | undefined): Logic<UserRecord | undefined> {
  if (!(yield* get("SELECT id FROM users WHERE id = ?", id))) return undefined;
  yield* run("DELETE FROM sepa_mandates WHERE user_id = ?", id);
  if (mandate) {
    yield* run(
      "INSERT INTO sepa_mandates (user_id, mandate_id, signed_on, name, iban, bic) VALUES (?, ?, ?, ?, ?, ?)",
      id,
      mandate.id,
      mandate.signedOn,
      mandate.name,
      mandate.iban,
      mandate.bic ?? null,
    );
  }
  return yield* getUser(id);
}

export function* setMonthlyLimit(id: string, limit: number): Logic<UserRecord | undefined> {
  yield* run("UPDATE users SET monthly_limit_minor = ? WHERE id = ? AND mode = 'postpaid'", limit, id);
  return yield* getUser(id);
}

export function* setStatus(id: string, status: AccountStatus): Logic<UserRecord | undefined> {
  yield* run("UPDATE users SET status = ? WHERE id = ?", status, id);
  return yield* getUser(id);
}

/** The first and the following calendar month (UTC) of an instant, as RFC 3339 strings that sort like the instants. */
export function monthBounds(at: Date): { from: string; until: string } {
  const from = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const until = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { from: from.toISOString(), until: until.toISOString() };
}

/** What a postpaid user has used in the month holding `at`: payments of that month not refunded. BigInt: a month's sum of safe integers need not be one. */
export function* usedInMonth(user: string, at: Date): Logic<bigint> {
  const { from, until } = monthBounds(at);
  const row = yield* get(
    `SELECT COALESCE(SUM(COALESCE(s.charged_used, p.charged_amount)), 0) AS used FROM payments p
     LEFT JOIN usage_settlements s ON s.payment_id = p.id
     WHERE p.user_id = ? AND p.server_time >= ? AND p.server_time < ? AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)`,
    user,
    from,
    until,
  );
  return big(row?.["used"]);
}

export function* monthlyUsage(id: string, at: Date): Logic<number> {
  const used = yield* usedInMonth(id, at);
  return used > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(used);
}
