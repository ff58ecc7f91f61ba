/**
 * Bank accounts in countries outside the IBAN registry, with each country's own identifiers: the
 * bank (or branch) is reached through its national clearing system's member id, and the account
 * is a domestic account number (a BBAN). A pain.001 file names them as ISO 20022 intends:
 * `CdtrAgt/FinInstnId/ClrSysMmbId` with the clearing system's code, and `CdtrAcct/Id/Othr` with the
 * scheme BBAN.
 *
 * `parseDomesticAccount` is the only way to make a DomesticAccount: it checks each field by its
 * country's published rules and names the field that is wrong, so an account in the union below
 * is one the bank can route.
 */
import { describeChar } from "./charset.js";

/** The countries whose domestic accounts Péage can pay, and what their accounts consist of. */
export const DomesticCountries = ["US", "CA", "AU", "IN", "JP"] as const;
export type DomesticCountry = (typeof DomesticCountries)[number];

/** US: a 9-digit ABA routing transit number and an account number, checking or savings. */
export interface UsAccount {
  readonly country: "US";
  readonly routingNumber: string;
  readonly accountNumber: string;
  readonly accountType: "checking" | "savings";
}
/** Canada: the 3-digit institution number and 5-digit branch transit number of Payments Canada. */
export interface CaAccount {
  readonly country: "CA";
  readonly institution: string;
  readonly transit: string;
  readonly accountNumber: string;
}
/** Australia: a 6-digit BSB (bank-state-branch) and an account number. */
export interface AuAccount {
  readonly country: "AU";
  readonly bsb: string;
  readonly accountNumber: string;
}
/** India: the 11-character IFSC of the branch (Reserve Bank of India) and an account number. */
export interface InAccount {
  readonly country: "IN";
  readonly ifsc: string;
  readonly accountNumber: string;
}
/** Japan: the Zengin 4-digit bank code and 3-digit branch code, a 7-digit account, ordinary (futsū) or current (tōza). */
export interface JpAccount {
  readonly country: "JP";
  readonly bankCode: string;
  readonly branchCode: string;
  readonly accountNumber: string;
  readonly accountType: "ordinary" | "current";
}
export type DomesticAccount = UsAccount | CaAccount | AuAccount | InAccount | JpAccount;

/** One wrong field of an account: `field` is the account's member (e.g. `routingNumber`). */
export interface AccountProblem {
  readonly field: string;
  readonly reason: string;
}
export type DomesticAccountParse =
  { readonly ok: true; readonly account: DomesticAccount } | { readonly ok: false; readonly problems: readonly AccountProblem[] };

/** How a pain.001 file routes to an account: the clearing system (ISO 20022 external code list) and member id. */
export interface ClearingRoute {
  /** ExternalClearingSystemIdentification1Code: USABA, CACPA, AUBSB, INFSC, JPZGN. */
  readonly system: string;
  readonly memberId: string;
  /** The account number as the BBAN. */
  readonly bban: string;
  /** ExternalCashAccountType1Code where the country distinguishes types: CACC current, SVGS savings. */
  readonly accountType: "CACC" | "SVGS" | undefined;
}

class Fields {
  readonly problems: AccountProblem[] = [];
  constructor(readonly input: Readonly<Record<string, unknown>>) {}

  /** A string of digits (spaces and hyphens typed between groups are removed) of an allowed length. */
  digits(field: string, min: number, max: number, what: string): string {
    const text = this.text(field, what);
    if (text === undefined) return "";
    const compact = text.replace(/[\s-]+/g, "");
    const bad = /[^0-9]/u.exec(compact);
    if (bad) return this.fail(field, `the ${what} has ${describeChar(bad[0])}; it is digits only`);
    if (compact.length < min || compact.length > max) {
      const length = min === max ? `${min} digits` : `${min} to ${max} digits`;
      return this.fail(field, `the ${what} has ${length}, this one has ${compact.length}`);
    }
    return compact;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], what: string): T {
    const value = this.input[field];
    if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
    this.fail(field, `the ${what} is ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, not ${JSON.stringify(value)}`);
    return allowed[0]!;
  }

  text(field: string, what: string): string | undefined {
    const value = this.input[field];
    if (typeof value === "string" && value.trim() !== "") return value.trim();
    this.fail(field, `the ${what} is missing`);
    return undefined;
  }

  fail(field: string, reason: string): string {
    this.problems.push({ field, reason });
    return "";
  }

  /** Members the country's account does not have are refused, so a typo is not silently dropped. */
  only(members: readonly string[]): void {
    for (const key of Object.keys(this.input))
      if (key !== "country" && !members.includes(key))
        this.fail(key, `a ${String(this.input["country"])} account has no ${key} (it has ${members.join(", ")})`);
  }
}

/**
 * The ABA routing number check (ABA Key to Routing Numbers; Federal Reserve): the digits weighted
 * 3, 7, 1 repeating sum to a multiple of 10. The first two digits are a Federal Reserve district
 * (01–12), a thrift institution's (21–32), an electronic one's (61–72) or the Treasury's 80.
 */
export function abaRoutingProblem(routing: string): string | undefined {
  const prefix = Number(routing.slice(0, 2));
  const known = prefix <= 12 || (prefix >= 21 && prefix <= 32) || (prefix >= 61 && prefix <= 72) || prefix === 80;
  if (!known) return `${routing.slice(0, 2)} (its first two digits) is no Federal Reserve routing symbol`;
  const weights = [3, 7, 1];
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(routing[i]) * weights[i % 3]!;
  if (sum % 10 !== 0) return "wrong check digit (ABA: digits weighted 3, 7, 1 must sum to a multiple of 10)";
  return undefined;
}

/** IFSC (RBI): four letters naming the bank, a fifth character 0 reserved, six letters or digits naming the branch. */
function ifscProblem(ifsc: string): string | undefined {
  if (ifsc.length !== 11) return `an IFSC has 11 characters, this one has ${ifsc.length}`;
  if (!/^[A-Z]{4}/.test(ifsc)) return "an IFSC starts with four letters naming the bank";
  if (ifsc[4] !== "0") return "the fifth character of an IFSC is always 0";
  if (!/^[A-Z0-9]{6}$/.test(ifsc.slice(5))) return "an IFSC ends with six letters or digits naming the branch";
  return undefined;
}

function parseUs(f: Fields): UsAccount {
  f.only(["routingNumber", "accountNumber", "accountType"]);
  const routingNumber = f.digits("routingNumber", 9, 9, "ABA routing number");
  const problem = routingNumber && abaRoutingProblem(routingNumber);
  if (problem) f.fail("routingNumber", problem);
  // NACHA's DFI account number field holds 17 characters; US banks issue 4 to 17 digits.
  const accountNumber = f.digits("accountNumber", 4, 17, "account number");
  const accountType = f.oneOf("accountType", ["checking", "savings"] as const, "account type");
  return { country: "US", routingNumber, accountNumber, accountType };
}

function parseCa(f: Fields): CaAccount {
  f.only(["institution", "transit", "accountNumber"]);
  const institution = f.digits("institution", 3, 3, "institution number");
  const transit = f.digits("transit", 5, 5, "branch transit number");
  // Payments Canada's Standard 005: account numbers of 7 to 12 digits.
  const accountNumber = f.digits("accountNumber", 7, 12, "account number");
  return { country: "CA", institution, transit, accountNumber };
}

function parseAu(f: Fields): AuAccount {
  f.only(["bsb", "accountNumber"]);
  const bsb = f.digits("bsb", 6, 6, "BSB");
  // The BECS file's account number field has 9 characters; banks issue 5 to 9 digits.
  const accountNumber = f.digits("accountNumber", 5, 9, "account number");
  return { country: "AU", bsb, accountNumber };
}

function parseIn(f: Fields): InAccount {
  f.only(["ifsc", "accountNumber"]);
  const typed = f.text("ifsc", "IFSC");
  const ifsc = typed === undefined ? "" : typed.replace(/\s+/g, "").toUpperCase();
  const problem = typed === undefined ? undefined : ifscProblem(ifsc);
  if (problem) f.fail("ifsc", problem);
  // NEFT and RTGS carry account numbers of 9 to 18 digits.
  const accountNumber = f.digits("accountNumber", 9, 18, "account number");
  return { country: "IN", ifsc, accountNumber };
}

function parseJp(f: Fields): JpAccount {
  f.only(["bankCode", "branchCode", "accountNumber", "accountType"]);
  const bankCode = f.digits("bankCode", 4, 4, "Zengin bank code");
  const branchCode = f.digits("branchCode", 3, 3, "branch code");
  const accountNumber = f.digits("accountNumber", 7, 7, "account number");
  const accountType = f.oneOf("accountType", ["ordinary", "current"] as const, "account type");
  return { country: "JP", bankCode, branchCode, accountNumber, accountType };
}

const parsers: Record<DomesticCountry, (f: Fields) => DomesticAccount> = {
  US: parseUs,
  CA: parseCa,
  AU: parseAu,
  IN: parseIn,
  JP: parseJp,
};

/** Reads a domestic account from what was sent or stored; every wrong field is named. */
export function parseDomesticAccount(input: unknown): DomesticAccountParse {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return { ok: false, problems: [{ field: "account", reason: "a domestic account is an object with a country" }] };
  const fields = new Fields(input as Record<string, unknown>);
  const country = fields.input["country"];
  if (!(DomesticCountries as readonly unknown[]).includes(country)) {
    const reason = `${JSON.stringify(country)} is not a country whose domestic accounts can be paid (${DomesticCountries.join(", ")}); elsewhere give an IBAN`;
    return { ok: false, problems: [{ field: "country", reason }] };
  }
  const account = parsers[country as DomesticCountry](fields);
  return fields.problems.length === 0 ? { ok: true, account } : { ok: false, problems: fields.problems };
}

/** The clearing system and member id a pain.001 routes a domestic account through. */
export function clearingRoute(account: DomesticAccount): ClearingRoute {
  switch (account.country) {
    case "US":
      return {
        system: "USABA",
        memberId: account.routingNumber,
        bban: account.accountNumber,
        accountType: account.accountType === "checking" ? "CACC" : "SVGS",
      };
    case "CA":
      // A Canadian payment routing number in electronic form: 0, the institution, the transit.
      return {
        system: "CACPA",
        memberId: `0${account.institution}${account.transit}`,
        bban: account.accountNumber,
        accountType: undefined,
      };
    case "AU":
      return { system: "AUBSB", memberId: account.bsb, bban: account.accountNumber, accountType: undefined };
    case "IN":
      return { system: "INFSC", memberId: account.ifsc, bban: account.accountNumber, accountType: undefined };
    case "JP":
      return {
        system: "JPZGN",
        memberId: `${account.bankCode}${account.branchCode}`,
        bban: account.accountNumber,
        accountType: account.accountType === "current" ? "CACC" : "SVGS",
      };
  }
}

/** A short human description: "US ABA 011000015 account 123456789 (checking)". */
export function describeDomesticAccount(account: DomesticAccount): string {
  const route = clearingRoute(account);
  const type = "accountType" in account ? ` (${account.accountType})` : "";
  return `${account.country} ${route.system} ${route.memberId} account ${route.bban}${type}`;
}
