/**
 * Latency of one offline payment on the card (SELECT, GET DATA, VERIFY, PAY; message 3 back),
 * in-process and through the real PC/SC stack (pcscd, vsmartcard's virtual reader, the
 * emulator), with short APDUs only (chaining, GET RESPONSE) and with extended APDUs. Writes
 * docs/benchmarks/card.md.
 *
 *   npx tsc -b packages/card && node packages/card/dist/bench/card.bench.js [--quick]
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  canonicalBytes,
  createDemoPki,
  createOffer,
  FixedClock,
  partyId,
  price,
  signCatalog,
  verifyAcknowledgment,
  type CatalogEntry,
} from "@peage/protocol";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  CardClient,
  cardIssuerFromDemo,
  createCardPaymentRequest,
  FileMedium,
  InProcessTransport,
  issueCard,
  MemoryMedium,
  PcscCardClient,
  payWithCard,
  type Medium,
} from "../src/index.js";
import { startPcscStack } from "../src/testing/index.js";

const quick = process.argv.includes("--quick");
const root = resolve(fileURLToPath(import.meta.url), "../../../../..");
const PIN = "2468";
const NOW = new Date();
const clock = new FixedClock(NOW);

interface Sample {
  readonly label: string;
  readonly apdus: string;
  readonly ms: number[];
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function row(sample: Sample): string {
  const sorted = [...sample.ms].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return `| ${sample.label} | ${sample.apdus} | ${sorted.length} | ${f(percentile(sorted, 50))} | ${f(percentile(sorted, 90))} | ${f(percentile(sorted, 99))} | ${f(mean)} | ${f(sorted[0]!)} | ${f(sorted.at(-1)!)} |`;
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .split("\n")[0]!
      .trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg();
  const pki = await createDemoPki({ now: NOW, cardIssuer: true });
  const issuer = cardIssuerFromDemo(pki);
  const catalog = await signCatalog(
    pki.publisher.identity,
    [{ offerId: "one-cent", description: "One turn", price: price(1, "EUR"), grant: { kind: "launch" } }],
    pki.publisher.keys,
    pki.chainOf(pki.publisher.certificate),
  );
  const entry: CatalogEntry = catalog.offers[0]!;
  const trust = pki.trustStore();
  const scratch = mkdtempSync(join(tmpdir(), "peage-card-bench-"));
  const issue = (medium: Medium) =>
    issueCard(medium, {
      issuer,
      card: partyId("card", "bench"),
      user: partyId("user", "bench"),
      pin: PIN,
      mode: "prepaid",
      currency: "EUR",
      balance: 900_000,
      roots: [pki.root.certificate],
      now: NOW,
      logCapacity: 5000,
    });

  let ackBytes = 0;
  /** One payment, checked by the merchant as it would be (not timed). */
  const paid = async (
    pay: () => Promise<{ acknowledgment: string }>,
    offer: ReturnType<typeof createOffer>,
    sample: number[],
  ) => {
    const t0 = performance.now();
    const ack = await pay();
    sample.push(performance.now() - t0);
    ackBytes = ack.acknowledgment.length;
    const checked = await verifyAcknowledgment(ack, offer, { trust, clock });
    if (!checked.ok) throw checked.error;
  };
  const sampleRequest = createCardPaymentRequest({
    offer: createOffer(entry, clock),
    user: partyId("user", "bench"),
    issuer: issuer.identity,
    clock,
  });
  const payBytes = canonicalBytes(sampleRequest.consent).length + sampleRequest.signature.length + 8;

  const samples: Sample[] = [];
  const counts = quick
    ? { inProcess: 40, file: 20, extended: 20, short: 6, apdu: 20 }
    : { inProcess: 300, file: 100, extended: 150, short: 40, apdu: 100 };
  try {
    for (const [label, medium, n] of [
      ["in-process, memory", new MemoryMedium(), counts.inProcess],
      ["in-process, directory (fsync)", new FileMedium(join(scratch, "file")), counts.file],
    ] as const) {
      await issue(medium);
      const inner = await InProcessTransport.open(medium, { clock });
      let count = 0;
      const card = new CardClient({ transmit: (apdu) => (count++, inner.transmit(apdu)) }, { extendedLength: true });
      const ms: number[] = [];
      for (let i = 0; i < n + 5; i++) {
        const offer = createOffer(entry, clock);
        count = 0;
        await paid(() => payWithCard(card, { offer, pin: PIN, clock }), offer, i < 5 ? [] : ms);
      }
      samples.push({ label, apdus: String(count), ms });
    }

    const dir = join(scratch, "pcsc");
    await issue(new FileMedium(dir));
    const stack = await startPcscStack({ dir, clock });
    const clients: PcscCardClient[] = [];
    try {
      for (const [label, extendedLength, n] of [
        ["PC/SC, extended APDUs", true, counts.extended],
        ["PC/SC, short APDUs (chaining + GET RESPONSE)", false, counts.short],
      ] as const) {
        const client = await PcscCardClient.open({ reader: stack.reader, timeoutMs: 30_000, extendedLength });
        clients.push(client);
        await client.waitForCard();
        const ms: number[] = [];
        let apdus = 0;
        for (let i = 0; i < n + 2; i++) {
          const offer = createOffer(entry, clock);
          const before = stack.emulator.stats.commands;
          await paid(() => client.session((session) => payWithCard(session, { offer, pin: PIN, clock })), offer, i < 2 ? [] : ms);
          apdus = stack.emulator.stats.commands - before;
        }
        samples.push({ label: `${label}, whole session`, apdus: String(apdus), ms });
      }
      // Where the PC/SC time goes: one APDU's round trip, and a session's connect + reset.
      const client = clients[0]!;
      const apdu: number[] = [];
      await client.session(async (session) => {
        await session.select();
        for (let i = 0; i < counts.apdu; i++) {
          const t0 = performance.now();
          await session.status();
          apdu.push(performance.now() - t0);
        }
      });
      samples.push({ label: "PC/SC, one APDU (GET DATA) inside a session", apdus: "1", ms: apdu });
      const empty: number[] = [];
      for (let i = 0; i < Math.min(counts.apdu, 40); i++) {
        const t0 = performance.now();
        await client.session(async () => undefined);
        empty.push(performance.now() - t0);
      }
      samples.push({ label: "PC/SC, empty session (exclusive connect, disconnect with reset)", apdus: "0", ms: empty });
    } finally {
      for (const client of clients) client.close();
      await stack.stop();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const loadAfter = loadavg();
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" / ");
  const text = `# Card benchmark

Written by \`packages/card/bench/card.bench.ts\` (\`npx tsc -b packages/card && node packages/card/dist/bench/card.bench.js${quick ? " --quick" : ""}\`).

Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores; Node ${process.version}; ${version("pcscd", ["--version"])}; vsmartcard-vpcd ${version("dpkg-query", ["-W", "-f=\${Version}", "vsmartcard-vpcd"])}. Load average ${load(loadBefore)} before, ${load(loadAfter)} after; ${seconds} s in all. A load above the core count means other processes shared the CPU: the figures are then upper bounds.

## One offline payment

What the wallet waits for once the user typed the PIN: SELECT, GET DATA (the card's user and issuer), VERIFY, PAY — the card checks the publisher's chain and signature, writes the log entry and the debit in one journaled transaction, signs the entry and the acknowledgment — and, through PC/SC, the exclusive connection and the card reset that ends the session. Milliseconds of wall-clock time per payment; the merchant's check of each acknowledgment is done but not timed. Price 1 cent, ES256 card key, ES256 demo PKI.

| path | APDUs per payment | n | p50 | p90 | p99 | mean | min | max |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${samples.map(row).join("\n")}

With few samples p99 is close to the maximum; the short-APDU run is kept small because each payment takes over a second.

## Reading the figures

- **The card's own work** is the in-process figure: two ES256 signatures (log entry, acknowledgment), one chain validation (cached after the first payment) and one publisher signature check. With its memory in a directory, a payment costs three fsync'ed transactions (VERIFY writes the retry counter before comparing and again after a match; PAY writes the entry and the debit together), which is the difference between the first two rows.
- **Through PC/SC, the reader costs about ${percentile(
    [...(samples.find((s) => s.label.startsWith("PC/SC, one APDU"))?.ms ?? [0])].sort((a, b) => a - b),
    50,
  ).toFixed(
    0,
  )} ms per APDU.** The virtual reader driver (vpcd) sends each message to the card as two TCP writes, its two-byte length and then the payload; with Nagle's algorithm on its side and delayed acknowledgments on the card's, the payload waits for the delayed ACK (40 ms on Linux). A payment is then dominated by its number of APDUs: ${samples.find((s) => s.label.startsWith("PC/SC, extended"))?.apdus} with extended APDUs, ${samples.find((s) => s.label.startsWith("PC/SC, short"))?.apdus} with short APDUs, where the PAY command (the consent and the publisher's JWS with its chain: ${payBytes} bytes) goes in 255-byte links and the acknowledgment (a JWS with the card's chain: ${ackBytes} bytes) comes back in 256-byte GET RESPONSE parts. The session's end (SCARD_RESET_CARD, so that the next program finds the PIN unverified) adds two more driver messages.
- A physical reader has neither the TCP hop nor the delayed ACK; its cost per APDU is the card's I/O speed (ISO/IEC 7816-3 T=1 at 9600-115200 baud, or USB CCID), and a smart card's ECDSA signature takes tens of milliseconds or more. These figures measure the protocol's shape (how many exchanges, how much data) through the real PC/SC stack, not a chip.
`;
  const target = join(root, "docs", "benchmarks", "card.md");
  writeFileSync(target, text);
  process.stdout.write(`${text}\nwritten to ${target}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
