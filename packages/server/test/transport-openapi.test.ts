/**
 * docs/transport.md against the OpenAPI document the server publishes: the text's route table
 * (§5) names, for each of the payment server's routes, its method, path and every status it
 * answers with; the document must list exactly those operations (all but the operator's) with
 * exactly those statuses, and every route the text mentions anywhere must be in both.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { http, startFixture, type Fixture } from "./helpers/fixture.js";

const TEXT = readFileSync(fileURLToPath(new URL("../../../../docs/transport.md", import.meta.url)), "utf8");
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

interface Row {
  readonly party: string;
  readonly method: string;
  readonly path: string;
  readonly statuses: readonly string[];
}

/** The rows of the table under "## 5. Routes": `| party | method | `path` | statuses | section |`. */
function routeTable(text: string): Row[] {
  const start = text.indexOf("\n## 5. Routes");
  assert.ok(start >= 0, "docs/transport.md has a section 5, Routes");
  const section = text.slice(start + 1, text.indexOf("\n## ", start + 1));
  const rows = section
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) =>
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  return rows.map(([party, method, path, statuses]) => {
    assert.ok(party && method && path && statuses, `a row of four cells at least: ${JSON.stringify([party, method, path])}`);
    assert.ok((METHODS as readonly string[]).includes(method), `method ${method}`);
    return {
      party,
      method,
      path: path.replace(/^`|`$/g, ""),
      statuses: statuses.match(/\b[1-5](?:\d\d|XX)\b/g) ?? [],
    };
  });
}

/** Every `METHOD /path` the text mentions outside the table, with `{param}` for path parameters and the query left out. */
function mentions(text: string): Set<string> {
  const found = new Set<string>();
  for (const match of text.matchAll(/\b(GET|POST|PUT|DELETE|PATCH) (\/[A-Za-z0-9_./{}-]+)/g))
    found.add(`${match[1]} ${match[2]}`);
  return found;
}

describe("docs/transport.md and the OpenAPI document", () => {
  let fx: Fixture;
  let operations: Map<string, { statuses: string[]; operator: boolean }>;
  const table = routeTable(TEXT);
  const serverRows = table.filter((row) => row.party === "payment server");
  // The document does not describe the route that serves it.
  const described = serverRows.filter((row) => row.path !== "/openapi.json");

  before(async () => {
    fx = await startFixture();
    const document = (await http(fx, "GET", "/openapi.json")).body as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown>; security?: Record<string, unknown>[] }>>;
    };
    operations = new Map();
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        operations.set(`${method.toUpperCase()} ${path}`, {
          statuses: Object.keys(operation.responses ?? {}).map((status) => status.toUpperCase()),
          operator: (operation.security ?? []).some((requirement) => "operatorKey" in requirement),
        });
      }
    }
  });
  after(() => fx.close());

  it("the table is there and names both parties", () => {
    assert.ok(serverRows.length >= 5, `only ${serverRows.length} payment-server rows`);
    assert.ok(table.some((row) => row.party === "wallet" && row.path === "/v1/offers"));
  });

  it("every payment-server route of the table is in the document, with exactly the statuses the text lists", () => {
    for (const row of described) {
      const operation = operations.get(`${row.method} ${row.path}`);
      assert.ok(operation, `${row.method} ${row.path} is not in the OpenAPI document`);
      assert.deepEqual([...operation.statuses].sort(), [...row.statuses].sort(), `${row.method} ${row.path}: statuses`);
    }
  });

  it("every operation of the document but the operator's is in the table", () => {
    const listed = new Set(described.map((row) => `${row.method} ${row.path}`));
    const missing = [...operations].filter(([key, op]) => !op.operator && !listed.has(key)).map(([key]) => key);
    assert.deepEqual(missing, [], "operations the text does not specify");
    const operatorInTable = described.filter((row) => operations.get(`${row.method} ${row.path}`)?.operator);
    assert.ok(
      operatorInTable.every((row) => row.path.startsWith("/v1/admin/")),
      "only /v1/admin/ routes are the operator's",
    );
  });

  it("every route the text mentions anywhere is in the table", () => {
    const tableKeys = new Set(table.map((row) => `${row.method} ${row.path}`));
    for (const mention of mentions(TEXT)) {
      assert.ok(tableKeys.has(mention), `the text mentions ${mention}, which the route table does not list`);
    }
  });

  it("the check can fail: a status or a route the document lacks is found", () => {
    const withExtra = routeTable(TEXT.replace("| 200, 401, 500, 503 | §2.3 |", "| 200, 401, 418, 500, 503 | §2.3 |"));
    const row = withExtra.find((item) => item.method === "GET" && item.path === "/v1/me")!;
    assert.notDeepEqual([...operations.get("GET /v1/me")!.statuses].sort(), [...row.statuses].sort());
    assert.equal(operations.get("DELETE /v1/payments"), undefined);
  });
});
