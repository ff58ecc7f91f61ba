/** Publishers as the operator registers them: name, country and the bank account their payouts go to. */
import type { PublisherRecord } from "../store.js";
import { all, get, run, type Logic } from "./operation.js";
import { toPublisher } from "./records.js";

export function* putPublisher(
  p: Omit<PublisherRecord, "createdAt" | "updatedAt">,
  at: string,
): Logic<{ kind: "created" | "updated"; publisher: PublisherRecord }> {
  const existing = yield* get("SELECT id FROM publishers WHERE id = ?", p.id);
  if (existing) {
    yield* run(
      "UPDATE publishers SET name = ?, country = ?, iban = ?, bic = ?, updated_at = ? WHERE id = ?",
      p.name,
      p.country,
      p.iban ?? null,
      p.bic ?? null,
      at,
      p.id,
    );
  } else {
    yield* run(
      "INSERT INTO publishers (id, name, country, iban, bic, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      p.id,
      p.name,
      p.country,
      p.iban ?? null,
      p.bic ?? null,
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
