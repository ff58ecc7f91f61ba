/**
 * The validation cache: a chain that validated stays valid for a known time window, so checking
 * the next message signed with the same chain costs a hash and a Map lookup. An entry records
 * the window and the CRL generation it was computed under; a lookup outside the window or after
 * the store's CRLs changed misses. Failures are never cached, so nothing can mask a later success.
 */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
}

interface Entry<T> {
  readonly value: T;
  readonly from: number;
  readonly until: number;
  readonly generation: number;
}

export class ValidationCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  #hits = 0;
  #misses = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 0))
      throw new RangeError(`cache capacity must be a non-negative integer, not ${capacity}`);
  }

  /** The cached value if `at` (ms) lies in its window [from, until] and the generation is current. */
  get(key: string, at: number, generation: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry || entry.generation !== generation || at < entry.from || at > entry.until) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    // Re-insert so that Map order is least-recently-used first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, from: number, until: number, generation: number): void {
    if (this.capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, from, until, generation });
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries.size };
  }
}
