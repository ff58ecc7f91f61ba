/**
 * The OpenAPI 3.1 document as published at /openapi.json: what @fastify/swagger generates from
 * the routes, finished so that linters (redocly) and client generators (openapi-typescript) take
 * it as it is: every operation has an operationId and a security requirement (empty for public
 * ones), the shared schemas are components referenced by $ref instead of copies inlined in every
 * route, tuples use prefixItems (JSON Schema 2020-12) rather than the array form of items, and
 * the document names its servers and licence.
 */
import { AcknowledgmentSchema, PaymentRequestSchema, PriceSchema, ProblemSchema } from "@peage/protocol";
import { cardSchemas } from "./cards/routes.js";
import {
  AccountSchema,
  EnrolmentSchema,
  LimitRequestSchema,
  MandateRequestSchema,
  PaymentListSchema,
  PaymentViewSchema,
  PublisherRequestSchema,
  PublisherSchema,
  RefundRequestSchema,
  RefundSchema,
  TopupRequestSchema,
  TopupSchema,
} from "./schemas.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The schemas shared by several operations, by the component name clients will see. Larger ones first: a match replaces the whole subtree. */
const named: Readonly<Record<string, unknown>> = {
  PaymentRequest: PaymentRequestSchema,
  Acknowledgment: AcknowledgmentSchema,
  ...cardSchemas,
  Account: AccountSchema,
  Enrolment: EnrolmentSchema,
  Publisher: PublisherSchema,
  PublisherRequest: PublisherRequestSchema,
  PaymentList: PaymentListSchema,
  PaymentView: PaymentViewSchema,
  Refund: RefundSchema,
  RefundRequest: RefundRequestSchema,
  Topup: TopupSchema,
  TopupRequest: TopupRequestSchema,
  MandateRequest: MandateRequestSchema,
  LimitRequest: LimitRequestSchema,
  Problem: ProblemSchema,
  Price: PriceSchema,
};

const methods = ["get", "put", "post", "delete", "patch", "head", "options"];

/** Finishes a generated document (see the module comment); the input is not modified. */
export function finishOpenApi(generated: unknown): JsonObject {
  const doc = tuplesToPrefixItems(JSON.parse(JSON.stringify(generated)) as Json) as JsonObject;
  const components = (doc["components"] ??= {}) as JsonObject;
  const schemas = (components["schemas"] ??= {}) as JsonObject;
  const byText = new Map<string, string>();
  for (const [name, schema] of Object.entries(named))
    byText.set(normalText(tuplesToPrefixItems(JSON.parse(JSON.stringify(schema)) as Json)), name);
  const refs = new Set<string>();
  const hoist = (node: Json, top: boolean): Json => {
    if (Array.isArray(node)) return node.map((item) => hoist(item, false));
    if (node === null || typeof node !== "object") return node;
    const name = top ? undefined : byText.get(normalText(node));
    if (name !== undefined) {
      refs.add(name);
      return { $ref: `#/components/schemas/${name}` };
    }
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, hoist(value, false)]));
  };
  doc["paths"] = hoist(doc["paths"] ?? {}, false);
  // A component may itself hold another (an acknowledgment holds prices): hoisted too, but never itself.
  for (const [name, schema] of Object.entries(named)) {
    const text = JSON.stringify(tuplesToPrefixItems(JSON.parse(JSON.stringify(schema)) as Json));
    schemas[name] = hoist(JSON.parse(text) as Json, true);
  }
  for (const name of Object.keys(named)) if (!refs.has(name) && !usedInComponents(schemas, name)) delete schemas[name];

  for (const [path, item] of Object.entries(doc["paths"] as JsonObject)) {
    for (const [method, operation] of Object.entries(item as JsonObject)) {
      if (!methods.includes(method)) continue;
      const op = operation as JsonObject;
      op["operationId"] ??= operationIdOf(method, path);
      op["security"] ??= [];
    }
  }
  const info = doc["info"] as JsonObject;
  info["license"] ??= { name: "Apache-2.0", identifier: "Apache-2.0" };
  doc["servers"] ??= [{ url: "/", description: "the payment server that serves this document" }];
  return doc;
}

/**
 * A schema's text with members in sorted order and const written as a one-value enum: the
 * generator writes the routes' copies that way, so equal schemas compare equal.
 */
function normalText(node: Json): string {
  const normal = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(normal);
    if (value === null || typeof value !== "object") return value;
    const entries = Object.entries(value).map(([key, item]): [string, Json] =>
      key === "const" ? ["enum", [normal(item)]] : [key, normal(item)],
    );
    return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  };
  return JSON.stringify(normal(node));
}

function usedInComponents(schemas: JsonObject, name: string): boolean {
  const ref = `"#/components/schemas/${name}"`;
  return Object.entries(schemas).some(([other, schema]) => other !== name && JSON.stringify(schema).includes(ref));
}

/** items: [a, b] (draft 4–2019) becomes prefixItems: [a, b] with items: false (2020-12, as OpenAPI 3.1). */
function tuplesToPrefixItems(node: Json): Json {
  if (Array.isArray(node)) return node.map(tuplesToPrefixItems);
  if (node === null || typeof node !== "object") return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "items" && Array.isArray(value)) {
      out["prefixItems"] = value.map(tuplesToPrefixItems);
      out["items"] = false;
    } else if (key === "additionalItems") {
      continue;
    } else {
      out[key] = tuplesToPrefixItems(value);
    }
  }
  return out;
}

/** "POST /v1/admin/users/{user}/topups" → "postAdminUsersUserTopups": for an operation that names none. */
function operationIdOf(method: string, path: string): string {
  const words = path
    .split("/")
    .filter((part) => part !== "" && part !== "v1")
    .flatMap((part) => part.replace(/[{}]/g, "").split(/[^A-Za-z0-9]+/))
    .filter((word) => word !== "");
  return method + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("");
}
