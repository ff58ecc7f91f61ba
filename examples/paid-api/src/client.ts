#!/usr/bin/env node
/**
 * Calls a paid URL and pays for it through the user's running wallet (found through its endpoint
 * file, $PEAGE_WALLET_FILE or ~/.peage/wallet.json): the wallet shows the offer and applies the
 * user's rules, exactly as for a program.
 *
 *   peage-weather-client http://127.0.0.1:8080/forecast?city=Lyon [--format x402|payment]
 */
import { parseArgs } from "node:util";
import { payingFetch, PaymentRefused } from "@peage/http";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { format: { type: "string", default: "x402" } } });
const url = positionals[0];
if (!url || (values.format !== "x402" && values.format !== "payment")) {
  console.error("usage: peage-weather-client <url> [--format x402|payment]");
  process.exit(2);
}
try {
  const response = await payingFetch({ prefer: values.format })(url);
  console.log(`${response.status} ${await response.text()}`);
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  console.error(error instanceof PaymentRefused ? `not paid: ${error.message}` : `could not pay: ${(error as Error).message}`);
  process.exit(1);
}
