/**
 * XML Schema validation of bank files with xmllint (libxml2), before a file leaves for the bank.
 * The official ISO 20022 and EPC XSDs ship inside this package (schemas/iso20022), so an installed
 * server validates what it writes; `iso20022Schemas(dir)` names them inside any directory that holds them.
 */
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { err, ok, PeageError, type Result } from "@peage/protocol";

/** A file that validates, or xmllint's messages saying where it does not. */
export type XmlValidation = Result<void, readonly string[]>;

export const XmlValidatorErrorCodes = ["ERR_XMLLINT_MISSING", "ERR_XSD_UNREADABLE", "ERR_XMLLINT_FAILED"] as const;
export type XmlValidatorErrorCode = (typeof XmlValidatorErrorCodes)[number];

/** Validation could not run (no xmllint, unreadable or broken XSD): says nothing about the file itself. */
export class XmlValidatorError extends PeageError<XmlValidatorErrorCode> {
  override readonly name = "XmlValidatorError";
}

/** File names of the schemas, as published by ISO 20022 and the EPC. */
export const ISO20022_SCHEMA_FILES = {
  /** ISO 20022 pain.001.001.09 (CustomerCreditTransferInitiationV09). */
  pain001: "pain.001.001.09.xsd",
  /** EPC SEPA Credit Transfer customer-to-PSP restriction of pain.001.001.09 (EPC132-08). */
  pain001Sepa: "pain.001.001.09.epc-sct.xsd",
  /** ISO 20022 pain.008.001.02 (CustomerDirectDebitInitiationV02). */
  pain008: "pain.008.001.02.xsd",
} as const;

export type Iso20022Schemas = { readonly [K in keyof typeof ISO20022_SCHEMA_FILES]: string };

/** Where the schemas are looked for by default: the copies packed with the server (schemas/iso20022). */
export const DEFAULT_ISO20022_SCHEMA_DIR = fileURLToPath(new URL("../../../schemas/iso20022/", import.meta.url));

/** Full paths of the schemas inside `dir`. */
export function iso20022Schemas(dir: string = DEFAULT_ISO20022_SCHEMA_DIR): Iso20022Schemas {
  return {
    pain001: join(dir, ISO20022_SCHEMA_FILES.pain001),
    pain001Sepa: join(dir, ISO20022_SCHEMA_FILES.pain001Sepa),
    pain008: join(dir, ISO20022_SCHEMA_FILES.pain008),
  };
}

/** Longest a validation may take before xmllint is stopped. */
const TIMEOUT_MS = 60_000;

/**
 * Validates `xml` against the XSD at `xsdPath` with `xmllint --noout --nonet --schema XSD -`
 * (the document on standard input; no network access, so no external entity or schema is fetched).
 * Resolves a failed Result (`{ ok: false, error }`) holding xmllint's messages when the file is invalid or not
 * well-formed; rejects with an XmlValidatorError when validation cannot run at all.
 */
export async function validateXml(xml: string, xsdPath: string): Promise<XmlValidation> {
  try {
    await access(xsdPath, constants.R_OK);
  } catch {
    throw new XmlValidatorError("ERR_XSD_UNREADABLE", `cannot read the schema ${xsdPath}`);
  }
  const { status, stderr } = await runXmllint(["--noout", "--nonet", "--schema", xsdPath, "-"], xml);
  if (status === 0) return ok(undefined);
  if (status === 5)
    throw new XmlValidatorError("ERR_XSD_UNREADABLE", `xmllint cannot compile the schema ${xsdPath}: ${stderr.trim()}`);
  // xmllint exits 1 for a document that is not well-formed, 3 or 4 for schema validity errors.
  if (status !== 1 && status !== 3 && status !== 4) {
    throw new XmlValidatorError("ERR_XMLLINT_FAILED", `xmllint exited with status ${String(status)}: ${stderr.trim()}`);
  }
  const errors = stderr
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0 && line !== "- fails to validate" && line !== "- validates");
  return err(errors.length > 0 ? errors : [`xmllint exited with status ${status}`]);
}

function runXmllint(args: string[], input: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("xmllint", args, { stdio: ["pipe", "ignore", "pipe"], timeout: TIMEOUT_MS });
    const chunks: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.on("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "ENOENT"
          ? new XmlValidatorError(
              "ERR_XMLLINT_MISSING",
              "xmllint is not installed, and bank files are validated with it before they are written: install it (Debian: apt-get install libxml2-utils)",
            )
          : new XmlValidatorError("ERR_XMLLINT_FAILED", `cannot run xmllint: ${error.message}`),
      );
    });
    child.on("close", (status, signal) => {
      if (signal !== null) {
        reject(new XmlValidatorError("ERR_XMLLINT_FAILED", `xmllint stopped by ${signal}`));
        return;
      }
      resolve({ status, stderr: Buffer.concat(chunks).toString("utf8") });
    });
    // xmllint may exit before reading everything (e.g. on a fatal parse error): ignore the broken pipe.
    child.stdin.on("error", () => {});
    child.stdin.end(input, "utf8");
  });
}
