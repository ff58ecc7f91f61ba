/**
 * `peage admin cards | card | card-block | card-unblock | card-ceiling | card-reload`: the operator's
 * hold on the cards its server issued (docs/card.md), over the card desk's operator routes: the
 * list with each card's state and money, one card's usage log as synced and its incidents (forks,
 * refused uploads, blocks), a card blocked or unblocked with the reason, a postpaid card's ceiling
 * and a prepaid card's reload. Amounts are typed in the currency's usual unit ("12.50").
 */
import { formatPrice, parseCurrency, type Price } from "@peage/protocol";
import type { Options, OptionSpec } from "../args.js";
import type { Command } from "../command.js";
import type { Operator } from "../operator-api.js";
import { print } from "../output.js";
import { amountIn, command, idempotency, idempotencyKey } from "./admin.js";

const cardOption: OptionSpec = {
  type: "string",
  value: "URN",
  description: "the card, urn:peage:card:… (peage admin cards lists them)",
};
const reasonOption: OptionSpec = { type: "string", value: "TEXT", description: "why, kept in the card's incidents" };

/** The card's URN as a path segment. */
function cardPath(o: Options): string {
  const card = o.required("card", "URN");
  if (!/^urn:peage:card:[a-z0-9][a-z0-9._-]{0,62}$/.test(card))
    throw o.usage(`--card ${card}: expected urn:peage:card:NAME (peage admin cards lists them)`);
  return `/v1/cards/${encodeURIComponent(card)}`;
}

interface Summary {
  card: string;
  user: string;
  mode: string;
  status: string;
  blockedReason?: string;
  balance?: Price;
  ceiling?: Price;
  entries: number;
  lastSyncAt?: string;
}

interface Account extends Summary {
  currency: string;
  deposit: Price;
  syncedCounter: number;
  pendingReloads: { id: string; amount: Price }[];
  incidents: { kind: string; detail: unknown; createdAt: string }[];
}

const money = (card: Summary) =>
  card.balance ? `balance ${formatPrice(card.balance)}` : card.ceiling ? `ceiling ${formatPrice(card.ceiling)}` : "";

function showSummary(card: Summary): void {
  const blocked = card.blockedReason ? ` (${card.blockedReason})` : "";
  const synced = card.lastSyncAt ? `last sync ${card.lastSyncAt}` : "never synced";
  print(`${card.card}  ${card.user}  ${card.mode}  ${card.status}${blocked}  ${money(card)}  ${card.entries} entries  ${synced}`);
}

function showAccount(account: Account): void {
  const blocked = account.blockedReason ? ` (${account.blockedReason})` : "";
  print(`${account.card}  ${account.user}  ${account.mode}  ${account.status}${blocked}`);
  if (account.ceiling) print(`ceiling ${formatPrice(account.ceiling)}, deposit ${formatPrice(account.deposit)}`);
  print(`log synced up to counter ${account.syncedCounter}${account.lastSyncAt ? `, last sync ${account.lastSyncAt}` : ""}`);
  for (const reload of account.pendingReloads)
    print(`reload ${reload.id} of ${formatPrice(reload.amount)}: loaded at the next sync`);
  for (const incident of account.incidents)
    print(`incident ${incident.createdAt} ${incident.kind}: ${JSON.stringify(incident.detail)}`);
}

const cards = command({
  name: "cards",
  title: "list the cards the server issued",
  summary:
    "List the cards registered at the server's card desk: user, mode, state (and why blocked), prepaid balance or postpaid " +
    "ceiling, log entries synced and the last sync. --cursor continues after the page's last card.",
  synopsis: "[--status active|blocked] [--limit N] [--cursor URN]",
  options: {
    status: { type: "string", value: "active|blocked", description: "only the cards in this state" },
    limit: { type: "string", value: "N", description: "cards per page, 1 to 500 (default 100)" },
    cursor: { type: "string", value: "URN", description: "the nextCursor of the page before" },
  },
  async request(o) {
    const status = o.string("status");
    if (status !== undefined && status !== "active" && status !== "blocked")
      throw o.usage(`--status ${status}: expected active or blocked`);
    const cursor = o.string("cursor");
    const query = new URLSearchParams({
      limit: String(o.integer("limit", 1, 500, 100)),
      ...(status !== undefined && { status }),
      ...(cursor !== undefined && { cursor }),
    });
    return { method: "GET", path: `/v1/cards?${query}` };
  },
  show: (answer) => {
    const page = answer as { cards: Summary[]; nextCursor?: string };
    page.cards.forEach(showSummary);
    if (page.cards.length === 0) print("no card");
    if (page.nextCursor) print(`more: --cursor ${page.nextCursor}`);
  },
});

/** Every entry of the card's log as synced, page after page. */
async function entriesOf(api: Operator, path: string): Promise<unknown[]> {
  const entries: unknown[] = [];
  let after = 0;
  for (;;) {
    const page = await api.call<{ entries: unknown[]; nextAfter?: number }>("GET", `${path}/entries?after=${after}&limit=500`);
    entries.push(...page.entries);
    if (page.nextAfter === undefined) return entries;
    after = page.nextAfter;
  }
}

const card = command({
  name: "card",
  title: "show a card: its account, its usage log as synced, its incidents",
  summary:
    "Show one card: its account (state, money, pending reloads), every entry of its usage log the server recorded, with " +
    "what the ledger answered, and its incidents: forks, rollbacks, refused uploads, blocks and unblocks, ceiling changes.",
  synopsis: "--card URN",
  options: { card: cardOption },
  request: async (o) => ({ method: "GET", path: cardPath(o) }),
  async answer(o, api) {
    const path = cardPath(o);
    return { account: await api.call("GET", path), entries: await entriesOf(api, path) };
  },
  show: (answer) => {
    const { account, entries } = answer as {
      account: Account;
      entries: { counter: number; paymentId: string; publisher: string; price: Price; booking: string }[];
    };
    showAccount(account);
    for (const e of entries) print(`#${e.counter}  ${e.paymentId}  ${e.publisher}  ${formatPrice(e.price)}  ${e.booking}`);
  },
});

function blocking(action: "block" | "unblock"): Command {
  return command({
    name: `card-${action}`,
    title: action === "block" ? "block a card: its syncs and reloads are refused" : "unblock a blocked card",
    summary:
      action === "block"
        ? "Block a card (lost, stolen, a user's request): the server refuses its syncs and reloads, saying why, and records " +
          "nothing from it until it is unblocked. A blocked card cannot be blocked again."
        : "Unblock a card blocked by the operator or by an incident (a forged or forked log), once it is investigated.",
    synopsis: "--card URN --reason TEXT",
    options: { card: cardOption, reason: reasonOption },
    request: async (o) => ({ method: "POST", path: `${cardPath(o)}/${action}`, body: { reason: o.required("reason", "TEXT") } }),
    show: (answer) => showAccount(answer as Account),
  });
}

/** The card's currency, read from the server, for amounts typed in its unit. */
async function currencyOf(api: Operator, path: string) {
  return parseCurrency((await api.call<{ currency: string }>("GET", path)).currency);
}

const cardCeiling = command({
  name: "card-ceiling",
  title: "set a postpaid card's ceiling",
  summary:
    "Set what a postpaid card may spend between two syncs, in its currency; the card receives it in the SYNC of its next " +
    "sync. A prepaid card has a balance instead (peage admin card-reload).",
  synopsis: "--card URN --ceiling AMOUNT",
  options: { card: cardOption, ceiling: { type: "string", value: "AMOUNT", description: "the new ceiling, e.g. 50.00" } },
  async request(o, api) {
    const path = cardPath(o);
    return { method: "PUT", path: `${path}/ceiling`, body: { ceiling: amountIn(o, "ceiling", await currencyOf(api, path)) } };
  },
  show: (answer) => showAccount(answer as Account),
});

const cardReload = command({
  name: "card-reload",
  title: "top up a prepaid card",
  summary:
    "Top up a prepaid card with AMOUNT of its currency: credited to the user now, loaded onto the card (a signed RELOAD) at " +
    "its next sync. Retrying with the same --idempotency-key credits once.",
  synopsis: "--card URN --amount AMOUNT [--idempotency-key KEY]",
  options: {
    card: cardOption,
    amount: { type: "string", value: "AMOUNT", description: "in the card's currency, e.g. 20.00" },
    "idempotency-key": idempotency,
  },
  async request(o, api) {
    const path = cardPath(o);
    const amount = amountIn(o, "amount", await currencyOf(api, path));
    return { method: "POST", path: `${path}/reloads`, body: { amount, idempotencyKey: idempotencyKey(o) } };
  },
  show: (answer) => {
    const { reload, account } = answer as { reload: { id: string; amount: Price }; account: Account };
    print(`${reload.id}: ${formatPrice(reload.amount)} for ${account.card}, loaded onto the card at its next sync`);
  },
});

/** Added to the `admin` group (cli.ts). */
export const cardAdmin: readonly Command[] = [cards, card, blocking("block"), blocking("unblock"), cardCeiling, cardReload];
