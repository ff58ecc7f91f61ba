/**
 * Rows to records: each mapper parses its row's values at the edge (rows.ts), so the records the
 * store hands out hold branded amounts, currencies and ids that were checked, not cast.
 */
import { SignatureAlgorithms, type Acknowledgment, type PartyId } from "@peage/protocol";
import {
  AccountModes,
  AccountStatuses,
  TopupKinds,
  type ApiKeyRecord,
  type ApiScope,
  type ClosedPeriod,
  type CollectionRecord,
  type PaymentRecord,
  type PayoutConversion,
  type PayoutRecord,
  type PublisherRecord,
  type SepaMandate,
  type TopupRecord,
  type UserRecord,
} from "../store.js";
import type { Row } from "./operation.js";
import { currency, int, json, minor, oneOf, optMinor, optStr, party, str, StoreRowError } from "./rows.js";
import { parseDomesticAccount, type DomesticAccount } from "../../bank/domestic.js";

/** A user's row with its SEPA mandate, if any (toUser reads both). */
export const USER_SELECT = `SELECT u.*, m.mandate_id, m.signed_on AS mandate_signed_on, m.name AS mandate_name, m.iban AS mandate_iban, m.bic AS mandate_bic
  FROM users u LEFT JOIN sepa_mandates m ON m.user_id = u.id`;

function mandateOf(row: Row): SepaMandate | undefined {
  if (row["mandate_id"] === null || row["mandate_id"] === undefined) return undefined;
  return {
    id: str(row["mandate_id"], "sepa_mandates.mandate_id"),
    signedOn: str(row["mandate_signed_on"], "sepa_mandates.signed_on"),
    name: str(row["mandate_name"], "sepa_mandates.name"),
    iban: str(row["mandate_iban"], "sepa_mandates.iban"),
    bic: optStr(row["mandate_bic"], "sepa_mandates.bic"),
  };
}

/** A user's row alone (SELECT * FROM users, which can be locked FOR UPDATE): the user but its mandate. */
export function toAccount(row: Row): Omit<UserRecord, "mandate"> {
  return {
    id: party("user", row["id"], "users.id"),
    publicKeyJwk: str(row["public_key_jwk"], "users.public_key_jwk"),
    alg: oneOf(SignatureAlgorithms, row["alg"], "users.alg"),
    kid: str(row["kid"], "users.kid"),
    mode: oneOf(AccountModes, row["mode"], "users.mode"),
    homeCurrency: currency(row["home_currency"], "users.home_currency"),
    balance: minor(row["balance_minor"], "users.balance_minor"),
    monthlyLimit: optMinor(row["monthly_limit_minor"], "users.monthly_limit_minor"),
    status: oneOf(AccountStatuses, row["status"], "users.status"),
    createdAt: str(row["created_at"], "users.created_at"),
    depositRequired: minor(row["deposit_required_minor"], "users.deposit_required_minor"),
    deposit: minor(row["deposit_minor"], "users.deposit_minor"),
  };
}

export function toUser(row: Row): UserRecord {
  return { ...toAccount(row), mandate: mandateOf(row) };
}

export function toTopup(row: Row): TopupRecord {
  return {
    id: str(row["id"], "topups.id"),
    user: party("user", row["user_id"], "topups.user_id"),
    kind: oneOf(TopupKinds, row["kind"], "topups.kind"),
    amount: minor(row["amount_minor"], "topups.amount_minor"),
    currency: currency(row["currency"], "topups.currency"),
    idempotencyKey: str(row["idempotency_key"], "topups.idempotency_key"),
    createdAt: str(row["created_at"], "topups.created_at"),
  };
}

export function toPayment(row: Row): PaymentRecord {
  return {
    id: str(row["id"], "payments.id"),
    user: party("user", row["user_id"], "payments.user_id"),
    publisher: party("publisher", row["publisher"], "payments.publisher"),
    offerHash: str(row["offer_hash"], "payments.offer_hash"),
    price: {
      amount: minor(row["price_amount"], "payments.price_amount"),
      currency: currency(row["price_currency"], "payments.price_currency"),
    },
    charged: {
      amount: minor(row["charged_amount"], "payments.charged_amount"),
      currency: currency(row["charged_currency"], "payments.charged_currency"),
    },
    rate: str(row["rate"], "payments.rate"),
    rateDate: optStr(row["rate_date"], "payments.rate_date"),
    nonce: str(row["nonce"], "payments.nonce"),
    offerDate: str(row["offer_date"], "payments.offer_date"),
    serverTime: str(row["server_time"], "payments.server_time"),
    requestHash: str(row["request_hash"], "payments.request_hash"),
    // Signed by this server when it was recorded; its signature is what a reader checks.
    acknowledgment: json(row["acknowledgment"], "payments.acknowledgment") as Acknowledgment,
    fee: minor(row["fee_minor"], "payments.fee_minor"),
  };
}

export function toPublisher(row: Row): PublisherRecord {
  return {
    id: party("publisher", row["id"], "publishers.id"),
    name: str(row["name"], "publishers.name"),
    country: str(row["country"], "publishers.country"),
    iban: optStr(row["iban"], "publishers.iban"),
    bic: optStr(row["bic"], "publishers.bic"),
    ...(row["domestic_account"] == null ? {} : { domestic: domestic(row["domestic_account"], "publishers.domestic_account") }),
    ...(row["payout_currency"] == null ? {} : { payoutCurrency: currency(row["payout_currency"], "publishers.payout_currency") }),
    createdAt: str(row["created_at"], "publishers.created_at"),
    updatedAt: str(row["updated_at"], "publishers.updated_at"),
  };
}

export function toClosed(row: Row): ClosedPeriod {
  return {
    period: str(row["period"], "closed_periods.period"),
    closedAt: str(row["closed_at"], "closed_periods.closed_at"),
    lastSeq: int(row["last_seq"], "closed_periods.last_seq"),
  };
}

export function toApiKey(row: Row): ApiKeyRecord {
  return {
    id: str(row["id"], "api_keys.id"),
    secretHash: str(row["secret_sha256"], "api_keys.secret_sha256"),
    // Not checked against ApiScopes: a scope this server does not know grants nothing here.
    scopes: str(row["scopes"], "api_keys.scopes").split(" ").filter(Boolean) as ApiScope[],
    label: str(row["label"], "api_keys.label"),
    createdAt: str(row["created_at"], "api_keys.created_at"),
    ...(row["publisher"] === null || row["publisher"] === undefined
      ? {}
      : { publisher: str(row["publisher"], "api_keys.publisher") as PartyId<"publisher"> }),
  };
}

export function toPayout(row: Row): PayoutRecord {
  return {
    id: str(row["id"], "payouts.id"),
    period: str(row["period"], "payouts.period"),
    publisher: party("publisher", row["publisher"], "payouts.publisher"),
    amount: {
      amount: minor(row["amount_minor"], "payouts.amount_minor"),
      currency: currency(row["currency"], "payouts.currency"),
    },
    // Written by recordSettlement from the publisher's record.
    creditor: json(row["creditor"], "payouts.creditor") as PayoutRecord["creditor"],
    sepa: int(row["sepa"], "payouts.sepa") === 1,
    // Written by recordSettlement from the settlement's plan.
    ...(row["conversion"] == null ? {} : { conversion: json(row["conversion"], "payouts.conversion") as PayoutConversion }),
  };
}

/** A stored domestic account, read through the same parser as one sent: a row the parser refuses is an error, not an account. */
function domestic(value: unknown, column: string): DomesticAccount {
  const parsed = parseDomesticAccount(json(value, column));
  if (!parsed.ok) throw new StoreRowError(column, value, "a domestic account (bank/domestic.ts)");
  return parsed.account;
}

export function toCollection(row: Row): CollectionRecord {
  return {
    id: str(row["id"], "collections.id"),
    period: str(row["period"], "collections.period"),
    user: party("user", row["user_id"], "collections.user_id"),
    amount: {
      amount: minor(row["amount_minor"], "collections.amount_minor"),
      currency: currency(row["currency"], "collections.currency"),
    },
    method: oneOf(CollectionMethods, row["method"], "collections.method"),
    // Written by recordSettlement from the user's mandate.
    mandate: row["mandate"] === null ? undefined : (json(row["mandate"], "collections.mandate") as SepaMandate),
  };
}

const CollectionMethods = ["sepa-direct-debit", "invoice"] as const satisfies readonly CollectionRecord["method"][];
