/**
 * `peage card …`: the user's smart card of the offline variant (docs/card.md). `issue`
 * personalises an emulated card at the issuing server's desk (its key pair made on the card, its
 * certificate from the server's card issuer, PIN, mode and purse) and can register it with the
 * server; `register` does so later; `emulate` puts it in vsmartcard's virtual reader until
 * stopped; `status` reads any Péage card through PC/SC; `sync` connects card and server: the log
 * uploaded and recorded, the server's SYNC (and RELOAD) applied on the card.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { formatPrice, isProblemCode, type PartyId, type Price } from "@peage/protocol";
import type { Command, CommandGroup } from "../command.js";
import { CommandError } from "../errors.js";
import { readInput, writeOutput } from "../files.js";
import { print, printJson, printJsonLine, warn } from "../output.js";
import { untilStopped } from "../service.js";
import {
  deviceIdentity,
  loadIssuingPki,
  modeOption,
  pkiOption,
  parseHolder,
  pinLine,
  purseLines,
  readApiKey,
  type Holder,
} from "./issuing.js";

const jsonOption = { type: "boolean", description: "print the result as JSON on stdout" } as const;
const serverOption = { type: "string", value: "URL", description: "the issuing payment server, http(s)://host:port" } as const;
const apiKeyOption = {
  type: "string",
  value: "FILE",
  description: "a file holding an operator API key (its first line) with the scopes the desk needs",
} as const;
const readerOption = {
  type: "string",
  value: "NAME",
  description: "the PC/SC reader's exact name (default: the first reader holding a Péage card)",
} as const;

const issue: Command = {
  spec: {
    name: "card issue",
    title: "personalise an emulated Péage card for a user (keys made on the card, certificate from the card issuer)",
    summary:
      "Personalise a new emulated card in CARDDIR, at the issuing payment server's desk: the card makes its ES256 key pair, the server's card issuer " +
      "(card-issuer.key of a PKI made with `peage pki init --card-issuer`) certifies its public key, and the card receives its user, PIN, mode and purse: " +
      "a prepaid balance, or a postpaid ceiling. With --server and --api-key the card is also registered at the server with the money received for it " +
      "(the prepaid balance, or the postpaid --deposit); otherwise --registration-out keeps that registration for `peage card register`.",
    synopsis:
      "--pki DIR --out CARDDIR --user URN --pin NNNN --mode prepaid|postpaid --currency CODE (--balance N | --ceiling N --deposit N) " +
      "[--card URN] [--server URL --api-key FILE] [--registration-out FILE] [--json]",
    options: {
      pki: pkiOption,
      out: { type: "string", value: "CARDDIR", description: "the card's memory: a new or empty directory" },
      user: { type: "string", value: "URN", description: "the card's user, urn:peage:user:NAME" },
      pin: { type: "string", value: "NNNN", description: "the PIN, 4 to 12 digits (three wrong PINs block the card)" },
      mode: modeOption,
      currency: {
        type: "string",
        value: "CODE",
        description: "the card's currency, ISO 4217 (it pays offers in that currency only)",
      },
      balance: { type: "string", value: "N", description: "prepaid: the balance loaded now, minor units" },
      ceiling: { type: "string", value: "N", description: "postpaid: what the card may spend between two syncs, minor units" },
      deposit: {
        type: "string",
        value: "N",
        description:
          "postpaid: the deposit received with the card, minor units, greater than --ceiling (claim 10; recorded at registration)",
      },
      card: {
        type: "string",
        value: "URN",
        description: "the card's identity, urn:peage:card:NAME (default: the user's name and a random suffix)",
      },
      server: { ...serverOption, description: "register the card at this payment server now (needs --api-key)" },
      "api-key": apiKeyOption,
      "registration-out": {
        type: "string",
        value: "FILE",
        description: "write the registration (chain, user, mode, purse, deposit) for a later `peage card register`",
      },
      json: jsonOption,
    },
  },
  async run(o) {
    const pkiDir = o.required("pki", "DIR");
    const out = resolve(o.required("out", "CARDDIR"));
    const holder = await parseHolder(o);
    const server = o.string("server");
    o.onlyWith("server", "api-key");
    o.onlyWith("api-key", "server");
    const registrationOut = o.string("registration-out");
    const card = deviceIdentity(o, holder.user, "");
    const apiKey = server !== undefined ? await readApiKey(o.required("api-key", "FILE")) : undefined;
    const pki = await loadIssuingPki(pkiDir);
    await refuseUsedMemory(out);
    const issued = await personalise(out, pki, card, holder);
    const { user, mode, currency, amounts } = holder;
    const registration = { chain: issued.chain, user, mode, currency, ...amounts };
    if (registrationOut !== undefined)
      await writeOutput(registrationOut, `${JSON.stringify(registration, null, 2)}\n`, "--registration-out");
    const registered =
      server !== undefined && apiKey !== undefined
        ? await registerIssued(registration, { card, out, server, apiKey, registrationOut })
        : undefined;
    const result = {
      card,
      dir: out,
      user,
      issuer: pki.cardIssuer.identity,
      mode,
      currency,
      ...amounts,
      certificate: issued.certificate.subject,
      chain: issued.chain,
      ...(registrationOut !== undefined && { registration: resolve(registrationOut) }),
      ...(registered && { registered: { server, created: registered.created, account: registered.account } }),
    };
    if (o.flag("json")) return printJson(result);
    const money = (amount: number) => formatPrice({ amount, currency } as Price);
    print(
      `personalised the card ${card} in ${out}:`,
      `  user      ${user}`,
      `  issuer    ${pki.cardIssuer.identity} (certificate ${issued.certificate.subject}, key made on the card)`,
      `  ${mode === "prepaid" ? `prepaid, balance ${money(amounts.balance ?? 0)}` : `postpaid, ceiling ${money(amounts.ceiling!)}${amounts.deposit ? `, deposit ${money(amounts.deposit)}` : ""}`}`,
      registered
        ? `registered at ${server}${registered.created ? "" : " (already known)"}`
        : `not registered yet: \`peage card register\` (or --server and --api-key) before its first sync`,
      `put it in the virtual reader with: peage card emulate --card ${out}`,
    );
  },
};

/** A card is personalised once: --out must be new or empty. */
async function refuseUsedMemory(out: string): Promise<void> {
  try {
    const entries = await readdir(out);
    if (entries.length > 0)
      throw new CommandError("ERR_EXISTS", `--out ${out} is not empty: a card is personalised once, in a new or empty directory`);
  } catch (cause) {
    if (cause instanceof CommandError) throw cause;
  }
}

/** The card makes its key pair in `out`; the card issuer of `pki` certifies it. */
async function personalise(out: string, pki: Awaited<ReturnType<typeof loadIssuingPki>>, card: PartyId<"card">, holder: Holder) {
  const { issueCard, FileMedium, cardIssuerFromDemo } = await import("@peage/card");
  const { user, pin, mode, currency, amounts } = holder;
  try {
    return await issueCard(new FileMedium(out), {
      issuer: cardIssuerFromDemo(pki),
      card,
      user,
      pin,
      mode,
      currency,
      ...(amounts.balance !== undefined && { balance: amounts.balance }),
      ...(amounts.ceiling !== undefined && { ceiling: amounts.ceiling }),
      roots: [pki.root.certificate],
    });
  } catch (cause) {
    throw new CommandError("ERR_CARD_ISSUE", `the card could not be personalised: ${(cause as Error).message}`);
  }
}

/** Registers the card just personalised; a refusal says the card is made and how to register it later. */
async function registerIssued(
  registration: Parameters<InstanceType<typeof import("@peage/wallet").CardDeskClient>["register"]>[0],
  where: { card: string; out: string; server: string; apiKey: string; registrationOut: string | undefined },
) {
  const { CardDeskClient } = await import("@peage/wallet");
  try {
    return await new CardDeskClient(where.server, where.apiKey).register(registration);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new CommandError(
      isProblemCode(code) ? code : "ERR_REGISTER",
      `the card ${where.card} is personalised in ${where.out} but was not registered at ${where.server}: ${(cause as Error).message}` +
        (where.registrationOut !== undefined
          ? `; register it later with \`peage card register --registration ${where.registrationOut}\``
          : ""),
    );
  }
}

const register: Command = {
  spec: {
    name: "card register",
    title: "register an issued card at its payment server",
    summary:
      "Register a card personalised with `peage card issue --registration-out FILE` at its issuing payment server (POST /v1/cards): the server checks " +
      "that its own card issuer certified the card, and records the money received with it (the prepaid balance, or the postpaid deposit).",
    synopsis: "--server URL --api-key FILE --registration FILE [--json]",
    options: {
      server: serverOption,
      "api-key": apiKeyOption,
      registration: {
        type: "string",
        value: "FILE",
        description: "the registration written by `peage card issue --registration-out`",
      },
      json: jsonOption,
    },
  },
  async run(o) {
    const server = o.required("server", "URL");
    const apiKey = await readApiKey(o.required("api-key", "FILE"));
    const path = o.required("registration", "FILE");
    let registration: unknown;
    try {
      registration = JSON.parse(await readInput(path, "--registration"));
    } catch (cause) {
      if (cause instanceof SyntaxError) throw o.usage(`--registration ${path} is not JSON: ${cause.message}`);
      throw cause;
    }
    const { minimumDeposit } = await import("@peage/card");
    const postpaid = registration as { mode?: unknown; ceiling?: unknown; deposit?: unknown } | null;
    if (postpaid?.mode === "postpaid" && typeof postpaid.ceiling === "number") {
      const deposit = typeof postpaid.deposit === "number" ? postpaid.deposit : 0;
      if (deposit < minimumDeposit(postpaid.ceiling)) {
        throw o.usage(
          `--registration ${path}: a postpaid card needs a deposit greater than its ceiling (claim 10): ` +
            `the ceiling is ${postpaid.ceiling}, the deposit ${deposit}; set "deposit" to ${minimumDeposit(postpaid.ceiling)} at least`,
        );
      }
    }
    const { CardDeskClient } = await import("@peage/wallet");
    const answer = await new CardDeskClient(server, apiKey).register(
      registration as Parameters<InstanceType<typeof CardDeskClient>["register"]>[0],
    );
    if (o.flag("json")) return printJson({ created: answer.created, account: answer.account });
    print(
      `${answer.created ? "registered" : "already registered:"} ${answer.account.card} for ${answer.account.user} (${answer.account.mode}) at ${server}`,
    );
  },
};

const emulate: Command = {
  spec: {
    name: "card emulate",
    title: "put an emulated card in the virtual PC/SC reader until stopped",
    summary:
      "Run the card of CARDDIR behind vsmartcard's virtual reader (vpcd, loaded by pcscd): while it runs, every PC/SC program — the wallet, " +
      '`peage card status` — sees a reader holding the card. Prints {"event":"inserted","card":…} as one JSON line on stdout once the reader ' +
      "accepted it; the card's refusals (status word and reason) go to stderr. SIGINT or SIGTERM take the card out. Its memory stays in CARDDIR.",
    synopsis: "--card CARDDIR [--host ADDRESS] [--port N]",
    options: {
      card: { type: "string", value: "CARDDIR", description: "the card's memory, made by `peage card issue`" },
      host: { type: "string", value: "ADDRESS", description: "where vpcd listens (default 127.0.0.1)" },
      port: { type: "string", value: "N", description: "vpcd's port (default 35963, /etc/reader.conf.d/vpcd)" },
    },
  },
  async run(o) {
    const dir = resolve(o.required("card", "CARDDIR"));
    const port = o.integer("port", 1, 65535);
    const host = o.string("host");
    const { runEmulator, VPCD_DEFAULT_PORT, Records } = await import("@peage/card");
    if (!existsSync(join(dir, Records.profile)))
      throw new CommandError(
        "ERR_CARD_MEMORY",
        `${dir} does not hold a personalised card: make one with \`peage card issue --out ${dir}\``,
      );
    let emulator: Awaited<ReturnType<typeof runEmulator>>;
    try {
      emulator = await runEmulator({
        dir,
        ...(host !== undefined && { host }),
        ...(port !== undefined && { port }),
        log: (line) => process.stderr.write(`card: ${line}\n`),
      });
    } catch (cause) {
      throw new CommandError("ERR_CARD_MEMORY", `${dir} does not hold a personalised card: ${(cause as Error).message}`);
    }
    const stopped = untilStopped(() => emulator.close());
    const waiting = setTimeout(
      () =>
        warn(
          `still waiting for the virtual reader on ${host ?? "127.0.0.1"}:${port ?? VPCD_DEFAULT_PORT}: is pcscd running with vsmartcard's vpcd?`,
        ),
      5000,
    );
    const inserted = await Promise.race([emulator.connected.then(() => true), stopped.then(() => false)]);
    clearTimeout(waiting);
    if (inserted) printJsonLine({ event: "inserted", card: emulator.applet.state?.profile.card, dir });
    await stopped;
  },
};

const status: Command = {
  spec: {
    name: "card status",
    title: "read a Péage card through PC/SC: identity, purse, counter, log, PIN tries",
    summary:
      "Read the card in a PC/SC reader (no PIN needed): its identity, user and issuing server, mode, balance or ceiling and what is used, transaction " +
      "counter, usage log length and capacity, issuer command sequence number and PIN tries left.",
    synopsis: "[--reader NAME] [--json]",
    options: { reader: readerOption, json: jsonOption },
  },
  async run(o) {
    const { client, reader } = await openReader(o.string("reader"));
    let read: { status: import("@peage/card").CardStatus; chain: string[] };
    try {
      read = await client.session(async (card) => {
        await card.select();
        return { status: await card.status(), chain: await card.certificateChain() };
      });
    } catch (cause) {
      throw cardFailure(cause);
    } finally {
      client.close();
    }
    const s = read.status;
    if (o.flag("json")) return printJson({ reader, ...s, chain: read.chain });
    print(`${s.card} in ${reader}`, ...purseLines(s), pinLine(s.pinTriesLeft));
  },
};

const sync: Command = {
  spec: {
    name: "card sync",
    title: "upload the card's usage log to its payment server and apply its SYNC and RELOAD",
    summary:
      "Connect the card and its issuing payment server: READ LOG and LOG HEAD over the server's challenge, upload (the server verifies every entry's " +
      "signature and the counters' continuity, records each payment once and credits the publishers), then apply on the card the server's signed SYNC " +
      "— the card forgets its log up to what was recorded, a postpaid card's use restarts — and the RELOAD of a pending top-up, and send the receipts back. " +
      "An upload the server refuses (altered, cut short, replayed) is reported with what was found; nothing of it is recorded.",
    synopsis: "--server URL --api-key FILE [--reader NAME] [--pin NNNN] [--json]",
    options: {
      server: serverOption,
      "api-key": { ...apiKeyOption, description: "a file holding an operator API key with the funds:write scope" },
      reader: readerOption,
      pin: {
        type: "string",
        value: "NNNN",
        description: "check the holder's PIN on the card first (the card needs none to sync)",
      },
      json: jsonOption,
    },
  },
  async run(o) {
    const server = o.required("server", "URL");
    const apiKey = await readApiKey(o.required("api-key", "FILE"));
    const pin = o.string("pin");
    if (pin !== undefined && !/^\d{4,12}$/.test(pin)) throw o.usage("--pin must be 4 to 12 digits");
    const { client, reader } = await openReader(o.string("reader"));
    const { CardDeskClient, syncCard } = await import("@peage/wallet");
    let result: Awaited<ReturnType<typeof syncCard>>;
    try {
      result = await syncCard({ card: client, desk: new CardDeskClient(server, apiKey), ...(pin !== undefined && { pin }) });
    } catch (cause) {
      throw cardFailure(cause);
    } finally {
      client.close();
    }
    if (o.flag("json")) return printJson({ reader, ...result });
    const money = (p: Price) => formatPrice(p);
    print(
      `synchronised ${result.card} (${reader}) with ${server}:`,
      `  uploaded    ${result.uploaded} log entr${result.uploaded === 1 ? "y" : "ies"}; recorded ${result.recorded} payment(s)${result.alreadyRecorded ? `, ${result.alreadyRecorded} recorded before` : ""}`,
      ...result.credited.map((c) => `  credited    ${c.publisher} ${money(c.amount)}`),
      ...result.unbooked.map((u) => `  NOT BOOKED  counter ${u.counter} (${u.paymentId}): ${u.reason}`),
      `  applied     ${result.applied.length === 0 ? "nothing" : result.applied.map((a) => a.kind.toUpperCase()).join(", ")}`,
      `  card        log ${result.after.logLength} of ${result.after.logCapacity}, ${result.after.mode === "prepaid" ? `balance ${money({ amount: result.after.balance ?? 0, currency: result.after.currency } as Price)}` : `ceiling ${money({ amount: result.after.ceiling ?? 0, currency: result.after.currency } as Price)}, used ${money({ amount: result.after.used ?? 0, currency: result.after.currency } as Price)}`}`,
      `  account     ${result.account.status}${result.account.blockedReason ? ` (${result.account.blockedReason})` : ""}, recorded up to counter ${result.account.syncedCounter}`,
    );
  },
};

export const card: CommandGroup = {
  name: "card",
  summary: "the user's smart card (offline payments): issue, register, emulate, status, sync",
  commands: [issue, register, emulate, status, sync],
};

// --- helpers ---------------------------------------------------------------------------------

/** The PC/SC client on the named reader, or on the first reader holding a Péage card. */
async function openReader(name: string | undefined): Promise<{ client: import("@peage/card").PcscCardClient; reader: string }> {
  const [{ PcscCardClient }, { findPeageReader }] = await Promise.all([import("@peage/card"), import("@peage/wallet")]);
  const reader = name ?? (await findPeageReader({ waitMs: 5000 }));
  if (reader === undefined) {
    throw new CommandError(
      "ERR_NO_CARD",
      "no Péage card in any PC/SC reader: insert it (or run `peage card emulate --card CARDDIR`), and check that pcscd runs",
    );
  }
  let client: import("@peage/card").PcscCardClient;
  try {
    client = await PcscCardClient.open({ reader, timeoutMs: 15_000 });
    await client.waitForCard(5000);
  } catch (cause) {
    throw new CommandError("ERR_NO_CARD", `no card in the reader ${JSON.stringify(reader)}: ${(cause as Error).message}`);
  }
  return { client, reader };
}

/** A card's refusal or a transport failure as a command failure with a stable code. */
function cardFailure(cause: unknown): unknown {
  const error = cause as { name?: string; code?: unknown; message?: string; sw?: number };
  if (error?.name === "CardError") return new CommandError("ERR_CARD", error.message ?? "the card refused");
  if (typeof error?.code === "string" && /^ERR_/.test(error.code)) return cause;
  return new CommandError("ERR_CARD", `the card could not be read: ${(cause as Error).message}`);
}
