/** ECB reference rates: the shipped sample, the history format, every strictness rule, and GET /v1/rates. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { RatesError } from "../src/index.js";
import { FileRateSource } from "../src/rates/rate-source.js";
import { parseEcbRates } from "../src/rates/ecb.js";
import { SAMPLE_RATES_FILE } from "../src/data-dir.js";
import { http, RATES, startFixture, type Fixture } from "./helpers/fixture.js";

const HEAD = `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>`;
const TAIL = `  </Cube>
</gesmes:Envelope>`;

function ecbXml(days: Record<string, Record<string, string>>): string {
  const cubes = Object.entries(days).map(
    ([date, rates]) =>
      `    <Cube time='${date}'>\n${Object.entries(rates)
        .map(([c, r]) => `      <Cube currency='${c}' rate='${r}'/>`)
        .join("\n")}\n    </Cube>`,
  );
  return `${HEAD}\n${cubes.join("\n")}\n${TAIL}`;
}

function assertRatesError(xml: string, code: string, message: RegExp): void {
  assert.throws(
    () => parseEcbRates(xml),
    (error: unknown) => error instanceof RatesError && error.code === code && message.test(error.message),
    `expected ${code} ${message}`,
  );
}

describe("ECB rates", () => {
  it("reads the shipped sample file, which says it holds sample values", () => {
    const text = readFileSync(SAMPLE_RATES_FILE, "utf8");
    assert.match(text, /SAMPLE DATA/);
    const table = parseEcbRates(text);
    assert.equal(table.base, "EUR");
    assert.equal(table.date, "2025-11-21");
    assert.equal(table.rates["USD"], "1.1513");
    assert.equal(table.rates["GBP"], "0.87890", "rates keep the digits the file has");
    assert.equal(Object.keys(table.rates).length, 30);
  });

  it("takes the latest day of a history file, whatever the order", () => {
    const table = parseEcbRates(
      ecbXml({
        "2025-11-20": { USD: "1.1500" },
        "2025-11-21": { USD: "1.1513", JPY: "181.07" },
        "2025-11-19": { USD: "1.1600" },
      }),
    );
    assert.deepEqual(table, { base: "EUR", date: "2025-11-21", rates: { USD: "1.1513", JPY: "181.07" } });
  });

  it("reads back any table it is given (property)", () => {
    const codes = Object.keys(parseEcbRates(readFileSync(SAMPLE_RATES_FILE, "utf8")).rates).concat(["KES", "BHD", "CLF", "VND"]);
    const rate = fc
      .tuple(fc.integer({ min: 0, max: 99999 }), fc.integer({ min: 0, max: 9999 }))
      .filter(([w, f]) => w + f > 0)
      .map(([w, f]) => `${w}.${String(f).padStart(4, "0")}`);
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...codes), rate, { minKeys: 1, maxKeys: 20 }),
        fc.date({ min: new Date("1999-01-04"), max: new Date("2099-12-31"), noInvalidDate: true }),
        (rates, date) => {
          const day = date.toISOString().slice(0, 10);
          assert.deepEqual(parseEcbRates(ecbXml({ [day]: rates })), { base: "EUR", date: day, rates: { ...rates } });
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses what is not the ECB format, naming the problem", () => {
    const good = { "2025-11-21": { USD: "1.1513" } };
    assertRatesError(`<!DOCTYPE x [<!ENTITY a "b">]>${ecbXml(good)}`, "ERR_RATES_XML", /DOCTYPE/);
    assertRatesError(ecbXml(good).replace("</gesmes:Envelope>", ""), "ERR_RATES_XML", /well-formed/);
    assertRatesError("<rates><Cube/></rates>", "ERR_RATES_FORMAT", /gesmes:Envelope/);
    assertRatesError(ecbXml(good).replace('eurofxref">', 'other">'), "ERR_RATES_FORMAT", /namespace/);
    assertRatesError(ecbXml({ "2025-02-30": { USD: "1.1" } }), "ERR_RATES_FORMAT", /real date/);
    assertRatesError(ecbXml({ "21/11/2025": { USD: "1.1" } }), "ERR_RATES_FORMAT", /YYYY-MM-DD/);
    assertRatesError(ecbXml({ "2025-11-21": {} }), "ERR_RATES_FORMAT", /no rate/);
    assertRatesError(`${HEAD}\n${TAIL}`, "ERR_RATES_FORMAT", /no day/);
    assertRatesError(
      ecbXml(good).replace("<Cube currency", "<Rate x='1'/><Cube currency"),
      "ERR_RATES_FORMAT",
      /unexpected element <Rate>/,
    );
    assertRatesError(
      ecbXml(good).replace("rate='1.1513'", "rate='1.1513' source='x'"),
      "ERR_RATES_FORMAT",
      /unexpected attribute source/,
    );
    assertRatesError(
      ecbXml(good).replace(
        "<Cube time='2025-11-21'>",
        "<Cube time='2025-11-21'>\n<Cube time='2025-11-20'><Cube currency='USD' rate='1'/></Cube>",
      ),
      "ERR_RATES_FORMAT",
      /unexpected attribute time|a rate/,
    );
  });

  it("refuses bad currencies and rates, naming the day and currency", () => {
    assertRatesError(ecbXml({ "2025-11-21": { XYZ: "1.1" } }), "ERR_RATES_VALUE", /"XYZ" is not an active ISO 4217/);
    assertRatesError(ecbXml({ "2025-11-21": { EUR: "1" } }), "ERR_RATES_VALUE", /EUR is the base/);
    for (const rate of ["-1.2", "0", "0.0000", "1,23", "abc", "1e3", "", "1.1234567890123"]) {
      assertRatesError(
        ecbXml({ "2025-11-21": { USD: rate } }),
        "ERR_RATES_VALUE",
        /2025-11-21: rate .* of USD is not a positive decimal/,
      );
    }
    assertRatesError(
      ecbXml({ "2025-11-21": { USD: "1.1" } }).replace(
        "</Cube>\n  </Cube>",
        "<Cube currency='USD' rate='1.2'/></Cube>\n  </Cube>",
      ),
      "ERR_RATES_VALUE",
      /USD is listed twice/,
    );
    const twice = ecbXml({ "2025-11-21": { USD: "1.1" } });
    assertRatesError(
      twice.replace(
        "  </Cube>\n</gesmes",
        "    <Cube time='2025-11-21'><Cube currency='USD' rate='1.2'/></Cube>\n  </Cube>\n</gesmes",
      ),
      "ERR_RATES_FORMAT",
      /listed twice/,
    );
  });

  describe("FileRateSource", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "peage-rates-test-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("has no table when an optional file is missing, and refuses a required one", async () => {
      const source = await FileRateSource.load(join(dir, "missing.xml"), { optional: true });
      assert.equal(source.current(), undefined);
      await assert.rejects(
        FileRateSource.load(join(dir, "missing.xml")),
        (error: unknown) => error instanceof RatesError && error.code === "ERR_RATES_FILE",
      );
    });

    it("keeps the previous table when a reload fails", async () => {
      const path = join(dir, "rates.xml");
      writeFileSync(path, ecbXml({ "2025-11-21": { USD: "1.1513" } }));
      const source = await FileRateSource.load(path);
      writeFileSync(path, ecbXml({ "2025-11-24": { USD: "abc" } }));
      await assert.rejects(source.reload(), (error: unknown) => error instanceof RatesError && error.code === "ERR_RATES_VALUE");
      assert.equal(source.current()?.date, "2025-11-21");
      writeFileSync(path, ecbXml({ "2025-11-24": { USD: "1.1600" } }));
      await source.reload();
      assert.deepEqual(source.current()?.rates, { USD: "1.1600" });
    });
  });

  describe("GET /v1/rates", () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture();
    });
    after(async () => fx.close());

    it("serves the rate table in force, publicly and cacheably", async () => {
      const answer = await http(fx, "GET", "/v1/rates");
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, RATES);
      assert.match(answer.headers.get("cache-control") ?? "", /max-age=300/);
    });
  });
});
