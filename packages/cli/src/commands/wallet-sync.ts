/**
 * `peage wallet sync`: the PC store the wallet pays with (config.pcStore) meets its payment server.
 * Its log goes to the server's card desk, which records each payment once, and the store applies
 * the server's signed SYNC and RELOAD — what `peage pcstore sync` does, with the store and the
 * server taken from the wallet's config. The running wallet holds the store: stop it first (the
 * store's lock says so otherwise).
 */
import type { Command } from "../command.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";
import { readApiKey } from "./issuing.js";
import { syncedLines } from "./pcstore.js";

const syncCommand: Command = {
  spec: {
    name: "wallet sync",
    title: "send the wallet's PC store log to its payment server and apply the server's SYNC and RELOAD",
    summary:
      "Open the PC store named in the wallet's config (`peage wallet init --pc-store DIR`) and sync it with the wallet's payment " +
      "server: the payments it made offline are uploaded and recorded once, the store's log is cleared up to what the server " +
      "recorded, and a top-up waiting at the server is loaded. Stop the running wallet first: it holds the store.",
    synopsis: "--data DIR --api-key FILE [--json]",
    options: {
      data: { type: "string", value: "DIR", description: "the wallet's data directory" },
      "api-key": { type: "string", value: "FILE", description: "a file holding an operator API key with the funds:write scope" },
      json: { type: "boolean", description: "print the result as JSON on stdout" },
    },
  },
  async run(o) {
    const dir = o.required("data", "DIR");
    const apiKey = await readApiKey(o.required("api-key", "FILE"));
    const wallet = await import("@peage/wallet");
    const config = await wallet.readConfig(dir);
    if (!config.pcStore)
      throw new CommandError(
        "ERR_STORE",
        `the wallet in ${dir} pays with no PC store: make one with \`peage pcstore init\` and name it with \`peage wallet init --pc-store DIR\``,
      );
    const access = await wallet.openConfiguredStore(dir, config.pcStore);
    let result: Awaited<ReturnType<typeof wallet.syncCard>>;
    try {
      const sessions = await access.find();
      if (!sessions)
        throw new CommandError("ERR_STORE", `the PC store in ${access.dir} did not answer: check it with peage pcstore status`);
      result = await wallet.syncCard({ card: sessions, desk: new wallet.CardDeskClient(config.server.url, apiKey) });
    } finally {
      access.close();
    }
    if (o.flag("json")) return printJson({ store: access.dir, server: config.server.url, ...result });
    print(...syncedLines(result, config.server.url));
  },
};

export const walletSyncCommands: readonly Command[] = [syncCommand];
