#!/usr/bin/env node
/**
 * Signs the quest's offer drafts (offers.json) into a catalog with the publisher's key, as a
 * publisher does at build time; the game ships the catalog, never the key.
 *
 *   peage-quest-catalog --offers offers.json --pki DIR --out catalog.json [--period-seconds N]
 *
 * DIR is a certificate directory as `peage pki init` writes it (publisher.key, publisher.crt,
 * server.crt and the CA certificates); its payment server is signed into every offer as the one
 * whose acknowledgments the game accepts. --period-seconds replaces the length of every period offer, so that a
 * demonstration shows renewals without waiting five minutes.
 */
import { readFile, writeFile } from "node:fs/promises";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isPlainObject, readPkiDir, signCatalog, type Catalog, type DemoPki, type OfferDraft } from "@peage/protocol";
import { integerFlag, parseFlags, UsageError } from "./args.js";

export interface SignQuestCatalogOptions {
  readonly drafts: readonly OfferDraft[];
  readonly pki: Pick<DemoPki, "publisher" | "server" | "chainOf">;
  /** Replaces the seconds of every period grant. */
  readonly periodSeconds?: number;
}

/** Signs the drafts with the PKI's publisher, after the optional period override. */
export function signQuestCatalog(options: SignQuestCatalogOptions): Promise<Catalog> {
  const drafts = options.drafts.map((draft) =>
    options.periodSeconds !== undefined && draft.grant.kind === "period"
      ? { ...draft, grant: { kind: "period" as const, seconds: options.periodSeconds } }
      : draft,
  );
  const { publisher } = options.pki;
  return signCatalog(publisher.identity, drafts, publisher.keys, options.pki.chainOf(publisher.certificate), {
    servers: [options.pki.server.identity],
  });
}

/** Reads offer drafts: a JSON array of {offerId, description, price {amount, currency}, grant}. */
export async function readDrafts(path: string): Promise<OfferDraft[]> {
  const value = JSON.parse(await readFile(path, "utf8")) as unknown;
  if (!Array.isArray(value) || !value.every(isPlainObject))
    throw new UsageError(`${path} must hold a JSON array of offer drafts`);
  // signCatalog checks every field against the catalog schema and refuses anything else.
  return value as unknown as OfferDraft[];
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const flags = parseFlags(argv, { values: ["offers", "pki", "out", "period-seconds"], switches: [] });
    const offers = flags.values.get("offers");
    const dir = flags.values.get("pki");
    const out = flags.values.get("out");
    if (!offers || !dir || !out)
      throw new UsageError("usage: peage-quest-catalog --offers offers.json --pki DIR --out catalog.json [--period-seconds N]");
    const periodSeconds = flags.values.has("period-seconds")
      ? integerFlag(flags, "period-seconds", 300, 1, 366 * 86400)
      : undefined;
    const catalog = await signQuestCatalog({
      drafts: await readDrafts(offers),
      pki: await readPkiDir(dir),
      ...(periodSeconds === undefined ? {} : { periodSeconds }),
    });
    await writeFile(out, `${JSON.stringify(catalog, null, 2)}\n`);
    process.stdout.write(`signed ${catalog.offers.length} offers of ${catalog.publisher} into ${out}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`peage-quest-catalog: ${(error as Error).message}\n`);
    return error instanceof UsageError ? 64 : 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
