/**
 * The webhook key ring (webhooks/secret-box.ts): where it comes from (the environment, a file, the
 * data directory, made there once even by processes starting together), what a bad ring says, and
 * that a sealed secret opens only with its key, for its endpoint, unaltered.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadWebhookKeys, WebhookKeyError, WebhookKeyRing, WEBHOOK_KEYS_FILE } from "../src/webhooks/secret-box.js";

const line = (id: string, fill: number) => `${id} ${Buffer.alloc(32, fill).toString("base64url")}\n`;

describe("webhook key ring", () => {
  it("seals with the first key, opens with any key of the ring, and refuses another endpoint, another key or an altered secret", () => {
    const ring = WebhookKeyRing.parse(`# current first\n${line("new", 2)}${line("old", 1)}`, "ring");
    const sealed = ring.seal("whsec_abc", "whe_1");
    assert.equal(sealed.keyId, "new");
    assert.equal(ring.open(sealed, "whe_1"), "whsec_abc");
    const old = WebhookKeyRing.parse(line("old", 1), "old ring").seal("whsec_old", "whe_1");
    assert.equal(ring.open(old, "whe_1"), "whsec_old");
    assert.throws(() => ring.open(sealed, "whe_2"), /does not open/);
    assert.throws(() => WebhookKeyRing.parse(line("old", 1), "old ring").open(sealed, "whe_1"), /does not hold/);
    const bytes = Buffer.from(sealed.value, "base64url");
    bytes[14] = bytes[14]! ^ 1;
    assert.throws(() => ring.open({ keyId: "new", value: bytes.toString("base64url") }, "whe_1"), /does not open/);
    assert.notEqual(ring.seal("whsec_abc", "whe_1").value, sealed.value, "a new IV each time");
  });

  it("refuses a ring that is empty, malformed, short or has a key id twice, naming how to make one", () => {
    for (const [text, message] of [
      ["", /holds no key.*peage server init/],
      ["k1 notbase64!\n", /line 1: expected KEY-ID/],
      [`k1 ${Buffer.alloc(16).toString("base64url")}\n`, /line 1/],
      [line("k1", 1) + line("k1", 2), /appears twice/],
    ] as const)
      assert.throws(
        () => WebhookKeyRing.parse(text, "ring"),
        (error: unknown) => error instanceof WebhookKeyError && message.test(error.message),
      );
  });

  it("reads the environment first, then a file it names, else the data directory's ring, made once, mode 0600", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peage-webhook-keys-"));
    try {
      assert.equal((await loadWebhookKeys(dir, { PEAGE_WEBHOOK_KEYS: line("env", 3) })).ring.currentId, "env");
      writeFileSync(join(dir, "ring"), line("file", 4));
      assert.equal((await loadWebhookKeys(dir, { PEAGE_WEBHOOK_KEYS_FILE: join(dir, "ring") })).ring.currentId, "file");
      await assert.rejects(loadWebhookKeys(dir, { PEAGE_WEBHOOK_KEYS_FILE: join(dir, "missing") }), /cannot read/);
      const starts = await Promise.all([1, 2, 3, 4].map(() => loadWebhookKeys(dir, {})));
      assert.equal(new Set(starts.map((s) => s.ring.text())).size, 1, "processes starting together share one ring");
      assert.equal(starts.filter((s) => s.created).length, 1);
      assert.equal(statSync(join(dir, WEBHOOK_KEYS_FILE)).mode & 0o777, 0o600);
      assert.equal(readFileSync(join(dir, WEBHOOK_KEYS_FILE), "utf8"), starts[0]!.ring.text());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
