/**
 * Writes the payment server's OpenAPI document, exactly as GET /openapi.json serves it, and
 * optionally the TypeScript types a client generator (openapi-typescript) makes from it:
 *
 *   node packages/server/dist/scripts/openapi.js [--out FILE] [--types FILE]
 *
 * CI lints the document with redocly (.ci/run); the tests generate a client from it and call a server through it.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { openApiDocument, openApiTypes } from "../test/helpers/openapi.js";

const { values } = parseArgs({ options: { out: { type: "string" }, types: { type: "string" } } });
const document = await openApiDocument();
const text = `${JSON.stringify(document, null, 2)}\n`;
if (values.out) writeFileSync(values.out, text);
else if (!values.types) process.stdout.write(text);
if (values.types) writeFileSync(values.types, await openApiTypes(document));
