/**
 * `peage wallet --data DIR`: opens the user's wallet (@peage/wallet) and runs its local service,
 * which programs on this machine find through the endpoint file. The wallet is loaded only when
 * this command runs, so other commands do not pay for it.
 */
import type { Command, CommandGroup } from "../command.js";
import { readInput } from "../files.js";
import { print, printJsonLine, warn } from "../output.js";
import { untilStopped } from "../service.js";

/** Where the passphrase comes from when no --passphrase-file is given. */
export const PASSPHRASE_ENV = "PEAGE_PASSPHRASE";

const walletCommand: Command = {
  spec: {
    name: "wallet",
    title: "run the user's wallet service on a data directory",
    summary:
      "Open the wallet in DIR with its passphrase and serve programs on 127.0.0.1: they find the service and its token in the " +
      'endpoint file. Prints {"event":"listening","url":…,"user":…,"endpointFile":…} as one JSON line on stdout once it listens, ' +
      "then one line per offer handled. Offers the user's rules do not accept on their own are asked on this terminal. SIGINT or SIGTERM stop it.",
    synopsis: "--data DIR [--passphrase-file FILE] [--endpoint-file FILE] [--yes]",
    options: {
      data: { type: "string", value: "DIR", description: "the wallet's data directory" },
      "passphrase-file": { type: "string", value: "FILE", description: `read the passphrase from FILE (default: the ${PASSPHRASE_ENV} environment variable)` },
      "endpoint-file": { type: "string", value: "FILE", description: "where to write {url, token, pid} (default $PEAGE_WALLET_FILE or ~/.peage/wallet.json)" },
      yes: { type: "boolean", description: "accept every verified offer without asking: for demonstrations only" },
    },
  },
  async run(o) {
    const dir = o.required("data", "DIR");
    const passphraseFile = o.string("passphrase-file");
    const endpointFile = o.string("endpoint-file");
    let passphrase: string;
    if (passphraseFile !== undefined) {
      // One line: a trailing newline written by an editor or `echo` is not part of the passphrase.
      passphrase = (await readInput(passphraseFile, "--passphrase-file")).replace(/\r?\n$/, "");
    } else {
      const fromEnv = process.env[PASSPHRASE_ENV];
      if (fromEnv === undefined || fromEnv === "") throw o.usage(`the wallet's passphrase is needed: give --passphrase-file FILE or set ${PASSPHRASE_ENV}`);
      passphrase = fromEnv;
    }
    const wallet = await import("@peage/wallet");
    const prompt = o.flag("yes") ? new wallet.AutoYesPrompt() : new wallet.TerminalPrompt({ output: process.stderr });
    if (o.flag("yes")) warn("--yes: every offer that verifies is paid without asking; use it for demonstrations only");
    const service = await wallet.startWallet({
      wallet: { dir, passphrase, prompt },
      ...(endpointFile !== undefined && { endpointFile }),
      log: (line) => print(line),
    });
    printJsonLine({ event: "listening", url: service.url, user: service.wallet.config.user, endpointFile: service.endpointFile });
    await untilStopped(() => service.close());
  },
};

export const wallet: CommandGroup = {
  name: "wallet",
  summary: "run the user's wallet",
  commands: [walletCommand],
};
