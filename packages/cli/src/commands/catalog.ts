/**
 * `peage catalog sign`: a publisher signs its catalog of offers once, at build time; the program
 * ships the signed catalog and never the publisher's key. Each draft is checked here, with a
 * message naming the offer, so a mistake is caught before anything is signed.
 */
import { resolve } from "node:path";
import {
  GrantSchema,
  OfferTermsSchema,
  PROTOCOL_VERSION,
  isCurrencyCode,
  isPartyId,
  parseDecimal,
  parser,
  signCatalog,
  toX5c,
  verifyCatalog,
  type CurrencyCode,
  type Grant,
  type MinorUnits,
  type OfferDraft,
  type PartyId,
  type Price,
} from "@peage/protocol";
import type { Command, CommandGroup } from "../command.js";
import { identitiesOf, rolesOf, showGrant, showPrice } from "../describe.js";
import { CommandError, orInvalid } from "../errors.js";
import { readInput, writeOutput } from "../files.js";
import { certifies, loadCertificates, loadPrivateKey, loadTrustStore } from "../load.js";
import { print, printJson } from "../output.js";
import { parseIdentity } from "../values.js";

/** The most offers a catalog holds (CatalogSchema). */
const MAX_OFFERS = 1000;
const slug = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Control characters and bidirectional overrides, refused in descriptions (see schema.ts). */
const unsafeText = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const draftFields = new Set(["offerId", "description", "price", "grant"]);
const termsParser = parser(OfferTermsSchema);
const grantParser = parser(GrantSchema);

const sign: Command = {
  spec: {
    name: "catalog sign",
    title: "sign a publisher's catalog of offers",
    summary:
      "Sign a catalog of offers with the publisher's key. OFFERS.json is an array of " +
      '{"offerId", "description", "price": {"amount", "currency"}, "grant"}; the amount is an integer of minor units (150) ' +
      'or a decimal string ("1.50"), and grant is {"kind":"launch"}, {"kind":"period","seconds":N} or {"kind":"event","event":NAME}.',
    synopsis:
      "--offers OFFERS.json --key publisher.key --chain publisher-chain.pem --server URN [--server URN…] [--publisher URN] [--trust ROOT.pem [--crl CRL.pem]] " +
      "--out catalog.json [--force] [--json]",
    options: {
      offers: { type: "string", value: "OFFERS.json", description: "the offers to sign (JSON array of drafts)" },
      key: { type: "string", value: "FILE", description: "the publisher's private key (PKCS#8 PEM)" },
      chain: { type: "string", value: "FILE", description: "the publisher's certificate followed by its intermediates (PEM)" },
      server: {
        type: "string",
        value: "URN",
        multiple: true,
        description:
          "urn:peage:server:NAME, a payment server whose acknowledgments the program accepts (signed into every offer; repeat for several)",
      },
      publisher: {
        type: "string",
        value: "URN",
        description: "urn:peage:publisher:NAME (default: the certificate's subjectAltName URI; must agree with it)",
      },
      trust: {
        type: "string",
        value: "ROOT.pem",
        multiple: true,
        description: "verify the signed catalog against this root before writing it",
      },
      crl: { type: "string", value: "CRL.pem", multiple: true, description: "with --trust: CRLs to check the chain against" },
      out: { type: "string", value: "FILE", description: "where to write the signed catalog" },
      force: { type: "boolean", description: "replace --out if it exists" },
      json: { type: "boolean", description: "print the result as JSON on stdout" },
    },
  },
  async run(o) {
    const offersPath = o.required("offers", "OFFERS.json");
    const keyPath = o.required("key", "FILE");
    const chainPath = o.required("chain", "FILE");
    const out = o.required("out", "FILE");
    const trustPaths = o.strings("trust");
    const crlPaths = o.strings("crl");
    if (crlPaths.length > 0 && trustPaths.length === 0) throw o.usage("--crl is only meaningful with --trust");
    const serverTexts = o.strings("server");
    if (serverTexts.length === 0) {
      throw o.usage(
        "name the payment servers whose acknowledgments the program accepts: --server urn:peage:server:NAME (repeat it for several)",
      );
    }
    const servers = [...new Set(serverTexts.map((text) => parseIdentity(o, "server", text, "server") as PartyId<"server">))];
    const publisherText = o.string("publisher");
    const claimed = publisherText === undefined ? undefined : parseIdentity(o, "publisher", publisherText, "publisher");

    const drafts = parseDrafts(await readInput(offersPath, "--offers"), offersPath);
    const chain = await loadCertificates(chainPath, "--chain");
    const leaf = chain[0]!;
    const keys = await loadPrivateKey(keyPath, "--key");
    if (!(await certifies(leaf, keys))) {
      throw new CommandError(
        "ERR_KEY_MISMATCH",
        `--key ${keyPath} is not the key of ${JSON.stringify(leaf.subject)}, the first certificate of --chain ${chainPath}: give the publisher's key and its chain, leaf first`,
      );
    }
    if (!rolesOf(leaf).includes("offer-signing")) {
      throw new CommandError(
        "ERR_WRONG_ROLE",
        `${JSON.stringify(leaf.subject)} is not certified for offer-signing: sign catalogs with a publisher's certificate`,
      );
    }
    const named = identitiesOf(leaf).filter((uri) => isPartyId(uri, "publisher")) as PartyId<"publisher">[];
    if (named.length !== 1) {
      throw new CommandError(
        "ERR_IDENTITY_MISMATCH",
        `${JSON.stringify(leaf.subject)} does not name exactly one publisher (subjectAltName urn:peage:publisher:NAME): ask its CA for a publisher certificate`,
      );
    }
    const publisher = named[0]!;
    if (claimed !== undefined && claimed !== publisher) {
      throw new CommandError(
        "ERR_IDENTITY_MISMATCH",
        `--publisher ${claimed} is not the publisher the certificate names, ${publisher}: leave --publisher out or use that certificate's publisher`,
      );
    }

    const catalog = await signCatalog(publisher, drafts, keys, chain.map(toX5c), { servers });
    if (trustPaths.length > 0) {
      const trust = await loadTrustStore(trustPaths, crlPaths, "best-effort");
      orInvalid(await verifyCatalog(catalog, trust, new Date()));
    }
    await writeOutput(out, `${JSON.stringify(catalog, null, 2)}\n`, "--out", { force: o.flag("force") });

    const offers = catalog.offers.map((entry) => ({
      offerId: entry.terms.offerId,
      price: entry.terms.price,
      grant: entry.terms.grant,
      offerHash: entry.offerHash,
    }));
    if (o.flag("json")) return printJson({ catalog: resolve(out), publisher, verified: trustPaths.length > 0, offers });
    const width = Math.max(...offers.map((offer) => offer.offerId.length));
    print(
      `signed ${offers.length} offer${offers.length === 1 ? "" : "s"} of ${publisher} to ${out}${trustPaths.length > 0 ? " (verified against --trust)" : ""}:`,
      ...offers.map(
        (offer) =>
          `  ${offer.offerId.padEnd(width)}  ${showPrice(offer.price).padStart(12)}  ${showGrant(offer.grant)}  ${offer.offerHash}`,
      ),
    );
  },
};

export const catalog: CommandGroup = {
  name: "catalog",
  summary: "sign a publisher's catalog of offers",
  commands: [sign],
};

/** Parses and checks the drafts; the first problem is reported with the offer's position and id. */
export function parseDrafts(text: string, path: string): OfferDraft[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw badOffers(path, `it is not JSON (${(cause as Error).message})`);
  }
  if (!Array.isArray(value)) throw badOffers(path, "it must be a JSON array of offers");
  if (value.length === 0) throw badOffers(path, "it holds no offer; a catalog has at least one");
  if (value.length > MAX_OFFERS) throw badOffers(path, `it holds ${value.length} offers; a catalog has at most ${MAX_OFFERS}`);
  const seen = new Map<string, number>();
  return value.map((item: unknown, index) => {
    const draft = parseDraft(item, (problem) => {
      const id = typeof item === "object" && item !== null ? (item as Record<string, unknown>)["offerId"] : undefined;
      const name = `offer #${index + 1}${typeof id === "string" ? ` (${JSON.stringify(id)})` : ""}`;
      return badOffers(path, `${name}: ${problem}`);
    });
    const first = seen.get(draft.offerId);
    if (first !== undefined)
      throw badOffers(
        path,
        `offers #${first + 1} and #${index + 1} have the same offerId ${JSON.stringify(draft.offerId)}; each offer needs its own`,
      );
    seen.set(draft.offerId, index);
    return draft;
  });
}

function parseDraft(item: unknown, problem: (message: string) => Error): OfferDraft {
  if (typeof item !== "object" || item === null || Array.isArray(item)) throw problem("must be a JSON object");
  const record = item as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!draftFields.has(key))
      throw problem(`unknown field ${JSON.stringify(key)}; an offer has offerId, description, price and grant`);
  }
  const { offerId, description, price, grant } = record;
  if (typeof offerId !== "string" || !slug.test(offerId)) {
    throw problem("offerId must be 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (typeof description !== "string" || description.length === 0 || description.length > 500) {
    throw problem("description must be a text of 1 to 500 characters");
  }
  if (unsafeText.test(description)) {
    throw problem(
      "description must not contain control characters or bidirectional overrides: they would let it display differently from what is signed",
    );
  }
  const draft = { offerId, description, price: parsePrice(price, problem), grant: parseGrant(grant, problem) };
  // The wire schema has the last word, so that nothing signed here is refused by a verifier.
  const terms = termsParser.parse({ v: PROTOCOL_VERSION, publisher: "urn:peage:publisher:check", ...draft }, "terms");
  if (!terms.ok) throw problem(terms.error.message);
  return draft;
}

/** A price: integer minor units, or a decimal string converted exactly (no floats, no rounding). */
function parsePrice(value: unknown, problem: (message: string) => Error): Price {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw problem('price must be an object {"amount": …, "currency": …}');
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).find((key) => key !== "amount" && key !== "currency");
  if (extra) throw problem(`price has an unknown field ${JSON.stringify(extra)}; a price has amount and currency`);
  const { amount, currency } = record;
  if (!isCurrencyCode(currency))
    throw problem(`price.currency ${JSON.stringify(currency)} is not an active ISO 4217 currency code, e.g. "EUR"`);
  let minor: number;
  if (typeof amount === "number") {
    if (!Number.isInteger(amount)) {
      throw problem(
        `price.amount ${amount} is not a whole number of minor units: write ${currency} amounts as integers of minor units or as a decimal string such as "1.50"`,
      );
    }
    if (amount < 0) throw problem(`price.amount ${amount} is negative`);
    if (!Number.isSafeInteger(amount)) throw problem(`price.amount ${amount} is too large to be carried exactly in JSON`);
    minor = amount;
  } else if (typeof amount === "string") {
    try {
      minor = parseDecimal(amount, currency as CurrencyCode);
    } catch (cause) {
      throw problem(`price.amount: ${(cause as Error).message}`);
    }
  } else {
    throw problem('price.amount must be an integer of minor units (150) or a decimal string ("1.50")');
  }
  return { amount: minor as MinorUnits, currency: currency as CurrencyCode };
}

function parseGrant(value: unknown, problem: (message: string) => Error): Grant {
  const grant = grantParser.parse(value, "grant");
  if (grant.ok) return grant.value;
  const kind = typeof value === "object" && value !== null ? (value as Record<string, unknown>)["kind"] : undefined;
  if (kind === "period")
    throw problem('grant {"kind":"period"} needs "seconds", a whole number from 1 to 31622400 (366 days), and nothing else');
  if (kind === "event")
    throw problem(
      "grant {\"kind\":\"event\"} needs \"event\", a name of lower-case letters, digits, '.', '_' or '-', and nothing else",
    );
  if (kind === "launch") throw problem('grant {"kind":"launch"} takes no other field');
  throw problem('grant must be {"kind":"launch"}, {"kind":"period","seconds":N} or {"kind":"event","event":NAME}');
}

function badOffers(path: string, message: string): CommandError {
  return new CommandError("ERR_BAD_OFFER", `--offers ${path}: ${message}; fix it and sign again`);
}
