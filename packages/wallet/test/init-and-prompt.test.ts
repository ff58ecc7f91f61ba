import { before, test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateToPem, createDemoPki, FixedClock, price, type DemoPki } from "@peage/protocol";
import {
  createWallet,
  initWallet,
  NobodyPrompt,
  parseConfig,
  PaymentServerClient,
  ScriptedPrompt,
  TerminalPrompt,
  WalletError,
  walletPaths,
  type OfferView,
} from "../src/index.js";
import { createTestWorld } from "../src/testing/index.js";
import { offerFor, walletCode } from "./helpers.js";

let pki: DemoPki;
before(async () => {
  pki = await createDemoPki();
});

const view: OfferView = {
  offerId: "level-2",
  description: "Unlock level 2 — « The Cliffs »",
  price: "1.00 USD",
  converted: "about 0.92 EUR at the reference rates of 2026-11-24",
  date: "2026-11-24T10:00:00.000Z",
  publisher: "urn:peage:publisher:acme-games",
  grant: { kind: "event", event: "level-2" },
  reason: "above 0.50 EUR per payment, the most you let pass without asking",
  facts: {
    price: { amount: 100, currency: "USD" } as OfferView["facts"]["price"],
    firstPayment: false,
    payWith: "server",
    server: "https://pay.example",
  },
};

function terminal(answer: string | undefined, options: { timeoutMs?: number } = {}) {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = "";
  output.on("data", (c: Buffer) => (shown += c.toString("utf8")));
  const prompt = new TerminalPrompt({ input, output, requireTty: false, ...options });
  return {
    prompt,
    answer: () => {
      if (answer !== undefined) input.write(`${answer}\n`);
    },
    shown: () => shown,
  };
}

test("the terminal prompt shows exactly the signed description, the price, its conversion, the date and the publisher", async () => {
  const t = terminal("y");
  const asking = t.prompt.ask(view);
  t.answer();
  assert.equal(await asking, true);
  const lines = t.shown().split("\n");
  assert.ok(lines.includes("  Unlock level 2 — « The Cliffs »"), t.shown());
  assert.ok(lines.includes("  Price:      1.00 USD  (about 0.92 EUR at the reference rates of 2026-11-24)"));
  assert.ok(lines.includes("  Offer date: 2026-11-24T10:00:00.000Z"));
  assert.ok(lines.includes("Payment requested by urn:peage:publisher:acme-games"));
  assert.ok(lines.includes('  Grants:     the event "level-2"'));
  assert.match(t.shown(), /Pay\? \[y\/N\]/);
});

test("the terminal prompt takes only y or yes as a yes; anything else, silence or an abort is a no", async () => {
  for (const [answer, expected] of [
    ["yes", true],
    ["Y", true],
    ["", false],
    ["n", false],
    ["yes please", false],
    ["oui", false],
  ] as const) {
    const t = terminal(answer);
    const asking = t.prompt.ask(view);
    t.answer();
    assert.equal(await asking, expected, JSON.stringify(answer));
  }
  const silent = terminal(undefined, { timeoutMs: 30 });
  assert.equal(await silent.prompt.ask(view), false);
  assert.match(silent.shown(), /No answer; nothing was paid\./);
  const controller = new AbortController();
  const aborted = terminal(undefined);
  const asking = aborted.prompt.ask(view, controller.signal);
  controller.abort();
  assert.equal(await asking, false);
});

test("the terminal prompt refuses to ask when its input is not a terminal: nobody was asked, which is not a no", async () => {
  const prompt = new TerminalPrompt({ input: new PassThrough(), output: new PassThrough() });
  await assert.rejects(
    prompt.ask(view),
    (error) => walletCode("ERR_CONSENT_UNAVAILABLE")(error) && (error as WalletError).retryable,
  );
});

test("a wallet that can ask nobody gives the program ERR_CONSENT_UNAVAILABLE, retryable, and records no decision", async () => {
  const world = await createTestWorld({
    pki,
    prompt: new NobodyPrompt(),
    rules: { autoAccept: null, refuse: {} },
    service: false,
  });
  try {
    await assert.rejects(
      world.wallet.pay(offerFor(world.catalog, "launch")),
      (error) => walletCode("ERR_CONSENT_UNAVAILABLE")(error) && (error as WalletError).retryable,
    );
    assert.deepEqual(world.wallet.history.list(), []);
  } finally {
    await world.close();
  }
});

test("initWallet checks its inputs, writes 0600 files, returns the public JWK, and refuses to overwrite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "peage-init-"));
  try {
    const base = {
      passphrase: "long enough passphrase",
      user: "urn:peage:user:bob",
      serverUrl: "https://pay.example/",
      serverId: "urn:peage:server:pay-eu",
      homeCurrency: "EUR",
      trustRootsPem: certificateToPem(pki.root.certificate),
    };
    const bad: Array<[Partial<typeof base>, RegExp]> = [
      [{ user: "bob" }, /urn:peage:user/],
      [{ user: "urn:peage:publisher:bob" }, /urn:peage:user/],
      [{ serverId: "urn:peage:user:x" }, /urn:peage:server/],
      [{ homeCurrency: "EURO" }, /ISO 4217/],
      [{ serverUrl: "ftp://pay.example" }, /http/],
      [{ serverUrl: "https://user:pw@pay.example" }, /credentials/],
      [{ serverUrl: "http://pay.example" }, /plain http to another machine: use https/],
      [{ serverUrl: "http://192.168.1.20:8402" }, /plain http to another machine/],
      [{ serverUrl: "http://127.0.0.1.example.com" }, /plain http to another machine/],
      [{ passphrase: "short" }, /8 characters/],
      [{ trustRootsPem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, /not PEM certificates/],
      [{ trustRootsPem: join(dir, "missing.pem") }, /cannot read/],
    ];
    for (const [change, message] of bad) {
      await assert.rejects(initWallet(join(dir, "bad"), { ...base, ...change }), (e: unknown) => {
        assert.ok(e instanceof WalletError);
        assert.equal(e.code, "ERR_BAD_REQUEST");
        assert.match(e.message, message);
        return true;
      });
    }
    for (const loopback of ["http://127.0.0.1:8402", "http://localhost:8402", "http://[::1]:8402"]) {
      const made = await initWallet(join(dir, "loopback"), { ...base, serverUrl: loopback, force: true });
      assert.equal(made.config.server.url, loopback);
    }
    assert.throws(() => new PaymentServerClient("http://10.0.0.1:8402"), /plain http to another machine/);
    const walletDir = join(dir, "wallet");
    const init = await initWallet(walletDir, base);
    assert.equal(init.publicJwk.kty, "EC");
    assert.equal(init.publicJwk.crv, "P-256");
    assert.equal("d" in init.publicJwk, false);
    assert.equal(init.config.server.url, "https://pay.example");
    const paths = walletPaths(walletDir);
    for (const path of [paths.key, paths.config, paths.roots]) assert.equal((await stat(path)).mode & 0o777, 0o600, path);
    assert.equal((await stat(walletDir)).mode & 0o777, 0o700);
    const config = parseConfig(JSON.parse(await readFile(paths.config, "utf8")));
    assert.equal(config.user, "urn:peage:user:bob");
    const rawConfig = JSON.parse(await readFile(paths.config, "utf8"));
    assert.throws(
      () => parseConfig({ ...rawConfig, server: { ...rawConfig.server, url: "http://pay.example" } }),
      /server.url: .*plain http/,
    );
    assert.equal(config.trustRootsPem, paths.roots);
    // No auto-accept until the user chooses one: every payment is shown.
    assert.equal(config.rules.autoAccept, null);
    await assert.rejects(initWallet(walletDir, base), walletCode("ERR_CONFLICT"));
    const again = await initWallet(walletDir, { ...base, force: true });
    assert.notEqual(again.kid, init.kid);

    await assert.rejects(
      createWallet({ dir: walletDir, passphrase: "not the passphrase", prompt: new ScriptedPrompt() }),
      walletCode("ERR_WALLET_LOCKED"),
    );
    const opened = await createWallet({ dir: walletDir, passphrase: base.passphrase, prompt: new ScriptedPrompt() });
    opened.close();
    await writeFile(paths.config, JSON.stringify({ ...config, homeCurrency: "XXX" }));
    await assert.rejects(
      createWallet({ dir: walletDir, passphrase: base.passphrase, prompt: new ScriptedPrompt() }),
      /homeCurrency/,
    );
    await assert.rejects(
      createWallet({ dir: join(dir, "nothing"), passphrase: base.passphrase, prompt: new ScriptedPrompt() }),
      walletCode("ERR_WALLET_UNAVAILABLE"),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("per-publisher daily amounts are counted per UTC calendar day", async () => {
  const clock = new FixedClock(
    new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate(), 23, 0, 0)),
  );
  const prompt = new ScriptedPrompt([false, false]);
  const rules = {
    autoAccept: {
      perPayment: price(3000, "EUR"),
      perPublisherPerDay: price(100, "EUR"),
      perPublisherPerMonth: price(10_000, "EUR"),
    },
    refuse: {},
  };
  const world = await createTestWorld({ pki, prompt, rules, clock, service: false });
  try {
    const pay = () => world.wallet.pay(offerFor(world.catalog, "launch", clock));
    assert.equal((await pay()).consent, "auto");
    assert.equal((await pay()).consent, "auto");
    // 1.00 EUR paid to this publisher today: the next 0.50 EUR would exceed the day's 1.00 EUR.
    await assert.rejects(pay(), walletCode("ERR_DECLINED"));
    assert.match(prompt.shown[0]!.reason, /1\.00 EUR per publisher and day/);
    // Two hours later it is another day (UTC).
    clock.advance(2 * 3_600_000);
    assert.equal((await pay()).consent, "auto");
  } finally {
    await world.close();
  }
});

test("a terminal that fails mid-question (EIO) is a no, not a crash", async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = "";
  output.on("data", (c: Buffer) => (shown += c.toString("utf8")));
  const prompt = new TerminalPrompt({ input, output, requireTty: false });
  const asking = prompt.ask(view);
  input.emit("error", Object.assign(new Error("read EIO"), { code: "EIO" }));
  assert.equal(await asking, false);
  assert.match(shown, /The terminal closed; nothing was paid\./);
});
