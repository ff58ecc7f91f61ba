import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDemoPki, writePkiDir } from "@peage/protocol";
import { ApiScopes, buildConfig, createApiKey, initDataDir, startServer } from "../src/index.js";

async function serverFrom(cardIssuer: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "peage-desk-"));
  await writePkiDir(join(dir, "pki"), await createDemoPki({ cardIssuer }));
  await initDataDir({ dataDir: join(dir, "server"), pkiDir: join(dir, "pki") });
  const running = await startServer(buildConfig({ dataDir: join(dir, "server") }, { port: 0, host: "127.0.0.1" }), {
    logs: false,
  });
  const key = await createApiKey(running.store, ApiScopes, "test");
  const status = async () =>
    (
      await fetch(`${running.url}/v1/cards/urn:peage:card:nobody`, { headers: { authorization: `Bearer ${key}` } })
    ).json() as Promise<{ code?: string; detail?: string }>;
  return {
    status,
    close: async () => {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a server whose PKI has a card issuer opens its card desk at start; one without answers that it issues no cards", async () => {
  const withDesk = await serverFrom(true);
  const without = await serverFrom(false);
  try {
    const [a, b] = await Promise.all([withDesk.status(), without.status()]);
    // Both are 404s, for different reasons: an unknown card at a card-issuing server, and no desk at all.
    assert.match(a.detail ?? "", /no card urn:peage:card:nobody is registered/);
    assert.match(b.detail ?? "", /issues no cards/);
  } finally {
    await withDesk.close();
    await without.close();
  }
});
