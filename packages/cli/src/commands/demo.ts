/**
 * `peage demo`: the whole Péage loop on this machine, with the real parts. It makes a
 * demonstration PKI, starts the payment server and the user's wallet, enrols the user with a
 * prepaid balance through the operator's API, signs the example's offers, and runs the example
 * program (examples/quest), which asks to be paid at launch, for each period of play and for each
 * new level. One payment is declined by the user and one is refused for lack of funds (the balance
 * is sized for it). Every step is printed as it happens, or given as one JSON document (--json).
 */
import type { Command, CommandGroup } from "../command.js";
import { DemoFiles } from "../demo/layout.js";

const demoCommand: Command = {
  spec: {
    name: "demo",
    title: "run the whole payment loop on this machine with the example game",
    summary:
      "Start a payment server and a wallet on 127.0.0.1 with a demonstration PKI, enrol a user with a prepaid balance, sign the offers of " +
      "examples/quest and play that game: it pays at launch, for each period of play, and for a new level; one payment is declined and " +
      "one is refused for lack of funds. Interactively, the wallet asks you before each payment (answer y or n); with --yes the demo " +
      "answers for you, declining the first renewal of play time. Prints each step (offer, price and converted price, the " +
      "acknowledged payment id and server time, the balance), then the checks against the server's records.",
    synopsis: "[--card | --pc-store] [--yes] [--json] [--data DIR]",
    options: {
      card: {
        type: "boolean",
        description:
          "the offline variant instead: a smart card in a virtual PC/SC reader pays with no server running, then syncs with the server (needs pcscd and vsmartcard-vpcd)",
      },
      "pc-store": {
        type: "boolean",
        description:
          "the PC store instead: a store anchored in a software TPM (swtpm, started by the demo) pays with no server running, then syncs with the " +
          "server; --json prints every signed message (needs swtpm and tpm2-tools)",
      },
      yes: {
        type: "boolean",
        description: "answer for the user: yes to every payment but the first renewal of play time (no terminal needed)",
      },
      json: {
        type: "boolean",
        description: "print one JSON document on stdout (steps with outcome codes, payment ids, balances, checks)",
      },
      data: {
        type: "string",
        value: "DIR",
        description: "keep all data in DIR, a new or empty directory (default: a temporary directory, removed at the end)",
      },
    },
    notes: [
      `Layout of DIR: ${DemoFiles.manifest} (this layout, the parties and the result), ${DemoFiles.pki}/ (the PKI), ${DemoFiles.server}/ (the payment ` +
        `server's data directory, with its database ${DemoFiles.serverDatabase}), ${DemoFiles.wallet}/ (the wallet), ` +
        `${DemoFiles.walletPassphrase} and ${DemoFiles.operatorKey} (secrets, mode 0600), ${DemoFiles.catalog} (the signed offers). ` +
        `A directory that already holds a demo is refused: choose another one, or remove it first.`,
      "Exit status: 0 when every step behaved as expected, 1 otherwise (or when interrupted; the server and the wallet are stopped either way), 2 for a usage error.",
    ],
  },

  async run(o) {
    if (o.flag("card") && o.flag("pc-store"))
      throw o.usage("--card and --pc-store exclude each other: choose one offline variant");
    if (o.flag("pc-store")) return (await import("./demo-pcstore.js")).runPcStoreDemo(o);
    if (o.flag("card")) return (await import("./demo-card.js")).runCardDemo(o);
    const { runDemo } = await import("../demo/run.js");
    await runDemo(o);
  },
};

export const demo: CommandGroup = {
  name: "demo",
  summary: "run the whole payment loop with the example game",
  commands: [demoCommand],
};
