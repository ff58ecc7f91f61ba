/**
 * `peage wallet init | rules | history | balance | statement | open` against the real payment
 * server: a wallet set up with no auto-accept rule, rules changed by flags, a payment made through
 * the wallet's service, then found in the history with its acknowledgment verified, the balance
 * and the month's statement equal to the server's to the minor unit. Also: a wallet that can ask
 * nobody says so at start, and programs get ERR_CONSENT_UNAVAILABLE, not a decline.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentJwkOf,
  certificateToPem,
  createDemoPki,
  createMandatePayment,
  createOffer,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  type Catalog,
  type MandateClaims,
} from "@peage/protocol";
import { createWallet, NobodyPrompt, registerMandate } from "@peage/wallet";
import { startRealServer, type RealServer } from "@peage/server/testing";
import { TEST_RATES } from "@peage/wallet/testing";
import { assertSuccess, assertUsage, parseJson, peage, startService, tempDir } from "./helpers/cli.js";

const USER = "urn:peage:user:cli-alice";

describe("peage wallet commands", () => {
  let work: string;
  let server: RealServer;
  let catalog: Catalog;
  let serverId: string;

  before(async () => {
    work = tempDir();
    const pki = await createDemoPki();
    serverId = pki.server.identity;
    server = await startRealServer(pki, TEST_RATES);
    writeFileSync(join(work, "root.crt"), certificateToPem(pki.root.certificate));
    writeFileSync(join(work, "passphrase"), "a passphrase for the CLI\n", { mode: 0o600 });
    catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "Start the game", price: price(50, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
  });
  after(async () => {
    await server?.close();
  });

  /** The environment of a machine with no desktop: no browser can be opened. */
  const headless = (): NodeJS.ProcessEnv => {
    const { DISPLAY: _d, WAYLAND_DISPLAY: _w, PEAGE_BROWSER: _b, ...env } = process.env;
    return env;
  };

  async function postOffer(endpointFile: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const { url, token } = JSON.parse(readFileSync(endpointFile, "utf8")) as { url: string; token: string };
    const response = await fetch(`${url}/v1/offers`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ offer: createOffer(catalog.offers[0]!, systemClock) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("init sets up a wallet with no auto-accept rule; rules are changed by flags, and checked", async () => {
    const init = parseJson(
      assertSuccess(
        await peage(
          [
            "wallet",
            "init",
            "--data",
            "w",
            "--user",
            USER,
            "--server-url",
            server.url,
            "--server-id",
            serverId,
            "--home-currency",
            "EUR",
            "--roots",
            "root.crt",
            "--passphrase-file",
            "passphrase",
            "--json",
          ],
          work,
        ),
      ),
    );
    assert.deepEqual(init["rules"], { autoAccept: null, refuse: {} });
    assert.equal(init["enrolled"], false);
    await server.enrol(USER, JSON.parse(readFileSync(String(init["publicKeyFile"]), "utf8")), "EUR", 1000);

    const set = parseJson(
      assertSuccess(
        await peage(["wallet", "rules", "--data", "w", "--auto-per-payment", "0.60", "--auto-consecutive", "3", "--json"], work),
      ),
    );
    assert.deepEqual(set["rules"], { autoAccept: { perPayment: { amount: 60, currency: "EUR" }, consecutive: 3 }, refuse: {} });
    const text = assertSuccess(await peage(["wallet", "rules", "--data", "w"], work));
    assert.match(text.stdout, /^auto-accept up to 0\.60 EUR per payment$/m);
    assertUsage(
      await peage(["wallet", "rules", "--data", "w", "--auto-per-payment", "0.605"], work),
      /--auto-per-payment: EUR has 2 decimal place/,
    );
    const off = parseJson(assertSuccess(await peage(["wallet", "rules", "--data", "w", "--auto-off", "--json"], work)));
    assert.deepEqual(off["rules"], { autoAccept: null, refuse: {} });
  });

  it("a wallet that can ask nobody warns at start, and the program gets ERR_CONSENT_UNAVAILABLE (retryable), not a decline", async () => {
    const endpointFile = join(work, "nobody.json");
    const service = await startService(
      ["wallet", "--data", "w", "--passphrase-file", "passphrase", "--endpoint-file", endpointFile],
      work,
      headless(),
    );
    const answer = await postOffer(endpointFile);
    assert.equal(answer.status, 503);
    assert.equal(answer.body["code"], "ERR_CONSENT_UNAVAILABLE");
    assert.equal(answer.body["retryable"], true);
    const run = await service.stop("SIGINT");
    assert.match(run.stderr, /^warning: this wallet can ask nobody/m);
  });

  it("a payment made through the wallet is in the history with a verified acknowledgment; balance and statement are the server's", async () => {
    const endpointFile = join(work, "wallet.json");
    const service = await startService(
      ["wallet", "--data", "w", "--passphrase-file", "passphrase", "--endpoint-file", endpointFile, "--yes"],
      work,
      headless(),
    );
    assert.match(service.listening["url"] as string, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await postOffer(endpointFile)).status, 200);
    const link = assertSuccess(await peage(["wallet", "open", "--endpoint-file", endpointFile], work));
    assert.match(link.stdout, new RegExp(`^${service.listening["url"] as string}/ui/open\\?t=[A-Za-z0-9_-]{43}\\n$`));
    assert.equal((await service.stop("SIGINT")).code, 0);

    const history = parseJson(
      assertSuccess(await peage(["wallet", "history", "--data", "w", "--passphrase-file", "passphrase", "--json"], work)),
    );
    const paid = (history["lines"] as Array<Record<string, unknown>>).filter((l) => l["outcome"] === "paid");
    assert.equal(paid.length, 1);
    assert.equal(paid[0]!["acknowledgment"], "verified");
    assert.equal(paid[0]!["atServer"], true);
    assert.equal(paid[0]!["description"], "Start the game");

    const balance = parseJson(
      assertSuccess(await peage(["wallet", "balance", "--data", "w", "--passphrase-file", "passphrase", "--json"], work)),
    );
    assert.deepEqual(balance["balance"], { amount: await server.balanceOf(USER), currency: "EUR", decimal: "9.50" });

    const period = new Date().toISOString().slice(0, 7);
    const statement = parseJson(
      assertSuccess(
        await peage(
          ["wallet", "statement", "--data", "w", "--passphrase-file", "passphrase", "--period", period, "--json"],
          work,
        ),
      ),
    );
    assert.deepEqual(statement["totals"], [{ amount: 50, currency: "EUR", decimal: "0.50" }]);
    assert.equal((statement["lines"] as Array<Record<string, unknown>>)[0]!["description"], "Start the game");
    assertUsage(await peage(["wallet", "statement", "--data", "w", "--period", "2026-13"], work), /--period must be YYYY-MM/);
  });

  it("mandates: listed and revoked by command; the history names the mandate of each payment a program made", async () => {
    const endpointFile = join(work, "mandates.json");
    const service = await startService(
      ["wallet", "--data", "w", "--passphrase-file", "passphrase", "--endpoint-file", endpointFile],
      work,
      headless(),
    );
    // Without a consent window nobody can approve a mandate: the program is told so, retryable.
    const { url, token } = JSON.parse(readFileSync(endpointFile, "utf8")) as { url: string; token: string };
    const agent = await generateKeyPair("ES256");
    const limits = {
      agent: agentJwkOf(agent.publicKey),
      payees: [catalog.publisher],
      maxPerPayment: { amount: 100, currency: "EUR" },
      budget: { amount: 300, currency: "EUR" },
      maxPayments: 5,
      period: "day",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const asked = await fetch(`${url}/v2/mandates`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ mandate: limits }),
    });
    assert.equal(asked.status, 503);
    assert.equal(((await asked.json()) as Record<string, unknown>)["code"], "ERR_CONSENT_UNAVAILABLE");
    await service.stop("SIGINT");

    // What the consent window does once the user approved: the wallet signs and registers.
    const opened = await createWallet({
      dir: join(work, "w"),
      passphrase: "a passphrase for the CLI",
      prompt: new NobodyPrompt(),
    });
    const mandate = await opened.signMandate(limits as never);
    await registerMandate(opened, mandate);
    opened.close();
    const claims = JSON.parse(Buffer.from(mandate.mandate.split(".")[1]!, "base64url").toString()) as MandateClaims;
    const offer = createOffer(catalog.offers[0]!, systemClock);
    const request = await createMandatePayment({ offer, mandate: claims, agentKey: agent, clock: systemClock });
    const paid = await fetch(`${server.url}/v2/mandate-payments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    assert.equal(paid.status, 200);
    const paymentId = JSON.parse(
      Buffer.from(((await paid.json()) as { acknowledgment: string }).acknowledgment.split(".")[1]!, "base64url").toString(),
    )["paymentId"] as string;

    const read = ["--data", "w", "--passphrase-file", "passphrase"];
    const listed = parseJson(assertSuccess(await peage(["wallet", "mandates", ...read, "--json"], work)));
    const [first] = listed["mandates"] as Array<Record<string, any>>;
    assert.equal(first!["mandateId"], claims.mandateId);
    assert.equal(first!["status"], "active");
    assert.deepEqual(first!["current"]["spent"], { amount: 50, currency: "EUR", decimal: "0.50" });
    const history = parseJson(assertSuccess(await peage(["wallet", "history", ...read, "--json"], work)));
    const line = (history["lines"] as Array<Record<string, unknown>>).find((l) => l["paymentId"] === paymentId);
    assert.equal(line?.["mandate"], claims.mandateId);
    assert.match(
      assertSuccess(await peage(["wallet", "history", ...read], work)).stdout,
      new RegExp(`mandate ${claims.mandateId}`),
    );

    const revoked = assertSuccess(await peage(["wallet", "mandate-revoke", ...read, "--id", claims.mandateId], work));
    assert.match(revoked.stdout, /revoked at .*: it pays nothing more/);
    assert.match(
      assertSuccess(await peage(["wallet", "mandates", ...read], work)).stdout,
      new RegExp(`^${claims.mandateId}  revoked`, "m"),
    );
    const refused = await peage(["wallet", "mandate-revoke", ...read, "--id", "bm90LWEtbWFuZGF0ZS1vZi15b3Vycw"], work);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ERR_UNKNOWN_MANDATE|you have no mandate/);
  });
});
