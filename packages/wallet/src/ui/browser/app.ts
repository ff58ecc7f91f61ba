/**
 * The wallet's pages in the browser (served as /ui/app.js, compiled from this file; no framework):
 * the consent window, the history, the balance and statement, the rules. Data comes from /ui/api
 * as JSON and is put on the page as text only (never as HTML). Amounts and dates are formatted
 * with Intl in the browser's language; English and French.
 */
import { texts, type Key } from "./texts.js";

type Lang = "en" | "fr";
interface Amount {
  amount: number;
  currency: string;
  decimal: string;
}
type Json = Record<string, unknown>;

const lang: Lang = navigator.language.toLowerCase().startsWith("fr") ? "fr" : "en";
const locale = navigator.language || "en";
const csrf = document.querySelector<HTMLMetaElement>('meta[name="peage-csrf"]')?.content ?? "";
const view = document.querySelector<HTMLMetaElement>('meta[name="peage-page"]')?.content ?? "consent";

function t(key: Key, values: Record<string, string | number> = {}): string {
  return texts[lang][key].replace(/\{(\w)\}/g, (_, name: string) => String(values[name] ?? ""));
}

/** An amount in the user's locale, from its exact decimal text (never through a float). */
function money(a: Amount): string {
  const digits = a.decimal.includes(".") ? a.decimal.split(".")[1]!.length : 0;
  const format = new Intl.NumberFormat(locale, {
    style: "currency",
    currency: a.currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return format.format(a.decimal as `${number}`);
}

function when(iso: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) if (value !== undefined) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

async function api(path: string, body?: Json): Promise<Json> {
  const init: RequestInit = body
    ? { method: "POST", headers: { "content-type": "application/json", "x-peage-csrf": csrf }, body: JSON.stringify(body) }
    : {};
  const response = await fetch(`/ui/api/${path}`, { ...init, credentials: "same-origin" });
  const value = (await response.json()) as Json;
  if (!response.ok) throw new Error(String(value["detail"] ?? response.status));
  return value;
}

const main = document.getElementById("main")!;
const status = document.getElementById("status")!;
function say(text: string): void {
  status.textContent = text;
}

// ---- The consent window -------------------------------------------------------------------

interface Pending {
  id: string;
  expiresAt: number;
  view: { description: string; publisher: string; grant: Json; reason: string; date: string; facts: Json };
}

let current: string | undefined;
let minVisibleMs = 1000;

function grantText(grant: Json): string {
  if (grant["kind"] === "launch") return t("launch");
  if (grant["kind"] === "period") {
    const s = Number(grant["seconds"]);
    return s % 60 === 0 ? t("minutes", { n: s / 60 }) : t("seconds", { n: s });
  }
  return t("event", { e: String(grant["event"]) });
}

/** The price as signed: a maximum (upto) says so, and a metered session names the price of each use. */
function priceText(facts: Json): string {
  const most = money(facts["price"] as unknown as Amount);
  if (facts["tick"]) return t("perUse", { t: money(facts["tick"] as unknown as Amount), p: most });
  return facts["upto"] === true ? t("upTo", { p: most }) : most;
}

function offerDetails(p: Pending): HTMLDListElement {
  const facts = p.view.facts;
  const name = typeof facts["publisherName"] === "string" ? facts["publisherName"] : p.view.publisher;
  const identity = el("details", {}, el("summary", {}, t("details")), el("code", {}, p.view.publisher));
  const rows: Array<[string, Node | string]> = [
    [t("publisher"), el("span", {}, el("strong", { id: "publisher-name" }, name), " ", identity)],
    [t("what"), el("span", { id: "description" }, p.view.description)],
    [t("price"), el("span", { class: "price", id: "price" }, priceText(facts))],
  ];
  const converted = facts["converted"] as Json | undefined;
  if (converted) {
    const to = converted["price"] as unknown as Amount;
    const r = Number(converted["rate"]).toLocaleString(locale, { maximumFractionDigits: 6 });
    const rate = t("rateAt", {
      f: (facts["price"] as unknown as Amount).currency,
      r,
      o: to.currency,
      d: String(converted["ratesDate"]),
    });
    rows.push([t("converted"), el("span", { id: "converted" }, `${money(converted["price"] as unknown as Amount)} ${rate}`)]);
  }
  rows.push([t("grants"), el("span", { id: "grant" }, grantText(p.view.grant))]);
  rows.push([t("why"), el("span", { id: "reason" }, whyAsked(p))]);
  const payWith = facts["payWith"] === "card" ? t("card") : `${t("server")} ${String(facts["server"])}`;
  rows.push([t("charged"), el("span", { id: "pay-with" }, payWith)]);
  return el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

/** Why the user is asked, in their language where the wallet says it by a fact, else in the rules' own words. */
function whyAsked(p: Pending): string {
  const facts = p.view.facts;
  const first = facts["firstPayment"] === true ? `${t("firstPayment")} ` : "";
  const reason = p.view.reason.replace(/^first payment to this publisher; /, "");
  return first + (facts["noRuleChosen"] === true ? t("noRule") : reason);
}

/** The card's PIN for an offer already approved: typed here, sent to the card as typed; the card counts the tries. */
function renderPin(p: Pending): void {
  current = p.id;
  const pin = p.view as unknown as { card: string; triesLeft: number; retry: boolean; offer: Pending["view"] };
  const input = el("input", {
    id: "pin",
    type: "password",
    inputmode: "numeric",
    autocomplete: "off",
    maxlength: "12",
  });
  const pay = el("button", { type: "submit", class: "approve", id: "approve" }, t("pinPay"));
  const cancel = el("button", { type: "button", id: "decline" }, t("pinCancel"));
  const tries = { n: pin.triesLeft };
  const form = el(
    "form",
    { class: "card", "aria-labelledby": "consent-title" },
    el("h1", { id: "consent-title" }, t("pinTitle")),
    el("p", { id: "pin-for" }, t("pinFor", { c: pin.card, p: priceText(pin.offer.facts), d: pin.offer.description })),
    el("p", { id: "pin-tries", class: pin.retry ? "error" : "muted" }, pin.retry ? t("pinWrong", tries) : t("pinTries", tries)),
    el("label", {}, t("pinLabel"), " ", input),
    el("div", { class: "actions" }, cancel, pay),
  );
  main.replaceChildren(form);
  cancel.addEventListener("click", () => void answer(p.id, false));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!/^\d{4,12}$/.test(input.value)) return say(t("pinBad"));
    const typed = input.value;
    input.value = "";
    void answer(p.id, true, typed);
  });
  input.focus();
}

function renderOffer(p: Pending, index: number, count: number): void {
  if ((p.view as unknown as Json)["kind"] === "pin") return renderPin(p);
  current = p.id;
  const mandate = (p.view as unknown as Json)["kind"] === "mandate";
  const approve = el("button", { type: "button", class: "approve", id: "approve", disabled: "" }, t("approve"));
  const decline = el("button", { type: "button", id: "decline" }, t("decline"));
  const deadline = new Intl.DateTimeFormat(locale, { timeStyle: "medium" }).format(new Date(p.expiresAt));
  const section = el(
    "section",
    { class: "card", "aria-labelledby": "consent-title", "aria-describedby": "description" },
    el("h1", { id: "consent-title" }, mandate ? t("mandateTitle") : t("approveTitle")),
    el("p", { class: "muted", id: "queue" }, t("ofQueue", { n: index, m: count })),
    mandate ? mandateDetails(p.view as unknown as Json) : offerDetails(p),
    el("p", { class: "muted", id: "deadline" }, t("timeout", { t: deadline })),
    el("p", { class: "muted", id: "wait-note" }, t("wait")),
    el("div", { class: "actions" }, decline, approve),
  );
  main.replaceChildren(section);
  decline.addEventListener("click", () => void answer(p.id, false));
  approve.addEventListener("click", () => void answer(p.id, true));
  decline.focus();
  armApprove(p.id, approve);
}

/** Approve works only after the offer has been visible for a moment (no click-through). */
function armApprove(id: string, approve: HTMLButtonElement): void {
  let timer: number | undefined;
  const arm = () => {
    if (current !== id) return document.removeEventListener("visibilitychange", arm);
    window.clearTimeout(timer);
    approve.disabled = true;
    if (document.visibilityState !== "visible") return;
    void api("shown", { id }).then(() => {
      timer = window.setTimeout(() => {
        if (current !== id || document.visibilityState !== "visible") return;
        approve.disabled = false;
        document.getElementById("wait-note")?.remove();
      }, minVisibleMs + 100);
    });
  };
  document.addEventListener("visibilitychange", arm);
  arm();
}

async function answer(id: string, approve: boolean, pin?: string): Promise<void> {
  try {
    await api("decide", { id, approve, ...(pin === undefined ? {} : { pin }) });
    say(approve ? t("approved") : t("declined"));
  } catch {
    say(t("gone"));
  }
  current = undefined;
  await poll();
}

async function poll(): Promise<void> {
  let data: Json;
  try {
    data = await api("pending");
  } catch (error) {
    say(t("error", { e: (error as Error).message }));
    return;
  }
  minVisibleMs = Number(data["minVisibleMs"] ?? 1000);
  const pending = data["pending"] as Pending[];
  const first = pending[0];
  if (first && first.id === current) {
    const queue = document.getElementById("queue");
    if (queue) queue.textContent = t("ofQueue", { n: 1, m: pending.length });
    return;
  }
  if (first) return renderOffer(first, 1, pending.length);
  current = undefined;
  main.replaceChildren(
    el("section", { class: "card" }, el("h1", {}, t("nothing")), el("p", { class: "muted" }, t("nothingHint"))),
  );
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && current) void answer(current, false);
});

// ---- History ----------------------------------------------------------------------------------

async function showHistory(): Promise<void> {
  const data = await api("history");
  const lines = data["lines"] as Json[];
  const head = el(
    "tr",
    {},
    ...[t("date"), t("description"), t("amount"), t("consent"), t("outcome"), t("ack")].map((h, i) =>
      el("th", i === 2 ? { class: "num", scope: "col" } : { scope: "col" }, h),
    ),
  );
  const rows = lines.map((line) => {
    const amount = (line["charged"] ?? line["price"]) as Amount;
    const outcome = String(line["outcome"]);
    const outcomeText = outcome === "declined" ? t("declinedOutcome") : t(outcome as Key);
    const consent = line["consent"] ? t(line["consent"] as Key) : t("serverOnly");
    return el(
      "tr",
      { "data-payment": typeof line["paymentId"] === "string" ? line["paymentId"] : undefined },
      el("td", { class: "date" }, when(String(line["date"]))),
      el(
        "td",
        {},
        String(line["description"] ?? line["publisher"]),
        el("br"),
        el("span", { class: "muted" }, String(line["publisher"])),
      ),
      el("td", { class: "num" }, money(amount), ...refundedMark(line)),
      el(
        "td",
        {},
        consent,
        ...(typeof line["rule"] === "string" ? [el("br"), el("span", { class: "muted rule" }, line["rule"])] : []),
        ...(typeof line["mandate"] === "string"
          ? [el("br"), el("span", { class: "muted", "data-mandate": line["mandate"] }, t("byMandate", { m: line["mandate"] }))]
          : []),
      ),
      el("td", {}, outcomeText),
      ackCell(line),
    );
  });
  const table = lines.length ? el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)) : el("p", {}, t("noHistory"));
  const note = data["serverError"]
    ? el("p", { class: "muted", id: "server-error" }, t("serverError", { e: String(data["serverError"]) }))
    : "";
  main.replaceChildren(el("h1", {}, t("history")), note, table);
}

/** A refunded payment says so under its amount, with what it gave back. */
function refundedMark(line: Json): Node[] {
  const refunded = line["refunded"] as { amount: Amount } | undefined;
  if (!refunded) return [];
  const paymentId = typeof line["paymentId"] === "string" ? line["paymentId"] : "";
  return [
    el("br"),
    el("span", { class: "refunded", "data-refunded": paymentId }, t("refundedMark", { a: money(refunded.amount) })),
  ];
}

function ackCell(line: Json): HTMLTableCellElement {
  const state = line["acknowledgment"] as "verified" | "invalid" | "absent" | undefined;
  if (!state) return el("td", {}, "");
  const cell = el("td", {}, el("span", { class: state === "absent" ? "muted" : state, "data-ack": state }, t(state)));
  if (state !== "absent" && typeof line["id"] === "number") {
    cell.append(
      " · ",
      el(
        "a",
        { href: `/ui/api/acknowledgment?id=${line["id"]}`, download: `acknowledgment-${String(line["paymentId"])}.json` },
        t("download"),
      ),
    );
  }
  return cell;
}

// ---- Balance and statement --------------------------------------------------------------------

async function showStatement(): Promise<void> {
  const month = el("input", { type: "month", id: "period", value: new Date().toISOString().slice(0, 7) });
  const button = el("button", { type: "button", id: "show" }, t("show"));
  const account = el("dl", { id: "account" });
  const out = el("div", { id: "statement" });
  main.replaceChildren(el("h1", {}, t("statement")), account, el("label", {}, `${t("period")} `, month, " ", button), out);
  api("account").then(
    (a) => {
      const rows: Array<[Key, string]> = [
        ["balance", "balance"],
        ["limit", "monthlyLimit"],
        ["used", "usedThisMonth"],
        ["left", "leftThisMonth"],
      ];
      for (const [label, name] of rows)
        if (a[name])
          account.append(el("dt", {}, t(label)), el("dd", { id: `account-${name}` }, money(a[name] as unknown as Amount)));
    },
    (error: Error) => account.append(el("dd", {}, t("error", { e: error.message }))),
  );
  const load = async () => {
    try {
      const s = await api(`statement?period=${encodeURIComponent(month.value)}`);
      const lines = (s["lines"] as Json[]).map((l) =>
        el(
          "tr",
          {},
          el("td", {}, when(String(l["date"]))),
          el("td", {}, String(l["description"] ?? l["publisher"])),
          el("td", { class: "num" }, money(l["charged"] as unknown as Amount), ...refundedMark(l)),
        ),
      );
      const row = (id: string, label: string, amount: Amount, date = "") =>
        el("tr", { id }, el("td", {}, date), el("th", { scope: "row" }, label), el("td", { class: "num" }, money(amount)));
      const movements = ((s["movements"] as Json[] | undefined) ?? []).map((m, i) =>
        row(
          `${String(m["kind"])}-${i}`,
          m["kind"] === "topup" ? t("topupLine") : t("refundLine", { d: String(m["description"] ?? m["paymentId"] ?? "") }),
          m["amount"] as unknown as Amount,
          when(String(m["date"])),
        ),
      );
      const opening = s["openingBalance"] ? [row("opening-balance", t("openingBalance"), s["openingBalance"] as Amount)] : [];
      const closing = s["closingBalance"] ? [row("closing-balance", t("closingBalance"), s["closingBalance"] as Amount)] : [];
      const totals = (s["totals"] as Amount[]).map((a) =>
        el(
          "tr",
          { class: "total" },
          el("th", { scope: "row", colspan: "2" }, t("total")),
          el("td", { class: "num", "data-total": a.currency }, money(a)),
        ),
      );
      out.replaceChildren(el("table", {}, el("tbody", {}, ...opening, ...lines, ...movements, ...totals, ...closing)));
    } catch (error) {
      out.replaceChildren(t("error", { e: (error as Error).message }));
    }
  };
  button.addEventListener("click", () => void load());
  await load();
}

// ---- Rules ------------------------------------------------------------------------------------

const limitNames = [
  ["perPayment", "perPayment"],
  ["perPublisherPerDay", "perDay"],
  ["perPublisherPerMonth", "perMonth"],
  ["sinceConfirmation", "since"],
] as const;

function exponent(currency: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** "1.5" EUR → 150 minor units, exactly; undefined when it is not a plain decimal amount. */
function toMinor(text: string, currency: string): number | undefined {
  const e = exponent(currency);
  const m = /^(\d{1,12})(?:[.,](\d+))?$/.exec(text.trim());
  if (!m || (m[2] ?? "").length > e) return undefined;
  return Number(m[1]) * 10 ** e + Number((m[2] ?? "").padEnd(e, "0") || "0");
}

function toDecimal(minor: number, currency: string): string {
  const e = exponent(currency);
  const digits = String(minor).padStart(e + 1, "0");
  return e === 0 ? digits : `${digits.slice(0, -e)}.${digits.slice(-e)}`;
}

function limitField(id: string, label: string, current: Json | undefined, home: string): HTMLLabelElement {
  const box = el("input", { type: "checkbox", id: `${id}-on` });
  box.checked = current !== undefined;
  const value = el("input", { type: "text", id, inputmode: "decimal", "aria-label": `${label} (${home})` });
  value.value = current ? toDecimal(Number(current["amount"]), String(current["currency"])) : "";
  value.dataset["currency"] = current ? String(current["currency"]) : home;
  return el("label", {}, box, ` ${label} `, value, ` ${value.dataset["currency"]}`);
}

async function showRules(): Promise<void> {
  const data = await api("rules");
  const rules = data["rules"] as { autoAccept: Json | null; refuse: Json };
  const home = String(data["home"]);
  const auto = rules.autoAccept ?? {};
  const autoSet = el(
    "fieldset",
    {},
    el("legend", {}, t("autoTitle")),
    ...limitNames.map(([name, label]) => limitField(`auto-${name}`, t(label), auto[name] as Json | undefined, home)),
  );
  const count = el("input", { type: "number", id: "auto-consecutive", min: "0", step: "1", "aria-label": t("consecutive") });
  const countOn = el("input", { type: "checkbox", id: "auto-consecutive-on" });
  countOn.checked = auto["consecutive"] !== undefined;
  count.value = auto["consecutive"] === undefined ? "" : String(auto["consecutive"]);
  autoSet.append(el("label", {}, countOn, ` ${t("consecutive")} `, count));
  const refuseSet = el(
    "fieldset",
    {},
    el("legend", {}, t("refuseTitle")),
    limitField("refuse-perPayment", t("perPayment"), rules.refuse["perPayment"] as Json | undefined, home),
  );
  const save = el("button", { type: "button", id: "save", class: "approve" }, t("save"));
  main.replaceChildren(el("h1", {}, t("rules")), el("p", {}, t("rulesIntro")), autoSet, refuseSet, save);
  save.addEventListener("click", () => void saveRules(rules));
}

function readLimit(id: string): Json | undefined | "bad" {
  const on = document.getElementById(`${id}-on`) as HTMLInputElement;
  const input = document.getElementById(id) as HTMLInputElement;
  if (!on.checked) return undefined;
  const currency = input.dataset["currency"]!;
  const amount = toMinor(input.value, currency);
  return amount === undefined ? "bad" : { amount, currency };
}

async function saveRules(previous: { refuse: Json }): Promise<void> {
  const autoAccept: Json = {};
  for (const [name] of limitNames) {
    const limit = readLimit(`auto-${name}`);
    if (limit === "bad") return say(t("error", { e: name }));
    if (limit) autoAccept[name] = limit;
  }
  const countOn = (document.getElementById("auto-consecutive-on") as HTMLInputElement).checked;
  if (countOn) autoAccept["consecutive"] = Number((document.getElementById("auto-consecutive") as HTMLInputElement).value);
  const refusal = readLimit("refuse-perPayment");
  if (refusal === "bad") return say(t("error", { e: "perPayment" }));
  const { perPayment: _old, ...otherRefusals } = previous.refuse;
  const refuse = { ...otherRefusals, ...(refusal ? { perPayment: refusal } : {}) };
  try {
    await api("rules", { rules: { autoAccept: Object.keys(autoAccept).length ? autoAccept : null, refuse } });
    say(t("saved"));
  } catch (error) {
    say(t("error", { e: (error as Error).message }));
  }
}

// ---- Mandates ---------------------------------------------------------------------------------

function mandateDetails(m: Json): HTMLDListElement {
  const per = t(`period${String(m["period"])}` as Key);
  const rows: Array<[string, Node | string]> = [
    [t("agent"), el("code", { id: "agent" }, String(m["agentKid"]))],
    [t("payees"), el("span", { id: "payees" }, (m["payees"] as string[]).join(", "))],
    [t("perPaymentMax"), el("span", { class: "price", id: "max-per-payment" }, money(m["maxPerPayment"] as unknown as Amount))],
    [t("budget"), el("span", { id: "budget" }, `${money(m["budget"] as unknown as Amount)} ${per}`)],
    [t("count"), el("span", { id: "max-payments" }, `${String(m["maxPayments"])} ${per}`)],
    [t("until"), el("span", { id: "mandate-expires" }, when(String(m["expiresAt"])))],
  ];
  if (typeof m["server"] === "string") rows.push([t("mandateCharged"), el("span", {}, m["server"])]);
  const list = el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  list.append(el("p", { class: "muted" }, t("mandateNote")));
  return list;
}

async function showMandates(): Promise<void> {
  const data = await api("mandates");
  const mandates = data["mandates"] as Json[];
  if (!mandates.length) return void main.replaceChildren(el("h1", {}, t("mandates")), el("p", {}, t("noMandates")));
  const sections = mandates.map((m) => {
    const id = String(m["mandateId"]);
    const status = String(m["status"]);
    const current = m["current"] as Json;
    const section = el(
      "section",
      { class: "card", "data-mandate": id },
      el("h2", {}, id),
      mandateDetails(m),
      el(
        "p",
        {},
        `${t("status")}: `,
        el("strong", { class: "mandate-status" }, t(status === "revoked" ? "revokedStatus" : (status as Key))),
        ` · ${t("spentNow")}: ${money(current["spent"] as unknown as Amount)}, ${String(current["payments"])}`,
      ),
    );
    if (status === "active") {
      const button = el("button", { type: "button", class: "revoke" }, t("revoke"));
      button.addEventListener("click", () => {
        void api("mandates/revoke", { id }).then(
          () => {
            say(t("revokedNow"));
            return showMandates();
          },
          (error: Error) => say(t("error", { e: error.message })),
        );
      });
      section.append(el("div", { class: "actions" }, button));
    }
    return section;
  });
  main.replaceChildren(el("h1", {}, t("mandates")), ...sections);
}

// ---- Start ------------------------------------------------------------------------------------

document.documentElement.lang = lang;
for (const link of Array.from(document.querySelectorAll<HTMLAnchorElement>("#nav a"))) {
  const name = link.dataset["view"] as Key;
  link.textContent = name === "consent" ? t("approve") : t(name as Key);
  if (link.dataset["view"] === view) link.setAttribute("aria-current", "page");
}
const views: Record<string, () => Promise<void>> = {
  history: showHistory,
  statement: showStatement,
  rules: showRules,
  mandates: showMandates,
};
if (view === "consent") {
  void poll();
  window.setInterval(() => void poll(), 1000);
} else {
  views[view]?.().catch((error: Error) => say(t("error", { e: error.message })));
}
