/**
 * The published API description: redocly lints it without an error, and a client generated from
 * it with openapi-typescript (types) and openapi-fetch (calls) type-checks and pays through a
 * running server.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { verifyAcknowledgment } from "@peage/protocol";
import { enrol, http, paymentRequest, startFixture, type Fixture } from "./helpers/fixture.js";
import { openApiTypes } from "./helpers/openapi.js";

const here = dirname(fileURLToPath(import.meta.url));
const redocly = join(dirname(createRequire(import.meta.url).resolve("@redocly/cli/package.json")), "bin", "cli.js");

/** The client a publisher's or operator's program would write against the generated types. */
const CLIENT = `
import createClient from "openapi-fetch";
import type { paths, components } from "./api.js";

export type Acknowledgment = components["schemas"]["Acknowledgment"];

export function client(baseUrl: string, operatorKey: string) {
  const api = createClient<paths>({ baseUrl });
  const operator = { headers: { authorization: "Bearer " + operatorKey } };
  return {
    readiness: () => api.GET("/readyz"),
    rates: () => api.GET("/v1/rates"),
    account: (user: string) => api.GET("/v1/admin/users/{user}", { params: { path: { user } }, ...operator }),
    topUp: (user: string, amount: number, idempotencyKey: string) =>
      api.POST("/v1/admin/users/{user}/topups", { params: { path: { user } }, body: { amount, idempotencyKey }, ...operator }),
    pay: (body: components["schemas"]["PaymentRequest"]) => api.POST("/v1/payments", { body }),
  };
}
`;

describe("the OpenAPI document", () => {
  let fx: Fixture;
  let work: string;
  let document: Record<string, any>;
  before(async () => {
    fx = await startFixture();
    document = (await http(fx, "GET", "/openapi.json")).body;
    // Inside the package, so that the generated client finds openapi-fetch in node_modules.
    work = join(here, `openapi-client-${process.pid}`);
    mkdirSync(work, { recursive: true });
  });
  after(async () => {
    await fx.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("has an operationId and security on every operation, shared component schemas, servers and no array-form items", () => {
    assert.ok(document.servers?.length > 0);
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        assert.equal(typeof op.operationId, "string", `${method} ${path}`);
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
        ids.add(op.operationId);
        assert.ok(Array.isArray(op.security), `${method} ${path} states its security`);
      }
    }
    assert.deepEqual(document.paths["/readyz"].get.security, []);
    assert.deepEqual(document.paths["/v1/admin/users"].post.security, [{ operatorKey: [] }]);
    for (const name of ["PaymentRequest", "Acknowledgment", "Problem", "Price", "Account", "Readiness"])
      assert.ok(document.components.schemas[name], name);
    const text = JSON.stringify(document);
    assert.ok(!/"items":\[/.test(text), "tuples use prefixItems");
    assert.ok(text.length < 100_000, `the document is ${text.length} bytes: shared schemas are referenced, not copied`);
  });

  it("passes redocly lint without an error", () => {
    const file = join(work, "openapi.json");
    writeFileSync(file, JSON.stringify(document));
    const lint = spawnSync(process.execPath, [redocly, "lint", file, "--format", "json"], {
      encoding: "utf8",
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    const report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf("{"))) as { totals: { errors: number; warnings: number } };
    assert.equal(report.totals.errors, 0, lint.stdout);
  });

  it("generates a client (openapi-typescript + openapi-fetch) that type-checks and pays through the server", async () => {
    writeFileSync(join(work, "api.ts"), await openApiTypes(document));
    writeFileSync(join(work, "client.ts"), CLIENT);
    writeFileSync(join(work, "package.json"), '{"type": "module"}\n');
    const program = ts.createProgram([join(work, "client.ts")], {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      outDir: join(work, "out"),
    });
    const emitted = program.emit();
    const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].map((d) =>
      ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    );
    assert.deepEqual(diagnostics, [], "the generated types and the client type-check");
    writeFileSync(join(work, "out", "package.json"), '{"type": "module"}\n');

    const { client } = (await import(pathToFileURL(join(work, "out", "client.js")).href)) as {
      client: (url: string, key: string) => any;
    };
    const api = client(fx.url, fx.adminKey);
    const ready = await api.readiness();
    assert.equal(ready.response.status, 200);
    assert.equal(ready.data.status, "ready");
    assert.equal((await api.rates()).data.base, "EUR");
    const user = await enrol(fx, {});
    assert.equal((await api.topUp(user.id, 700, "generated-client-1")).response.status, 201);
    const { offer, request } = await paymentRequest(fx, user, "launch");
    const paid = await api.pay(request);
    assert.equal(paid.response.status, 200, JSON.stringify(paid.error));
    assert.ok((await verifyAcknowledgment(paid.data, offer, { trust: fx.trust, clock: fx.clock })).ok);
    assert.equal((await api.account(user.id)).data.balance.amount, 600);
    const refused = await api.pay(request.consent ? { ...request, consent: `${request.consent.slice(0, -4)}AAAA` } : request);
    assert.equal(refused.response.status, 422);
    assert.equal(refused.error.code, "ERR_BAD_SIGNATURE");
  });
});
