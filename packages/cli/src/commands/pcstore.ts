/**
 * `peage pcstore …`: the PC store, the third way to pay offline (docs/pc-store.md). `init`
 * makes one — its key in the PC's TPM (the TCTI of --tcti or TPM2TOOLS_TCTI) or, with
 * --software, on the disk at a lower assurance level — certified by the server's card issuer;
 * `status` opens it (checking its files against the TPM's counter and repairing fragments) and
 * reads it; `sync` uploads its log to the issuing server and applies the server's SYNC and RELOAD,
 * exactly as `peage card sync` does for a card.
 */
import { resolve } from "node:path";
import { formatPrice, type Price } from "@peage/protocol";
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { CommandError } from "../errors.js";
import { writeOutput } from "../files.js";
import { print, printJson } from "../output.js";
import {
  deviceIdentity,
  loadIssuingPki,
  modeOption,
  pkiOption,
  parseHolder,
  pinLine,
  purseLines,
  readApiKey,
} from "./issuing.js";

const jsonOption = { type: "boolean", description: "print the result as JSON on stdout" } as const;
const dirOption = {
  type: "string",
  value: "DIR",
  description: "the store's directory (pcstore.json and, by default, its fragments)",
} as const;
const tctiOption = {
  type: "string",
  value: "TCTI",
  description: "the TPM to use, as tpm2-tools names it (default: $TPM2TOOLS_TCTI, else device:/dev/tpmrm0)",
} as const;

/** The TPM named by --tcti or the environment, for a store that needs one. */
async function tpmOf(o: Options): Promise<import("@peage/pcstore").Tpm> {
  const { Tpm } = await import("@peage/pcstore");
  const tcti = o.string("tcti");
  return tcti !== undefined ? new Tpm(tcti) : Tpm.fromEnvironment();
}

/** Opens the store, or says why it refuses to open (a rollback, fragments lost beyond repair). */
async function openStore(o: Options, dir: string): Promise<import("@peage/pcstore").OpenedPcStore> {
  const { openPcStore, readConfig } = await import("@peage/pcstore");
  try {
    const config = readConfig(dir);
    return await openPcStore(dir, config.tpm ? { tpm: await tpmOf(o) } : {});
  } catch (cause) {
    const name = (cause as Error).name;
    if (name === "RollbackDetected" || name === "VaultDestroyed")
      throw new CommandError("ERR_STORE_BLOCKED", (cause as Error).message);
    throw new CommandError("ERR_STORE", `the PC store in ${dir} cannot be opened: ${(cause as Error).message}`);
  }
}

const init: Command = {
  spec: {
    name: "pcstore init",
    title: "make a PC store for a user: key in the TPM (or on disk with --software), certified by the card issuer",
    summary:
      "Make a PC store in DIR at the issuing payment server's desk: with a TPM 2.0 its ECC P-256 key is created inside the TPM " +
      "(never exportable), a TPM monotonic counter anchors its files and its fragment key is sealed to the TPM; with --software " +
      "all of it stays on the disk and its certificate says so (a lower assurance level, lower limits). The server's card issuer " +
      "(a PKI made with `peage pki init --card-issuer`) certifies the key; the registration for `peage card register` goes to " +
      "--registration-out (and is printed with --json).",
    synopsis:
      "--pki DIR --dir DIR --user URN --pin NNNN --mode prepaid|postpaid --currency CODE (--balance N | --ceiling N) [--card URN] " +
      "[--tcti TCTI | --software] [--registration-out FILE] [--json]",
    options: {
      pki: pkiOption,
      dir: dirOption,
      user: { type: "string", value: "URN", description: "the store's user, urn:peage:user:NAME" },
      pin: { type: "string", value: "NNNN", description: "the PIN, 4 to 12 digits (three wrong PINs block the store)" },
      mode: modeOption,
      currency: { type: "string", value: "CODE", description: "the store's currency, ISO 4217" },
      balance: { type: "string", value: "N", description: "prepaid: the balance loaded now, minor units" },
      ceiling: { type: "string", value: "N", description: "postpaid: what the store may spend between two syncs, minor units" },
      deposit: {
        type: "string",
        value: "N",
        description: "postpaid: the deposit the user lodges, greater than the ceiling (claim 10), minor units",
      },
      card: {
        type: "string",
        value: "URN",
        description: "the store's identity, urn:peage:card:NAME (default: the user's name, -pc and a random suffix)",
      },
      tcti: tctiOption,
      software: { type: "boolean", description: "no TPM: key and fragment key on the disk (assurance level pc-software)" },
      "registration-out": {
        type: "string",
        value: "FILE",
        description: "write the registration (chain, user, mode, purse) for `peage card register`",
      },
      json: jsonOption,
    },
  },
  async run(o) {
    const pkiDir = o.required("pki", "DIR");
    const dir = resolve(o.required("dir", "DIR"));
    // A postpaid store, as a postpaid card, is registered against a deposit above its ceiling (claim 10).
    const { user, pin, mode, currency, amounts: purse } = await parseHolder(o);
    const { deposit, ...amounts } = purse;
    if (o.flag("software") && o.string("tcti") !== undefined) throw o.usage("--software and --tcti exclude each other");
    const card = deviceIdentity(o, user, "pc-");
    const [{ createPcStore }, { cardIssuerFromDemo }, pki] = await Promise.all([
      import("@peage/pcstore"),
      import("@peage/card"),
      loadIssuingPki(pkiDir),
    ]);
    const tpm = o.flag("software") ? undefined : await tpmOf(o);
    if (tpm && !tpm.available()) {
      throw new CommandError(
        "ERR_NO_TPM",
        `no TPM answers on ${tpm.tcti}: give its TCTI with --tcti (swtpm:host=…,port=…), or make a software store with --software`,
      );
    }
    let issued: Awaited<ReturnType<typeof createPcStore>>;
    try {
      issued = await createPcStore({
        dir,
        issuer: cardIssuerFromDemo(pki),
        card,
        user,
        pin,
        mode,
        currency,
        ...amounts,
        roots: [pki.root.certificate],
        ...(tpm && { tpm }),
      });
    } catch (cause) {
      throw new CommandError("ERR_STORE", `the PC store could not be made: ${(cause as Error).message}`);
    }
    const registration = { chain: issued.chain, user, mode, currency, ...amounts, ...(deposit !== undefined && { deposit }) };
    const registrationOut = o.string("registration-out");
    if (registrationOut !== undefined)
      await writeOutput(registrationOut, `${JSON.stringify(registration, null, 2)}\n`, "--registration-out");
    const result = {
      card,
      dir,
      assurance: issued.config.assurance,
      places: issued.config.places,
      coding: issued.config.coding,
      registration,
    };
    if (o.flag("json")) return printJson(result);
    print(
      `made the PC store ${card} in ${dir}:`,
      `  user        ${user}`,
      `  assurance   ${issued.config.assurance}${tpm ? ` (key in the TPM at ${tpm.tcti})` : " (no TPM: key on the disk)"}`,
      `  fragments   any ${issued.config.coding.k} of ${issued.config.coding.n}, in ${issued.config.places.join(", ")}`,
      registrationOut !== undefined
        ? `register it at the server with: peage card register --server URL --api-key FILE --registration ${registrationOut}`
        : "register it at the server with `peage card register` (write its registration with --registration-out)",
    );
  },
};

const status: Command = {
  spec: {
    name: "pcstore status",
    title: "open a PC store and read it: identity, assurance, purse, counter, log, fragments",
    summary:
      "Open the PC store in DIR: its files are checked against the TPM's counter (an older copy is refused), damaged fragments " +
      "are repaired, then the store is read like a card: identity, user, issuer, mode, balance or ceiling, counter, log, PIN " +
      "tries. Exits with ERR_STORE_BLOCKED when the store refuses to open.",
    synopsis: "--dir DIR [--tcti TCTI] [--json]",
    options: { dir: dirOption, tcti: tctiOption, json: jsonOption },
  },
  async run(o) {
    const dir = resolve(o.required("dir", "DIR"));
    const store = await openStore(o, dir);
    await store.client.select();
    const s = await store.client.status();
    await store.transport.reset();
    const fragments = {
      version: store.report.version,
      files: store.medium.vault.files().length,
      repaired: store.report.repaired,
      removed: store.report.removed,
    };
    if (o.flag("json")) return printJson({ dir, assurance: store.config.assurance, ...s, fragments });
    print(
      `${s.card} in ${dir}`,
      `  assurance   ${store.config.assurance}`,
      ...purseLines(s),
      `  fragments   version ${fragments.version}, ${fragments.files} files${fragments.repaired ? `, ${fragments.repaired} repaired now` : ""}`,
      pinLine(s.pinTriesLeft),
    );
  },
};

const sync: Command = {
  spec: {
    name: "pcstore sync",
    title: "upload the PC store's usage log to its payment server and apply its SYNC and RELOAD",
    summary:
      "As `peage card sync`, for the PC store in DIR: the log and the signed head over the server's challenge are uploaded, the " +
      "server records each payment once (or refuses the upload of a store that was copied or rolled back, and blocks it), and the " +
      "store applies the server's signed commands.",
    synopsis: "--dir DIR --server URL --api-key FILE [--tcti TCTI] [--json]",
    options: {
      dir: dirOption,
      server: { type: "string", value: "URL", description: "the issuing payment server, http(s)://host:port" },
      "api-key": { type: "string", value: "FILE", description: "a file holding an operator API key with the funds:write scope" },
      tcti: tctiOption,
      json: jsonOption,
    },
  },
  async run(o) {
    const dir = resolve(o.required("dir", "DIR"));
    const server = o.required("server", "URL");
    const apiKey = await readApiKey(o.required("api-key", "FILE"));
    const store = await openStore(o, dir);
    const [{ CardDeskClient, syncCard }, { PcStoreAccess }] = await Promise.all([
      import("@peage/wallet"),
      import("@peage/pcstore"),
    ]);
    const result = await syncCard({ card: new PcStoreAccess(store), desk: new CardDeskClient(server, apiKey) });
    if (o.flag("json")) return printJson({ dir, ...result });
    print(...syncedLines(result, server));
  },
};

/** What a store's sync did, as `pcstore sync` and `wallet sync` print it. */
export function syncedLines(result: import("@peage/wallet").CardSyncResult, server: string): string[] {
  return [
    `synchronised ${result.card} with ${server}:`,
    `  uploaded    ${result.uploaded} log entries; recorded ${result.recorded} payment(s)`,
    ...result.credited.map((c) => `  credited    ${c.publisher} ${formatPrice(c.amount as Price)}`),
    `  applied     ${result.applied.length === 0 ? "nothing" : result.applied.map((a) => a.kind.toUpperCase()).join(", ")}`,
    `  account     ${result.account.status}, recorded up to counter ${result.account.syncedCounter}`,
  ];
}

export const pcstore: CommandGroup = {
  name: "pcstore",
  summary: "the PC store (offline payments anchored in the TPM): init, status, sync",
  commands: [init, status, sync],
};
