/**
 * The wallet's card settings and PIN prompts: the config's `card` member is checked member by
 * member; the terminal reads the PIN without showing it; automatic prompts type the configured
 * demonstration PIN once and never retry a wrong one (each try costs one of the card's three).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import {
  AutoYesPrompt,
  CARD_PIN_ENV,
  parseConfig,
  ScriptedPrompt,
  TerminalPrompt,
  type OfferView,
  type PinRequest,
} from "../src/index.js";

const view: OfferView = {
  offerId: "launch",
  description: "Start the game",
  price: "0.50 EUR",
  date: "2026-11-24T10:00:00.000Z",
  publisher: "urn:peage:publisher:acme-games",
  grant: { kind: "launch" },
  reason: "the card's PIN is the consent",
  facts: {
    price: { amount: 50, currency: "EUR" } as OfferView["facts"]["price"],
    firstPayment: false,
    payWith: "card",
    server: "https://pay.example",
  },
};
const request: PinRequest = { view, card: "urn:peage:card:alice-1", triesLeft: 3, retry: false };

const base = {
  v: 1,
  user: "urn:peage:user:alice",
  server: { url: "http://127.0.0.1:8402", id: "urn:peage:server:pay-eu" },
  homeCurrency: "EUR",
  trustRootsPem: "roots.pem",
  rules: { autoAccept: {}, refuse: {} },
};

test("the config's card member: any reader by default, or a named one; nothing else is accepted", () => {
  assert.equal(parseConfig(base).card, undefined);
  assert.deepEqual(parseConfig({ ...base, card: {} }).card, {});
  assert.deepEqual(
    parseConfig({ ...base, card: { reader: "Virtual PCD 00 00", waitMs: 500, extendedLength: true, pin: "2468" } }).card,
    {
      reader: "Virtual PCD 00 00",
      waitMs: 500,
      extendedLength: true,
      pin: "2468",
    },
  );
  for (const card of [
    true,
    { reader: "" },
    { waitMs: -1 },
    { extendedLength: "yes" },
    { pin: "12" },
    { pin: "12ab" },
    { other: 1 },
  ]) {
    assert.throws(() => parseConfig({ ...base, card }), TypeError, JSON.stringify(card));
  }
});

test("the config's pcStore member: a directory and an optional TCTI; never beside a card, nothing else accepted", () => {
  assert.deepEqual(parseConfig({ ...base, pcStore: { dir: "store" } }).pcStore, { dir: "store" });
  assert.deepEqual(parseConfig({ ...base, pcStore: { dir: "/s", tcti: "swtpm:host=127.0.0.1,port=2321" } }).pcStore, {
    dir: "/s",
    tcti: "swtpm:host=127.0.0.1,port=2321",
  });
  assert.throws(() => parseConfig({ ...base, card: {}, pcStore: { dir: "store" } }), /card and pcStore exclude each other/);
  for (const pcStore of ["store", {}, { dir: "" }, { dir: "s", tcti: "" }, { dir: "s", tcti: 3 }, { dir: "s", pin: "2468" }]) {
    assert.throws(() => parseConfig({ ...base, pcStore }), TypeError, JSON.stringify(pcStore));
  }
});

test("the terminal reads the PIN without echoing it, and says how many tries are left after a wrong one", async () => {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
  const output = new PassThrough();
  let shown = "";
  output.on("data", (chunk: Buffer) => (shown += chunk.toString("utf8")));
  const prompt = new TerminalPrompt({ input, output });
  const asking = prompt.askPin({ ...request, retry: true, triesLeft: 2 });
  input.write("2468\r");
  assert.equal(await asking, "2468");
  assert.doesNotMatch(shown, /2468/, "the PIN is never shown");
  assert.match(shown, /Wrong PIN: 2 tries left/);
  assert.match(shown, /Card PIN \(not shown\): /);

  const empty = prompt.askPin(request);
  input.write("\r");
  assert.equal(await empty, undefined, "an empty line gives no PIN");
});

test("the terminal refuses to ask for a PIN without a terminal", async () => {
  const prompt = new TerminalPrompt({ input: new PassThrough(), output: new PassThrough() });
  await assert.rejects(prompt.askPin(request), (error: unknown) => (error as { code?: string }).code === "ERR_DECLINED");
});

test("automatic prompts: the PIN given, else the config's, else the environment's; never a second try", async () => {
  const saved = process.env[CARD_PIN_ENV];
  try {
    delete process.env[CARD_PIN_ENV];
    assert.equal(await new AutoYesPrompt().askPin(request), undefined);
    assert.equal(await new AutoYesPrompt().askPin({ ...request, configured: "1111" }), "1111");
    assert.equal(await new AutoYesPrompt({ pin: "2222" }).askPin({ ...request, configured: "1111" }), "2222");
    process.env[CARD_PIN_ENV] = "3333";
    assert.equal(await new AutoYesPrompt().askPin(request), "3333");
    assert.equal(await new AutoYesPrompt({ pin: "2222" }).askPin({ ...request, retry: true }), undefined);
  } finally {
    if (saved === undefined) delete process.env[CARD_PIN_ENV];
    else process.env[CARD_PIN_ENV] = saved;
  }
  const scripted = new ScriptedPrompt([], { pins: ["1234"] });
  assert.equal(await scripted.askPin(request), "1234");
  assert.equal(await scripted.askPin(request), undefined);
  assert.equal(scripted.pinRequests.length, 2);
});
