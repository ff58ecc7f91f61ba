#!/usr/bin/env node
/**
 * A weather API paid through Péage: `GET /forecast?city=…` costs the catalog's "forecast" offer per
 * call; `GET /live?city=…`, when the catalog has a "live" offer with a tick price, is paid by a
 * metered session: the user consents once to the cap, then each call is paid by the next word of
 * the session's hash chain, and the API settles its sessions at the payment server for the ticks
 * used (every minute, and when it stops). Run it with the publisher's signed catalog, the trusted
 * root, the payment server it accepts and that server's URL:
 *
 *   peage-weather-api --catalog catalog.json --trust root.pem --server urn:peage:server:pay-eu \
 *     --server-url https://pay.example [--port 8080]
 *
 * It prints the URL it listens on, then serves until stopped (SIGINT or SIGTERM settle first).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { PaymentGate, paidRoute, type PaidRequest } from "@peage/http";

const { values } = parseArgs({
  options: {
    catalog: { type: "string" },
    trust: { type: "string" },
    server: { type: "string" },
    "server-url": { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!values.catalog || !values.trust || !values.server) {
  console.error(
    "usage: peage-weather-api --catalog catalog.json --trust root.pem --server urn:peage:server:<name> [--server-url URL] [--port N]",
  );
  process.exit(2);
}

const gate = await PaymentGate.create({
  catalog: values.catalog,
  trustRoots: values.trust,
  servers: [values.server],
  ...(values["server-url"] ? { settleAt: values["server-url"] } : {}),
});
const weather = (req: PaidRequest, extra: Record<string, unknown>) => ({
  city: new URL(req.url ?? "/", "http://localhost").searchParams.get("city") ?? "nowhere",
  forecast: "sunny spells, 18 °C",
  paidBy: req.peage!.receipt.user,
  ...extra,
});
const forecast = paidRoute(gate, { offerId: "forecast" }, (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(weather(req, { paymentId: req.peage!.receipt.paymentId })));
});
const live = values["server-url"]
  ? paidRoute(gate, { offerId: "live" }, (req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(weather(req, { session: req.peage!.session })));
    })
  : undefined;

/** Settles every open session for the ticks it was paid, and says so. */
async function settleSessions(): Promise<void> {
  for (const session of gate.openSessions()) {
    try {
      const settled = await gate.settleSession(session.id);
      console.log(
        `settled session ${settled.paymentId}: ${settled.used.amount} of ${settled.maximum.amount} ${settled.used.currency}`,
      );
    } catch (error) {
      console.error(`could not settle session ${session.receipt.paymentId}: ${(error as Error).message}`);
    }
  }
}

const server = createServer((req, res) => {
  if (req.url?.startsWith("/forecast")) return void forecast(req, res);
  if (live && req.url?.startsWith("/live")) return void live(req, res);
  res.statusCode = 404;
  res.end("try GET /forecast?city=Lyon\n");
});
server.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`weather API on http://127.0.0.1:${(server.address() as AddressInfo).port}/forecast?city=Lyon`);
});
const timer = setInterval(() => void settleSessions(), 60_000);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    clearInterval(timer);
    server.close();
    void settleSessions().then(() => process.exit(0));
  });
}
