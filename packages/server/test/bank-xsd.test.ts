/** validateXml: xmllint as the XSD validator, its answers and its failures. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ISO20022_SCHEMA_FILES, iso20022Schemas, validateXml, XmlValidatorError } from "../src/bank/index.js";
import { escapeXml, element, serializeXml, textElement } from "../src/bank/xml.js";
import { schemas } from "./bank-fixtures.js";

describe("validateXml", () => {
  it("validates with the schemas packed in the server, byte for byte the official ones", () => {
    const packed = iso20022Schemas();
    for (const key of Object.keys(ISO20022_SCHEMA_FILES) as (keyof typeof ISO20022_SCHEMA_FILES)[]) {
      assert.ok(
        readFileSync(packed[key]).equals(readFileSync(schemas[key])),
        `${ISO20022_SCHEMA_FILES[key]} differs from the official schema`,
      );
    }
  });

  it("reports a document of the wrong message type", async () => {
    const result = await validateXml('<?xml version="1.0"?><Document xmlns="urn:example"/>', schemas.pain001);
    assert.equal(result.ok, false);
    assert.ok(
      !result.ok && result.error.some((e) => /No matching global declaration|not expected/.test(e)),
      JSON.stringify(result),
    );
  });

  it("reports a document that is not XML", async () => {
    const result = await validateXml("not xml at all", schemas.pain008);
    assert.ok(!result.ok && result.error.length > 0);
  });

  it("rejects when the schema cannot be read", async () => {
    await assert.rejects(
      validateXml("<a/>", join(tmpdir(), "no-such-schema.xsd")),
      (error: unknown) => error instanceof XmlValidatorError && error.code === "ERR_XSD_UNREADABLE",
    );
  });
});

describe("XML writer", () => {
  it("escapes the five XML special characters and refuses characters XML cannot carry", () => {
    assert.equal(escapeXml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
    assert.throws(() => escapeXml("bell\u0007"), /XML 1\.0/);
    assert.throws(() => escapeXml("\uD800"), /XML 1\.0/);
  });

  it("serialises with two-space indentation, LF line ends and escaped attributes", () => {
    const xml = serializeXml(element("A", [textElement("B", "x<y", [["k", `"'`]]), element("C", []), undefined]));
    assert.equal(xml, `<?xml version="1.0" encoding="UTF-8"?>\n<A>\n  <B k="&quot;&apos;">x&lt;y</B>\n  <C/>\n</A>\n`);
  });
});
