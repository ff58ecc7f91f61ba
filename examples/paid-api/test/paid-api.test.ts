/**
 * The example as a user runs it: the API and the client as their own processes, a real payment
 * server and the user's real wallet service. Each call the client makes is paid once, in either
 * wire format; a metered session is consented to once, paid by a tick per call and settled for the
 * ticks used when the API stops; the balance moves by exactly what was used.
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

test("the weather API is paid per call and per metered session by the client, in both wire formats", async () => {
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
      {
        offerId: "live",
        description: "Live weather, 1 cent a reading, at most 5",
        price: price(5, "EUR"),
        upto: true as const,
        tick: price(1, "EUR"),
        grant: { kind: "event" as const, event: "live" },
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

    const args = ["--catalog", catalog, "--trust", roots, "--server", pki.server.identity, "--server-url", payments.url];
    api = spawn(process.execPath, [serverJs, ...args], { stdio: ["ignore", "pipe", "inherit"] });
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

    // A metered session: one consent to a cap of 5, three calls paid by ticks, settled for 3 when the API stops.
    for (const format of ["x402", "payment"]) {
      const live = await run([clientJs, url.replace("/forecast", "/live"), "--format", format, "--calls", "3"], env);
      assert.equal(live.code, 0, live.out);
      const ticks = [...live.out.matchAll(/"ticks":(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(ticks, [1, 2, 3], live.out);
    }
    assert.equal(await payments.balanceOf(user), 100 - 6 - 2 * 5, "each session holds its cap until it is settled");
    let settledOut = "";
    api.stdout!.on("data", (c: Buffer) => (settledOut += c.toString("utf8")));
    api.kill("SIGTERM");
    await once(api, "exit");
    assert.equal((settledOut.match(/settled session pay_\S+: 3 of 5 EUR/g) ?? []).length, 2, settledOut);
    assert.equal(await payments.balanceOf(user), 100 - 6 - 2 * 3, "two sessions of three ticks each");
  } finally {
    api?.kill();
    for (const step of cleanup.reverse()) await step();
  }
});
