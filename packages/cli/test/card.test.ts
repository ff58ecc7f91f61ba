/**
 * `peage card`, run as users run it, against the real PC/SC stack (pcscd and vsmartcard's
 * virtual reader) and a payment server with a card desk: a PKI with a card issuer, a card issued
 * and registered, payments made offline by the card, `card status` read through pcscd, `card
 * sync` recording the payments once and clearing the card's log, a reload reaching the card, and
 * `card emulate` putting the card in the reader as a process of its own.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createOffer,
  parseCurrency,
  price,
  rateTable,
  readPkiDir,
  signCatalog,
  systemClock,
  type CatalogEntry,
  type PartyId,
} from "@peage/protocol";
import { PcscCardClient, payWithCard } from "@peage/card";
import { startPcscStack, type PcscStack } from "@peage/card/testing";
import {
  ApiScopes,
  buildApp,
  createApiKey,
  initDataDir,
  loadServerIdentity,
  SqliteStore,
  staticRates,
  type App,
} from "@peage/server";
import { installCardIssuer, openCardDesk, type CardDesk } from "@peage/server/cards";
import { CardDeskClient } from "@peage/wallet";
import { assertError, assertSuccess, assertUsage, cliPath, parseJson, peage, tempDir } from "./helpers/cli.js";

const PIN = "2468";
const CARD = "urn:peage:card:zoe-1";
const USER = "urn:peage:user:zoe";

describe("peage card", () => {
  let work: string;
  let stack: PcscStack | undefined;
  let store: SqliteStore;
  let desk: CardDesk;
  let app: App;
  let url: string;
  let apiKey: string;
  let entries: Map<number, CatalogEntry>;

  before(async () => {
    work = tempDir();
    const init = assertSuccess(await peage(["pki", "init", "--dir", "pki", "--card-issuer", "--json"], work));
    const { files } = parseJson(init) as { files: Record<string, string> };
    for (const name of ["card-issuer.crt", "card-issuer.key", "card-issuer-chain.pem"]) assert.ok(files[name], name);

    // The payment server, with its card desk, on 127.0.0.1.
    const dataDir = join(work, "server");
    await initDataDir({ dataDir, pkiDir: join(work, "pki") });
    await installCardIssuer({ dataDir, pkiDir: join(work, "pki") });
    const { identity, trust } = await loadServerIdentity(dataDir);
    store = SqliteStore.open(join(dataDir, "peage.db"));
    desk = (await openCardDesk({ dataDir }, identity))!;
    assert.ok(desk, "the data directory has a card issuer");
    app = buildApp({ store, identity, trust, rates: staticRates(rateTable("EUR", "2026-01-02", {})), cards: desk });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
    apiKey = await createApiKey(store, ApiScopes, "card CLI tests");
    writeFileSync(join(work, "operator-key"), `${apiKey}\n`, { mode: 0o600 });

    const pki = await readPkiDir(join(work, "pki"));
    const catalog = await signCatalog(
      pki.publisher.identity,
      [30, 70].map((amount) => ({
        offerId: `play-${amount}`,
        description: `Play for ${amount} cents`,
        price: price(amount, "EUR"),
        grant: { kind: "launch" as const },
      })),
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    entries = new Map(catalog.offers.map((entry) => [entry.terms.price.amount as number, entry]));
  });

  after(async () => {
    await stack?.stop();
    await app?.close();
    await desk?.close();
    await store?.close();
  });

  it("issue: refuses bad command lines and a PKI without a card issuer", async () => {
    const base = ["card", "issue", "--pki", "pki", "--user", USER, "--pin", PIN, "--currency", "EUR"];
    const [ceiling, noBalance, shortPin, noIssuer] = await Promise.all([
      peage([...base, "--out", "c1", "--mode", "prepaid", "--ceiling", "5"], work),
      peage([...base, "--out", "c2", "--mode", "prepaid"], work),
      peage(
        [...base.slice(0, 6), "--pin", "12", "--currency", "EUR", "--out", "c3", "--mode", "prepaid", "--balance", "1"],
        work,
      ),
      (async () => {
        assertSuccess(await peage(["pki", "init", "--dir", "plain"], work));
        return peage(
          [
            "card",
            "issue",
            "--pki",
            "plain",
            "--out",
            "c4",
            "--user",
            USER,
            "--pin",
            PIN,
            "--currency",
            "EUR",
            "--mode",
            "prepaid",
            "--balance",
            "1",
          ],
          work,
        );
      })(),
    ]);
    assertUsage(ceiling, /a prepaid card has a --balance/);
    assertUsage(noBalance, /--balance N is required/);
    assertUsage(shortPin, /--pin must be 4 to 12 digits/);
    assertError(noIssuer, "ERR_NO_CARD_ISSUER");
    assert.equal(existsSync(join(work, "c4")), false);
    assertError(await peage(["card", "emulate", "--card", "no-card"], work), "ERR_CARD_MEMORY");
    assert.equal(existsSync(join(work, "no-card")), false, "nothing is created for a card that is not there");
  });

  it("issue: personalises the card and registers it with its load", async () => {
    const run = assertSuccess(
      await peage(
        [
          "card",
          "issue",
          "--pki",
          "pki",
          "--out",
          "card",
          "--user",
          USER,
          "--pin",
          PIN,
          "--mode",
          "prepaid",
          "--currency",
          "EUR",
          "--balance",
          "500",
          "--card",
          CARD,
          "--server",
          url,
          "--api-key",
          "operator-key",
          "--json",
        ],
        work,
      ),
    );
    const issued = parseJson(run);
    assert.equal(issued["card"], CARD);
    assert.equal(issued["issuer"], "urn:peage:server:pay-eu");
    assert.equal((issued["chain"] as string[]).length, 3, "card, card issuer CA, regulator");
    const registered = issued["registered"] as { created: boolean; account: { status: string; loaded: { amount: number } } };
    assert.equal(registered.created, true);
    assert.equal(registered.account.loaded.amount, 500);
    assert.equal(
      await store.cardFloat(USER as PartyId<"user">, parseCurrency("EUR")),
      500,
      "the load is on the card: the user's card float",
    );
    // A card is personalised once.
    mkdirSync(join(work, "again"));
    writeFileSync(join(work, "again", "x"), "");
    assertError(
      await peage(
        [
          "card",
          "issue",
          "--pki",
          "pki",
          "--out",
          "again",
          "--user",
          USER,
          "--pin",
          PIN,
          "--mode",
          "prepaid",
          "--currency",
          "EUR",
          "--balance",
          "1",
        ],
        work,
      ),
      "ERR_EXISTS",
    );
  });

  it("register: a postpaid card registered later from its registration file, with its deposit, once", async () => {
    assertSuccess(
      await peage(
        [
          "card",
          "issue",
          "--pki",
          "pki",
          "--out",
          "postpaid",
          "--user",
          "urn:peage:user:yves",
          "--pin",
          PIN,
          "--mode",
          "postpaid",
          "--currency",
          "EUR",
          "--ceiling",
          "1000",
          "--deposit",
          "2500",
          "--registration-out",
          "postpaid.json",
        ],
        work,
      ),
    );
    // Claim 10: the deposit must exceed the ceiling, at issue and in a registration file.
    const low = await peage(
      [
        "card",
        "issue",
        "--pki",
        "pki",
        "--out",
        "low",
        "--user",
        "urn:peage:user:yves",
        "--pin",
        PIN,
        "--mode",
        "postpaid",
        "--currency",
        "EUR",
        "--ceiling",
        "1000",
        "--deposit",
        "1000",
      ],
      work,
    );
    assertUsage(low, /--deposit must be greater than --ceiling.*--deposit 1001 at least/);
    assert.equal(existsSync(join(work, "low")), false, "no card is personalised");
    const registration = JSON.parse(readFileSync(join(work, "postpaid.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(work, "no-deposit.json"), JSON.stringify({ ...registration, deposit: undefined }));
    assertUsage(
      await peage(["card", "register", "--server", url, "--api-key", "operator-key", "--registration", "no-deposit.json"], work),
      /deposit greater than its ceiling/,
    );
    assert.equal(await store.getUser("urn:peage:user:yves" as PartyId<"user">), undefined, "nothing was registered");
    const first = parseJson(
      assertSuccess(
        await peage(
          ["card", "register", "--server", url, "--api-key", "operator-key", "--registration", "postpaid.json", "--json"],
          work,
        ),
      ),
    );
    const account = first["account"] as { mode: string; ceiling: { amount: number }; deposit: { amount: number } };
    assert.equal(first["created"], true);
    assert.deepEqual([account.mode, account.ceiling.amount, account.deposit.amount], ["postpaid", 1000, 2500]);
    const again = parseJson(
      assertSuccess(
        await peage(
          ["card", "register", "--server", url, "--api-key", "operator-key", "--registration", "postpaid.json", "--json"],
          work,
        ),
      ),
    );
    assert.equal(again["created"], false);
    assert.equal((await store.getUser("urn:peage:user:yves" as PartyId<"user">))?.deposit, 2500, "the deposit is recorded once");
  });

  it("status and sync through pcscd: payments recorded once, the card's log cleared, a reload applied", async () => {
    stack = await startPcscStack({ dir: join(work, "card") });
    const client = await PcscCardClient.open({ reader: stack.reader, timeoutMs: 15_000 });
    try {
      for (const amount of [30, 70])
        await client.session((card) =>
          payWithCard(card, { offer: createOffer(entries.get(amount)!, systemClock), pin: PIN, clock: systemClock }),
        );
    } finally {
      client.close();
    }

    const status = parseJson(assertSuccess(await peage(["card", "status", "--json"], work)));
    assert.equal(status["card"], CARD);
    assert.match(String(status["reader"]), /^Virtual PCD/);
    assert.deepEqual(
      [status["mode"], status["balance"], status["counter"], status["logLength"], status["pinTriesLeft"]],
      ["prepaid", 400, 2, 2, 3],
    );
    assert.match(
      assertSuccess(await peage(["card", "status"], work)).stdout,
      /balance 4\.00 EUR[\s\S]*log\s+2 of 200 entries[\s\S]*PIN\s+3 tries left/,
    );

    const synced = parseJson(
      assertSuccess(await peage(["card", "sync", "--server", url, "--api-key", "operator-key", "--json"], work)),
    );
    assert.equal(synced["uploaded"], 2);
    assert.equal(synced["recorded"], 2);
    assert.deepEqual(
      (synced["applied"] as { kind: string }[]).map((a) => a.kind),
      ["sync"],
    );
    assert.deepEqual(synced["credited"], [
      { publisher: "urn:peage:publisher:acme-games", amount: { amount: 100, currency: "EUR" } },
    ]);
    assert.equal((synced["after"] as { logLength: number }).logLength, 0);
    assert.equal((await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length, 2);

    // Again: nothing new to record or apply.
    const again = parseJson(
      assertSuccess(await peage(["card", "sync", "--server", url, "--api-key", "operator-key", "--json"], work)),
    );
    assert.deepEqual([again["uploaded"], again["recorded"], (again["applied"] as unknown[]).length], [0, 0, 0]);
    assert.equal((await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length, 2);

    // A top-up for the card reaches it at the next sync, once.
    await new CardDeskClient(url, apiKey).reload(CARD, 250, "cli-test-reload");
    const reloaded = assertSuccess(await peage(["card", "sync", "--server", url, "--api-key", "operator-key"], work));
    assert.match(reloaded.stdout, /applied\s+RELOAD/);
    assert.match(reloaded.stdout, /balance 6\.50 EUR/);
    const after = parseJson(assertSuccess(await peage(["card", "status", "--json"], work)));
    assert.equal(after["balance"], 650);
    assert.equal(await store.cardFloat(USER as PartyId<"user">, parseCurrency("EUR")), 650, "the books and the card agree");

    // A wrong PIN given to sync is the card's refusal, counted by it.
    assertError(
      await peage(["card", "sync", "--server", url, "--api-key", "operator-key", "--pin", "0000"], work),
      "ERR_DECLINED",
    );
  });

  it("emulate: the card in the virtual reader as a process of its own, until SIGTERM", async () => {
    assert.ok(stack, "the PC/SC stack runs (previous test)");
    // Take the test's own emulated card out: the command's takes its place.
    await stack.emulator.close();
    const child = spawn(process.execPath, [cliPath, "card", "emulate", "--card", join(work, "card")], {
      cwd: work,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "inserted" line: ${stdout} ${stderr}`)), 30_000);
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes("\n")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on("close", () => reject(new Error(`exited: ${stdout} ${stderr}`)));
      });
      assert.deepEqual(JSON.parse(stdout.split("\n")[0]!), { event: "inserted", card: CARD, dir: join(work, "card") });
      const status = parseJson(assertSuccess(await peage(["card", "status", "--json"], work)));
      assert.equal(status["balance"], 650);
      assert.equal(status["pinTriesLeft"], 2, "the wrong PIN of the previous test is remembered by the card's memory");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /^card: card inserted in the virtual reader/m, "the emulator's log goes to stderr");
  });
});
