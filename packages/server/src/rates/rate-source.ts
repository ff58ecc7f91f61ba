/**
 * Where the server's current rate table comes from. The file is read at start and on reload();
 * a reload that fails keeps the previous table, so a bad download never leaves the server
 * without rates it had.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { RateTable } from "@peage/protocol";
import { parseEcbRates, RatesError } from "./ecb.js";

export interface RateSource {
  /** The table in force, or undefined when the server has none (only same-currency payments work). */
  current(): RateTable | undefined;
}

/** A fixed table, for tests and embedding. */
export function staticRates(table: RateTable | undefined): RateSource {
  return { current: () => table };
}

/** Rates read from an ECB XML file. */
export class FileRateSource implements RateSource {
  #table: RateTable | undefined;

  private constructor(readonly path: string) {}

  /** Reads the file; a missing file gives a source without rates when `optional`, any other problem throws RatesError. */
  static async load(path: string, opts: { optional?: boolean } = {}): Promise<FileRateSource> {
    const source = new FileRateSource(path);
    if (opts.optional && !existsSync(path)) return source;
    await source.reload();
    return source;
  }

  current(): RateTable | undefined {
    return this.#table;
  }

  /** Re-reads the file; on error the previous table stays in force and the error is thrown. */
  async reload(): Promise<RateTable> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (cause) {
      throw new RatesError(
        "ERR_RATES_FILE",
        `cannot read the rates file ${this.path}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
      );
    }
    const table = parseEcbRates(text);
    this.#table = table;
    return table;
  }
}
