/**
 * The consent window and the user's pages in a real Chromium, against the real payment server:
 * approve, decline, timeout, a queue of two offers, keyboard-only approval, rules editing, the
 * history with verified acknowledgments, the statement, French formatting, and the attacks a page
 * of another origin open in the same browser could try.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Catalog, DemoPki } from "@peage/protocol";
import type { RealServer } from "@peage/server/testing";
import type { Page } from "playwright-core";
import { ConsentWindow, type PaymentResult, type Wallet, type WalletService } from "../src/index.js";
import { launchBrowser, type Browser } from "../src/testing/browser.js";
import { offerFor, walletCode } from "./helpers.js";
import { createUiWorld, UI_USER, type UiWorld } from "./ui-world.js";

const TIMEOUT_MS = 6_000;
const MIN_VISIBLE_MS = 400;

let world: UiWorld;
let pki: DemoPki;
let server: RealServer;
let catalog: Catalog;
let wallet: Wallet;
let service: WalletService;
let consent: ConsentWindow;
let browser: Browser;

before(async () => {
  world = await createUiWorld({ timeoutMs: TIMEOUT_MS, minVisibleMs: MIN_VISIBLE_MS });
  ({ pki, server, catalog, wallet, service, consent } = world);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await world?.close();
});

/** A tab on the wallet's pages, signed in through a fresh one-time link. */
async function walletPage(b: Browser = browser): Promise<Page> {
  const page = await b.context.newPage();
  await page.goto(service.uiLink());
  assert.equal(new URL(page.url()).pathname, "/ui/");
  return page;
}

function pay(offerId: string): Promise<PaymentResult> {
  return wallet.pay(offerFor(catalog, offerId));
}

test("a payment is shown with what was signed; Approve waits until the offer was visible, then pays", async () => {
  const page = await walletPage();
  await page.locator("text=Nothing to approve.").waitFor();
  const paying = pay("launch");
  await page.locator("#approve").waitFor();
  assert.equal(await page.locator("#approve").isDisabled(), true, "Approve starts disabled");
  // The name the publisher's certificate gives, its URN on demand.
  assert.equal(await page.locator("#publisher-name").textContent(), pki.publisher.certificate.subjectName.getField("CN")[0]);
  assert.equal(await page.locator("details code").textContent(), pki.publisher.identity);
  assert.equal(await page.locator("#description").textContent(), "Start the game");
  assert.equal(await page.locator("#price").textContent(), "€0.50");
  assert.equal(await page.locator("#grant").textContent(), "one launch of the program");
  assert.match(
    (await page.locator("#reason").textContent()) ?? "",
    /^First payment to this publisher\. Every payment is shown to you: you have chosen no auto-accept rule\.$/,
  );
  assert.match((await page.locator("#pay-with").textContent()) ?? "", new RegExp(`your account at ${server.url}`));
  await page.locator("#approve:enabled").waitFor();
  await page.locator("#approve").click();
  const result = await paying;
  assert.equal(result.consent, "explicit");
  await page.locator("text=Nothing to approve.").waitFor();
  await page.close();
});

test("Decline, and Escape, refuse the payment: nothing is paid", async () => {
  const page = await walletPage();
  const first = pay("play-time");
  await page.locator("#decline").click();
  await assert.rejects(first, walletCode("ERR_DECLINED"));
  const second = pay("play-time");
  await page.locator("#approve").waitFor();
  await page.keyboard.press("Escape");
  await assert.rejects(second, walletCode("ERR_DECLINED"));
  await page.close();
});

test("an offer nobody answers is declined when its time is up", async () => {
  const page = await walletPage();
  const started = Date.now();
  await assert.rejects(pay("play-time"), walletCode("ERR_DECLINED"));
  assert.ok(Date.now() - started >= TIMEOUT_MS - 50, "declined only once the time was up");
  await page.locator("text=Nothing to approve.").waitFor();
  await page.close();
});

test("two offers at once queue, each its own decision", async () => {
  const page = await walletPage();
  const launch = pay("launch");
  const level = pay("level-2");
  await page.locator("#description", { hasText: "Start the game" }).waitFor();
  await page.locator("#approve:enabled").click();
  assert.equal((await launch).consent, "explicit");
  await page.locator("#description", { hasText: "Unlock level 2" }).waitFor();
  // Priced in dollars: the converted price and the rate's date are shown.
  assert.match(
    (await page.locator("#converted").textContent()) ?? "",
    /^€9\.22 at 1 USD = 0\.922084 EUR \(reference rates of 2026-11-24\)$/,
  );
  await page.locator("#decline").click();
  await assert.rejects(level, walletCode("ERR_DECLINED"));
  await page.close();
});

test("keyboard only: Tab from Decline to Approve, Enter approves", async () => {
  const page = await walletPage();
  const paying = pay("play-time");
  await page.locator("#approve:enabled").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "decline", "focus starts on Decline");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "approve");
  // What a screen reader announces: a region named by its heading, described by the offer, two named buttons.
  const region = page.getByRole("region", { name: "Approve this payment?" });
  assert.equal(await region.getAttribute("aria-describedby"), "description");
  assert.equal(await region.getByRole("button", { name: "Approve" }).count(), 1);
  assert.equal(await region.getByRole("button", { name: "Decline" }).count(), 1);
  await page.keyboard.press("Enter");
  assert.equal((await paying).consent, "explicit");
  await page.close();
});

test("the history shows each payment with its acknowledgment verified offline, and the signed acknowledgment to download", async () => {
  const page = await walletPage();
  await page.goto(new URL("/ui/history", service.url).href);
  const rows = page.locator("tbody tr[data-payment]");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 3, "three payments were approved so far");
  assert.equal(await page.locator('[data-ack="verified"]').count(), 3);
  assert.equal(await page.locator("#server-error").count(), 0, "the server's records were read");
  const download = page.locator("a[download]").first();
  const response = await page.request.get(new URL((await download.getAttribute("href"))!, service.url).href);
  const ack = (await response.json()) as Record<string, unknown>;
  assert.equal(ack["type"], "peage.acknowledgment");
  await page.close();
});

test("rules edited on the page apply to the next offer, which is auto-accepted and listed as such", async () => {
  assert.equal(wallet.config.rules.autoAccept, null, "nothing is auto-accepted until chosen");
  const page = await walletPage();
  await page.goto(new URL("/ui/rules", service.url).href);
  await page.locator("#auto-perPayment-on").check();
  await page.locator("#auto-perPayment").fill("1.00");
  await page.locator("#save").click();
  await page.locator("text=Rules saved.").waitFor();
  assert.deepEqual(wallet.config.rules.autoAccept, { perPayment: { amount: 100, currency: "EUR" } });
  assert.equal((await pay("launch")).consent, "auto");
  await page.goto(new URL("/ui/history", service.url).href);
  await page.locator("td", { hasText: "auto-accepted" }).first().waitFor();
  assert.equal(await page.locator(".rule").first().textContent(), "auto-accept up to 1.00 EUR per payment");
  // Back to asking every time.
  await page.goto(new URL("/ui/rules", service.url).href);
  await page.locator("#auto-perPayment-on").uncheck();
  await page.locator("#save").click();
  await page.locator("text=Rules saved.").waitFor();
  assert.equal(wallet.config.rules.autoAccept, null);
  await page.close();
});

test("balance and statement: the figures are the server's, to the minor unit, with the descriptions", async () => {
  const page = await walletPage();
  await page.goto(new URL("/ui/statement", service.url).href);
  const balance = await server.balanceOf(UI_USER);
  await page.locator("#account-balance").waitFor();
  const shown = await page.locator("#account-balance").textContent();
  assert.equal(shown, new Intl.NumberFormat("en-GB", { style: "currency", currency: "EUR" }).format(balance / 100));
  await page.locator('[data-total="EUR"]').waitFor();
  const total = await page.locator('[data-total="EUR"]').textContent();
  assert.equal(
    shown && total,
    new Intl.NumberFormat("en-GB", { style: "currency", currency: "EUR" }).format((5000 - balance) / 100),
  );
  assert.ok((await page.locator("td", { hasText: "Start the game" }).count()) >= 1);
  await page.close();
});

test("in French: the window, amounts and dates are French", async () => {
  const french = await launchBrowser("fr-FR");
  try {
    const page = await walletPage(french);
    const paying = pay("play-time");
    await page.locator("#approve").waitFor();
    assert.equal(await page.locator("h1").textContent(), "Approuver ce paiement ?");
    assert.equal((await page.locator("#price").textContent())?.replace(/\s/g, " "), "0,20 €");
    assert.equal(await page.locator("#grant").textContent(), "5 minutes d’utilisation");
    assert.match((await page.locator("#reason").textContent()) ?? "", /^Chaque paiement vous est présenté/);
    await page.locator("#decline").click();
    await assert.rejects(paying, walletCode("ERR_DECLINED"));
  } finally {
    await french.close();
  }
});

/** A page of another origin on this machine, in the same browser as the wallet's page. */
async function hostile(html: string): Promise<{ url: string; sameSiteUrl: string; server: Server }> {
  const evil = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
  const { port } = evil.address() as AddressInfo;
  return { url: `http://localhost:${port}/`, sameSiteUrl: `http://127.0.0.1:${port}/`, server: evil };
}

test("a page of another origin in the same browser cannot approve, decline, read the history or change a rule", async () => {
  const page = await walletPage(); // the user's own tab: the browser holds the wallet's cookie
  const paying = pay("launch");
  await page.locator("#approve").waitFor();
  const pending = (await (await page.request.get(new URL("/ui/api/pending", service.url).href)).json()) as {
    pending: Array<{ id: string }>;
  };
  const id = pending.pending[0]!.id;
  const evil = await hostile(`<!doctype html><iframe id="f" src="${service.url}/ui/"></iframe>`);
  const walletUrl = service.url;
  try {
    // Same site (127.0.0.1, another port: the Strict cookie goes along) and another site (localhost).
    for (const url of [evil.sameSiteUrl, evil.url]) {
      const attacker = await browser.context.newPage();
      await attacker.goto(url);
      const outcome = await attacker.evaluate(
        async ({ walletUrl, id }) => {
          const tries: Record<string, string> = {};
          const attempt = async (name: string, run: () => Promise<Response>) => {
            try {
              const response = await run();
              tries[name] = response.type === "opaque" ? "opaque" : `${response.status} ${await response.text()}`;
            } catch (error) {
              tries[name] = `blocked: ${(error as Error).name}`;
            }
          };
          const post = (path: string, body: unknown, mode: RequestMode) =>
            fetch(`${walletUrl}${path}`, {
              method: "POST",
              mode,
              credentials: "include",
              headers:
                mode === "cors"
                  ? { "content-type": "application/json", "x-peage-csrf": "guess" }
                  : { "content-type": "text/plain" },
              body: JSON.stringify(body),
            });
          await attempt("approve", () => post("/ui/api/decide", { id, approve: true }, "no-cors"));
          await attempt("approve-cors", () => post("/ui/api/decide", { id, approve: true }, "cors"));
          await attempt("decline", () => post("/ui/api/decide", { id, approve: false }, "no-cors"));
          await attempt("rules", () =>
            post(
              "/ui/api/rules",
              { rules: { autoAccept: { perPayment: { amount: 100000, currency: "EUR" } }, refuse: {} } },
              "no-cors",
            ),
          );
          await attempt("history", () => fetch(`${walletUrl}/ui/api/history`, { credentials: "include" }));
          return tries;
        },
        { walletUrl, id },
      );
      // Refused by the wallet, and unreadable anyway (opaque, or blocked by Cross-Origin-Resource-Policy).
      for (const name of ["approve", "decline", "rules"])
        assert.match(outcome[name]!, /^(opaque|blocked)/, `${url} ${name}: the answer is not readable`);
      assert.match(outcome["approve-cors"]!, /^blocked/, `${url}: the preflight is not answered`);
      assert.match(outcome["history"]!, /^blocked/, `${url}: the history cannot be read`);
      // The iframe stays empty: frame-ancestors 'none'.
      const frame = attacker.frames().find((f) => f !== attacker.mainFrame());
      assert.ok(frame);
      assert.equal(await frame.locator("#approve").count(), 0, `${url}: the wallet's page cannot be framed`);
      await attacker.close();
    }
    // Nothing changed: the offer still waits for the user, the rules are as they were.
    assert.deepEqual(
      consent.pending().map((p) => p.id),
      [id],
    );
  } finally {
    evil.server.close();
  }
  assert.equal(wallet.config.rules.autoAccept, null);
  await page.locator("#decline").click();
  await assert.rejects(paying, walletCode("ERR_DECLINED"));
  await page.close();
});

test("the pages need the one-time link: no session, a used link or a foreign Host get nothing; every answer forbids framing and inline script", async () => {
  const stranger = await launchBrowser();
  try {
    const page = await stranger.context.newPage();
    const noSession = await page.goto(new URL("/ui/history", service.url).href);
    assert.equal(noSession?.status(), 401);
    assert.equal(await page.locator("table").count(), 0);
    const link = service.uiLink();
    const own = await stranger.context.newPage();
    await own.goto(link);
    assert.equal(new URL(own.url()).pathname, "/ui/");
    const again = await page.goto(link);
    assert.equal(again?.status(), 403, "a link works once");
    const headers = (await own.goto(new URL("/ui/", service.url).href))!.headers();
    assert.match(headers["content-security-policy"]!, /frame-ancestors 'none'/);
    assert.match(headers["content-security-policy"]!, /script-src 'self'/);
    assert.doesNotMatch(headers["content-security-policy"]!, /unsafe-inline|unsafe-eval/);
    assert.equal(headers["x-frame-options"], "DENY");
    assert.equal(headers["access-control-allow-origin"], undefined);
    const cookie = (await stranger.context.cookies(`${service.url}/ui/`))[0]!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
  } finally {
    await stranger.close();
  }
  // New links are for the user's own programs only (the bearer token of the endpoint file).
  assert.equal((await fetch(`${service.url}/v1/ui-link`, { method: "POST" })).status, 401);
  const minted = await fetch(`${service.url}/v1/ui-link`, {
    method: "POST",
    headers: { authorization: `Bearer ${service.token}` },
  });
  assert.match(((await minted.json()) as { url: string }).url, /\/ui\/open\?t=[A-Za-z0-9_-]{43}$/);
  // DNS rebinding: a name that resolves to 127.0.0.1 is not the wallet's Host.
  const status = await new Promise<number>((resolve, reject) => {
    const { port } = new URL(service.url);
    const req = request({ host: "127.0.0.1", port, path: "/ui/", headers: { host: `evil.example:${port}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(status, 403);
});

test("Approve sent before the offer was on screen long enough is refused by the wallet too", async () => {
  const window = new ConsentWindow({ minVisibleMs: 60_000 });
  window.attach(() => "http://127.0.0.1:1/ui/open?t=x");
  const view = { offerId: "x" } as Parameters<ConsentWindow["ask"]>[0];
  const answer = window.ask(view);
  const [pending] = window.pending();
  assert.equal(window.decide(pending!.id, true), "too-soon", "not shown yet");
  assert.equal(window.shown(pending!.id), true);
  assert.equal(window.decide(pending!.id, true), "too-soon", "shown just now");
  assert.equal(window.decide(pending!.id, false), "done", "declining needs no delay");
  assert.equal(await answer, false);
  assert.equal(window.decide(pending!.id, true), "unknown");
});

test("the page's API refuses a member it does not know and an entry number not written as one, changing nothing", async () => {
  const page = await walletPage();
  const rulesBefore = structuredClone(wallet.config.rules);
  const answers = await page.evaluate(async () => {
    const csrf = document.querySelector<HTMLMetaElement>('meta[name="peage-csrf"]')?.content ?? "";
    const post = async (path: string, body: string) => {
      const headers = { "content-type": "application/json", "x-peage-csrf": csrf };
      const response = await fetch(path, { method: "POST", headers, body, credentials: "same-origin" });
      return [response.status, ((await response.json()) as { detail?: string }).detail ?? ""] as const;
    };
    const get = async (path: string) => (await fetch(path, { credentials: "same-origin" })).status;
    return {
      rules: await post("/ui/api/rules", JSON.stringify({ rules: { autoAccept: null, refuse: [] }, autoAcceptAll: true })),
      decide: await post("/ui/api/decide", JSON.stringify({ id: "x", approve: true, force: true })),
      twice: await post("/ui/api/rules", '{"rules": {"autoAccept": null, "refuse": []}, "rules": {}}'),
      acknowledgments: await Promise.all(["1.5", "0x1", "", "1e0"].map((id) => get(`/ui/api/acknowledgment?id=${id}`))),
    };
  });
  assert.deepEqual(answers.rules, [400, 'unknown member "autoAcceptAll": send only rules']);
  assert.deepEqual(answers.decide, [400, 'unknown member "force": send only id, approve, pin']);
  assert.equal(answers.twice[0], 400);
  assert.deepEqual(answers.acknowledgments, [400, 400, 400, 400]);
  assert.deepEqual(wallet.config.rules, rulesBefore);
  await page.close();
});
