/**
 * A spending mandate asked on the terminal, for a wallet that can show no consent window (as
 * offers are): the user reads every limit there and answers; yes signs and registers the mandate
 * at the real payment server, no (or a prompt that cannot ask about mandates) signs nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { agentJwkOf, createDemoPki, generateKeyPair, type DemoPki, type KeyPair } from "@peage/protocol";
import { startRealServer, type RealServer } from "@peage/server/testing";
import {
  AutoYesPrompt,
  createWallet,
  listMandates,
  startWallet,
  TerminalPrompt,
  type ConsentPrompt,
  type Wallet,
  type WalletService,
} from "../src/index.js";
import { TEST_RATES } from "../src/testing/index.js";
import { initServedWallet } from "./helpers.js";

const USER = "urn:peage:user:term-alice";
const PASSPHRASE = "a passphrase for the terminal tests";
let pki: DemoPki;
let server: RealServer;
let dir: string;
let walletDir: string;

before(async () => {
  pki = await createDemoPki();
  server = await startRealServer(pki, TEST_RATES);
  dir = await mkdtemp(join(tmpdir(), "peage-mandate-term-"));
  walletDir = (await initServedWallet(server, pki, dir, { user: USER, passphrase: PASSPHRASE, balance: 5000 })).dir;
});

after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The wallet served with `prompt` and no consent window. */
async function serve(prompt: ConsentPrompt): Promise<{ wallet: Wallet; service: WalletService; close(): Promise<void> }> {
  const wallet = await createWallet({ dir: walletDir, passphrase: PASSPHRASE, prompt, server: { backoffMs: 10 } });
  const service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
  return {
    wallet,
    service,
    async close() {
      await service.close();
      wallet.close();
    },
  };
}

/** A terminal whose output is collected; `question` resolves once the prompt asked. */
function terminal() {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = "";
  let asked: () => void = () => undefined;
  const question = new Promise<void>((resolve) => (asked = resolve));
  output.on("data", (chunk: Buffer) => {
    shown += chunk.toString("utf8");
    if (shown.includes("[y/N]")) asked();
  });
  return { prompt: new TerminalPrompt({ input, output, requireTty: false }), input, question, shown: () => shown };
}

/** Waits for the terminal's question; an answer to the program before it is a failure, shown at once. */
async function asked(question: Promise<void>, asking: Promise<{ status: number; body: unknown }>): Promise<void> {
  await Promise.race([
    question,
    asking.then((answer) => assert.fail(`answered before asking the user: ${JSON.stringify(answer)}`)),
  ]);
}

async function askForMandate(service: WalletService, agent: KeyPair) {
  const response = await fetch(`${service.url}/v2/mandates`, {
    method: "POST",
    headers: { authorization: `Bearer ${service.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      mandate: {
        agent: agentJwkOf(agent.publicKey),
        payees: [pki.publisher.identity],
        maxPerPayment: { amount: 150, currency: "EUR" },
        budget: { amount: 900, currency: "EUR" },
        maxPayments: 12,
        period: "day",
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      },
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test("without a window, the terminal shows every limit of the mandate; yes signs it and registers it at the server", async () => {
  const t = terminal();
  const running = await serve(t.prompt);
  try {
    const agent = await generateKeyPair("ES256");
    const asking = askForMandate(running.service, agent);
    await asked(t.question, asking);
    const lines = t.shown().split("\n");
    assert.ok(lines.includes(`  May pay:          ${pki.publisher.identity}`), t.shown());
    assert.ok(lines.includes("  Per payment:      at most 1.50 EUR"));
    assert.ok(lines.includes("  Budget:           9.00 EUR per day"));
    assert.ok(lines.includes("  Payments:         at most 12 per day"));
    assert.match(t.shown(), /Program key: {6}[A-Za-z0-9_-]{43}\n/);
    t.input.write("yes\n");
    const granted = await asking;
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    const id = JSON.parse(
      Buffer.from((granted.body["mandate"] as { mandate: string }).mandate.split(".")[1]!, "base64url").toString(),
    ).mandateId as string;
    const listed = await listMandates(running.wallet);
    assert.deepEqual(
      listed.filter((m) => m["mandateId"] === id).map((m) => m["status"]),
      ["active"],
      "the server holds the mandate",
    );
  } finally {
    await running.close();
  }
});

test("a no on the terminal signs nothing; a prompt that cannot ask about mandates answers ERR_CONSENT_UNAVAILABLE", async () => {
  const t = terminal();
  let running = await serve(t.prompt);
  const before = (await listMandates(running.wallet)).length;
  try {
    const asking = askForMandate(running.service, await generateKeyPair("ES256"));
    await asked(t.question, asking);
    t.input.write("n\n");
    const declined = await asking;
    assert.equal(declined.status, 403);
    assert.equal(declined.body["code"], "ERR_DECLINED");
    assert.equal((await listMandates(running.wallet)).length, before, "nothing was registered");
  } finally {
    await running.close();
  }

  // --yes pays offers for demonstrations; it never grants a program a budget without asking.
  running = await serve(new AutoYesPrompt());
  try {
    const unavailable = await askForMandate(running.service, await generateKeyPair("ES256"));
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.body["code"], "ERR_CONSENT_UNAVAILABLE");
    assert.equal(unavailable.body["retryable"], true);
    assert.equal((await listMandates(running.wallet)).length, before, "nothing was registered");
  } finally {
    await running.close();
  }
});
