/**
 * `peage pcstore` and `peage demo --pc-store`, run as users run them, against swtpm (started
 * here) and a payment server with a card desk: a store made in the TPM and registered, payments
 * made offline, `pcstore status` and `pcstore sync` recording them once; a store whose files were
 * restored from an older copy refused by `pcstore status`; the demonstration end to end with every
 * signed message printed.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createOffer,
  price,
  rateTable,
  readPkiDir,
  signCatalog,
  systemClock,
  verifyAcknowledgment,
  type CatalogEntry,
  type PartyId,
} from "@peage/protocol";
import { decodeToken, payWithCard } from "@peage/card";
import { openPcStore } from "@peage/pcstore";
import { startSwtpm, type RunningSwtpm } from "@peage/pcstore/testing";
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
import { assertError, assertSuccess, assertUsage, parseJson, peage, tempDir } from "./helpers/cli.js";

const PIN = "2468";
const STORE = "urn:peage:card:zoe-pc";
const USER = "urn:peage:user:zoe";

describe("peage pcstore", () => {
  let work: string;
  let swtpm: RunningSwtpm;
  let store: SqliteStore;
  let desk: CardDesk;
  let app: App;
  let url: string;
  let entries: Map<number, CatalogEntry>;

  before(async () => {
    work = tempDir();
    swtpm = await startSwtpm(join(work, "swtpm"));
    assertSuccess(await peage(["pki", "init", "--dir", "pki", "--card-issuer"], work));
    const dataDir = join(work, "server");
    await initDataDir({ dataDir, pkiDir: join(work, "pki") });
    await installCardIssuer({ dataDir, pkiDir: join(work, "pki") });
    const { identity, trust } = await loadServerIdentity(dataDir);
    store = SqliteStore.open(join(dataDir, "peage.db"));
    desk = (await openCardDesk({ dataDir }, identity))!;
    app = buildApp({ store, identity, trust, rates: staticRates(rateTable("EUR", "2026-01-02", {})), cards: desk });
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    writeFileSync(join(work, "operator-key"), `${await createApiKey(store, ApiScopes, "pcstore CLI tests")}\n`, { mode: 0o600 });
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
    await app?.close();
    await desk?.close();
    await store?.close();
    await swtpm?.stop();
  });

  const init = (dir: string, ...extra: string[]) =>
    peage(
      [
        "pcstore",
        "init",
        "--pki",
        "pki",
        "--dir",
        dir,
        "--user",
        USER,
        "--pin",
        PIN,
        "--mode",
        "prepaid",
        "--currency",
        "EUR",
        ...extra,
      ],
      work,
    );

  it("init: refuses bad command lines, an absent TPM, and a load above the assurance level's limit", async () => {
    assertUsage(
      await init("s1", "--balance", "5", "--software", "--tcti", swtpm.tcti),
      /--software and --tcti exclude each other/,
    );
    assertUsage(await init("s2", "--ceiling", "5", "--software"), /a prepaid card has a --balance/);
    assertError(await init("s3", "--balance", "5", "--tcti", "swtpm:host=127.0.0.1,port=1"), "ERR_NO_TPM");
    assertError(await init("s4", "--balance", "5000", "--software"), "ERR_STORE");
    assert.equal(existsSync(join(work, "s4", "pcstore.json")), false);
    assertError(await peage(["pcstore", "status", "--dir", "nothing"], work), "ERR_STORE");
  });

  it("init, pay offline, status, sync: recorded once, the log cleared", async () => {
    const made = parseJson(
      assertSuccess(
        await init(
          "store",
          "--balance",
          "500",
          "--card",
          STORE,
          "--tcti",
          swtpm.tcti,
          "--registration-out",
          "store.json",
          "--json",
        ),
      ),
    );
    assert.equal(made["assurance"], "pc-tpm");
    const registered = parseJson(
      assertSuccess(
        await peage(
          ["card", "register", "--server", url, "--api-key", "operator-key", "--registration", "store.json", "--json"],
          work,
        ),
      ),
    );
    assert.equal(registered["created"], true);
    const pki = await readPkiDir(join(work, "pki"));
    const opened = await openPcStore(join(work, "store"), { tpm: swtpm.tpm });
    for (const amount of [30, 70]) {
      const offer = createOffer(entries.get(amount)!, systemClock);
      const ack = await payWithCard(opened.client, { offer, pin: PIN, clock: systemClock });
      assert.equal(
        (await verifyAcknowledgment(ack, offer, { trust: pki.trustStore(), clock: systemClock, server: pki.server.identity })).ok,
        true,
      );
    }
    const status = parseJson(
      assertSuccess(await peage(["pcstore", "status", "--dir", "store", "--tcti", swtpm.tcti, "--json"], work)),
    );
    assert.deepEqual([status["card"], status["assurance"], status["balance"], status["logLength"]], [STORE, "pc-tpm", 400, 2]);
    const synced = parseJson(
      assertSuccess(
        await peage(
          ["pcstore", "sync", "--dir", "store", "--server", url, "--api-key", "operator-key", "--tcti", swtpm.tcti, "--json"],
          work,
        ),
      ),
    );
    assert.equal(synced["recorded"], 2);
    assert.equal((synced["after"] as { logLength: number }).logLength, 0);
    const again = parseJson(
      assertSuccess(
        await peage(
          ["pcstore", "sync", "--dir", "store", "--server", url, "--api-key", "operator-key", "--tcti", swtpm.tcti, "--json"],
          work,
        ),
      ),
    );
    assert.equal(again["recorded"], 0);
    assert.equal((await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length, 2);
  });

  it("a wallet configured with the store pays with it offline; `wallet sync` sends its log later, once; a second opener is refused", async () => {
    const card = "urn:peage:card:zoe-wallet-pc";
    assertSuccess(
      await init("wstore", "--balance", "500", "--card", card, "--tcti", swtpm.tcti, "--registration-out", "wstore.json"),
    );
    assertSuccess(
      await peage(["card", "register", "--server", url, "--api-key", "operator-key", "--registration", "wstore.json"], work),
    );
    const pki = await readPkiDir(join(work, "pki"));
    writeFileSync(join(work, "wallet-pass"), "the wallet with a PC store\n", { mode: 0o600 });
    const walletInit = (data: string, ...extra: string[]) =>
      peage(
        [
          "wallet",
          "init",
          "--data",
          data,
          "--user",
          USER,
          "--server-url",
          url,
          "--server-id",
          pki.server.identity,
          "--home-currency",
          "EUR",
          "--roots",
          "pki/root.crt",
          "--passphrase-file",
          "wallet-pass",
          "--auto-off",
          "--json",
          ...extra,
        ],
        work,
      );
    assertUsage(await walletInit("w0", "--pc-store-tcti", swtpm.tcti), /--pc-store-tcti goes with --pc-store DIR/);
    assertError(await walletInit("w1", "--pc-store", "no-store-here"), "ERR_BAD_REQUEST");
    const made = parseJson(assertSuccess(await walletInit("w", "--pc-store", "wstore", "--pc-store-tcti", swtpm.tcti)));
    assert.deepEqual(made["pcStore"], { dir: join(work, "wstore"), tcti: swtpm.tcti });

    const wallet = await import("@peage/wallet");
    const prompt = new wallet.ScriptedPrompt([true, true], { pins: [PIN, PIN] });
    const opened = await wallet.createWallet({ dir: join(work, "w"), passphrase: "the wallet with a PC store", prompt });
    const before = (await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length;
    try {
      // While this wallet holds the store, nobody else opens it.
      assertError(await peage(["wallet", "sync", "--data", "w", "--api-key", "operator-key"], work), "ERR_CONFLICT");
      for (const [amount, balance] of [
        [30, 470],
        [70, 400],
      ] as const) {
        const paid = await opened.pay(createOffer(entries.get(amount)!, systemClock));
        assert.equal(paid.card?.card, card, "paid by the store");
        assert.deepEqual(paid.card?.debit, { balance, counter: amount === 30 ? 1 : 2 });
      }
      assert.equal(prompt.pinRequests[0]?.card, card);
      assert.equal(
        (await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length,
        before,
        "nothing went to the server: the store paid offline",
      );
    } finally {
      opened.close();
    }
    const synced = parseJson(
      assertSuccess(await peage(["wallet", "sync", "--data", "w", "--api-key", "operator-key", "--json"], work)),
    );
    assert.deepEqual([synced["card"], synced["recorded"], synced["server"]], [card, 2, url]);
    assert.equal((synced["after"] as { logLength: number }).logLength, 0);
    const again = parseJson(
      assertSuccess(await peage(["wallet", "sync", "--data", "w", "--api-key", "operator-key", "--json"], work)),
    );
    assert.equal(again["recorded"], 0, "nothing recorded twice");
    assert.equal((await store.listPayments({ user: USER as PartyId<"user">, limit: 10 })).payments.length, before + 2);
    // A wallet without a store has nothing to sync.
    assertSuccess(await walletInit("w2"));
    assertError(await peage(["wallet", "sync", "--data", "w2", "--api-key", "operator-key"], work), "ERR_STORE");
  });

  it("status: a store whose files were restored from an older copy is refused, ERR_STORE_BLOCKED", async () => {
    assertSuccess(await init("rolled", "--balance", "500", "--card", "urn:peage:card:zoe-pc2", "--tcti", swtpm.tcti));
    cpSync(join(work, "rolled", "fragments"), join(work, "rolled-copy"), { recursive: true });
    const opened = await openPcStore(join(work, "rolled"), { tpm: swtpm.tpm });
    await payWithCard(opened.client, { offer: createOffer(entries.get(70)!, systemClock), pin: PIN, clock: systemClock });
    rmSync(join(work, "rolled", "fragments"), { recursive: true });
    cpSync(join(work, "rolled-copy"), join(work, "rolled", "fragments"), { recursive: true });
    const refused = assertError(
      await peage(["pcstore", "status", "--dir", "rolled", "--tcti", swtpm.tcti], work),
      "ERR_STORE_BLOCKED",
    );
    assert.match(refused.stderr, /restored from an older copy/);
  });
});

describe("peage demo --pc-store", () => {
  it("pays offline with the PC store in swtpm, then syncs; --json carries every signed message", async () => {
    const work = tempDir();
    const report = parseJson(assertSuccess(await peage(["demo", "--pc-store", "--yes", "--json", "--data", "kept"], work))) as {
      ok: boolean;
      steps: { offerId: string; outcome: string }[];
      checks: { check: string; ok: boolean }[];
      messages: Record<string, unknown[]>;
    };
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(
      report.steps.map((s) => s.outcome),
      ["paid", "paid", "paid", "ERR_INSUFFICIENT_FUNDS"],
    );
    const m = report.messages;
    assert.deepEqual(
      [m["offers"]!.length, m["acknowledgments"]!.length, m["logEntries"]!.length, m["commands"]!.length, m["receipts"]!.length],
      [4, 3, 3, 2, 2],
    );
    const counters = (m["logEntries"] as string[]).map((token) => (decodeToken(token)!.body as { counter: number }).counter);
    assert.deepEqual(counters, [1, 2, 3]);
    assert.deepEqual(
      (m["commands"] as string[]).map((token) => (decodeToken(token)!.body as { type: string }).type),
      ["peage.card-sync", "peage.card-reload"],
    );
    for (const name of ["demo-pc-store.json", "pcstore/pcstore.json", "swtpm", "server/peage.db"])
      assert.ok(existsSync(join(work, "kept", name)), name);
  });

  it("needs a terminal or --yes, and one offline variant at a time", async () => {
    assertUsage(await peage(["demo", "--pc-store"], tempDir()), /standard input is not one/);
    assertUsage(await peage(["demo", "--pc-store", "--card", "--yes"], tempDir()), /exclude each other/);
  });
});
