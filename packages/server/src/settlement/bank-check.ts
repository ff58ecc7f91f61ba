/**
 * The last check before bank files leave: each pain.001 and pain.008 of a settlement is validated
 * against its official schema (shipped in this package, schemas/iso20022) with xmllint, and the
 * settlement writes no file at all unless every one is valid. A bank rejects an invalid file
 * whole, often days later; refusing it here keeps the books and the files in step.
 *
 * xmllint (libxml2) rather than an npm validator: libxml2 is the reference XSD 1.0 implementation
 * the tests already check against, it reads the document on stdin with --nonet (no external
 * entity or schema is fetched), and it adds no dependency to the package; the npm validators are
 * either builds of this same libxml2 or cover only part of XSD 1.0.
 */
import { PeageError } from "@peage/protocol";
import { iso20022Schemas, validateXml, XmlValidatorError, type Iso20022Schemas } from "../bank/index.js";

/** A bank file that does not validate against its ISO 20022 schema; `errors` are xmllint's messages. */
export class BankFileInvalidError extends PeageError<"ERR_BANK_FILE_INVALID"> {
  override readonly name = "BankFileInvalidError";
  constructor(
    readonly file: string,
    readonly errors: readonly string[],
  ) {
    super(
      "ERR_BANK_FILE_INVALID",
      `${file} does not validate against its ISO 20022 schema, so no file was written: ${errors.slice(0, 3).join("; ")}`,
    );
  }
}

/** The schema a settlement's bank file must validate against, from its name; undefined for other files. */
function schemaOf(name: string, schemas: Iso20022Schemas): string | undefined {
  const base = name.split("/").pop()!;
  if (!base.endsWith(".xml")) return undefined;
  if (base.startsWith("pain.008-")) return schemas.pain008;
  if (base.startsWith("pain.001-")) return base.endsWith("-sepa.xml") ? schemas.pain001Sepa : schemas.pain001;
  return undefined;
}

/**
 * Validates every bank file among `files` (name → content); throws BankFileInvalidError for the
 * first invalid one, or the XmlValidatorError that says why validation could not run.
 */
export async function checkBankFiles(files: ReadonlyMap<string, string>, schemaDir?: string): Promise<number> {
  const schemas = iso20022Schemas(schemaDir);
  let checked = 0;
  for (const [name, content] of files) {
    const schema = schemaOf(name, schemas);
    if (schema === undefined) continue;
    const result = await validateXml(content, schema);
    if (!result.ok) throw new BankFileInvalidError(name, result.error);
    checked++;
  }
  return checked;
}

export { XmlValidatorError };
