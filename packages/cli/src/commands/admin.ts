/**
 * `peage admin …`: what an operator does at the payment server, over its operator API with a scoped
 * API key, instead of hand-written HTTP requests: enrol users, top up,
 * record deposits and mandates, set limits, suspend; name publishers and their bank accounts; list
 * payments and refund them; create, list, revoke and rotate API keys. Amounts are typed in the currency's usual unit ("12.50") and sent in
 * ISO 4217 minor units. Every command prints the server's answer, as JSON with --json.
 */
import { randomBytes } from "node:crypto";
import { exponentOf, formatPrice, parseCurrency, parseDecimal, type CurrencyCode, type Price } from "@peage/protocol";
import type { Options, OptionSpec } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { readInput } from "../files.js";
import { Operator, type HttpMethod } from "../operator-api.js";
import { print, printJson } from "../output.js";
import { accountBody, accountFlags, accountOptions, describeAccount } from "./admin-publisher-account.js";

/** Where the server and the API key come from when no option names them. */
export const SERVER_URL_ENV = "PEAGE_SERVER_URL";
export const API_KEY_ENV = "PEAGE_API_KEY";

const connection: Record<string, OptionSpec> = {
  server: { type: "string", value: "URL", description: `the payment server (default $${SERVER_URL_ENV})` },
  "key-file": {
    type: "string",
    value: "FILE",
    description: `the file holding the operator API key (default: the key in $${API_KEY_ENV})`,
  },
  json: { type: "boolean", description: "print the server's answer as JSON" },
};
const userOption: OptionSpec = { type: "string", value: "URN", description: "the user, urn:peage:user:…" };

/** A client of the server in --server (or $PEAGE_SERVER_URL) with the key in --key-file (or the environment variable `key.env`). */
export async function apiClientOf(o: Options, key: { readonly env: string; readonly missing: string }): Promise<Operator> {
  const url = o.string("server") ?? process.env[SERVER_URL_ENV];
  if (!url) throw o.usage(`the payment server is needed: give --server URL or set ${SERVER_URL_ENV}`);
  if (!/^https?:\/\/[^/]+/.test(url)) throw o.usage(`--server ${url}: expected an http:// or https:// URL`);
  const keyFile = o.string("key-file");
  const secret = keyFile !== undefined ? (await readInput(keyFile, "--key-file")).trim() : process.env[key.env];
  if (!secret) throw o.usage(key.missing);
  return new Operator(url.replace(/\/+$/, ""), secret);
}

const operatorOf = (o: Options) =>
  apiClientOf(o, {
    env: API_KEY_ENV,
    missing: `an operator API key is needed: give --key-file FILE or set ${API_KEY_ENV} (\`peage server --bootstrap-key FILE\` makes the first one)`,
  });

/** The user's URN as a path segment. */
function userPath(o: Options): string {
  const user = o.required("user", "URN");
  if (!/^urn:peage:user:[A-Za-z0-9._~-]{1,64}$/.test(user)) throw o.usage(`--user ${user}: expected urn:peage:user:NAME`);
  return `/v1/admin/users/${encodeURIComponent(user)}`;
}

/** A decimal amount in the currency's unit, as minor units ("12.50" EUR → 1250). */
function amountIn(o: Options, name: string, currency: CurrencyCode): number {
  const text = o.required(name, "AMOUNT");
  try {
    return parseDecimal(text, currency);
  } catch {
    const digits = exponentOf(currency);
    throw o.usage(
      `--${name} ${text}: expected an amount of ${currency} with at most ${digits} decimal${digits === 1 ? "" : "s"}, e.g. ${(12.5).toFixed(digits)}`,
    );
  }
}

/** The account's home currency, read from the server, for amounts given without one. */
async function homeCurrency(api: Operator, path: string): Promise<CurrencyCode> {
  const account = await api.call<{ homeCurrency: string }>("GET", path);
  return parseCurrency(account.homeCurrency);
}

interface Account {
  user: string;
  mode: string;
  status: string;
  homeCurrency: string;
  balance?: Price;
  monthlyLimit?: Price;
}

function printAccount(account: Account): void {
  const money = account.balance
    ? `balance ${formatPrice(account.balance)}`
    : account.monthlyLimit
      ? `monthly limit ${formatPrice(account.monthlyLimit)}`
      : "";
  print(`${account.user}  ${account.mode}  ${account.status}  ${account.homeCurrency}  ${money}`.trimEnd());
}

/** One admin command: its spec, and the request it makes with the options given. */
interface AdminCommand {
  readonly name: string;
  readonly title: string;
  readonly summary: string;
  readonly synopsis: string;
  readonly options: Record<string, OptionSpec>;
  request(o: Options, api: Operator): Promise<{ method: HttpMethod; path: string; body?: unknown }>;
  show(answer: unknown): void;
}

export function command(spec: AdminCommand): Command {
  return {
    spec: {
      name: `admin ${spec.name}`,
      title: spec.title,
      summary: spec.summary,
      synopsis: [spec.synopsis, "[--server URL] [--key-file FILE] [--json]"].filter(Boolean).join(" "),
      options: { ...spec.options, ...connection },
    },
    async run(o) {
      const api = await operatorOf(o);
      const { method, path, body } = await spec.request(o, api);
      const answer = await api.call(method, path, body);
      if (o.flag("json")) printJson(answer);
      else spec.show(answer);
    },
  };
}

const idempotency: OptionSpec = {
  type: "string",
  value: "KEY",
  description: "credit once however often the command is retried (default: a new random key)",
};

function idempotencyKey(o: Options): string {
  const key = o.string("idempotency-key") ?? `cli-${randomBytes(12).toString("hex")}`;
  if (!/^[A-Za-z0-9._:-]{8,128}$/.test(key)) throw o.usage("--idempotency-key: 8 to 128 letters, digits or . _ : -");
  return key;
}

const enrol = command({
  name: "enrol",
  title: "enrol a user with their wallet's public key",
  summary:
    "Enrol a user: their wallet's public key (the JWK file the wallet shows), prepaid (a balance to top up) or postpaid " +
    "(a monthly limit, optionally a deposit to pay first).",
  synopsis: "--user URN --public-key FILE --currency CUR (--prepaid | --postpaid --limit AMOUNT [--deposit AMOUNT])",
  options: {
    user: userOption,
    "public-key": { type: "string", value: "FILE", description: "the wallet's public key, a JWK (P-256 or Ed25519)" },
    currency: { type: "string", value: "CUR", description: "the account's home currency (ISO 4217)" },
    prepaid: { type: "boolean", description: "a prepaid account" },
    postpaid: { type: "boolean", description: "a postpaid account, billed each month" },
    limit: { type: "string", value: "AMOUNT", description: "postpaid: the monthly limit" },
    deposit: { type: "string", value: "AMOUNT", description: "postpaid: a deposit to be paid before any payment goes through" },
  },
  async request(o) {
    const path = userPath(o);
    const mode = o.exactlyOne("prepaid", "postpaid");
    const currency = parseCurrencyOption(o);
    const publicKey = await publicKeyOf(o);
    if (mode === "prepaid" && (o.string("limit") ?? o.string("deposit")) !== undefined)
      throw o.usage("--limit and --deposit are for --postpaid accounts");
    const postpaid = mode === "postpaid" ? { monthlyLimit: amountIn(o, "limit", currency) } : {};
    const deposit =
      mode === "postpaid" && o.string("deposit") !== undefined ? { depositRequired: amountIn(o, "deposit", currency) } : {};
    const user = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
    return {
      method: "POST",
      path: "/v1/admin/users",
      body: { user, publicKey, mode, homeCurrency: currency, ...postpaid, ...deposit },
    };
  },
  show: (answer) => printAccount(answer as Account),
});

function parseCurrencyOption(o: Options): CurrencyCode {
  const text = o.required("currency", "CUR");
  try {
    return parseCurrency(text);
  } catch {
    throw o.usage(`--currency ${text}: expected an active ISO 4217 code such as EUR`);
  }
}

const userKey = command({
  name: "user-key",
  title: "replace a user's enrolled key (lost or compromised wallet)",
  summary:
    "Replace the public key enrolled for a user by their new wallet's: from then on only requests signed with the new key are accepted.",
  synopsis: "--user URN --public-key FILE",
  options: {
    user: userOption,
    "public-key": { type: "string", value: "FILE", description: "the new wallet's public key, a JWK" },
  },
  request: async (o) => ({ method: "PUT", path: `${userPath(o)}/key`, body: { publicKey: await publicKeyOf(o) } }),
  show: (answer) => printAccount(answer as Account),
});

/** The JWK in --public-key FILE. */
async function publicKeyOf(o: Options): Promise<unknown> {
  const text = await readInput(o.required("public-key", "FILE"), "--public-key");
  try {
    return JSON.parse(text);
  } catch {
    throw o.usage("--public-key: the file is not JSON; give the wallet's public key as a JWK");
  }
}

const user = command({
  name: "user",
  title: "show a user's account",
  summary: "Show a user's account: mode, status, home currency, balance or monthly limit and usage.",
  synopsis: "--user URN",
  options: { user: userOption },
  request: async (o) => ({ method: "GET", path: userPath(o) }),
  show: (answer) => printAccount(answer as Account),
});

function credit(kind: "topup" | "deposit"): Command {
  return command({
    name: kind,
    title: kind === "topup" ? "credit a prepaid balance" : "record a postpaid account's deposit",
    summary:
      (kind === "topup" ? "Credit a prepaid user's balance" : "Record the deposit a postpaid user paid") +
      " with AMOUNT of their home currency. Retrying with the same --idempotency-key credits once.",
    synopsis: "--user URN --amount AMOUNT [--idempotency-key KEY]",
    options: {
      user: userOption,
      amount: { type: "string", value: "AMOUNT", description: "in the home currency, e.g. 10.00" },
      "idempotency-key": idempotency,
    },
    async request(o, api) {
      const path = userPath(o);
      const amount = amountIn(o, "amount", await homeCurrency(api, path));
      return {
        method: "POST",
        path: `${path}/${kind === "topup" ? "topups" : "deposits"}`,
        body: { amount, idempotencyKey: idempotencyKey(o) },
      };
    },
    show: (answer) => {
      const { id, amount, balance } = answer as { id: string; amount: Price; balance: Price };
      print(`${id}: ${formatPrice(amount)} credited; balance ${formatPrice(balance)}`);
    },
  });
}

const limit = command({
  name: "limit",
  title: "set a postpaid monthly limit",
  summary: "Set a postpaid user's monthly limit, in their home currency.",
  synopsis: "--user URN --limit AMOUNT",
  options: { user: userOption, limit: { type: "string", value: "AMOUNT", description: "the new monthly limit, e.g. 50.00" } },
  async request(o, api) {
    const path = userPath(o);
    return { method: "PUT", path: `${path}/limit`, body: { monthlyLimit: amountIn(o, "limit", await homeCurrency(api, path)) } };
  },
  show: (answer) => printAccount(answer as Account),
});

const mandate = command({
  name: "mandate",
  title: "record a postpaid user's SEPA direct debit mandate",
  summary:
    "Record the SEPA Core mandate a postpaid euro account signed: its bills are then collected by direct debit (pain.008).",
  synopsis: "--user URN --mandate-id ID --signed-on YYYY-MM-DD --name NAME --iban IBAN [--bic BIC]",
  options: {
    user: userOption,
    "mandate-id": { type: "string", value: "ID", description: "the mandate's unique reference (up to 35 characters)" },
    "signed-on": { type: "string", value: "YYYY-MM-DD", description: "the day the user signed it" },
    name: { type: "string", value: "NAME", description: "the account holder, as the bank knows them" },
    iban: { type: "string", value: "IBAN", description: "the account to debit" },
    bic: { type: "string", value: "BIC", description: "the bank's BIC" },
  },
  async request(o) {
    const bic = o.string("bic");
    const body = {
      mandateId: o.required("mandate-id", "ID"),
      signedOn: o.required("signed-on", "YYYY-MM-DD"),
      name: o.required("name", "NAME"),
      iban: o.required("iban", "IBAN").replaceAll(" ", ""),
      ...(bic !== undefined && { bic }),
    };
    return { method: "PUT", path: `${userPath(o)}/mandate`, body };
  },
  show: (answer) => printAccount(answer as Account),
});

function status(action: "suspend" | "reactivate"): Command {
  return command({
    name: action,
    title: action === "suspend" ? "suspend a user: their payments are refused" : "reactivate a suspended user",
    summary:
      action === "suspend"
        ? "Suspend a user's account: every payment is refused until it is reactivated."
        : "Reactivate a suspended account.",
    synopsis: "--user URN",
    options: { user: userOption },
    request: async (o) => ({ method: "POST", path: `${userPath(o)}/${action}` }),
    show: (answer) => printAccount(answer as Account),
  });
}

export const publisherOption: OptionSpec = { type: "string", value: "URN", description: "the publisher, urn:peage:publisher:…" };

export function publisherPath(o: Options): string {
  const publisher = o.required("publisher", "URN");
  if (!/^urn:peage:publisher:[A-Za-z0-9._~-]{1,64}$/.test(publisher))
    throw o.usage(`--publisher ${publisher}: expected urn:peage:publisher:NAME`);
  return `/v1/admin/publishers/${encodeURIComponent(publisher)}`;
}

interface Publisher {
  publisher: string;
  name: string;
  country: string;
  iban?: string;
  bic?: string;
  domestic?: Record<string, string>;
  payoutCurrency?: string;
}

const showPublisher = (p: Publisher) => print(`${p.publisher}  ${p.name} (${p.country})  ${describeAccount(p)}`);

const publisher = command({
  name: "publisher",
  title: "name a publisher and its bank account, or show it",
  summary:
    "With --name and --country, record the publisher's display name, country and bank account, which its payouts are sent to: " +
    "an IBAN (and BIC), or in a country without IBAN its own identifiers (US --routing-number --account-number --account-type; " +
    "CA --institution --transit --account-number; AU --bsb --account-number; IN --ifsc --account-number; " +
    "JP --bank-code --branch-code --account-number --account-type); with --payout-currency, what it earns in other currencies " +
    "is converted at settlement. The record is replaced whole. Without --name, show what is recorded.",
  synopsis:
    "--publisher URN [--name NAME --country CC [--iban IBAN [--bic BIC] | --routing-number N --account-number N …] [--payout-currency CCY]]",
  options: {
    publisher: publisherOption,
    name: { type: "string", value: "NAME", description: "the name shown on statements and bank files" },
    country: { type: "string", value: "CC", description: "ISO 3166-1 alpha-2 country" },
    ...accountOptions,
  },
  async request(o) {
    const path = publisherPath(o);
    const name = o.string("name");
    if (name === undefined) {
      if (["country", ...accountFlags].some((k) => o.string(k) !== undefined))
        throw o.usage("--name NAME is required to change a publisher");
      return { method: "GET", path };
    }
    const country = o.required("country", "CC");
    const body = { name, country, ...accountBody(o, country) };
    return { method: "PUT", path, body };
  },
  show: (answer) => showPublisher(answer as Publisher),
});

const publishers = command({
  name: "publishers",
  title: "list the publishers",
  summary: "List every publisher with its name and bank account.",
  synopsis: "",
  options: {},
  request: async () => ({ method: "GET", path: "/v1/admin/publishers" }),
  show: (answer) => {
    const list = (answer as { publishers: Publisher[] }).publishers;
    if (list.length === 0)
      print("no publisher is recorded: add one with peage admin publisher --publisher URN --name NAME --country CC");
    list.forEach(showPublisher);
  },
});

interface PaymentView {
  paymentId: string;
  user: string;
  publisher: string;
  charged: Price;
  serverTime: string;
}

const payments = command({
  name: "payments",
  title: "list payments, oldest first",
  summary: "List the payments the server recorded, oldest first, one page at a time (--cursor from the previous page).",
  synopsis: "[--user URN] [--publisher URN] [--limit N] [--cursor CURSOR]",
  options: {
    user: userOption,
    publisher: publisherOption,
    limit: { type: "string", value: "N", description: "at most N payments (1 to 500, default 100)" },
    cursor: { type: "string", value: "CURSOR", description: "the next page, as the previous one gave it" },
  },
  async request(o) {
    const query = new URLSearchParams();
    for (const name of ["user", "publisher", "cursor"]) {
      const value = o.string(name);
      if (value !== undefined) query.set(name, value);
    }
    query.set("limit", String(o.integer("limit", 1, 500, 100)));
    return { method: "GET", path: `/v1/admin/payments?${query}` };
  },
  show: (answer) => {
    const page = answer as { payments: PaymentView[]; nextCursor?: string };
    for (const p of page.payments)
      print(`${p.serverTime}  ${p.paymentId}  ${p.user} → ${p.publisher}  ${formatPrice(p.charged)}`);
    if (page.nextCursor) print(`more: --cursor ${page.nextCursor}`);
  },
});

const refund = command({
  name: "refund",
  title: "refund a payment in full",
  summary:
    "Refund a payment in full: the user is credited what they were charged and the publisher's earnings are reduced. A payment is refunded once.",
  synopsis: "--payment ID --reason TEXT",
  options: {
    payment: { type: "string", value: "ID", description: "the payment's id (peage admin payments lists them)" },
    reason: { type: "string", value: "TEXT", description: "why, kept with the refund" },
  },
  async request(o) {
    const payment = o.required("payment", "ID");
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(payment)) throw o.usage(`--payment ${payment}: not a payment id`);
    return { method: "POST", path: `/v1/admin/payments/${payment}/refund`, body: { reason: o.required("reason", "TEXT") } };
  },
  show: (answer) => {
    const r = answer as { refundId: string; paymentId: string; charged: Price; user: string };
    print(`${r.refundId}: ${r.paymentId} refunded, ${formatPrice(r.charged)} back to ${r.user}`);
  },
});

interface ApiKeyView {
  id: string;
  scopes: string[];
  label: string;
  createdAt: string;
  secret?: string;
}

const showKey = (k: ApiKeyView) => print(`${k.id}  ${k.label}  ${k.scopes.join(" ")}  created ${k.createdAt}`);
const showNewKey = (answer: unknown) => {
  const key = answer as ApiKeyView;
  showKey(key);
  print(`secret (shown once, keep it in a file only you can read): ${key.secret}`);
};

function keyPath(o: Options): string {
  const id = o.required("id", "KEY-ID");
  if (!/^key_[A-Za-z0-9_-]{1,64}$/.test(id))
    throw o.usage(`--id ${id}: expected an API key id, key_… (peage admin keys lists them)`);
  return `/v1/admin/api-keys/${id}`;
}

const keyId: OptionSpec = { type: "string", value: "KEY-ID", description: "the key's id, key_… (not its secret)" };

const keyCreate = command({
  name: "key-create",
  title: "create an operator API key with the scopes a job needs",
  summary:
    "Create an API key with the given scopes and a label saying what it is for; its secret is printed once and never stored.",
  synopsis: "--scope SCOPE... --label TEXT",
  options: {
    scope: {
      type: "string",
      multiple: true,
      value: "SCOPE",
      description:
        "users:read, users:write, funds:write, payments:read, payments:refund, publishers:read, publishers:write, keys:read, keys:write, webhooks:read or webhooks:write",
    },
    label: { type: "string", value: "TEXT", description: "what the key is for" },
  },
  async request(o) {
    const scopes = o.strings("scope");
    if (scopes.length === 0) throw o.usage("give at least one --scope SCOPE");
    return { method: "POST", path: "/v1/admin/api-keys", body: { scopes, label: o.required("label", "TEXT") } };
  },
  show: showNewKey,
});

const keys = command({
  name: "keys",
  title: "list the operator API keys",
  summary: "List the API keys with their scopes and labels (their secrets are not stored, so never shown).",
  synopsis: "",
  options: {},
  request: async () => ({ method: "GET", path: "/v1/admin/api-keys" }),
  show: (answer) => (answer as { apiKeys: ApiKeyView[] }).apiKeys.forEach(showKey),
});

const keyRevoke = command({
  name: "key-revoke",
  title: "revoke an operator API key",
  summary: "Revoke an API key: its secret stops working at once.",
  synopsis: "--id KEY-ID",
  options: { id: keyId },
  request: async (o) => ({ method: "DELETE", path: keyPath(o) }),
  show: (answer) => print(`${(answer as { id: string }).id} revoked`),
});

const keyRotate = command({
  name: "key-rotate",
  title: "replace an operator API key by a new secret",
  summary:
    "Replace an API key by a new one with the same scopes and label, in one step: the old secret stops working as the new one starts.",
  synopsis: "--id KEY-ID",
  options: { id: keyId },
  request: async (o) => ({ method: "POST", path: `${keyPath(o)}/rotate` }),
  show: showNewKey,
});

export const admin: CommandGroup = {
  name: "admin",
  summary: "administer the payment server over its operator API with an API key",
  commands: [
    enrol,
    userKey,
    user,
    credit("topup"),
    credit("deposit"),
    limit,
    mandate,
    status("suspend"),
    status("reactivate"),
    publisher,
    publishers,
    payments,
    refund,
    keyCreate,
    keys,
    keyRevoke,
    keyRotate,
  ],
};
