/**
 * What happened, step by step: one step per offer the wallet decided on, read from the wallet's
 * own history (the offer's description, price, the user's answer, the acknowledgment's payment id
 * and server time), with the running prepaid balance; then the checks that say whether the run
 * behaved as expected, against the payment server's own records.
 */
import { formatPrice, price, type Grant, type Price } from "@peage/protocol";
import type { HistoryEntry } from "@peage/wallet";
import { DECLINED_PERIOD } from "./prompt.js";
import type { OfferSummary } from "./world.js";

export type StepOutcome = "acknowledged" | "declined" | "refused" | "failed";
export type Trigger = "launch" | "period-start" | "period-renewal" | "period-resume" | "event";

export interface Step {
  readonly step: number;
  readonly offerId: string;
  readonly trigger: Trigger;
  /** The description exactly as the publisher signed it. */
  readonly description: string;
  readonly price: Price;
  /** The price in the user's home currency at the server's reference rates, when it differs. */
  readonly converted?: Price;
  /** How consent was given: by the user when asked ("explicit"), or not at all ("none"). */
  readonly consent: string;
  readonly answeredBy: "user" | "--yes";
  readonly outcome: StepOutcome;
  /** The error code when nothing was paid (ERR_DECLINED, ERR_INSUFFICIENT_FUNDS, …); null when acknowledged. */
  readonly code: string | null;
  readonly paymentId?: string;
  readonly serverTime?: string;
  readonly charged?: Price;
  readonly balanceBefore: Price;
  readonly balanceAfter: Price;
  /** Whether this outcome is the one the demo expects (with --yes), or one the user's answers explain. */
  readonly expected: boolean;
  /** Why nothing was paid, in words. */
  readonly note?: string;
}

/** Codes an interactive run may end a step with: the user's answers and the balance explain them. */
const explainable = new Set(["ERR_DECLINED", "ERR_INSUFFICIENT_FUNDS", "ERR_TIMEOUT"]);
/** Codes with which the payment server refused a payment the user agreed to. */
const serverRefusals = new Set(["ERR_INSUFFICIENT_FUNDS", "ERR_LIMIT_EXCEEDED", "ERR_ACCOUNT_SUSPENDED"]);

/** Builds the steps in the order the wallet handled the offers. */
export class StepLog {
  readonly steps: Step[] = [];
  #balance: number;
  #lastId = 0;
  #periods = 0;
  #lastPeriodPaid: boolean | undefined;
  readonly #byOffer: ReadonlyMap<string, OfferSummary>;

  constructor(
    private readonly offers: readonly OfferSummary[],
    private readonly topup: Price,
    private readonly scripted: boolean,
    private readonly shortOf: string,
  ) {
    this.#balance = topup.amount;
    this.#byOffer = new Map(offers.map((o) => [o.offerId, o]));
  }

  /** The balance after every acknowledged charge so far. */
  get balance(): Price {
    return price(this.#balance, this.topup.currency);
  }

  /** The entries of `history` (newest first) not seen yet, as steps; `message` explains the newest one. */
  take(history: readonly HistoryEntry[], message?: string): Step[] {
    const fresh = history.filter((entry) => entry.id > this.#lastId).sort((a, b) => a.id - b.id);
    const added = fresh.map((entry, index) => this.#add(entry, index === fresh.length - 1 ? message : undefined));
    this.#lastId = Math.max(this.#lastId, ...fresh.map((e) => e.id));
    return added;
  }

  #add(entry: HistoryEntry, message: string | undefined): Step {
    const offer = this.#byOffer.get(entry.offerId);
    const grant: Grant["kind"] = offer?.grant.kind ?? "event";
    let trigger: Trigger = grant === "launch" ? "launch" : "event";
    let periodNumber = 0;
    if (grant === "period") {
      periodNumber = ++this.#periods;
      trigger = this.#lastPeriodPaid === undefined ? "period-start" : this.#lastPeriodPaid ? "period-renewal" : "period-resume";
      this.#lastPeriodPaid = entry.outcome === "paid";
    }
    const before = this.balance;
    const paid = entry.outcome === "paid" && entry.charged !== undefined;
    if (paid) this.#balance -= entry.charged!.amount;
    const code = entry.outcome === "paid" ? null : (entry.errorCode ?? "ERR_PAYMENT_FAILED");
    const outcome: StepOutcome =
      entry.outcome === "paid"
        ? "acknowledged"
        : entry.outcome === "declined"
          ? "declined"
          : entry.outcome === "refused" || serverRefusals.has(code ?? "")
            ? "refused"
            : "failed";
    const converted = offer?.home && offer.home.currency !== entry.price.currency ? offer.home : undefined;
    const expectedCode = this.scripted
      ? entry.offerId === this.shortOf
        ? "ERR_INSUFFICIENT_FUNDS"
        : periodNumber === DECLINED_PERIOD
          ? "ERR_DECLINED"
          : null
      : undefined;
    const expected = this.scripted ? code === expectedCode : code === null || explainable.has(code);
    const step: Step = {
      step: this.steps.length + 1,
      offerId: entry.offerId,
      trigger,
      description: entry.description,
      price: entry.price,
      ...(converted ? { converted } : {}),
      consent: entry.consent,
      answeredBy: this.scripted ? "--yes" : "user",
      outcome,
      code,
      ...(entry.paymentId ? { paymentId: entry.paymentId } : {}),
      ...(entry.serverTime ? { serverTime: entry.serverTime } : {}),
      ...(entry.charged ? { charged: entry.charged } : {}),
      balanceBefore: before,
      balanceAfter: this.balance,
      expected,
      ...(code === null ? {} : { note: this.#why(code, before, offer, message) }),
    };
    this.steps.push(step);
    return step;
  }

  #why(code: string, before: Price, offer: OfferSummary | undefined, message: string | undefined): string {
    switch (code) {
      case "ERR_DECLINED":
        return this.scripted
          ? "declined on the user's behalf (--yes declines the first renewal of play time)"
          : "declined by the user";
      case "ERR_INSUFFICIENT_FUNDS":
        return `the payment server refused it: the balance of ${formatPrice(before)} does not cover ${offer?.home ? formatPrice(offer.home) : "the price"}`;
      case "ERR_TIMEOUT":
        return "the program stopped waiting for the answer";
      default:
        return message ?? "the wallet could not get it paid";
    }
  }
}

export interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface ServerFacts {
  readonly balance: Price;
  readonly payments: readonly { readonly paymentId: string; readonly charged: Price }[];
}

export interface ProgramFacts {
  readonly exitCode: number | null;
  readonly ending?: string;
}

/** Whether the run behaved as expected: the steps, the program's ending, and the server's books. */
export function checkRun(options: {
  readonly steps: readonly Step[];
  readonly topup: Price;
  readonly server: ServerFacts;
  readonly program: ProgramFacts;
  readonly scripted: boolean;
  readonly shortOf: string;
}): Check[] {
  const { steps, topup, server, program } = options;
  const acknowledged = steps.filter((s) => s.outcome === "acknowledged");
  const charged = acknowledged.reduce((sum, s) => sum + (s.charged?.amount ?? 0), 0);
  const expectedBalance = price(topup.amount - charged, topup.currency);
  const ids = (list: readonly { paymentId?: string }[]) => list.map((p) => p.paymentId ?? "").sort();
  const same = JSON.stringify(ids(acknowledged)) === JSON.stringify(ids(server.payments));
  const serverCharged = server.payments.reduce((sum, p) => sum + p.charged.amount, 0);
  const checks: Check[] = [
    {
      check: "the server's balance is the top-up less every acknowledged charge",
      ok: server.balance.amount === expectedBalance.amount && server.balance.currency === expectedBalance.currency,
      detail: `${formatPrice(topup)} - ${formatPrice(price(charged, topup.currency))} = ${formatPrice(expectedBalance)}; the server holds ${formatPrice(server.balance)}`,
    },
    {
      check: "the server recorded exactly the acknowledged payments",
      ok: same && serverCharged === charged,
      detail: `${acknowledged.length} acknowledged, ${server.payments.length} recorded by the server`,
    },
  ];
  const count = (code: string) => steps.filter((s) => s.code === code);
  if (options.scripted) {
    const declined = count("ERR_DECLINED");
    const short = count("ERR_INSUFFICIENT_FUNDS");
    const periods = acknowledged.filter((s) => s.trigger.startsWith("period"));
    checks.unshift(
      { check: "the launch payment was acknowledged", ok: steps[0]?.trigger === "launch" && steps[0].outcome === "acknowledged" },
      {
        check: "periodic payments were acknowledged",
        ok: periods.length >= 2 && periods.some((s) => s.trigger === "period-renewal"),
        detail: `${periods.length} periods of play time paid`,
      },
      { check: "an event payment (a new level) was acknowledged", ok: acknowledged.some((s) => s.trigger === "event") },
      {
        check: "one payment was declined (ERR_DECLINED)",
        ok: declined.length === 1,
        detail: declined.map((s) => `step ${s.step}, ${s.offerId}`).join("; ") || "none",
      },
      {
        check: `one payment was refused for lack of funds (ERR_INSUFFICIENT_FUNDS): ${options.shortOf}`,
        ok: short.length === 1 && short[0]!.offerId === options.shortOf,
        detail: short.map((s) => `step ${s.step}, ${s.offerId}`).join("; ") || "none",
      },
      { check: "every step had its expected outcome", ok: steps.length > 0 && steps.every((s) => s.expected) },
      {
        check: "the program ended at the level it could not pay for",
        ok: program.exitCode === 0 && program.ending === "locked",
        detail: `exit status ${program.exitCode ?? "none"}${program.ending ? `, ${program.ending}` : ""}`,
      },
    );
  } else {
    const unexplained = steps.filter((s) => !s.expected);
    checks.unshift(
      {
        check: "every step ended as the user's answers and the balance explain",
        ok: unexplained.length === 0,
        ...(unexplained.length > 0 ? { detail: unexplained.map((s) => `step ${s.step}: ${s.code}`).join("; ") } : {}),
      },
      {
        check: "the program ended normally",
        // 0 played, 2 launch not paid, 4 stopped for unpaid play time: each a consequence of an answer.
        ok: program.exitCode === 0 || program.exitCode === 2 || program.exitCode === 4,
        detail: `exit status ${program.exitCode ?? "none"}${program.ending ? `, ${program.ending}` : ""}`,
      },
    );
  }
  return checks;
}

const triggerWords: Record<Trigger, string> = {
  launch: "at launch",
  "period-start": "periodic: the first period",
  "period-renewal": "periodic: renewal when the period ends",
  "period-resume": "periodic: paid again to resume after a pause",
  event: "event",
};

/** A step in a few lines of text. */
export function describeStep(step: Step, ratesDate: string): string[] {
  const price = `${formatPrice(step.price)}${step.converted ? ` (${formatPrice(step.converted)} at the reference rates of ${ratesDate})` : ""}`;
  const by = step.answeredBy === "--yes" ? " (by --yes)" : "";
  const consent =
    step.consent === "explicit"
      ? `the wallet asked, the user answered yes${by}`
      : step.consent === "auto"
        ? "paid without asking, within the wallet's rules"
        : step.outcome === "declined"
          ? `the wallet asked, the user answered no${by}`
          : "not asked";
  const lines = [
    `${String(step.step).padStart(2)}. ${step.offerId} (${triggerWords[step.trigger]}): ${step.description}`,
    `    price ${price}; ${consent}`,
  ];
  if (step.outcome === "acknowledged") {
    lines.push(
      `    ACKNOWLEDGED ${step.paymentId ?? ""} at server time ${step.serverTime ?? "?"}; charged ${step.charged ? formatPrice(step.charged) : "?"}; balance ${formatPrice(step.balanceBefore)} -> ${formatPrice(step.balanceAfter)}`,
    );
  } else {
    lines.push(
      `    ${step.outcome.toUpperCase()} (${step.code}): ${step.note ?? ""}; nothing charged, balance ${formatPrice(step.balanceAfter)}`,
    );
  }
  if (!step.expected) lines.push("    (not the expected outcome)");
  return lines;
}
