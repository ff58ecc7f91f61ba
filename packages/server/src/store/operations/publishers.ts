/**
 * Publishers as the operator registers them: name, country, the bank account their payouts go to
 * (an IBAN or a domestic account, never both) and the currency they are paid in.
 */
import { StoreStateError, type PublisherRecord } from "../store.js";
import { all, get, run, type Logic } from "./operation.js";
import { toPublisher } from "./records.js";

export function* putPublisher(
  p: Omit<PublisherRecord, "createdAt" | "updatedAt">,
  at: string,
): Logic<{ kind: "created" | "updated"; publisher: PublisherRecord }> {
  if (p.iban !== undefined && p.domestic !== undefined)
    throw new StoreStateError(
      "ERR_PUBLISHER_ACCOUNT",
      `publisher ${p.id}: an account is an IBAN or a domestic account, not both`,
    );
  const existing = yield* get("SELECT id FROM publishers WHERE id = ?", p.id);
  const values = [
    p.name,
    p.country,
    p.iban ?? null,
    p.bic ?? null,
    p.domestic === undefined ? null : JSON.stringify(p.domestic),
    p.payoutCurrency ?? null,
  ];
  if (existing) {
    yield* run(
      "UPDATE publishers SET name = ?, country = ?, iban = ?, bic = ?, domestic_account = ?, payout_currency = ?, updated_at = ? WHERE id = ?",
      ...values,
      at,
      p.id,
    );
  } else {
    yield* run(
      `INSERT INTO publishers (name, country, iban, bic, domestic_account, payout_currency, id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ...values,
      p.id,
      at,
      at,
    );
  }
  return {
    kind: existing ? "updated" : "created",
    publisher: toPublisher((yield* get("SELECT * FROM publishers WHERE id = ?", p.id))!),
  };
}

export function* getPublisher(id: string): Logic<PublisherRecord | undefined> {
  const row = yield* get("SELECT * FROM publishers WHERE id = ?", id);
  return row && toPublisher(row);
}

export function* listPublishers(): Logic<PublisherRecord[]> {
  return (yield* all("SELECT * FROM publishers ORDER BY id")).map(toPublisher);
}
