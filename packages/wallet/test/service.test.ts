import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDemoPki, type DemoPki } from "@peage/protocol";
import { defaultEndpointFile, ScriptedPrompt, startWallet, WalletError } from "../src/index.js";
import { createTestWorld, type TestWorld } from "../src/testing/index.js";
import { offerFor } from "./helpers.js";

interface Answer {
  status: number;
  type: string | undefined;
  body: Record<string, unknown>;
}

/** A raw HTTP request, so tests control every header (Host, Origin) byte for byte. */
function send(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        headers: { host: `127.0.0.1:${port}`, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers["content-type"],
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          });
        });
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

let pki: DemoPki;
let world: TestWorld;
const prompt = new ScriptedPrompt();

before(async () => {
  pki = await createDemoPki();
  world = await createTestWorld({ pki, prompt });
});
after(async () => {
  await world.close();
});

function authorized(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${world.service!.token}`, "content-type": "application/json", ...extra };
}

test("the endpoint file holds url, token and pid, readable by the user only", async () => {
  const info = await stat(world.endpointFile);
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal((await stat(join(world.dir, "run"))).mode & 0o777, 0o700);
  const endpoint = JSON.parse(await readFile(world.endpointFile, "utf8")) as Record<string, unknown>;
  assert.deepEqual(Object.keys(endpoint).sort(), ["pid", "token", "url"]);
  assert.equal(endpoint["pid"], process.pid);
  assert.match(String(endpoint["url"]), /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(Buffer.from(String(endpoint["token"]), "base64url").length, 32);
});

test("health answers without a token", async () => {
  const answer = await send(world.service!.url, "/v1/health");
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { status: "ok" });
});

test("an offer posted with the token is paid and message 3 comes back", async () => {
  const offer = offerFor(world.catalog, "launch");
  const answer = await send(world.service!.url, "/v1/offers", {
    method: "POST",
    headers: authorized(),
    body: JSON.stringify({ offer }),
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const ack = answer.body["acknowledgment"] as Record<string, unknown>;
  assert.equal(ack["type"], "peage.acknowledgment");
  assert.equal(typeof ack["acknowledgment"], "string");
});

test("an offer naming nonce twice is refused before it is looked at: nothing is paid", async () => {
  const offer = offerFor(world.catalog, "launch");
  const other = offerFor(world.catalog, "launch");
  const text = JSON.stringify({ offer });
  const doubled = text.replace(
    `"nonce":${JSON.stringify(offer.nonce)}`,
    `"nonce":${JSON.stringify(other.nonce)},"nonce":${JSON.stringify(offer.nonce)}`,
  );
  assert.notEqual(doubled, text);
  const paidBefore = world.wallet.history.list().length;
  const answer = await send(world.service!.url, "/v1/offers", { method: "POST", headers: authorized(), body: doubled });
  assert.equal(answer.status, 400);
  assert.equal(answer.body["code"], "ERR_BAD_REQUEST");
  assert.equal(world.wallet.history.list().length, paidBefore);
});

test("a missing or wrong token is 401 and nothing is looked at", async () => {
  const offer = offerFor(world.catalog, "launch");
  const body = JSON.stringify({ offer });
  const before = world.server.requestCount;
  for (const authorization of [
    undefined,
    "Bearer wrong",
    `Bearer ${world.service!.token}x`,
    `Basic ${world.service!.token}`,
    `bearer ${world.service!.token}`,
  ]) {
    const headers: Record<string, string> = { "content-type": "application/json", ...(authorization ? { authorization } : {}) };
    const answer = await send(world.service!.url, "/v1/offers", { method: "POST", headers, body });
    assert.equal(answer.status, 401, String(authorization));
    assert.equal(answer.type, "application/problem+json");
    assert.equal(answer.body["code"], "ERR_UNAUTHORIZED");
  }
  assert.equal(world.server.requestCount, before);
});

test("a request carrying an Origin header is refused, even with the right token: no web page can pay", async () => {
  const offer = offerFor(world.catalog, "launch");
  for (const origin of ["https://evil.example", "null", `http://127.0.0.1:${new URL(world.service!.url).port}`]) {
    const answer = await send(world.service!.url, "/v1/offers", {
      method: "POST",
      headers: authorized({ origin }),
      body: JSON.stringify({ offer }),
    });
    assert.equal(answer.status, 403);
    assert.equal(answer.body["code"], "ERR_FORBIDDEN");
  }
});

test("a Host header other than 127.0.0.1:port or localhost:port is refused (DNS rebinding)", async () => {
  const { port } = new URL(world.service!.url);
  for (const host of [
    "evil.example",
    `evil.example:${port}`,
    "127.0.0.1",
    `127.0.0.1:${Number(port) + 1}`,
    `localhost.evil.example:${port}`,
  ]) {
    const answer = await send(world.service!.url, "/v1/health", { headers: { host } });
    assert.equal(answer.status, 403, host);
    assert.equal(answer.body["code"], "ERR_FORBIDDEN");
  }
  assert.equal((await send(world.service!.url, "/v1/health", { headers: { host: `localhost:${port}` } })).status, 200);
});

test("bodies that are too large, not JSON, or not {offer} are refused with a specific problem", async () => {
  const url = world.service!.url;
  const large = await send(url, "/v1/offers", { method: "POST", headers: authorized(), body: Buffer.alloc(70 * 1024, 0x20) });
  assert.equal(large.status, 413);
  assert.equal(large.body["code"], "ERR_PAYLOAD_TOO_LARGE");
  const text = await send(url, "/v1/offers", {
    method: "POST",
    headers: authorized({ "content-type": "text/plain" }),
    body: "{}",
  });
  assert.equal(text.status, 415);
  const notJson = await send(url, "/v1/offers", { method: "POST", headers: authorized(), body: "{offer" });
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body["code"], "ERR_BAD_REQUEST");
  const extra = await send(url, "/v1/offers", {
    method: "POST",
    headers: authorized(),
    body: JSON.stringify({ offer: {}, also: 1 }),
  });
  assert.equal(extra.status, 400);
  const forged = await send(url, "/v1/offers", {
    method: "POST",
    headers: authorized(),
    body: JSON.stringify({ offer: { type: "peage.offer" } }),
  });
  // docs/transport.md §1: ERR_MALFORMED is a 400, like any malformed request.
  assert.equal(forged.status, 400);
  assert.equal(forged.body["code"], "ERR_MALFORMED");
  assert.equal((await send(url, "/v1/elsewhere")).status, 404);
  assert.equal((await send(url, "/v1/offers", { headers: authorized() })).status, 405);
});

test("a declined offer comes back as an ERR_DECLINED problem", async () => {
  const drafts = [
    { offerId: "dear", description: "Dear", price: { amount: 9999, currency: "EUR" }, grant: { kind: "launch" } },
  ] as const;
  const declining = await createTestWorld({ pki, prompt: new ScriptedPrompt([false]), drafts: drafts as never });
  try {
    const answer = await send(declining.service!.url, "/v1/offers", {
      method: "POST",
      headers: { authorization: `Bearer ${declining.service!.token}`, "content-type": "application/json" },
      body: JSON.stringify({ offer: offerFor(declining.catalog, "dear") }),
    });
    assert.equal(answer.status, 403);
    assert.equal(answer.body["code"], "ERR_DECLINED");
    assert.equal(answer.body["retryable"], false);
    assert.equal(answer.body["type"], "urn:peage:problem:declined");
  } finally {
    await declining.close();
  }
});

test("close removes the endpoint file; a directory others can open is refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "peage-endpoint-"));
  try {
    const file = join(dir, "sub", "wallet.json");
    const service = await startWallet({ wallet: world.wallet, endpointFile: file });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await service.close();
    await assert.rejects(stat(file), /ENOENT/);

    const open = join(dir, "open");
    await mkdir(open);
    await chmod(open, 0o755);
    await assert.rejects(startWallet({ wallet: world.wallet, endpointFile: join(open, "wallet.json") }), (e: unknown) => {
      assert.ok(e instanceof WalletError);
      assert.equal(e.code, "ERR_FORBIDDEN");
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the endpoint file's default place is $PEAGE_WALLET_FILE, else ~/.peage/wallet.json", () => {
  assert.equal(defaultEndpointFile({ PEAGE_WALLET_FILE: "/somewhere/w.json" }), "/somewhere/w.json");
  assert.match(defaultEndpointFile({}), /\.peage\/wallet\.json$/);
});
