/**
 * The payment server as a Fastify application, without listening: tests drive it in-process and
 * start.ts puts it on a socket. Every error leaves as an RFC 9457 problem document.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import swagger, { type SwaggerOptions } from "@fastify/swagger";
import { Type, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type RawServerDefault } from "fastify";
import { systemClock, type Clock, type ProblemCode, type TrustStore } from "@peage/protocol";
import type { LogLevel, OperatorBank } from "./config.js";
import type { ServerIdentity } from "./data-dir.js";
import { Metrics } from "./metrics.js";
import type { PaymentContext } from "./payments.js";
import type { PaymentPool } from "./payment-pool.js";
import { HttpProblem, malformed, problemFor, sendProblem } from "./problems.js";
import type { RateSource } from "./rates/rate-source.js";
import { runChecks, standardChecks, type Readiness, type ReadinessCheck } from "./readiness.js";
import { accountRoutes } from "./routes/accounts.js";
import type { CardDesk } from "./cards/desk.js";
import { apiKeyRoutes } from "./routes/api-keys.js";
import { cardRoutes } from "./cards/routes.js";
import { mandateRoutes } from "./mandates/routes.js";
import { healthRoutes } from "./routes/health.js";
import { ledgerRoutes } from "./routes/ledger.js";
import { meRoutes } from "./routes/me.js";
import { publisherRoutes } from "./routes/publisher.js";
import { publisherKeyRoutes } from "./routes/publisher-keys.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { WebhookKeyRing } from "./webhooks/secret-box.js";
import { openApiRoutes } from "./routes/openapi.js";
import { paymentRoutes } from "./routes/payments.js";
import { rateRoutes } from "./routes/rates.js";
import { strictValidatorCompiler } from "./request-validator.js";
import { usageRoutes } from "./routes/usage.js";
import { StoreBusyError, type Store } from "./store/store.js";
import { readJsonBody } from "./json-body.js";
import { UserKeyCache } from "./user-keys.js";

/** The query string of a route that takes none: no member at all. */
const NO_QUERY = Type.Object({}, { additionalProperties: false });

/** Largest request body accepted: a payment request with two certificate chains is about 6 KiB. */
export const BODY_LIMIT = 64 * 1024;

export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse<IncomingMessage>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface AppDeps {
  readonly store: Store;
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  readonly rates: RateSource;
  readonly clock?: Clock;
  /** Structured logs (pino): none by default. Authorization headers are redacted whatever the level. */
  readonly logger?: false | { readonly level: LogLevel; readonly stream?: LogStream };
  /** Clock difference tolerated with wallets' machines, ms (protocol default when absent). */
  readonly skewMs?: number;
  /** |now - iat| allowed for signed user requests, ms (default 5 minutes). */
  readonly userRequestWindowMs?: number;
  readonly metrics?: Metrics;
  /** The server's fee on each payment, basis points of the price (default 0). */
  readonly feeBasisPoints?: number;
  /** HTTPS with this certificate chain and key (PEM); plain HTTP otherwise. */
  readonly https?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Addresses or CIDRs of reverse proxies whose X-Forwarded-For / -Proto are believed (default none). */
  readonly trustProxy?: readonly string[];
  /** Answer GET /metrics on this application's listener (default false: metrics go on a listener of their own, start.ts). */
  readonly publicMetrics?: boolean;
  /** The operator's bank details, checked by /readyz (not demonstration values). */
  readonly bank?: OperatorBank;
  /** Readiness checks added to the standard ones (readiness.ts). */
  readonly extraChecks?: readonly ReadinessCheck[];
  /** The card desk (cards/desk.ts openCardDesk): without it the server issues no cards. */
  readonly cards?: CardDesk | undefined;
  /** The key ring sealing webhook secrets (webhooks/secret-box.ts); a new one of this process's own when absent (tests). */
  readonly webhookKeys?: WebhookKeyRing;
  /** Threads that check and sign payment requests (payment-pool.ts, SQLite's `--workers N`); the event loop does when absent. */
  readonly paymentPool?: PaymentPool;
}

/** Where log lines go (pino writes one JSON line per call); standard output by default. */
export interface LogStream {
  write(line: string): void;
}

/** Everything the route plugins share. */
export interface RouteContext extends PaymentContext {
  readonly metrics: Metrics;
  readonly readiness: readonly ReadinessCheck[];
  readonly userRequestWindowMs: number;
  readonly webhookKeys: WebhookKeyRing;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Runs the readiness checks (readiness.ts), as GET /readyz does. */
    peageReadiness(): Promise<Readiness>;
  }
  interface FastifyRequest {
    /** What this request came to: "recorded", "replayed" or the problem code; read by the metrics. */
    peageOutcome: string;
  }
}

/**
 * Requests checked exactly as the protocol does: no lossy coercion, no silent removal of unknown
 * members (Ajv's Fastify defaults would do both, and change what is hashed and signed); and a
 * route that reads no query string still refuses one, rather than ignoring what the caller meant.
 */
function validateExactly(app: FastifyInstance): void {
  app.setValidatorCompiler(strictValidatorCompiler);
  app.addHook("onRoute", (route) => {
    if (route.schema !== undefined && route.schema.querystring === undefined) route.schema.querystring = NO_QUERY;
  });
}

/** Builds the application with its routes, error handling and OpenAPI document. */
export function buildApp(deps: AppDeps): App {
  const app = Fastify({
    logger: deps.logger
      ? {
          level: deps.logger.level,
          ...(deps.logger.stream ? { stream: deps.logger.stream } : {}),
          // Requests are logged without headers; this is a second net for secrets and signed tokens.
          redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" },
        }
      : false,
    bodyLimit: BODY_LIMIT,
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
    // Behind a reverse proxy, the client's address is taken from X-Forwarded-For only when the
    // connection comes from one of these; otherwise anybody could write their own address.
    ...(deps.trustProxy && deps.trustProxy.length > 0 ? { trustProxy: [...deps.trustProxy] } : {}),
    // Our own 503 below, as a problem document, instead of Fastify's plain JSON.
    return503OnClosing: false,
    forceCloseConnections: "idle",
  }).withTypeProvider<TypeBoxTypeProvider>();

  validateExactly(app);
  app.decorateRequest("peageOutcome", "");

  acceptStrictJson(app);

  app.setErrorHandler((error: FastifyError | HttpProblem | Error, request, reply) => {
    const answer = toProblem(error);
    request.peageOutcome = answer.problem.code;
    if (answer.problem.status >= 500) request.log.error({ err: error, code: answer.problem.code }, "request failed");
    else request.log.info({ code: answer.problem.code }, "request refused");
    return sendProblem(reply, answer.problem, answer.headers);
  });
  refuseWhileClosing(app);
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.recordRequest(request.routeOptions.url ?? "unmatched", reply.elapsedTime / 1000);
  });
  app.setNotFoundHandler((request, reply) => {
    const body = problemFor("ERR_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}; see /openapi.json`);
    return sendProblem(reply, body);
  });

  const clock = deps.clock ?? systemClock;
  const metrics =
    deps.metrics ??
    new Metrics({ trust: deps.trust, identity: deps.identity, rates: deps.rates, store: deps.store, now: () => clock.now() });
  const ctx: RouteContext = {
    store: deps.store,
    identity: deps.identity,
    trust: deps.trust,
    rates: deps.rates,
    clock,
    userKeys: new UserKeyCache(),
    skewMs: deps.skewMs ?? 5 * 60_000,
    feeBasisPoints: deps.feeBasisPoints ?? 0,
    metrics,
    publisherSeen: (publisher, notAfter) => metrics.publisherSeen(publisher, notAfter),
    readiness: [
      ...standardChecks({
        store: deps.store,
        rates: deps.rates,
        identity: deps.identity,
        trust: deps.trust,
        clock,
        ...(deps.bank ? { bank: deps.bank } : {}),
      }),
      ...(deps.extraChecks ?? []),
    ],
    userRequestWindowMs: deps.userRequestWindowMs ?? 5 * 60_000,
    webhookKeys: deps.webhookKeys ?? WebhookKeyRing.generate(),
  };

  app.decorate("peageReadiness", () => runChecks(ctx.readiness));

  app.register(swagger, OPENAPI_OPTIONS);
  app.register(paymentRoutes, { ctx, pool: deps.paymentPool });
  app.register(usageRoutes, { ctx });
  app.register(accountRoutes, { ctx });
  app.register(apiKeyRoutes, { ctx });
  app.register(ledgerRoutes, { ctx });
  app.register(meRoutes, { ctx });
  app.register(publisherRoutes, { ctx });
  app.register(publisherKeyRoutes, { ctx });
  app.register(webhookRoutes, { ctx });
  app.register(rateRoutes, { ctx });
  app.register(healthRoutes, { ctx, publicMetrics: deps.publicMetrics ?? false });
  app.register(cardRoutes, { ctx, desk: deps.cards });
  app.register(mandateRoutes, { ctx });
  app.register(openApiRoutes);
  return app;
}

function badJson(message: string): FastifyError {
  return Object.assign(new Error(message), { code: "PEAGE_BAD_JSON", statusCode: 400, name: "BadJson" }) as FastifyError;
}

/** Maps any error to the problem answered for it. */
function toProblem(error: FastifyError | HttpProblem | Error): {
  problem: ReturnType<typeof problemFor>;
  headers?: Readonly<Record<string, string>>;
} {
  if (error instanceof HttpProblem) return { problem: error.problem, headers: error.headers };
  if (error instanceof StoreBusyError)
    return { problem: problemFor("ERR_SERVER_UNAVAILABLE", `${error.message}`), headers: { "retry-after": "1" } };
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return { problem: malformed(fastifyError.validationContext ?? "request", fastifyError.validation[0]) };
  }
  const byCode: Readonly<Record<string, [ProblemCode, number, string]>> = {
    PEAGE_BAD_JSON: ["ERR_BAD_REQUEST", 400, error.message],
    FST_ERR_CTP_BODY_TOO_LARGE: [
      "ERR_PAYLOAD_TOO_LARGE",
      413,
      `the request body is larger than the ${BODY_LIMIT} bytes accepted`,
    ],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: [
      "ERR_BAD_REQUEST",
      415,
      "unsupported media type: send the body as Content-Type: application/json",
    ],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: ["ERR_BAD_REQUEST", 400, "the request body's size does not match its Content-Length"],
  };
  const known = fastifyError.code === undefined ? undefined : byCode[fastifyError.code];
  if (known) return { problem: problemFor(known[0], known[2], { status: known[1] }) };
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { problem: problemFor("ERR_BAD_REQUEST", error.message, { status }) };
  }
  return {
    problem: problemFor(
      "ERR_INTERNAL",
      "the server failed to handle the request: send the same request again (a payment is never recorded twice)",
    ),
  };
}

/**
 * JSON only (no text/plain), parsed strictly: the error says where the JSON breaks, and a member
 * named twice is refused (strict-json.ts) rather than read as one of its two values.
 */
function acceptStrictJson(app: App): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const read = readJsonBody(body as string);
    if (read.ok) done(null, read.value);
    else done(badJson(read.message), undefined);
  });
}

/**
 * Graceful shutdown: requests in flight finish; a request arriving on a connection still open is
 * refused as retryable, and the connection is closed after it.
 */
function refuseWhileClosing(app: App): void {
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  // Node's server.close() closes only the connections idle at that moment: the answer to a request
  // in flight must close its connection too, or a keep-alive client holds the shutdown open.
  app.addHook("onSend", async (_request, reply) => {
    if (closing) void reply.header("connection", "close");
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    void reply.header("connection", "close");
    throw new HttpProblem(
      problemFor("ERR_SERVER_UNAVAILABLE", "the server is shutting down: send the same request again once it is back"),
      { "retry-after": "1" },
    );
  });
}

/** The OpenAPI document's frame (routes add their operations): served at /openapi.json. */
const OPENAPI_OPTIONS: SwaggerOptions = {
  // Shared schemas added with an $id keep it as their component name (not def-0, def-1, …).
  refResolver: {
    buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json["$id"] === "string" ? json["$id"] : `def-${i}`),
  },
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "Péage payment server",
      version: "1",
      description:
        "Receives payment requests (message 2), records payments and returns signed acknowledgments (message 3). Errors are RFC 9457 problem documents. " +
        "A body, query or path member an operation does not define is refused with 400 ERR_MALFORMED, never dropped; query and path integers are plain decimal digits.",
    },
    components: {
      securitySchemes: {
        operatorKey: {
          type: "http",
          scheme: "bearer",
          description: "An operator API key; each endpoint names the scope it needs.",
        },
        publisherKey: { type: "http", scheme: "bearer", description: "A publisher's own API key (scope publisher:read)." },
        userSignature: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description: "Peage-Signature <JWS> signed with the user's enrolled key (see user-auth.ts).",
        },
      },
    },
  },
};
