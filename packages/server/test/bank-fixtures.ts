/** Shared data for the bank-file tests: schema paths, sample batches, IBAN construction. */
import { fileURLToPath } from "node:url";
import { price } from "@peage/protocol";
import { iso20022Schemas, type CreditTransferBatch, type DirectDebitBatch } from "../src/bank/index.js";
import { mod97 } from "../src/bank/identifiers.js";

/**
 * The official XSDs the tests check against: PEAGE_ISO20022_SCHEMAS, or shared/schemas/iso20022 beside the
 * checkout — not the copies packed with the server, so a changed copy cannot validate its own mistakes.
 */
export const OFFICIAL_SCHEMA_DIR =
  process.env.PEAGE_ISO20022_SCHEMAS ?? fileURLToPath(new URL("../../../../../shared/schemas/iso20022/", import.meta.url));
export const schemas = iso20022Schemas(OFFICIAL_SCHEMA_DIR);

/** An IBAN with correct check digits for `country` and `bban` (ISO 13616 §6.3: 98 − (BBAN ‖ country ‖ 00 mod 97)). */
export function makeIban(country: string, bban: string): string {
  const check = 98 - mod97(`${bban}${country}00`);
  return `${country}${String(check).padStart(2, "0")}${bban}`;
}

/** A SEPA creditor identifier with correct check digits. */
export function makeCreditorId(country: string, businessCode: string, nationalId: string): string {
  const check = 98 - mod97(`${nationalId}${country}00`);
  return `${country}${String(check).padStart(2, "0")}${businessCode}${nationalId}`;
}

export const DEBTOR = { name: "Peage SAS", iban: "FR1420041010050500013M02606", bic: "PSSTFRPPXXX" } as const;

export function sepaBatch(): CreditTransferBatch {
  return {
    messageId: "PEAGE-PAYOUT-2025-11",
    createdAt: new Date("2025-12-01T09:30:00.250Z"),
    initiatingParty: "Péage SAS",
    debtor: DEBTOR,
    executionDate: "2025-12-02",
    sepa: true,
    transfers: [
      {
        endToEndId: "PAYOUT-2025-11-PUB-2",
        creditor: { name: "Müller & Söhne GmbH", iban: "DE89 3704 0044 0532 0130 00", bic: "COBADEFFXXX", country: "DE" },
        amount: price(125_050, "EUR"),
        remittance: "Péage payout 2025-11",
      },
      {
        endToEndId: "PAYOUT-2025-11-PUB-1",
        creditor: { name: "Studio O'Brien", iban: "NL91ABNA0417164300", country: "NL" },
        amount: price(1, "EUR"),
        remittance: "Peage payout 2025-11",
      },
      {
        endToEndId: "PAYOUT-2025-11-PUB-3",
        creditor: { name: "Soft Ibérica SL", iban: "ES9121000418450200051332", bic: "CAIXESBBXXX", country: "ES" },
        amount: price(99_999_999_999, "EUR"),
        remittance: "",
      },
    ],
  };
}

export function internationalBatch(): CreditTransferBatch {
  return {
    messageId: "PEAGE-INTL-2025-11",
    createdAt: new Date("2025-12-01T09:30:00Z"),
    initiatingParty: "Peage SAS",
    debtor: DEBTOR,
    executionDate: "2025-12-03",
    sepa: false,
    transfers: [
      {
        endToEndId: "INTL-USD-1",
        creditor: { name: "Acme Software Inc", iban: "GB29NWBK60161331926819", bic: "NWBKGB2L", country: "US" },
        amount: price(123_456, "USD"),
        remittance: "Peage payout 2025-11 USD",
      },
      {
        endToEndId: "INTL-JPY-1",
        creditor: { name: "Kaisha Games KK", iban: "CH9300762011623852957", bic: "UBSWCHZH80A", country: "JP" },
        amount: price(1_250, "JPY"),
        remittance: "Peage payout 2025-11 JPY",
      },
      {
        endToEndId: "INTL-BHD-1",
        creditor: { name: "Gulf Soft WLL", iban: "BH67BMAG00001299123456", bic: "BMAGBHBM", country: "BH" },
        amount: price(1_250, "BHD"),
        remittance: "Peage payout 2025-11 BHD",
      },
      {
        endToEndId: "INTL-BHD-2",
        creditor: { name: "Manama Apps", iban: "BH67BMAG00001299123456", bic: "BMAGBHBMXXX", country: "BH" },
        amount: price(7, "BHD"),
        remittance: "Peage payout 2025-11 BHD",
      },
    ],
  };
}

export function directDebitBatch(): DirectDebitBatch {
  return {
    messageId: "PEAGE-DD-2025-11",
    createdAt: new Date("2025-12-01T09:30:00Z"),
    initiatingParty: "Peage SAS",
    creditor: { name: "Peage SAS", iban: "FR1420041010050500013M02606", bic: "PSSTFRPP", creditorId: "DE98ZZZ09999999999" },
    collectionDate: "2025-12-05",
    debits: [
      {
        endToEndId: "DD-2025-11-USER-1",
        mandate: { id: "PEAGE-MANDATE-1", signedOn: "2025-01-15" },
        debtor: { name: "Jean Dupont", iban: "DE89370400440532013000" },
        amount: price(4_599, "EUR"),
        remittance: "Peage 2025-11 statement",
      },
      {
        endToEndId: "DD-2025-11-USER-2",
        mandate: { id: "PEAGE-MANDATE-2", signedOn: "2025-12-05" },
        debtor: { name: "Zoë Ångström", iban: "AT611904300234573201", bic: "BKAUATWWXXX" },
        amount: price(1, "EUR"),
        remittance: "Peage 2025-11 statement",
      },
    ],
  };
}

/** The text of every element `name` in `xml`, in document order. */
export function elementTexts(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?: [^>]*)?>([^<]*)</${name}>`, "g"))].map((m) => m[1] ?? "");
}
