/**
 * The example as a user runs it: the API and the client as their own processes, a real payment
 * server and the user's real wallet service. Each call the client makes is paid once, in either
 * wire format, and the balance moves by exactly the price of the calls.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { certificateToPem, createDemoPki, price, signCatalog } from "@peage/protocol";
import { startRealServer } from "@peage/server/testing";
import { AutoYesPrompt, createWallet, initWallet, startWallet } from "@peage/wallet";
import { TEST_RATES } from "@peage/wallet/testing";

const serverJs = fileURLToPath(new URL("../src/server.js", import.meta.url));
const clientJs = fileURLToPath(new URL("../src/client.js", import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

test("the weather API is paid per call by the client, in both wire formats", async () => {
  const pki = await createDemoPki();
  const dir = await mkdtemp(join(tmpdir(), "peage-paid-api-"));
  const payments = await startRealServer(pki, TEST_RATES);
  const cleanup: Array<() => unknown> = [() => rm(dir, { recursive: true, force: true }), () => payments.close()];
  let api: ChildProcess | undefined;
  try {
    const roots = join(dir, "root.pem");
    await writeFile(roots, certificateToPem(pki.root.certificate));
    const catalog = join(dir, "catalog.json");
    const offers = [
      {
        offerId: "forecast",
        description: "One weather forecast",
        price: price(3, "EUR"),
        grant: { kind: "event" as const, event: "forecast" },
      },
    ];
    await writeFile(
      catalog,
      JSON.stringify(
        await signCatalog(pki.publisher.identity, offers, pki.publisher.keys, pki.chainOf(pki.publisher.certificate)),
      ),
    );
    const user = "urn:peage:user:weather-fan";
    const passphrase = "the weather fan's passphrase";
    const init = await initWallet(join(dir, "wallet"), {
      passphrase,
      user,
      serverUrl: payments.url,
      serverId: pki.server.identity,
      homeCurrency: "EUR",
      trustRootsPem: roots,
    });
    await payments.enrol(user, init.publicJwk, "EUR", 100);
    const wallet = await createWallet({ dir: join(dir, "wallet"), passphrase, prompt: new AutoYesPrompt() });
    cleanup.push(() => wallet.close());
    const service = await startWallet({ wallet, endpointFile: join(dir, "run", "wallet.json") });
    cleanup.push(() => service.close());

    api = spawn(process.execPath, [serverJs, "--catalog", catalog, "--trust", roots, "--server", pki.server.identity], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const [line] = (await once(api.stdout!, "data")) as [Buffer];
    const url = /(http:\/\/\S+)/.exec(line.toString("utf8"))![1]!;

    const env = { ...process.env, PEAGE_WALLET_FILE: service.endpointFile };
    for (const format of ["x402", "payment"]) {
      const result = await run([clientJs, url, "--format", format], env);
      assert.equal(result.code, 0, result.out);
      assert.match(result.out, /^200 \{"city":"Lyon","forecast":"sunny spells, 18 °C","paidBy":"urn:peage:user:weather-fan"/);
    }
    const unpaid = await fetch(url);
    assert.equal(unpaid.status, 402);
    assert.equal(await payments.balanceOf(user), 100 - 2 * 3);
  } finally {
    api?.kill();
    for (const step of cleanup.reverse()) await step();
  }
});
