#!/usr/bin/env node
/**
 * A weather API whose every call is paid through Péage: `GET /forecast?city=…` costs the catalog's
 * "forecast" offer. Run it with the publisher's signed catalog, the trusted root and the payment
 * server it accepts:
 *
 *   peage-weather-api --catalog catalog.json --trust root.pem --server urn:peage:server:pay-eu [--port 8080]
 *
 * It prints the URL it listens on, then serves until stopped.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { PaymentGate, paidRoute } from "@peage/http";

const { values } = parseArgs({
  options: {
    catalog: { type: "string" },
    trust: { type: "string" },
    server: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!values.catalog || !values.trust || !values.server) {
  console.error("usage: peage-weather-api --catalog catalog.json --trust root.pem --server urn:peage:server:<name> [--port N]");
  process.exit(2);
}

const gate = await PaymentGate.create({ catalog: values.catalog, trustRoots: values.trust, servers: [values.server] });
const forecast = paidRoute(gate, { offerId: "forecast" }, (req, res) => {
  const city = new URL(req.url ?? "/", "http://localhost").searchParams.get("city") ?? "nowhere";
  res.setHeader("content-type", "application/json");
  res.end(
    JSON.stringify({
      city,
      forecast: "sunny spells, 18 °C",
      paidBy: req.peage!.receipt.user,
      paymentId: req.peage!.receipt.paymentId,
    }),
  );
});
const server = createServer((req, res) => {
  if (req.url?.startsWith("/forecast")) return void forecast(req, res);
  res.statusCode = 404;
  res.end("try GET /forecast?city=Lyon\n");
});
server.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`weather API on http://127.0.0.1:${(server.address() as AddressInfo).port}/forecast?city=Lyon`);
});
