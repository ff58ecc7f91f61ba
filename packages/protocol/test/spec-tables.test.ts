/**
 * docs/protocol.md is the contract: the member tables of its §3 must name exactly the members of
 * the schemas the implementation validates with, optional where the text says optional, and the
 * length bounds the text states must be the schemas' bounds.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import type { TObject, TSchema } from "@sinclair/typebox";
import {
  AcknowledgmentClaimsSchema,
  AgentConsentClaimsSchema,
  ConsentClaimsSchema,
  OfferSchema,
  OfferTermsSchema,
  MandateClaimsSchema,
  MandatePaymentSchema,
  MandateSchema,
  PaymentRequestSchema,
  PriceSchema,
} from "../src/index.js";
import { CatalogSchema, OfferSignatureClaimsSchema } from "../src/messages/schema.js";

const text = readFileSync(fileURLToPath(new URL("../../../../docs/protocol.md", import.meta.url)), "utf8");

interface Row {
  readonly member: string;
  readonly type: string;
  readonly rule: string;
}

/** The rows of the first `| member | type | rule |` table under the heading that starts with `heading`. */
function table(heading: string): Row[] {
  const start = text.indexOf(`\n### ${heading}`);
  assert.ok(start >= 0, `docs/protocol.md has no section "${heading}"`);
  const end = text.indexOf("\n### ", start + 1);
  const lines = text.slice(start, end < 0 ? undefined : end).split("\n");
  const header = lines.findIndex((line) => /^\| member \|/.test(line));
  assert.ok(header >= 0, `section "${heading}" has no member table`);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [member = "", type = "", rule = ""] = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.push({ member: member.replace(/`/g, ""), type, rule });
  }
  return rows;
}

const objectSchema = (schema: TSchema): TObject => schema as TObject;

const sections: readonly [string, TSchema][] = [
  ["3.1 Price", PriceSchema],
  ["3.3 OfferTerms", OfferTermsSchema],
  ["3.4 OfferSignatureClaims", OfferSignatureClaimsSchema],
  ["3.5 CatalogEntry and Catalog", CatalogSchema],
  ["3.6 Offer", OfferSchema],
  ["3.7 ConsentClaims", ConsentClaimsSchema],
  ["3.8 PaymentRequest", PaymentRequestSchema],
  ["3.9 AcknowledgmentClaims", AcknowledgmentClaimsSchema],
  ["16.2 MandateClaims", MandateClaimsSchema],
  ["16.3 Mandate", MandateSchema],
  ["16.4 AgentConsentClaims", AgentConsentClaimsSchema],
  ["16.5 MandatePayment", MandatePaymentSchema],
];

for (const [heading, schema] of sections) {
  test(`§${heading}: the text's members are the schema's`, () => {
    const rows = table(heading);
    const properties = objectSchema(schema).properties;
    assert.deepEqual(rows.map((row) => row.member).sort(), Object.keys(properties).sort());
    const required = new Set(objectSchema(schema).required ?? []);
    for (const row of rows) {
      const optional = /optional/.test(row.type);
      assert.equal(!required.has(row.member), optional, `${row.member}: the text says ${optional ? "optional" : "required"}`);
    }
    assert.equal(objectSchema(schema).additionalProperties, false, "objects are closed (§2)");
  });
}

test("§3.3: the description's bounds in the text are the schema's", () => {
  const description = objectSchema(OfferTermsSchema).properties["description"] as TSchema & {
    minLength: number;
    maxLength: number;
  };
  const rule = table("3.3 OfferTerms").find((row) => row.member === "description")!.rule;
  assert.match(rule, new RegExp(`^${description.minLength} … ${description.maxLength} characters`));
  const publisher = objectSchema(OfferTermsSchema).properties["publisher"] as TSchema & { maxLength: number };
  assert.match(
    table("3.3 OfferTerms").find((row) => row.member === "publisher")!.rule,
    new RegExp(`≤ ${publisher.maxLength} characters`),
  );
});
