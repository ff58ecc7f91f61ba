#!/usr/bin/env node
/**
 * Calls a paid URL and pays for it through the user's running wallet (found through its endpoint
 * file, $PEAGE_WALLET_FILE or ~/.peage/wallet.json): the wallet shows the offer and applies the
 * user's rules, exactly as for a program. With `--calls N` it calls the URL N times: a route paid
 * by metered session is consented to once and then paid by a tick per call.
 *
 *   peage-weather-client http://127.0.0.1:8080/forecast?city=Lyon [--format x402|payment] [--calls N]
 */
import { parseArgs } from "node:util";
import { payingFetch, PaymentRefused } from "@peage/http";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { format: { type: "string", default: "x402" }, calls: { type: "string", default: "1" } },
});
const url = positionals[0];
const calls = Number(values.calls);
if (!url || (values.format !== "x402" && values.format !== "payment") || !Number.isSafeInteger(calls) || calls < 1) {
  console.error("usage: peage-weather-client <url> [--format x402|payment] [--calls N]");
  process.exit(2);
}
const pay = payingFetch({ prefer: values.format });
try {
  for (let call = 0; call < calls; call++) {
    const response = await pay(url);
    console.log(`${response.status} ${await response.text()}`);
    if (!response.ok) process.exit(1);
  }
} catch (error) {
  console.error(error instanceof PaymentRefused ? `not paid: ${error.message}` : `could not pay: ${(error as Error).message}`);
  process.exit(1);
}
