/**
 * A small XML writer for bank files: elements, attributes and text, serialised with two-space
 * indentation and LF line ends. Output depends only on the tree, so the same batch always gives
 * byte-identical files. Text and attribute values are escaped (& < > " '); characters that XML 1.0
 * cannot carry are refused rather than dropped.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: readonly (readonly [string, string])[];
  readonly children: readonly XmlElement[];
  readonly text: string | undefined;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`bad XML name ${JSON.stringify(name)}`);
  return name;
}

/** An element holding other elements; `undefined` children (optional elements left out) are skipped. */
export function element(
  name: string,
  children: readonly (XmlElement | undefined)[],
  attributes: readonly (readonly [string, string])[] = [],
): XmlElement {
  return {
    name: checkName(name),
    attributes: attributes.map(([k, v]) => [checkName(k), v] as const),
    children: children.filter((c): c is XmlElement => c !== undefined),
    text: undefined,
  };
}

/** An element holding text only. */
export function textElement(name: string, text: string, attributes: readonly (readonly [string, string])[] = []): XmlElement {
  return { name: checkName(name), attributes: attributes.map(([k, v]) => [checkName(k), v] as const), children: [], text };
}

/** Characters allowed by XML 1.0 §2.2 (tab, LF, CR, and U+0020 upwards minus surrogates, U+FFFE and U+FFFF). */
const XML_CHAR = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

export function escapeXml(value: string): string {
  if (!XML_CHAR.test(value)) throw new Error("text holds a character that XML 1.0 does not allow");
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function write(node: XmlElement, depth: number, out: string[]): void {
  const indent = "  ".repeat(depth);
  const attributes = node.attributes.map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join("");
  if (node.text !== undefined) {
    out.push(`${indent}<${node.name}${attributes}>${escapeXml(node.text)}</${node.name}>`);
  } else if (node.children.length === 0) {
    out.push(`${indent}<${node.name}${attributes}/>`);
  } else {
    out.push(`${indent}<${node.name}${attributes}>`);
    for (const child of node.children) write(child, depth + 1, out);
    out.push(`${indent}</${node.name}>`);
  }
}

/** The document: an XML declaration (UTF-8), the root element, and a final new line. */
export function serializeXml(root: XmlElement): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  write(root, 0, out);
  return `${out.join("\n")}\n`;
}
