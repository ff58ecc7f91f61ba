/**
 * `peage wallet --data DIR`: opens the user's wallet (@peage/wallet) and runs its local service,
 * which programs on this machine find through the endpoint file. Offers the user's rules do not
 * accept are shown in the consent window in the browser when one can be opened, else on the
 * terminal; with neither, programs get ERR_CONSENT_UNAVAILABLE and the wallet says so at start.
 * The wallet is loaded only when this command runs, so other commands do not pay for it.
 */
import type { ConsentPrompt } from "@peage/wallet";
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { note, print, printJsonLine, warn } from "../output.js";
import { untilStopped } from "../service.js";
import { PASSPHRASE_ENV, readPassphrase } from "./wallet-passphrase.js";
import { walletPageCommands } from "./wallet-pages.js";
import { walletMandateCommands } from "./wallet-mandates.js";
import { walletSyncCommands } from "./wallet-sync.js";

const walletCommand: Command = {
  spec: {
    name: "wallet",
    title: "run the user's wallet service on a data directory",
    summary:
      "Open the wallet in DIR with its passphrase and serve programs on 127.0.0.1: they find the service and its token in the " +
      'endpoint file. Prints {"event":"listening","url":…,"user":…,"endpointFile":…} as one JSON line on stdout once it listens, ' +
      "then one line per offer handled. Offers the user's rules do not accept on their own are shown in the consent window, a page of the " +
      "wallet's own service opened in the browser (its one-time link is printed too), or asked on this terminal where no browser can be " +
      "opened (--terminal to prefer it). With neither, programs get ERR_CONSENT_UNAVAILABLE. SIGINT or SIGTERM stop it.",
    synopsis: "--data DIR [--passphrase-file FILE] [--endpoint-file FILE] [--terminal | --yes]",
    options: {
      data: { type: "string", value: "DIR", description: "the wallet's data directory" },
      "passphrase-file": {
        type: "string",
        value: "FILE",
        description: `read the passphrase from FILE (default: the ${PASSPHRASE_ENV} environment variable)`,
      },
      "endpoint-file": {
        type: "string",
        value: "FILE",
        description: "where to write {url, token, pid} (default $PEAGE_WALLET_FILE or ~/.peage/wallet.json)",
      },
      terminal: { type: "boolean", description: "ask on this terminal even where a browser could be opened" },
      yes: { type: "boolean", description: "accept every verified offer without asking: for demonstrations only" },
    },
  },
  async run(o) {
    const dir = o.required("data", "DIR");
    const endpointFile = o.string("endpoint-file");
    const passphrase = await readPassphrase(o);
    const wallet = await import("@peage/wallet");
    const { prompt, consentWindow } = choosePrompt(o, wallet);
    const service = await wallet.startWallet({
      wallet: { dir, passphrase, prompt },
      ...(endpointFile !== undefined && { endpointFile }),
      ...(consentWindow && { consentWindow }),
      log: (line) => print(line),
    });
    printJsonLine({ event: "listening", url: service.url, user: service.wallet.config.user, endpointFile: service.endpointFile });
    note(
      `your wallet's pages (history, balance, rules): ${service.uiLink()} (this link works once; \`peage wallet open\` gives another)`,
    );
    await untilStopped(() => service.close());
  },
};

/** The browser's consent window where a browser can be opened, else the terminal, else nobody (said at start). */
function choosePrompt(
  o: Options,
  wallet: typeof import("@peage/wallet"),
): { prompt: ConsentPrompt; consentWindow?: InstanceType<typeof wallet.ConsentWindow> } {
  if (o.flag("yes") && o.flag("terminal")) throw o.usage("choose --yes or --terminal, not both");
  if (o.flag("yes")) {
    warn("--yes: every offer that verifies is paid without asking; use it for demonstrations only");
    return { prompt: new wallet.AutoYesPrompt() };
  }
  const open = o.flag("terminal") ? undefined : wallet.browserOpener();
  if (open) {
    const consentWindow = new wallet.ConsentWindow({ open, announce: (url) => note(`a payment waits for your answer: ${url}`) });
    return { prompt: consentWindow, consentWindow };
  }
  if (process.stdin.isTTY) return { prompt: new wallet.TerminalPrompt({ output: process.stderr }) };
  warn(
    "this wallet can ask nobody: no browser can be opened here and there is no terminal; offers your rules do not accept get " +
      "ERR_CONSENT_UNAVAILABLE. Start it in a terminal or a desktop session, or set PEAGE_BROWSER.",
  );
  return { prompt: new wallet.NobodyPrompt() };
}

export const wallet: CommandGroup = {
  name: "wallet",
  summary: "the user's wallet: run it, set it up, see its payments and rules",
  commands: [walletCommand, ...walletPageCommands, ...walletMandateCommands, ...walletSyncCommands],
};
