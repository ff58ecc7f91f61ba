/**
 * The demo's second half of the system, so that `peage settle` on a demo's data writes both bank
 * files: the publisher gets demonstration bank details (its payouts become a pain.001 credit
 * transfer), and a second user, postpaid with a SEPA direct debit mandate, pays the program's
 * launch through a wallet of their own (their bill becomes a pain.008 direct debit). Payouts start
 * at 1.00 in the demo's server.json, so that the demo's few payments reach them.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Merchant } from "@peage/merchant";
import { formatPrice, parseCurrency, price, type PartyId, type Price } from "@peage/protocol";
import { AutoYesPrompt, initWallet, startWallet, type WalletService } from "@peage/wallet";
import type { Operator } from "../operator-api.js";
import type { Cleanup } from "./cleanup.js";
import type { DemoPaths } from "./layout.js";

/** Demonstration values of the right shape (valid check digits), named as such; no real account. */
export const DEMO_BANK_DETAILS = {
  publisher: { name: "Acme Games (demonstration account)", country: "FR", iban: "FR7630006000011234567890189", bic: "AGRIFRPP" },
  mandate: {
    mandateId: "PEAGE-DEMO-BOB-1",
    name: "Bob (demonstration account)",
    iban: "DE89370400440532013000",
    bic: "COBADEFFXXX",
  },
} as const;

export const POSTPAID_USER = "urn:peage:user:bob";
const POSTPAID_CURRENCY = parseCurrency("EUR");
/** Bob's monthly limit, in euro cents. */
const POSTPAID_LIMIT = 2_000;

export interface PostpaidUser {
  readonly user: PartyId<"user">;
  readonly wallet: WalletService;
  readonly monthlyLimit: Price;
}

/** The publisher's bank details, and payouts from 1.00 (server.json, read by `peage settle`). */
export async function setUpPayouts(operator: Operator, paths: DemoPaths, publisher: string): Promise<void> {
  await writeFile(join(paths.server, "server.json"), `${JSON.stringify({ minimumPayouts: { default: "1" } }, null, 2)}\n`, {
    flag: "wx",
  });
  await operator.call("PUT", `/v1/admin/publishers/${encodeURIComponent(publisher)}`, DEMO_BANK_DETAILS.publisher);
}

/** Bob: a wallet of his own, enrolled postpaid with a monthly limit and a SEPA mandate, its service started. */
export async function createPostpaidUser(
  operator: Operator,
  paths: DemoPaths,
  server: { url: string; id: string; rootPem: string },
  cleanup: Cleanup,
): Promise<PostpaidUser> {
  const passphrase = randomBytes(18).toString("base64url");
  await writeFile(paths.postpaidWalletPassphrase, `${passphrase}\n`, { mode: 0o600, flag: "wx" });
  const wallet = await initWallet(paths.postpaidWallet, {
    passphrase,
    user: POSTPAID_USER,
    serverUrl: server.url,
    serverId: server.id,
    homeCurrency: POSTPAID_CURRENCY,
    trustRootsPem: server.rootPem,
  });
  const path = `/v1/admin/users/${encodeURIComponent(wallet.user)}`;
  await operator.call("POST", "/v1/admin/users", {
    user: wallet.user,
    publicKey: wallet.publicJwk,
    mode: "postpaid",
    homeCurrency: POSTPAID_CURRENCY,
    monthlyLimit: POSTPAID_LIMIT,
  });
  await operator.call("PUT", `${path}/mandate`, {
    ...DEMO_BANK_DETAILS.mandate,
    signedOn: new Date().toISOString().slice(0, 10),
  });
  const service = await startWallet({
    wallet: { dir: paths.postpaidWallet, passphrase, prompt: new AutoYesPrompt() },
    endpointFile: paths.postpaidWalletEndpoint,
    log: () => undefined,
  });
  cleanup.defer("stop the postpaid user's wallet", () => service.close());
  return { user: wallet.user, wallet: service, monthlyLimit: price(POSTPAID_LIMIT, POSTPAID_CURRENCY) };
}

/** Bob starts the program once: its launch offer is paid through his wallet and billed to his account. */
export async function payLaunchAsPostpaid(
  user: PostpaidUser,
  catalog: string,
  trustRoots: string,
): Promise<{ paymentId: string; charged: Price; summary: string }> {
  const merchant = await Merchant.create({ catalog, trustRoots, wallet: { endpointFile: user.wallet.endpointFile } });
  const paid = await merchant.atLaunch();
  return {
    paymentId: paid.paymentId,
    charged: paid.charged,
    summary: `${user.user} (postpaid, SEPA mandate) paid the launch: ${formatPrice(paid.charged)} billed, ${paid.paymentId}`,
  };
}
