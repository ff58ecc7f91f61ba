/**
 * The transport vectors of the wallet (packages/protocol/test-vectors/transport/wallet.json,
 * docs/transport.md §6) replayed against a reference wallet set up as the file says, paying
 * through a reference payment server with an identity and key of its own (the file holds no
 * private key). Every exchange must get the status, headers and body shape the file gives.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createDemoPki } from "@peage/protocol";
import { EXCHANGES_FORMAT, replayExchanges, type ExchangeFile } from "@peage/server/testing";
import { startVectorWallet, type VectorWallet } from "../scripts/transport-vectors.js";

const FILE = fileURLToPath(new URL("../../../protocol/test-vectors/transport/wallet.json", import.meta.url));
const file = JSON.parse(readFileSync(FILE, "utf8")) as ExchangeFile;

describe("transport vectors: program to wallet", () => {
  let wallet: VectorWallet;

  before(async () => {
    const at = new Date(file.at);
    const own = await createDemoPki({ now: new Date(at.getTime() - 86_400_000) });
    assert.equal(own.server.identity, file.setup.server);
    wallet = await startVectorWallet(own, file.setup.trustAnchors, at);
  });
  after(() => wallet.close());

  it("is in the documented format and covers every answer of POST /v1/offers the text names", () => {
    assert.equal(file.format, EXCHANGES_FORMAT);
    assert.equal(file.party, "wallet");
    assert.equal(new Set(file.exchanges.map((e) => e.id)).size, file.exchanges.length, "unique ids");
    const statuses = new Set(file.exchanges.filter((e) => e.request.path === "/v1/offers").map((e) => e.response.status));
    for (const status of [200, 400, 401, 402, 403, 415, 422]) assert.ok(statuses.has(status), `no exchange answered ${status}`);
    const codes = new Set(file.exchanges.map((e) => (e.response.body as { code?: string } | undefined)?.code));
    for (const code of ["ERR_UNAUTHORIZED", "ERR_FORBIDDEN", "ERR_DECLINED", "ERR_RULE_REFUSED", "ERR_MALFORMED"])
      assert.ok(codes.has(code), code);
  });

  it("every exchange, replayed in order, gets the answer the file gives", async () => {
    const problems = await replayExchanges(wallet.url, file, { "<token>": wallet.token, "<port>": wallet.port });
    assert.deepEqual(problems, []);
  });
});
