#!/usr/bin/env node
/**
 * The Lighthouse Quest, paid through Péage the way a publisher would do it: the game code
 * (game.ts) knows nothing of payments; this file asks the merchant SDK to be paid at launch,
 * for each period of play, and when a new level starts, and goes on only when it says so.
 *
 *   peage-quest --catalog catalog.json --trust root.pem [--auto] [--move-delay-ms N]
 *               [--wallet-file FILE] [--timeout-seconds N]
 *
 * --auto plays scripted answers (for demonstrations and tests); the wallet is found through
 * $PEAGE_WALLET_FILE or ~/.peage/wallet.json unless --wallet-file names its endpoint file.
 * Exit status: 0 played, 2 launch not paid, 3 no wallet, 4 stopped for unpaid play time,
 * 1 other error, 64 usage.
 */
import { createInterface } from "node:readline";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatPrice } from "@peage/protocol";
import { Merchant, MerchantError, type Authorization, type MerchantOptions, type PeriodicController } from "@peage/merchant";
import { integerFlag, parseFlags, UsageError } from "./args.js";
import { LEVELS, playQuest, scriptedAnswers, type Gates, type Io } from "./game.js";

/** The offers of offers.json this program uses. */
export const QuestOffers = { launch: "launch", playTime: "play-time" } as const;

export const ExitCodes = { played: 0, failed: 1, notPaid: 2, noWallet: 3, unpaidTime: 4, usage: 64 } as const;

const USAGE =
  "usage: peage-quest --catalog catalog.json --trust root.pem [--auto] [--move-delay-ms N] [--wallet-file FILE] [--timeout-seconds N]";

type Say = (text: string) => void;
type Flags = ReturnType<typeof parseFlags>;

/**
 * What a program embedding the game may replace: the player (an Io) and the merchant's clock and
 * timers, so that a test decides when a paid period ends instead of waiting for it.
 */
export interface QuestSeams {
  readonly io?: Io & { close(): void };
  readonly time?: Pick<MerchantOptions, "monotonic" | "scheduler">;
}

/** Runs the game with these arguments and returns the exit status. */
export async function runQuest(
  argv: readonly string[],
  output: NodeJS.WritableStream = process.stdout,
  seams: QuestSeams = {},
): Promise<number> {
  const say: Say = (text: string) => output.write(`${text}\n`);
  const flags = readFlags(argv, say);
  if (typeof flags === "number") return flags;
  const auto = flags.switches.has("auto");
  const merchant = await openMerchant(flags, seams.time ?? {});
  if (typeof merchant === "number") return merchant;

  const io =
    seams.io ??
    (auto ? scriptedIo(say, scriptedAnswers(), integerFlag(flags, "move-delay-ms", 200, 0, 60_000)) : terminalIo(output));
  const { paid, refused } = paymentNotices(say);
  say("The Lighthouse Quest\n~~~~~~~~~~~~~~~~~~~~");
  try {
    paid(await merchant.atLaunch(QuestOffers.launch));
  } catch (error) {
    const e = refused("launch", error);
    io.close();
    return e.code === "ERR_WALLET_UNAVAILABLE" || e.code === "ERR_TIMEOUT" ? ExitCodes.noWallet : ExitCodes.notPaid;
  }

  const play: PeriodicController = merchant.periodic(QuestOffers.playTime, {
    onPause: (error) => {
      refused("play time", error);
      say("The game is paused.");
    },
    onPaid: paid,
    onResume: () => say("[péage] play time paid: the game goes on."),
  });
  await play.started;

  const result = await playQuest(io, paidGates(merchant, play, io, auto, { paid, refused }), LEVELS);
  play.stop();
  io.close();
  say(`\n${result.levelsCompleted} level(s) completed, ${result.riddlesSolved} riddle(s) solved (${result.ending}).`);
  return result.ending === "stopped" ? ExitCodes.unpaidTime : ExitCodes.played;
}

/** The command line, or the exit status when there is nothing to play (--help, a usage error). */
function readFlags(argv: readonly string[], say: Say): Flags | number {
  try {
    const flags = parseFlags(argv, {
      values: ["catalog", "trust", "move-delay-ms", "wallet-file", "timeout-seconds"],
      switches: ["auto", "help"],
    });
    if (flags.switches.has("help")) {
      say(USAGE);
      return ExitCodes.played;
    }
    if (!flags.values.has("catalog") || !flags.values.has("trust")) throw new UsageError(USAGE);
    return flags;
  } catch (error) {
    process.stderr.write(`peage-quest: ${(error as Error).message}\n`);
    return ExitCodes.usage;
  }
}

/** The merchant SDK on the catalog and trust roots of the command line, or the exit status when it cannot start. */
async function openMerchant(flags: Flags, time: QuestSeams["time"]): Promise<Merchant | number> {
  try {
    const walletFile = flags.values.get("wallet-file");
    return await Merchant.create({
      ...time,
      catalog: flags.values.get("catalog")!,
      trustRoots: flags.values.get("trust")!,
      ...(walletFile ? { wallet: { endpointFile: walletFile } } : {}),
      timeoutMs: integerFlag(flags, "timeout-seconds", 180, 1, 3600) * 1000,
    });
  } catch (error) {
    process.stderr.write(`peage-quest: ${(error as Error).message}\n`);
    return error instanceof UsageError ? ExitCodes.usage : ExitCodes.failed;
  }
}

interface Notices {
  /** Says what was paid, and what was charged in the user's currency. */
  readonly paid: (a: Authorization) => void;
  /** Says what was not paid and why; the refusal as a MerchantError. */
  readonly refused: (what: string, error: unknown) => MerchantError;
}

/** The game's lines about payments, prefixed [péage]. */
function paymentNotices(say: Say): Notices {
  return {
    paid(a) {
      const charged = a.charged.currency === a.price.currency ? "" : `, charged ${formatPrice(a.charged)}`;
      const until = a.validUntil ? `, play time until ${a.validUntil.toISOString()}` : "";
      say(`[péage] paid ${a.offerId}: ${formatPrice(a.price)}${charged} (${a.paymentId}${until})`);
    },
    refused(what, error) {
      const e =
        error instanceof MerchantError ? error : new MerchantError("ERR_PAYMENT_FAILED", String(error), { retryable: false });
      say(`[péage] ${what} not paid: ${e.code}: ${e.message}`);
      return e;
    },
  };
}

/**
 * Where the game asks to be paid: a level opens once its offer is paid; a move waits while play
 * time is paused (interactively the player chooses to pay again or quit; scripted, one try).
 */
function paidGates(merchant: Merchant, play: PeriodicController, io: Io, auto: boolean, notices: Notices): Gates {
  return {
    async enterLevel(level) {
      try {
        notices.paid(await merchant.onEvent(`level-${level.number}`));
        return true;
      } catch (error) {
        notices.refused(`level ${level.number}`, error);
        return false;
      }
    },
    async beforeMove() {
      while (play.state === "paused") {
        if (!auto) {
          const answer = await io.ask("Press Enter to pay for more play time, or type q to quit. ");
          if (answer === undefined || answer.trim().toLowerCase() === "q") return false;
        }
        try {
          await play.resume();
        } catch {
          if (auto) return false;
        }
      }
      return true;
    },
  };
}

/** The scripted player: answers in order after a pause, echoing them as a person's would be. */
function scriptedIo(say: (text: string) => void, answers: readonly string[], delayMs: number): Io & { close(): void } {
  const queue = [...answers];
  return {
    say,
    async ask(prompt) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const answer = queue.shift();
      say(`${prompt}> ${answer ?? "(no more moves)"}`);
      return answer;
    },
    close() {},
  };
}

/** The terminal player, through node:readline. */
function terminalIo(output: NodeJS.WritableStream): Io & { close(): void } {
  const rl = createInterface({ input: process.stdin, output });
  let closed = false;
  rl.on("close", () => (closed = true));
  return {
    say: (text) => output.write(`${text}\n`),
    ask: (prompt) =>
      closed
        ? Promise.resolve(undefined)
        : new Promise((resolve) => {
            const onClose = () => resolve(undefined);
            rl.once("close", onClose);
            rl.question(prompt, (answer) => {
              rl.off("close", onClose);
              resolve(answer);
            });
          }),
    close: () => rl.close(),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  process.exitCode = await runQuest(process.argv.slice(2));
}
