/**
 * The run of `peage demo` (commands/demo.ts): loaded only when the demo runs, so that other
 * commands do not load the server and the wallet.
 */
import { rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { formatPrice, parseCurrency, price, type Price } from "@peage/protocol";
import { browserOpener } from "@peage/wallet";
import type { Options } from "../args.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";
import { Cleanup, Interrupted } from "./cleanup.js";
import { checkQuestBuilt, QuestFiles, runQuest, type QuestRun } from "./game.js";
import { DemoFiles, prepareDemoDir, removeIfTemporary, type DemoPaths } from "./layout.js";
import { BrowserUser, Narrator, ScriptedUser, TerminalUser } from "./prompt.js";
import { checkRun, describeStep, StepLog, type Check, type Step } from "./steps.js";
import { payLaunchAsPostpaid } from "./postpaid.js";
import { createWorld, type World } from "./world.js";

/** The demo's user, and a home currency other than the offers' EUR, to show the conversion. */
const USER = "urn:peage:user:alice";
const HOME_CURRENCY = parseCurrency("USD");

/**
 * Timing. With --yes: 2-second periods and a move a second, so the first renewal (declined) comes
 * long before the last level, and the run takes about ten seconds. Interactively, longer periods
 * and slower moves, so that the questions do not follow each other too fast.
 */
const TIMING = {
  scripted: { periodSeconds: 2, moveDelayMs: 1000, timeoutSeconds: 30 },
  interactive: { periodSeconds: 5, moveDelayMs: 1500, timeoutSeconds: 180 },
} as const;

/** Ctrl-C, a request to stop, and the terminal closing: each stops everything and cleans up. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** How long to wait, once the program has ended, for the wallet to finish the payment it was making. */
const DRAIN_TIMEOUT_MS = 15_000;

export async function runDemo(o: Options): Promise<void> {
  const scripted = o.flag("yes");
  const json = o.flag("json");
  const opener = consentOpener(o, scripted);
  checkQuestBuilt();
  const timing = scripted ? TIMING.scripted : TIMING.interactive;
  const paths = await prepareDemoDir(o.string("data"));
  const startedAt = new Date();
  if (!paths.temporary) await writeManifest(paths, { status: "running", startedAt: startedAt.toISOString() });

  const narrator = new Narrator(json ? undefined : (line) => print(line));
  const cleanup = new Cleanup();
  const stops = new Interruption(paths, !scripted);
  const user = chooseUser(scripted, opener, narrator, stops);
  let world: World | undefined;
  let log: StepLog | undefined;
  let report: Report | undefined;
  const show = (steps: readonly Step[]) => {
    for (const step of steps) for (const line of describeStep(step, world?.rates.date ?? "")) narrator.line(line);
  };
  // The wallet's console: after each offer it handled, its new history entries are the new steps.
  const walletLog = (line: string) => {
    if (!world || !log) return;
    const message = /^not paid: \S+ (.*)$/.exec(line)?.[1];
    show(log.take(world.wallet.wallet.history.list(100), message));
  };

  try {
    narrator.line("Péage demonstration: the payment loop of a program, a wallet and a payment server on this machine");
    narrator.line("");
    world = await createWorld({
      paths,
      user: USER,
      homeCurrency: HOME_CURRENCY,
      periodSeconds: timing.periodSeconds,
      offersFile: QuestFiles.offers,
      prompt: user,
      ...(user instanceof BrowserUser ? { consentWindow: user.window } : {}),
      walletLog,
      progress: (text) => narrator.line(`  ${text}`),
      cleanup,
      signal: stops.signal,
    });
    log = new StepLog(world.offers, world.topup, scripted, world.shortOf.offerId);
    if (!paths.temporary) await writeManifest(paths, { status: "running", startedAt: startedAt.toISOString(), world });
    introduce(narrator, world, { scripted, inBrowser: user instanceof BrowserUser, moveDelayMs: timing.moveDelayMs });
    const program = await play(world, paths, timing, narrator, stops);
    // Every offer the user answered ends as one history entry; the last may still be on its way to the server.
    const history = world.wallet.wallet.history;
    await drain(() => history.list(10_000).length >= user.answers.length, stops.signal);
    show(log.take(history.list(10_000)));
    stops.check();
    if (user instanceof BrowserUser) await pointToHistory(narrator, world.wallet.url, stops.signal);
    const result = await checkWithServer(world, paths, narrator, { steps: log.steps, program, scripted });
    report = buildReport({ world, paths, scripted, timing, program, kept: !paths.temporary, ...result });
  } catch (error) {
    if (!(error instanceof Interrupted) && stops.why === undefined) throw await finish(error);
    throw await finish(interruptedError(stops.why, paths));
  }
  await finish(undefined);

  if (json) printJson(report);
  else narrate(narrator, report, paths);
  const failed = report.checks.filter((c) => !c.ok);
  if (failed.length > 0)
    throw new CommandError("ERR_DEMO_FAILED", `${failed.length} check(s) failed: ${failed.map((c) => c.check).join("; ")}`);

  /** Stops everything, records the result in DIR/demo.json, removes a temporary directory; returns `error` to throw. */
  async function finish(error: unknown): Promise<unknown> {
    const failures = await cleanup.close();
    stops.detach();
    if (!paths.temporary) {
      const status = report ? (report.ok ? "finished" : "failed") : stops.why !== undefined ? "interrupted" : "failed";
      await writeManifest(paths, {
        status,
        startedAt: startedAt.toISOString(),
        ...(world ? { world } : {}),
        ...(report ? { report } : {}),
      }).catch(() => undefined);
    }
    await removeIfTemporary(paths).catch((cause: unknown) => failures.push(`remove ${paths.dir}: ${(cause as Error).message}`));
    for (const failure of failures) process.stderr.write(`warning: could not ${failure}\n`);
    return error;
  }
}

/** Interactively, the wallet's consent window in the browser where one can be opened, else the terminal: one must be here. */
function consentOpener(o: Options, scripted: boolean): ReturnType<typeof browserOpener> {
  const opener = scripted ? undefined : browserOpener();
  if (!scripted && !opener && !process.stdin.isTTY) {
    throw o.usage(
      "the wallet asks the user in a browser or on the terminal, and neither is here: run it in a terminal or a desktop session, or add --yes to let the demo answer",
    );
  }
  return opener;
}

/** Who answers the wallet's questions: the script (--yes), the user in the browser, or the user on the terminal. */
function chooseUser(scripted: boolean, opener: ReturnType<typeof browserOpener>, narrator: Narrator, stops: Interruption) {
  if (scripted) return new ScriptedUser();
  return opener ? new BrowserUser(opener, narrator) : new TerminalUser(narrator, () => stops.interrupt("Ctrl-C"));
}

function interruptedError(why: string | undefined, paths: DemoPaths): CommandError {
  return new CommandError(
    "ERR_INTERRUPTED",
    `the demo was interrupted (${why ?? "stopped"}); the program, the wallet and the server are stopped` +
      (paths.temporary ? " and the temporary data is removed" : `, and the data so far is in ${paths.dir}`),
  );
}

/**
 * Ctrl-C, a request to stop, the terminal closing: the first aborts `signal` so that every step
 * stops and the cleanup runs; a second exits at once. Listening from construction to detach().
 */
class Interruption {
  readonly #stop = new AbortController();
  readonly signal = this.#stop.signal;
  /** What interrupted the run, once something did. */
  why: string | undefined;

  constructor(
    private readonly paths: DemoPaths,
    watchTerminal: boolean,
  ) {
    for (const signal of STOP_SIGNALS) process.on(signal, this.#onSignal);
    if (watchTerminal) process.on("uncaughtException", this.#onUncaught);
  }

  readonly interrupt = (why: string): void => {
    if (this.why !== undefined) {
      process.stderr.write(`${why} again: exiting without waiting\n`);
      if (this.paths.temporary) rmSync(this.paths.dir, { recursive: true, force: true });
      process.exit(1);
    }
    this.why = why;
    process.stderr.write(`\n${why}: stopping the program, the wallet and the server…\n`);
    this.#stop.abort();
  };

  /** Throws Interrupted if the run was interrupted: called between the demo's steps. */
  check(): void {
    if (this.why !== undefined) throw new Interrupted(this.why);
  }

  detach(): void {
    for (const signal of STOP_SIGNALS) process.off(signal, this.#onSignal);
    process.off("uncaughtException", this.#onUncaught);
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    // The terminal is gone: what is still written to it fails, which must not stop the cleanup.
    if (signal === "SIGHUP") {
      if (this.why === "SIGHUP") return;
      for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
    }
    this.interrupt(signal);
  };

  // A terminal closed under the wallet's question fails inside readline (setRawMode EIO) rather
  // than only by SIGHUP: that is the terminal going away too, and the cleanup must still run.
  readonly #onUncaught = (error: Error & { code?: string }): void => {
    if (error.code !== "EIO") throw error;
    this.#onSignal("SIGHUP");
  };
}

/** What the demo tells the user before the program starts: the program, the rules, what will be refused. */
function introduce(
  narrator: Narrator,
  world: World,
  how: { readonly scripted: boolean; readonly inBrowser: boolean; readonly moveDelayMs: number },
): void {
  const { scripted } = how;
  narrator.line(
    `  program    The Lighthouse Quest (examples/quest), its scripted player making a move every ${how.moveDelayMs / 1000} s`,
  );
  narrator.line("");
  narrator.line("The demo wallet's rules let no payment through without asking the user, so that each one is shown.");
  narrator.line(
    scripted
      ? "--yes: the demo answers for the user: yes to every payment, except the first renewal of play time, which it declines."
      : how.inBrowser
        ? "Each payment opens in your browser: Approve to pay, Decline to refuse. Decline a renewal of play time once to see a declined payment."
        : "Answer y to pay, n to decline. Answer n once to a renewal of play time to see a declined payment: the game pauses, then asks to pay again to go on.",
  );
  narrator.line(
    `The balance does not cover everything: one payment will be refused for lack of funds (${world.shortOf.offerId}${scripted ? "" : ", if you pay for the rest"}).`,
  );
  narrator.line("");
}

/** Runs the example program against the wallet until it ends; its output narrated line by line. */
async function play(
  world: World,
  paths: DemoPaths,
  timing: { readonly moveDelayMs: number; readonly timeoutSeconds: number },
  narrator: Narrator,
  stops: Interruption,
): Promise<QuestRun> {
  const program = await runQuest({
    catalog: paths.catalog,
    trustRoots: world.rootFile,
    endpointFile: world.wallet.endpointFile,
    moveDelayMs: timing.moveDelayMs,
    timeoutSeconds: timing.timeoutSeconds,
    onLine: (line, stream) => narrator.line(`  quest${stream === "stderr" ? "!" : " "}| ${line}`),
    signal: stops.signal,
  });
  stops.check();
  return program;
}

/** The postpaid user's launch, then the run checked against the server's books. */
async function checkWithServer(
  world: World,
  paths: DemoPaths,
  narrator: Narrator,
  run: { readonly steps: readonly Step[]; readonly program: QuestRun; readonly scripted: boolean },
) {
  const postpaid = await payLaunchAsPostpaid(world.postpaid, paths.catalog, world.rootFile);
  narrator.line(`  ${postpaid.summary}`);
  const [balance, payments, postpaidPayments] = await Promise.all([
    world.operator.balance(world.user),
    world.operator.payments(world.user),
    world.operator.payments(world.postpaid.user),
  ]);
  const checks = [
    ...checkRun({ ...run, topup: world.topup, server: { balance, payments }, shortOf: world.shortOf.offerId }),
    {
      check: "the postpaid user's launch is recorded by the server, billed to their account",
      ok: postpaidPayments.length === 1 && postpaidPayments[0]!.paymentId === postpaid.paymentId,
      ...(postpaidPayments.length === 1 ? {} : { detail: `${postpaidPayments.length} payments recorded` }),
    },
  ];
  const postpaidReport = {
    user: world.postpaid.user,
    mode: "postpaid" as const,
    paymentId: postpaid.paymentId,
    charged: postpaid.charged,
  };
  return { steps: run.steps, balance, payments, checks, postpaid: postpaidReport };
}

/**
 * The newcomer's last step after answering in the browser: the payments just approved are in the
 * wallet's history, each acknowledgment verified; in a terminal, the wallet stays up until Enter.
 */
async function pointToHistory(narrator: Narrator, walletUrl: string, signal: AbortSignal): Promise<void> {
  if (!process.stdin.isTTY) return;
  narrator.line("");
  narrator.line(
    `Your payments, each acknowledgment verified by your wallet: ${walletUrl}/ui/history (the History tab of the window).`,
  );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    await rl.question("Press Enter to stop the wallet and the server. ", { signal }).catch(() => undefined);
  } finally {
    rl.close();
  }
}

/** Waits until `done()` (polled), the timeout, or an interruption. */
async function drain(done: () => boolean, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (!done() && !signal.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

interface Report {
  readonly ok: boolean;
  readonly mode: "yes" | "interactive";
  readonly user: { readonly id: string; readonly homeCurrency: string };
  readonly publisher: string;
  readonly server: { readonly id: string; readonly url: string };
  readonly rates: { readonly base: string; readonly date: string; readonly rate: string | undefined };
  readonly periodSeconds: number;
  readonly topup: Price;
  readonly steps: readonly Step[];
  readonly totals: {
    readonly acknowledged: number;
    readonly declined: number;
    readonly insufficientFunds: number;
    readonly otherFailures: number;
    readonly charged: Price;
  };
  readonly balance: { readonly expected: Price; readonly server: Price };
  readonly serverPayments: readonly { readonly paymentId: string; readonly charged: Price; readonly serverTime: string }[];
  /** The postpaid user's payment of the launch, billed to be collected by SEPA direct debit at settlement. */
  readonly postpaid: { readonly user: string; readonly mode: "postpaid"; readonly paymentId: string; readonly charged: Price };
  readonly program: QuestRun;
  readonly checks: readonly Check[];
  readonly data: { readonly dir: string; readonly kept: boolean; readonly manifest: string | undefined };
}

function buildReport(r: {
  world: World;
  paths: DemoPaths;
  scripted: boolean;
  timing: { readonly periodSeconds: number };
  steps: readonly Step[];
  balance: Price;
  payments: Report["serverPayments"];
  program: QuestRun;
  checks: readonly Check[];
  kept: boolean;
  postpaid: Report["postpaid"];
}): Report {
  const { world, steps } = r;
  const charged = steps.reduce((sum, s) => sum + (s.outcome === "acknowledged" ? (s.charged?.amount ?? 0) : 0), 0);
  const count = (code: string) => steps.filter((s) => s.code === code).length;
  return {
    ok: r.checks.every((c) => c.ok),
    mode: r.scripted ? "yes" : "interactive",
    user: { id: world.user, homeCurrency: world.homeCurrency },
    publisher: world.publisher,
    server: { id: world.serverId, url: world.server.url },
    rates: { base: world.rates.base, date: world.rates.date, rate: world.rates.rates[world.homeCurrency] },
    periodSeconds: r.timing.periodSeconds,
    topup: world.topup,
    steps,
    totals: {
      acknowledged: steps.filter((s) => s.outcome === "acknowledged").length,
      declined: count("ERR_DECLINED"),
      insufficientFunds: count("ERR_INSUFFICIENT_FUNDS"),
      otherFailures: steps.filter((s) => s.code !== null && s.code !== "ERR_DECLINED" && s.code !== "ERR_INSUFFICIENT_FUNDS")
        .length,
      charged: price(charged, world.homeCurrency),
    },
    balance: { expected: price(world.topup.amount - charged, world.homeCurrency), server: r.balance },
    serverPayments: r.payments,
    postpaid: r.postpaid,
    program: r.program,
    checks: r.checks,
    data: { dir: r.paths.dir, kept: r.kept, manifest: r.kept ? join(r.paths.dir, DemoFiles.manifest) : undefined },
  };
}

function narrate(narrator: Narrator, report: Report, paths: DemoPaths): void {
  const { totals } = report;
  const line = (text: string) => narrator.line(text);
  line("");
  line("Summary");
  line(
    `  ${report.steps.length} payments asked for: ${totals.acknowledged} acknowledged, ${totals.declined} declined, ${totals.insufficientFunds} refused for lack of funds` +
      (totals.otherFailures > 0 ? `, ${totals.otherFailures} failed otherwise` : ""),
  );
  line(
    `  top-up ${formatPrice(report.topup)} - charged ${formatPrice(totals.charged)} = ${formatPrice(report.balance.expected)}; the payment server holds ${formatPrice(report.balance.server)}`,
  );
  for (const check of report.checks)
    line(`  ${check.ok ? "ok  " : "FAIL"} ${check.check}${check.detail ? ` (${check.detail})` : ""}`);
  line("");
  if (paths.temporary) {
    line("The server and the wallet are stopped, and the temporary data is removed (keep it with --data DIR).");
  } else {
    line(
      `The server and the wallet are stopped. The data is kept in ${paths.dir} (layout in ${join(paths.dir, DemoFiles.manifest)}):`,
    );
    line(`  the server's database is ${paths.serverDatabase}; \`peage server --data ${paths.server}\` serves it again.`);
  }
}

/** DIR/demo.json: the layout (relative to DIR), the parties, and the result once there is one. */
async function writeManifest(
  paths: DemoPaths,
  state: { status: string; startedAt: string; world?: World; report?: Report },
): Promise<void> {
  const { world, report } = state;
  const manifest = {
    v: 1,
    about: "Data of a `peage demo` run. Paths are relative to this file's directory.",
    status: state.status,
    startedAt: state.startedAt,
    ...(state.status === "running" ? {} : { finishedAt: new Date().toISOString() }),
    layout: {
      pki: DemoFiles.pki,
      server: DemoFiles.server,
      serverDatabase: DemoFiles.serverDatabase,
      wallet: DemoFiles.wallet,
      walletPassphrase: DemoFiles.walletPassphrase,
      postpaidWallet: DemoFiles.postpaidWallet,
      postpaidWalletPassphrase: DemoFiles.postpaidWalletPassphrase,
      operatorKey: DemoFiles.operatorKey,
      catalog: DemoFiles.catalog,
    },
    ...(world
      ? {
          publisher: world.publisher,
          server: { id: world.serverId, url: world.server.url, note: "the server listened at this URL only while the demo ran" },
          user: { id: world.user, homeCurrency: world.homeCurrency, mode: "prepaid" },
          postpaidUser: { id: world.postpaid.user, mode: "postpaid", homeCurrency: world.postpaid.monthlyLimit.currency },
          topup: world.topup,
        }
      : {}),
    ...(report
      ? {
          ok: report.ok,
          payments: report.serverPayments.map((p) => p.paymentId),
          charged: report.totals.charged,
          balance: report.balance.server,
        }
      : {}),
  };
  await writeFile(join(paths.dir, DemoFiles.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
}
