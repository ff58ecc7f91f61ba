/**
 * Users' records kept between payment requests, so that a request whose user paid recently is
 * verified without reading the user's row first: on PostgreSQL that read is a round trip and a
 * statement of its own for every payment. Only where the store checks the key a payment was
 * verified with (Store.checksPaymentKeys): a record kept past a key replacement, in this process
 * or another, still has its payment refused as a replaced key is (payments.ts, acceptConsent).
 * Anything refused on a kept record is decided again on the record read then, and a refusal of
 * the store drops the record, so that a kept record only ever lets a request go on to the store's
 * own checks. Bounded: the oldest record goes when a new one would pass the capacity.
 */
import type { PartyId } from "@peage/protocol";
import type { Store, UserRecord } from "./store/store.js";

export class UserRecordCache {
  readonly #records = new Map<string, UserRecord>();
  constructor(readonly capacity = 10_000) {}

  get(user: PartyId<"user">): UserRecord | undefined {
    return this.#records.get(user);
  }

  keep(record: UserRecord): void {
    this.#records.delete(record.id);
    this.#records.set(record.id, record);
    if (this.#records.size > this.capacity) this.#records.delete(this.#records.keys().next().value!);
  }

  forget(user: PartyId<"user">): void {
    this.#records.delete(user);
  }
}

const kept = new WeakMap<Store, UserRecordCache>();

/** The records kept for a store's payments (one set per store, so per process), or none where the store does not check keys. */
export function keptRecords(store: Store): UserRecordCache | undefined {
  if (!store.checksPaymentKeys) return undefined;
  let records = kept.get(store);
  if (!records) kept.set(store, (records = new UserRecordCache()));
  return records;
}
