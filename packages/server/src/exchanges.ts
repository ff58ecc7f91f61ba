/**
 * The request/response vectors of the HTTP transport (docs/transport.md §6): their file format,
 * the match of an answer against the shape a vector gives, and the replay of a file against a
 * running payment server or wallet. The generators record the files with it and the replay tests
 * run them; other packages reach it through "@peage/server/testing", never production code.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";

export const EXCHANGES_FORMAT = "peage-transport-vectors/1";

export interface ExchangeRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** The request target: path and query string, exactly as sent. */
  readonly path: string;
  /** Header values may hold placeholders (`<operator-key>`, `<token>`, `<port>`) the replay fills in. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The JSON body, sent as JSON.stringify writes it. */
  readonly body?: unknown;
  /** Or the body as text, sent byte for byte (a JSON text no serializer would write: a member twice). */
  readonly bodyText?: string;
}

export interface ExchangeResponse {
  readonly status: number;
  /** The headers that matter, compared without parameters (`; charset=utf-8`) and case-insensitively by name. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The shape of the answer's body (docs/transport.md §6). */
  readonly body?: unknown;
  /** The body is exactly the body of that earlier exchange (an idempotent replay). */
  readonly sameBodyAs?: string;
}

export interface Exchange {
  readonly id: string;
  readonly description: string;
  readonly request: ExchangeRequest;
  readonly response: ExchangeResponse;
}

export interface ExchangeFile {
  readonly format: typeof EXCHANGES_FORMAT;
  readonly description: string;
  readonly party: "payment server" | "wallet";
  /** The clock of the server (and wallet) replaying the file, and of every message in it. */
  readonly at: string;
  /** What the party replaying the file is set up with, in words and data. */
  readonly setup: {
    readonly description: string;
    /** The roots the replaying party trusts besides its own: they certify the file's publisher. */
    readonly trustAnchors: readonly string[];
    /** The payment server's identity the consents name. */
    readonly server: string;
    /** The exchange rates of the replaying payment server. */
    readonly rates: { readonly base: string; readonly date: string; readonly rates: Readonly<Record<string, string>> };
    /** Anything else the party needs: the user, their currency and balance. */
    readonly [more: string]: unknown;
  };
  readonly exchanges: readonly Exchange[];
}

export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const PLACEHOLDERS: Readonly<Record<string, (value: unknown) => boolean>> = {
  "<*>": () => true,
  "<string>": (value) => typeof value === "string",
  "<number>": (value) => typeof value === "number",
  "<boolean>": (value) => typeof value === "boolean",
  "<jws>": (value) => typeof value === "string" && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value),
};

/** The shape of a problem document (docs/protocol.md §10) with this status and code. */
export function problemShape(status: number, code: string, retryable = false): ExchangeResponse {
  const name = code.replace(/^ERR_/, "").toLowerCase().replace(/_/g, "-");
  return {
    status,
    headers: { "content-type": "application/problem+json" },
    body: { type: `urn:peage:problem:${name}`, title: "<string>", status, detail: "<string>", code, retryable },
  };
}

/** Where `actual` departs from `shape`: listed members must match, placeholders stand for any value of their kind. */
export function shapeProblems(actual: unknown, shape: unknown, where = "body"): string[] {
  if (typeof shape === "string" && shape in PLACEHOLDERS)
    return PLACEHOLDERS[shape]!(actual) ? [] : [`${where} is not ${shape}: ${JSON.stringify(actual)}`];
  if (Array.isArray(shape)) {
    if (!Array.isArray(actual) || actual.length !== shape.length) return [`${where} is not an array of ${shape.length}`];
    return shape.flatMap((item, index) => shapeProblems(actual[index], item, `${where}[${index}]`));
  }
  if (typeof shape === "object" && shape !== null) {
    if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return [`${where} is not an object`];
    const record = actual as Record<string, unknown>;
    return Object.entries(shape).flatMap(([name, item]) =>
      name in record ? shapeProblems(record[name], item, `${where}.${name}`) : [`${where}.${name} is missing`],
    );
  }
  return Object.is(actual, shape) ? [] : [`${where} is ${JSON.stringify(actual)}, not ${JSON.stringify(shape)}`];
}

/** Sends one request to `base` (http://127.0.0.1:port) with node:http, so that every header, Host included, is as written. */
export function send(base: string, exchange: ExchangeRequest, fill: (value: string) => string): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const headers = Object.fromEntries(Object.entries(exchange.headers ?? {}).map(([name, value]) => [name, fill(value)]));
  const body = exchange.bodyText ?? (exchange.body === undefined ? undefined : JSON.stringify(exchange.body));
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: hostname,
        port,
        path: exchange.path,
        method: exchange.method,
        headers: { host: `${hostname}:${port}`, ...headers },
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const flat = Object.fromEntries(Object.entries(incoming.headers).map(([name, value]) => [name, String(value)]));
          let parsed: unknown = text;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            // Not JSON: the shape check reports it against what the vector expects.
          }
          resolve({ status: incoming.statusCode ?? 0, headers: flat, body: parsed });
        });
      },
    );
    outgoing.on("error", reject);
    if (body !== undefined) outgoing.write(body);
    outgoing.end();
  });
}

/** Where an answer departs from the response a vector expects; `earlier` holds the bodies of the exchanges before it. */
export function answerProblems(answer: Answer, expected: ExchangeResponse, earlier: ReadonlyMap<string, unknown>): string[] {
  const problems: string[] = [];
  if (answer.status !== expected.status) problems.push(`status ${answer.status}, not ${expected.status}`);
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    const got = answer.headers[name.toLowerCase()];
    const bare = name.toLowerCase() === "content-type" ? got?.split(";")[0]?.trim() : got;
    if (bare !== value) problems.push(`header ${name} is ${JSON.stringify(got)}, not ${JSON.stringify(value)}`);
  }
  if (expected.body !== undefined) problems.push(...shapeProblems(answer.body, expected.body));
  if (expected.sameBodyAs !== undefined && JSON.stringify(answer.body) !== JSON.stringify(earlier.get(expected.sameBodyAs)))
    problems.push(`the body differs from the body of ${expected.sameBodyAs}`);
  return problems;
}

/** Replays every exchange of `file` in order against `base`; returns, per exchange that departs, what departs. */
export async function replayExchanges(
  base: string,
  file: Pick<ExchangeFile, "exchanges">,
  placeholders: Readonly<Record<string, string>>,
): Promise<string[]> {
  const fill = (value: string) => value.replace(/<[a-z-]+>/g, (name) => placeholders[name] ?? name);
  const bodies = new Map<string, unknown>();
  const problems: string[] = [];
  for (const exchange of file.exchanges) {
    const answer = await send(base, exchange.request, fill);
    bodies.set(exchange.id, answer.body);
    const found = answerProblems(answer, exchange.response, bodies);
    if (found.length > 0)
      problems.push(`${exchange.id}: ${found.join("; ")} (answer ${JSON.stringify(answer.body).slice(0, 300)})`);
  }
  return problems;
}

/**
 * Replays `file` against `base` as the generators do before they write: refuses (throws, naming
 * every departure) a file whose exchanges do not get the answers it gives; else writes it as
 * `name` in `dir` and returns the path.
 */
export async function recordExchanges(
  file: ExchangeFile,
  base: string,
  placeholders: Readonly<Record<string, string>>,
  dir: string,
  name: string,
): Promise<string> {
  const problems = await replayExchanges(base, file, placeholders);
  if (problems.length > 0) throw new Error(`the answers depart from the vectors:\n${problems.join("\n")}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
