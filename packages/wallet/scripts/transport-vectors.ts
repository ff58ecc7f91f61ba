/**
 * Records packages/protocol/test-vectors/transport/wallet.json (docs/transport.md §6): the
 * exchanges between a program (the merchant side) and the user's wallet, each sent to a running
 * reference wallet, which pays through a reference payment server, and checked against the answer
 * the text specifies before anything is written. Also sets up the wallet the replay test runs the
 * file against (`startVectorWallet`), as the file's `setup` describes it.
 *
 *   npm run transport-vectors
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  certificateToPem,
  createDemoPki,
  createOffer,
  FixedClock,
  price,
  rateTable,
  signCatalog,
  TrustStore,
  type Catalog,
  type DemoPki,
  type Offer,
} from "@peage/protocol";
import {
  EXCHANGES_FORMAT,
  problemShape,
  recordExchanges,
  startRealServer,
  type Exchange,
  type ExchangeFile,
  type ExchangeResponse,
} from "@peage/server/testing";
import { createWallet, initWallet, startWallet, type ConsentPrompt, type OfferView } from "../src/index.js";

const AT = new Date("2026-01-16T09:00:00.000Z");
const MINUTE = 60_000;
const USER = "urn:peage:user:alice";
const PASSPHRASE = "a passphrase for the transport vectors";
const RATES = { base: "EUR", date: "2026-01-15", rates: { USD: "1.0845" } };
const BALANCE = 1000;
/** The user's own rule: refuse, without asking, any payment above 20.00 EUR. */
const REFUSE_ABOVE = price(2000, "EUR");

/** The user of the vectors: says yes to every offer shown, except to offers whose id starts with "no-". */
export class VectorUser implements ConsentPrompt {
  ask(view: OfferView): Promise<boolean> {
    return Promise.resolve(!view.offerId.startsWith("no-"));
  }
}

export interface VectorWallet {
  readonly url: string;
  readonly token: string;
  readonly port: string;
  /** The wallet's endpoint file (docs/transport.md §3.1), which programs read to find it. */
  readonly endpointFile: string;
  /** The user of the wallet, and their balance at the payment server (minor units of EUR). */
  readonly user: string;
  balance(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The wallet of `setup`: its clock at `at`, the user enrolled at a reference payment server (whose
 * identity and key come from `pki`) with BALANCE in EUR, trusting `trustAnchors` and `pki`'s root.
 */
export async function startVectorWallet(pki: DemoPki, trustAnchors: readonly string[], at: Date): Promise<VectorWallet> {
  const dir = await mkdtemp(join(tmpdir(), "peage-transport-vectors-"));
  const roots = [...new Set([...trustAnchors, certificateToPem(pki.root.certificate)])];
  const clock = new FixedClock(at);
  const server = await startRealServer(pki, rateTable(RATES.base, RATES.date, RATES.rates), {
    clock,
    trust: TrustStore.fromPem(roots),
  });
  const init = await initWallet(join(dir, "wallet"), {
    passphrase: PASSPHRASE,
    user: USER,
    serverUrl: server.url,
    serverId: pki.server.identity,
    homeCurrency: "EUR",
    trustRootsPem: roots.join(""),
    rules: { autoAccept: null, refuse: { perPayment: REFUSE_ABOVE } },
  });
  await server.enrol(USER, init.publicJwk, "EUR", BALANCE);
  const wallet = await createWallet({ dir: join(dir, "wallet"), passphrase: PASSPHRASE, prompt: new VectorUser(), clock });
  const endpointFile = join(dir, "run", "wallet.json");
  const service = await startWallet({ wallet, endpointFile });
  return {
    url: service.url,
    token: service.token,
    port: new URL(service.url).port,
    endpointFile,
    user: USER,
    balance: () => server.balanceOf(USER),
    async close() {
      await service.close();
      wallet.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const AUTHORIZED = { authorization: "Bearer <token>", "content-type": "application/json" };
const PAID: ExchangeResponse = {
  status: 200,
  headers: { "content-type": "application/json" },
  body: { acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: "<jws>" } },
};

function exchanges(catalog: Catalog): Exchange[] {
  const offer = (id: string, date = AT): Offer =>
    createOffer(
      catalog.offers.find((e) => e.terms.offerId === id)!,
      new FixedClock(date),
    );
  const post = (body: unknown, headers: Record<string, string> = AUTHORIZED) => ({
    method: "POST" as const,
    path: "/v1/offers",
    headers,
    body,
  });
  const launch = offer("launch");
  const text = JSON.stringify({ offer: offer("launch") });
  const { nonce: _nonce, ...withoutNonce } = offer("launch");
  const list: Array<[string, string, Exchange["request"], ExchangeResponse]> = [
    [
      "health",
      "A program sees whether a wallet runs: no token needed.",
      { method: "GET", path: "/v1/health" },
      { status: 200, body: { status: "ok" } },
    ],
    ["offers/paid", "The launch offer (1.00 EUR), posted with the token: paid, message 3 back.", post({ offer: launch }), PAID],
    [
      "offers/same-offer-again",
      "The same offer instance again (the program lost the answer): the acknowledgment the wallet kept, nothing paid twice.",
      post({ offer: launch }),
      { ...PAID, sameBodyAs: "offers/paid" },
    ],
    [
      "offers/without-token",
      "No Authorization header.",
      post({ offer: offer("launch") }, { "content-type": "application/json" }),
      {
        ...problemShape(401, "ERR_UNAUTHORIZED"),
        headers: { "content-type": "application/problem+json", "www-authenticate": 'Bearer realm="peage-wallet"' },
      },
    ],
    [
      "offers/wrong-token",
      "A token that is not the wallet's.",
      post({ offer: offer("launch") }, { ...AUTHORIZED, authorization: "Bearer bm90LXRoZS13YWxsZXRzLXRva2Vu" }),
      problemShape(401, "ERR_UNAUTHORIZED"),
    ],
    [
      "offers/from-a-web-page",
      "A request carrying Origin, as a browser adds to a web page's: no page may ask for a payment.",
      post({ offer: offer("launch") }, { ...AUTHORIZED, origin: "https://shop.example" }),
      problemShape(403, "ERR_FORBIDDEN"),
    ],
    [
      "offers/dns-rebinding",
      "A Host that is not 127.0.0.1 or localhost (a name rebound to the loopback).",
      post({ offer: offer("launch") }, { ...AUTHORIZED, host: "shop.example:<port>" }),
      problemShape(403, "ERR_FORBIDDEN"),
    ],
    [
      "offers/not-json",
      "The body sent as text/plain.",
      { method: "POST", path: "/v1/offers", headers: { ...AUTHORIZED, "content-type": "text/plain" }, bodyText: text },
      problemShape(415, "ERR_BAD_REQUEST"),
    ],
    [
      "offers/not-wrapped",
      'Message 1 itself instead of {"offer": message 1}.',
      post(offer("launch")),
      problemShape(400, "ERR_BAD_REQUEST"),
    ],
    [
      "offers/duplicate-member",
      "A body naming offer twice.",
      { method: "POST", path: "/v1/offers", headers: AUTHORIZED, bodyText: text.replace('{"offer":', '{"offer":{},"offer":') },
      problemShape(400, "ERR_BAD_REQUEST"),
    ],
    ["offers/malformed", "An offer without its nonce.", post({ offer: withoutNonce }), problemShape(400, "ERR_MALFORMED")],
    [
      "offers/hash-mismatch",
      "An offer whose description was changed after the publisher signed it.",
      post({ offer: { ...launch, terms: { ...launch.terms, description: "Start ten games" } } }),
      problemShape(422, "ERR_HASH_MISMATCH"),
    ],
    [
      "offers/expired",
      "An offer made 30 minutes before the wallet's clock: past its expiresAt and the skew.",
      post({ offer: offer("launch", new Date(AT.getTime() - 30 * MINUTE)) }),
      problemShape(422, "ERR_MESSAGE_EXPIRED"),
    ],
    ["offers/declined", "The user says no.", post({ offer: offer("no-thanks") }), problemShape(403, "ERR_DECLINED")],
    [
      "offers/rule-refused",
      "25.00 EUR, above the 20.00 EUR the user's own rule refuses without asking.",
      post({ offer: offer("dear") }),
      problemShape(403, "ERR_RULE_REFUSED"),
    ],
    [
      "offers/insufficient-funds",
      "15.00 EUR against the 9.00 EUR left: the payment server's refusal, passed through with its code.",
      post({ offer: offer("costly") }),
      problemShape(402, "ERR_INSUFFICIENT_FUNDS"),
    ],
  ];
  return list.map(([id, description, request, response]) => ({ id, description, request, response }));
}

async function main(): Promise<void> {
  const pki = await createDemoPki({ now: new Date(AT.getTime() - 1440 * MINUTE) });
  const drafts = [
    { offerId: "launch", description: "Start one game", price: price(100, "EUR"), grant: { kind: "launch" as const } },
    {
      offerId: "no-thanks",
      description: "Something the user declines",
      price: price(100, "EUR"),
      grant: { kind: "launch" as const },
    },
    { offerId: "dear", description: "Above the user's limit", price: price(2500, "EUR"), grant: { kind: "launch" as const } },
    { offerId: "costly", description: "Above the balance", price: price(1500, "EUR"), grant: { kind: "launch" as const } },
  ];
  const catalog = await signCatalog(pki.publisher.identity, drafts, pki.publisher.keys, pki.chainOf(pki.publisher.certificate));
  const list = exchanges(catalog);
  const anchors = [certificateToPem(pki.root.certificate)];
  const file: ExchangeFile = {
    format: EXCHANGES_FORMAT,
    description:
      "Péage transport vectors, program to wallet (docs/transport.md §6): replay each exchange in order against a wallet set up as `setup` says, with its clock at `at`.",
    party: "wallet",
    at: AT.toISOString(),
    setup: {
      description: `The wallet of user ${USER}, home currency EUR, enrolled with a prepaid balance of 10.00 EUR at a payment server named \`server\` (any key and chain the wallet trusts), with the rates \`rates\`; the wallet and the server trust \`trustAnchors\`, their clocks fixed at \`at\`. The user's rules refuse any payment above 20.00 EUR without asking; asked, the user says yes, except to offers whose offerId starts with "no-". <token> is the wallet's bearer token, <port> its port.`,
      trustAnchors: anchors,
      server: pki.server.identity,
      rates: RATES,
      user: USER,
      balance: { amount: BALANCE, currency: "EUR" },
      refuseAbove: REFUSE_ABOVE,
    },
    exchanges: list,
  };
  const wallet = await startVectorWallet(pki, anchors, AT);
  try {
    const dir = fileURLToPath(new URL("../../../protocol/test-vectors/transport/", import.meta.url));
    const path = await recordExchanges(file, wallet.url, { "<token>": wallet.token, "<port>": wallet.port }, dir, "wallet.json");
    console.log(`wrote ${list.length} exchanges to ${path}`);
  } finally {
    await wallet.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
