/**
 * The wallet's commands besides running it: `peage wallet init | history | balance | statement |
 * rules | open`. They show what the wallet's pages show (the same @peage/wallet UserPages), each
 * as text or as one JSON document (--json). Init asks for the auto-accept rules, or takes them
 * as flags: none is on until chosen, so by default every payment is shown to the user.
 */
import { createInterface } from "node:readline/promises";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatPrice, isCurrencyCode, parseDecimal, type CurrencyCode, type Price } from "@peage/protocol";
import type { AutoAcceptRules, Rules } from "@peage/wallet";
import type { Options, OptionSpec } from "../args.js";
import type { Command } from "../command.js";
import { readInput } from "../files.js";
import { note, print, printJson } from "../output.js";
import { readPassphrase } from "./wallet-passphrase.js";

const dataOption: OptionSpec = { type: "string", value: "DIR", description: "the wallet's data directory" };
const passphraseOption: OptionSpec = {
  type: "string",
  value: "FILE",
  description: "read the passphrase from FILE (default: the PEAGE_PASSPHRASE environment variable)",
};
const jsonOption: OptionSpec = { type: "boolean", description: "print one JSON document on stdout" };

/** The rule flags of `init` and `rules`: an amount ("1.50", home currency; or "1.50 USD"), or "off". */
const ruleOptions: Record<string, OptionSpec> = {
  "auto-per-payment": { type: "string", value: "AMOUNT|off", description: "pay without asking up to AMOUNT per payment" },
  "auto-per-publisher-day": {
    type: "string",
    value: "AMOUNT|off",
    description: "… while a publisher's payments today stay within AMOUNT",
  },
  "auto-per-publisher-month": {
    type: "string",
    value: "AMOUNT|off",
    description: "… while a publisher's payments this month stay within AMOUNT",
  },
  "auto-since-confirmation": {
    type: "string",
    value: "AMOUNT|off",
    description: "… while payments since your last approval stay within AMOUNT",
  },
  "auto-consecutive": { type: "string", value: "N|off", description: "… for at most N payments in a row" },
  "auto-psd2": {
    type: "boolean",
    description: "the PSD2 low-value preset: 30 EUR a payment, 100 EUR or 5 payments between approvals",
  },
  "auto-off": { type: "boolean", description: "no auto-accept at all: every payment is shown (the default)" },
  "refuse-per-payment": { type: "string", value: "AMOUNT|off", description: "refuse without asking above AMOUNT per payment" },
};

const autoNames = [
  ["auto-per-payment", "perPayment"],
  ["auto-per-publisher-day", "perPublisherPerDay"],
  ["auto-per-publisher-month", "perPublisherPerMonth"],
  ["auto-since-confirmation", "sinceConfirmation"],
] as const;

/** The rules after the flags given; `changed` false when no rule flag was given. */
export function rulesFromFlags(o: Options, current: Rules, home: CurrencyCode, psd2: Rules): { rules: Rules; changed: boolean } {
  const given = Object.keys(ruleOptions).filter((name) => o.values[name] !== undefined && o.values[name] !== false);
  if (given.length === 0) return { rules: current, changed: false };
  if (o.flag("auto-off") && given.some((name) => name.startsWith("auto-") && name !== "auto-off"))
    throw o.usage("--auto-off cannot be combined with other --auto-… rules");
  let auto: Record<string, unknown> | null = o.flag("auto-psd2")
    ? { ...psd2.autoAccept }
    : current.autoAccept
      ? { ...current.autoAccept }
      : {};
  for (const [flag, key] of autoNames) {
    const text = o.string(flag);
    if (text === undefined) continue;
    if (text === "off") delete auto[key];
    else auto[key] = amount(o, flag, text, home);
  }
  const consecutive = o.string("auto-consecutive");
  if (consecutive === "off") delete auto["consecutive"];
  else if (consecutive !== undefined) {
    if (!/^\d{1,6}$/.test(consecutive))
      throw o.usage(`--auto-consecutive must be a whole number or off, got ${JSON.stringify(consecutive)}`);
    auto["consecutive"] = Number(consecutive);
  }
  if (o.flag("auto-off") || Object.keys(auto).length === 0) auto = null;
  const refuseText = o.string("refuse-per-payment");
  const { perPayment: _previous, ...otherRefusals } = current.refuse;
  const refuse =
    refuseText === undefined
      ? current.refuse
      : refuseText === "off"
        ? otherRefusals
        : { ...otherRefusals, perPayment: amount(o, "refuse-per-payment", refuseText, home) };
  return { rules: { autoAccept: auto as AutoAcceptRules | null, refuse }, changed: true };
}

function amount(o: Options, flag: string, text: string, home: CurrencyCode): Price {
  const [value, currency = home] = text.trim().split(/\s+/);
  if (!isCurrencyCode(currency)) throw o.usage(`--${flag}: ${JSON.stringify(currency)} is not an ISO 4217 currency code`);
  try {
    return { amount: parseDecimal(value ?? "", currency), currency };
  } catch (error) {
    throw o.usage(`--${flag}: ${(error as Error).message}; write an amount such as 1.50 or "1.50 ${currency}", or off`);
  }
}

/** The rules in words, one line each. */
export function describeRules(rules: Rules): string[] {
  const lines: string[] = [];
  const auto = rules.autoAccept;
  if (auto === null) lines.push("auto-accept: none; every payment is shown to you");
  else {
    const words: Record<"perPayment" | "perPublisherPerDay" | "perPublisherPerMonth" | "sinceConfirmation", string> = {
      perPayment: "up to %s per payment",
      perPublisherPerDay: "while a publisher's payments today stay within %s",
      perPublisherPerMonth: "while a publisher's payments this month stay within %s",
      sinceConfirmation: "while payments since your last approval stay within %s",
    };
    for (const [key, text] of Object.entries(words)) {
      const limit = auto[key as keyof typeof words] as Price | undefined;
      if (limit) lines.push(`auto-accept ${text.replace("%s", formatPrice(limit))}`);
    }
    if (auto.consecutive !== undefined) lines.push(`auto-accept at most ${auto.consecutive} payment(s) in a row`);
  }
  if (rules.refuse.perPayment) lines.push(`refuse without asking above ${formatPrice(rules.refuse.perPayment)} per payment`);
  if (rules.refuse.perPublisherPerDay)
    lines.push(`refuse above ${formatPrice(rules.refuse.perPublisherPerDay)} per publisher per day`);
  if (rules.refuse.perPublisherPerMonth)
    lines.push(`refuse above ${formatPrice(rules.refuse.perPublisherPerMonth)} per publisher per month`);
  return lines;
}

const initCommand: Command = {
  spec: {
    name: "wallet init",
    title: "set up a wallet: its key, its server, its rules",
    summary:
      "Create the wallet in DIR: a new signing key sealed with the passphrase, the payment server it pays at and the roots it trusts. " +
      "With --operator-key-file the key is enrolled at the server at once (as a prepaid account); otherwise its public key is written " +
      "to DIR/public-key.jwk for the server's operator to enrol. Auto-accept rules are off until chosen: in a terminal, init asks; " +
      "scripts give the --auto-… flags. Without a rule every payment is shown to you.",
    synopsis:
      "--data DIR --user URN --server-url URL --server-id URN --home-currency CODE --roots FILE [--passphrase-file FILE] " +
      "[--operator-key-file FILE] [--pc-store DIR [--pc-store-tcti TCTI]] [rules…] [--json]",
    options: {
      data: dataOption,
      user: { type: "string", value: "URN", description: "who you are: urn:peage:user:<name>" },
      "server-url": { type: "string", value: "URL", description: "the payment server's URL" },
      "server-id": { type: "string", value: "URN", description: "the identity its certificate carries: urn:peage:server:<name>" },
      "home-currency": { type: "string", value: "CODE", description: "your account's currency (ISO 4217)" },
      roots: { type: "string", value: "FILE", description: "the PEM bundle of the roots to trust" },
      "passphrase-file": passphraseOption,
      "operator-key-file": { type: "string", value: "FILE", description: "the server operator's API key: enrol the key now" },
      "pc-store": {
        type: "string",
        value: "DIR",
        description: "pay offline with the PC store in DIR (made by `peage pcstore init`), as with a card",
      },
      "pc-store-tcti": {
        type: "string",
        value: "TCTI",
        description: "the TPM the PC store is anchored in (default: $TPM2TOOLS_TCTI, else the PC's own)",
      },
      ...ruleOptions,
      json: jsonOption,
    },
  },
  async run(o) {
    const wallet = await import("@peage/wallet");
    const dir = o.required("data", "DIR");
    const home = o.required("home-currency", "CODE");
    if (!isCurrencyCode(home)) throw o.usage(`--home-currency must be an ISO 4217 code, got ${JSON.stringify(home)}`);
    const chosen = rulesFromFlags(o, wallet.ASK_EVERY_TIME_RULES, home, wallet.PSD2_LOW_VALUE_RULES);
    const asks = !chosen.changed && process.stdin.isTTY && !o.flag("json");
    const pcStoreDir = o.string("pc-store");
    const tcti = o.string("pc-store-tcti");
    if (tcti !== undefined && pcStoreDir === undefined) throw o.usage("--pc-store-tcti goes with --pc-store DIR");
    const rules = asks ? await askRules(home, wallet.ASK_EVERY_TIME_RULES) : chosen.rules;
    const init = await wallet.initWallet(dir, {
      passphrase: await readPassphrase(o),
      user: o.required("user", "URN"),
      serverUrl: o.required("server-url", "URL"),
      serverId: o.required("server-id", "URN"),
      homeCurrency: home,
      trustRootsPem: o.required("roots", "FILE"),
      rules,
      ...(pcStoreDir !== undefined && { pcStore: { dir: pcStoreDir, ...(tcti !== undefined && { tcti }) } }),
    });
    const jwkFile = join(init.dir, "public-key.jwk");
    await writeFile(jwkFile, `${JSON.stringify(init.publicJwk, null, 2)}\n`);
    const operatorKeyFile = o.string("operator-key-file");
    const enrolled = operatorKeyFile !== undefined;
    if (enrolled)
      await enrol(
        init.config.server.url,
        (await readInput(operatorKeyFile, "--operator-key-file")).trim(),
        init.user,
        init.publicJwk,
        home,
      );
    const result = {
      dir: init.dir,
      user: init.user,
      kid: init.kid,
      publicKeyFile: jwkFile,
      enrolled,
      rules: init.config.rules,
      ...(init.config.pcStore && { pcStore: init.config.pcStore }),
    };
    if (o.flag("json")) return printJson(result);
    print(`wallet created in ${init.dir} for ${init.user} (key ${init.kid})`, ...describeRules(init.config.rules));
    if (init.config.pcStore)
      note(
        `it pays offline with the PC store in ${init.config.pcStore.dir}; send its log with: peage wallet sync --data ${init.dir}`,
      );
    if (!enrolled)
      note(`give ${jwkFile} to the payment server's operator to enrol your key, then run: peage wallet --data ${init.dir}`);
  },
};

/** Init in a terminal: one question, the amount to let pass without asking (empty: ask every time). */
async function askRules(home: CurrencyCode, none: Rules): Promise<Rules> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const answer = (
        await rl.question(`Pay small amounts without asking? Up to how much per payment, in ${home} (empty: always ask me)? `)
      ).trim();
      if (answer === "") return none;
      try {
        return { autoAccept: { perPayment: { amount: parseDecimal(answer, home), currency: home } }, refuse: {} };
      } catch (error) {
        process.stderr.write(`${(error as Error).message}\n`);
      }
    }
  } finally {
    rl.close();
  }
}

async function enrol(serverUrl: string, apiKey: string, user: string, publicKey: unknown, homeCurrency: string): Promise<void> {
  const response = await fetch(`${serverUrl}/v1/admin/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ user, publicKey, mode: "prepaid", homeCurrency }),
    signal: AbortSignal.timeout(15_000),
  });
  if (response.status >= 300) {
    const body = (await response.json().catch(() => ({}))) as { code?: string; detail?: string };
    throw Object.assign(
      new Error(
        `the server did not enrol the key (${response.status}): ${body.detail ?? "no detail"}; the wallet is created, enrol public-key.jwk by hand`,
      ),
      {
        code: body.code ?? "ERR_SERVER_UNAVAILABLE",
      },
    );
  }
}

/** Opens the wallet to read its pages: the key signs the requests for the server's records. */
export async function openPages(o: Options) {
  const wallet = await import("@peage/wallet");
  const opened = await wallet.createWallet({
    dir: o.required("data", "DIR"),
    passphrase: await readPassphrase(o),
    prompt: new wallet.NobodyPrompt(),
    // The pages pay nothing: a PC store the running wallet holds stays with it.
    withoutDevice: true,
  });
  return { opened, pages: new wallet.UserPages(opened) };
}

export const readOptions = { data: dataOption, "passphrase-file": passphraseOption, json: jsonOption };

const historyCommand: Command = {
  spec: {
    name: "wallet history",
    title: "the payments of this wallet, with their acknowledgments checked",
    summary:
      "List the wallet's decisions merged with the payment server's record of your payments (a request signed with your key), newest first; " +
      "each paid one with its acknowledgment verified again offline, and whether it was approved by you or auto-accepted.",
    synopsis: "--data DIR [--passphrase-file FILE] [--json]",
    options: readOptions,
  },
  async run(o) {
    const { opened, pages } = await openPages(o);
    try {
      const history = await pages.history();
      if (o.flag("json")) return printJson(history);
      if (history.serverError) note(`the payment server could not be asked: ${history.serverError}`);
      if (history.lines.length === 0) return print("no payments yet");
      for (const l of history.lines) {
        const money = `${l.charged?.decimal ?? l.price.decimal} ${l.charged?.currency ?? l.price.currency}`;
        const ack = `${l.acknowledgment ? ` acknowledgment ${l.acknowledgment}` : ""}${l.rule ? ` (${l.rule})` : ""}${l.mandate ? ` mandate ${l.mandate}` : ""}`;
        print(
          `${l.date}  ${money.padStart(12)}  ${l.outcome.padEnd(8)} ${(l.consent ?? "server").padEnd(8)} ${l.description ?? l.publisher}${ack}`,
        );
      }
    } finally {
      opened.close();
    }
  },
};

const balanceCommand: Command = {
  spec: {
    name: "wallet balance",
    title: "the balance, or the limit and what is left this month",
    summary:
      "Ask the payment server for your account (a request signed with your key): a prepaid balance, or a postpaid limit, its use and what is left this month.",
    synopsis: "--data DIR [--passphrase-file FILE] [--json]",
    options: readOptions,
  },
  async run(o) {
    const { opened, pages } = await openPages(o);
    try {
      const account = await pages.account();
      if (o.flag("json")) return printJson(account);
      for (const [key, value] of Object.entries(account)) {
        const money = value as { decimal?: string; currency?: string } | null;
        const shown =
          typeof money === "object" && money?.decimal !== undefined ? `${money.decimal} ${money.currency}` : String(value);
        print(`${key.padEnd(14)} ${shown}`);
      }
    } finally {
      opened.close();
    }
  },
};

const statementCommand: Command = {
  spec: {
    name: "wallet statement",
    title: "a month's statement, with what each payment was for",
    summary:
      "The payment server's payments of one month (UTC) with the offers' descriptions, which only your wallet knows, and the totals per " +
      "currency; a refunded payment is marked with what it gave back, and a prepaid account's month opens and closes with its balance, " +
      "its top-ups and refunds listed.",
    synopsis: "--data DIR --period YYYY-MM [--passphrase-file FILE] [--json]",
    options: { ...readOptions, period: { type: "string", value: "YYYY-MM", description: "the month" } },
  },
  async run(o) {
    const period = o.required("period", "YYYY-MM");
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw o.usage(`--period must be YYYY-MM, got ${JSON.stringify(period)}`);
    const { opened, pages } = await openPages(o);
    try {
      type Money = { decimal: string; currency: string };
      const statement = (await pages.statement(period)) as {
        lines: Array<Record<string, unknown>>;
        totals: Money[];
        openingBalance?: Money;
        closingBalance?: Money;
        movements?: Array<{ kind: string; date: string; amount: Money; description?: string | null }>;
      };
      if (o.flag("json")) return printJson(statement);
      const money = (m: Money) => `${m.decimal} ${m.currency}`.padStart(12);
      if (statement.openingBalance) print(`opening balance ${money(statement.openingBalance).trim()}`);
      for (const l of statement.lines) {
        const refunded = l["refunded"] as { amount: Money } | undefined;
        const mark = refunded ? ` (refunded: ${money(refunded.amount).trim()} given back)` : "";
        print(`${String(l["date"])}  ${money(l["charged"] as Money)}  ${String(l["description"] ?? l["publisher"])}${mark}`);
      }
      for (const m of statement.movements ?? [])
        print(`${m.date}  ${money(m.amount)}  ${m.kind === "topup" ? "prepaid top-up" : `refund: ${m.description ?? ""}`}`);
      for (const t of statement.totals) print(`total ${t.decimal} ${t.currency}`);
      if (statement.closingBalance) print(`closing balance ${money(statement.closingBalance).trim()}`);
    } finally {
      opened.close();
    }
  },
};

const rulesCommand: Command = {
  spec: {
    name: "wallet rules",
    title: "see or change when the wallet pays without asking",
    summary:
      "Print the wallet's rules, or change them with the flags below (amounts in the home currency unless one is named). A running wallet " +
      "keeps its rules until restarted; change them on its Rules page to apply them at once.",
    synopsis: "--data DIR [rules…] [--json]",
    options: { data: dataOption, ...ruleOptions, json: jsonOption },
  },
  async run(o) {
    const wallet = await import("@peage/wallet");
    const dir = o.required("data", "DIR");
    const config = await wallet.readConfig(dir);
    const { rules, changed } = rulesFromFlags(o, config.rules, config.homeCurrency, wallet.PSD2_LOW_VALUE_RULES);
    if (changed) await wallet.writeConfig(dir, { ...config, rules });
    if (o.flag("json")) return printJson({ rules, changed });
    print(...describeRules(rules));
  },
};

const openCommand: Command = {
  spec: {
    name: "wallet open",
    title: "open the running wallet's pages in the browser",
    summary:
      "Ask the running wallet (found through its endpoint file) for a new one-time link to its pages, print it, and open the browser on it where one can be opened.",
    synopsis: "[--endpoint-file FILE]",
    options: {
      "endpoint-file": {
        type: "string",
        value: "FILE",
        description: "the running wallet's endpoint file (default $PEAGE_WALLET_FILE or ~/.peage/wallet.json)",
      },
    },
  },
  async run(o) {
    const wallet = await import("@peage/wallet");
    const file = o.string("endpoint-file") ?? wallet.defaultEndpointFile();
    let endpoint: { url: string; token: string };
    try {
      endpoint = JSON.parse(await readInput(file, "--endpoint-file")) as { url: string; token: string };
    } catch {
      throw Object.assign(new Error(`no running wallet found through ${file}: start it with peage wallet --data DIR`), {
        code: "ERR_WALLET_UNAVAILABLE",
      });
    }
    const response = await fetch(`${endpoint.url}/v1/ui-link`, {
      method: "POST",
      headers: { authorization: `Bearer ${endpoint.token}` },
    });
    if (response.status !== 200)
      throw Object.assign(new Error(`the wallet at ${endpoint.url} gave no link (${response.status}): restart it`), {
        code: "ERR_WALLET_UNAVAILABLE",
      });
    const { url } = (await response.json()) as { url: string };
    print(url);
    wallet.browserOpener()?.(url);
  },
};

export const walletPageCommands: readonly Command[] = [
  initCommand,
  historyCommand,
  balanceCommand,
  statementCommand,
  rulesCommand,
  openCommand,
];
