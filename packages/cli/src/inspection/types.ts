/**
 * What `peage inspect` knows while it looks at a file, and what each kind of file gives back:
 * the decoded content (shown whether or not it verifies) and the verdict of the verification.
 */
import { certificateInfo } from "../describe.js";
import type { Options } from "../args.js";
import type { Clock, Result, TrustStore, ValidatedChain } from "@peage/protocol";

export interface InspectContext {
  readonly options: Options;
  /** The trust store built from --trust and --crl. */
  trust(): Promise<TrustStore>;
  /** The instant of the check: --at, or now. */
  readonly clock: Clock;
}

export interface Verdict {
  /** One line saying what was found valid, e.g. "offer of urn:peage:publisher:acme-games". */
  readonly summary: string;
  /** What the verification established (signer, chain), for readers. */
  readonly lines: readonly string[];
  /** The same, for --json. */
  readonly json: Readonly<Record<string, unknown>>;
  /** What was not checked, and how to check it. */
  readonly notes?: readonly string[];
}

export interface Inspection {
  readonly kind: string;
  /** The decoded content, as JSON; not verified unless `result` is ok. */
  readonly content: unknown;
  readonly lines: readonly string[];
  readonly result: Result<Verdict>;
}

/** The signer of a message as a validated chain names it. */
export function signerJson(chain: ValidatedChain): Record<string, unknown> {
  return { identity: chain.identity, role: chain.role, alg: chain.alg, path: chain.path.map(certificateInfo) };
}

/** The signer and its certification path, for readers. */
export function signerLines(chain: ValidatedChain): string[] {
  const [leaf, ...rest] = chain.path;
  return [
    `  signer:     ${chain.identity} (${chain.role}, ${chain.alg})`,
    `  chain:      ${leaf!.subject}`,
    ...rest.map((cert, index) => `              ${cert.subject}${index === rest.length - 1 ? " (trusted root)" : ""}`),
  ];
}

/** A value at a path of an unverified JSON document, for display only. */
export function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Text for a field of an unverified document: strings as they are, anything else as JSON. */
export function text(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}
