/**
 * Reads the European Central Bank's euro foreign exchange reference rates, in the XML the ECB
 * publishes (eurofxref-daily.xml, or eurofxref-hist.xml with one day per Cube):
 *
 *   <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
 *                    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
 *     <Cube><Cube time="2025-11-21"><Cube currency="USD" rate="1.1513"/>…</Cube></Cube>
 *   </gesmes:Envelope>
 *
 * Strict: a DTD, a wrong namespace, an unknown element, a currency that is not ISO 4217, a rate
 * that is not a positive decimal or a currency listed twice in a day is an error naming what is
 * wrong; nothing is skipped silently, since a rate read wrong would charge users wrong amounts.
 * Rates are kept as the decimal strings the ECB wrote (protocol fx.ts converts exactly).
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { isCurrencyCode, PeageError, rateTable, ratePattern, type RateTable } from "@peage/protocol";

export const RatesErrorCodes = ["ERR_RATES_FILE", "ERR_RATES_XML", "ERR_RATES_FORMAT", "ERR_RATES_VALUE"] as const;
export type RatesErrorCode = (typeof RatesErrorCodes)[number];

/** A rates file that cannot be used: `code` says whether it is unreadable, not XML, not the ECB format, or holds a bad value. */
export class RatesError extends PeageError<RatesErrorCode> {
  override readonly name = "RatesError";
}

export const ECB_NAMESPACE = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref";
export const GESMES_NAMESPACE = "http://www.gesmes.org/xml/2002-08-01";

/** Largest file read: the full history since 1999 is about 6 MiB. */
export const MAX_RATES_XML_LENGTH = 16 * 1024 * 1024;

type Node = Record<string, unknown>;

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  // Every element as an array, so that one Cube and several Cubes read the same way.
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
});

/**
 * Parses ECB reference rates XML into the rate table of its latest day (base EUR).
 * Throws RatesError naming what is wrong.
 */
export function parseEcbRates(xml: string): RateTable {
  const days = parseEcbRateDays(xml);
  return days[days.length - 1]!;
}

/**
 * Parses ECB reference rates XML into one table per day, oldest first: the daily file has one
 * day, the historical files (eurofxref-hist.xml, eurofxref-hist-90d.xml) one per business day.
 * Throws RatesError naming what is wrong; a file with a bad day is refused whole.
 */
export function parseEcbRateDays(xml: string): RateTable[] {
  if (xml.length > MAX_RATES_XML_LENGTH)
    throw new RatesError("ERR_RATES_FILE", `rates file larger than ${MAX_RATES_XML_LENGTH} bytes`);
  // No document type: ECB files have none, and a DTD is how XML entity expansion attacks start.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml))
    throw new RatesError("ERR_RATES_XML", "rates XML must not contain a DOCTYPE or ENTITY declaration");
  const valid = XMLValidator.validate(xml);
  if (valid !== true)
    throw new RatesError("ERR_RATES_XML", `rates file is not well-formed XML: line ${valid.err.line}: ${valid.err.msg}`);
  const document = xmlParser.parse(xml) as Node;

  const roots = Object.keys(document);
  if (roots.length !== 1 || roots[0] !== "gesmes:Envelope") {
    throw new RatesError("ERR_RATES_FORMAT", `expected the root element gesmes:Envelope, found ${roots.join(", ") || "none"}`);
  }
  const envelope = single(document["gesmes:Envelope"], "gesmes:Envelope");
  if (envelope["@_xmlns"] !== ECB_NAMESPACE) {
    throw new RatesError("ERR_RATES_FORMAT", `gesmes:Envelope must declare the default namespace ${ECB_NAMESPACE}`);
  }
  if (envelope["@_xmlns:gesmes"] !== GESMES_NAMESPACE) {
    throw new RatesError("ERR_RATES_FORMAT", `gesmes:Envelope must declare xmlns:gesmes="${GESMES_NAMESPACE}"`);
  }
  onlyChildren(envelope, ["gesmes:subject", "gesmes:Sender", "Cube"], "gesmes:Envelope");
  const outer = single(envelope["Cube"], "the outer Cube");
  onlyChildren(outer, ["Cube"], "the outer Cube");
  const days = elements(outer["Cube"]);
  if (days.length === 0) throw new RatesError("ERR_RATES_FORMAT", "the outer Cube holds no day (Cube time=…)");

  const tables = new Map<string, RateTable>();
  for (const day of days) {
    const parsed = parseDay(day);
    if (tables.has(parsed.date)) throw new RatesError("ERR_RATES_FORMAT", `day ${parsed.date} is listed twice`);
    tables.set(parsed.date, rateTable("EUR", parsed.date, parsed.rates));
  }
  return [...tables.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}

function parseDay(day: Node): { date: string; rates: Record<string, string> } {
  const date = day["@_time"];
  if (typeof date !== "string" || !isCalendarDate(date)) {
    throw new RatesError(
      "ERR_RATES_FORMAT",
      `a day Cube needs time="YYYY-MM-DD" with a real date, found ${JSON.stringify(date)}`,
    );
  }
  onlyAttributes(day, ["time"], `Cube time="${date}"`);
  onlyChildren(day, ["Cube"], `Cube time="${date}"`);
  const entries = elements(day["Cube"]);
  if (entries.length === 0) throw new RatesError("ERR_RATES_FORMAT", `day ${date} lists no rate`);
  const rates: Record<string, string> = {};
  for (const entry of entries) {
    const currency = entry["@_currency"];
    const rate = entry["@_rate"];
    onlyAttributes(entry, ["currency", "rate"], `a rate of ${date}`);
    onlyChildren(entry, [], `a rate of ${date}`);
    if (typeof currency !== "string" || !isCurrencyCode(currency)) {
      throw new RatesError("ERR_RATES_VALUE", `day ${date}: ${JSON.stringify(currency)} is not an active ISO 4217 currency code`);
    }
    if (currency === "EUR") throw new RatesError("ERR_RATES_VALUE", `day ${date}: EUR is the base and cannot have a rate`);
    if (typeof rate !== "string" || !ratePattern.test(rate) || !/[1-9]/.test(rate)) {
      throw new RatesError(
        "ERR_RATES_VALUE",
        `day ${date}: rate ${JSON.stringify(rate)} of ${currency} is not a positive decimal`,
      );
    }
    if (Object.hasOwn(rates, currency)) throw new RatesError("ERR_RATES_VALUE", `day ${date}: ${currency} is listed twice`);
    rates[currency] = rate;
  }
  return { date, rates };
}

function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00.000Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

function elements(value: unknown): Node[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new RatesError("ERR_RATES_FORMAT", "unexpected XML structure");
  return value.map((item) => (typeof item === "object" && item !== null ? (item as Node) : {}));
}

function single(value: unknown, what: string): Node {
  const list = elements(value);
  if (list.length !== 1) throw new RatesError("ERR_RATES_FORMAT", `expected exactly one ${what}, found ${list.length}`);
  return list[0]!;
}

function onlyChildren(node: Node, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(node)) {
    if (key.startsWith("@_")) continue;
    if (key === "#text") throw new RatesError("ERR_RATES_FORMAT", `${where} must not contain text`);
    if (!allowed.includes(key)) throw new RatesError("ERR_RATES_FORMAT", `unexpected element <${key}> in ${where}`);
  }
}

function onlyAttributes(node: Node, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(node)) {
    if (key.startsWith("@_") && !allowed.includes(key.slice(2))) {
      throw new RatesError("ERR_RATES_FORMAT", `unexpected attribute ${key.slice(2)} on ${where}`);
    }
  }
}
