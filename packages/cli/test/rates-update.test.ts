/**
 * deploy/peage-rates-update, which the daily systemd timer runs: a good ECB file is stored in the
 * books and replaces rates.xml; a download that fails or a file that does not parse changes nothing.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDemoPki, writePkiDir } from "@peage/protocol";
import { initDataDir } from "@peage/server";
import { tempDir } from "./helpers/cli.js";

const script = fileURLToPath(new URL("../../../../deploy/peage-rates-update", import.meta.url));

const DAILY = `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube><Cube time="2026-12-03"><Cube currency="USD" rate="1.1702"/><Cube currency="JPY" rate="181.20"/></Cube></Cube>
</gesmes:Envelope>
`;

describe("the daily rates update", () => {
  let work: string;
  let data: string;
  before(async () => {
    work = tempDir();
    await writePkiDir(join(work, "pki"), await createDemoPki());
    data = join(work, "server");
    await initDataDir({ dataDir: data, pkiDir: join(work, "pki") });
    // The server creates its database at first start; here the update is the first to use it.
    spawnSync(process.execPath, [fileURLToPath(new URL("../src/main.js", import.meta.url)), "server", "migrate", "--data", data]);
  });

  const update = (url: string) =>
    spawnSync("bash", [script], { encoding: "utf8", env: { ...process.env, PEAGE_DATA: data, PEAGE_RATES_URL: url } });

  it("installs a good file, and leaves the rates in place when the file is bad or missing", () => {
    writeFileSync(join(work, "daily.xml"), DAILY);
    const good = update(`file://${join(work, "daily.xml")}`);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /imported 1 day\(s\) of rates, 2026-12-03/);
    assert.equal(readFileSync(join(data, "rates.xml"), "utf8"), DAILY);
    assert.equal(statSync(join(data, "rates.xml")).mode & 0o777, 0o600);

    writeFileSync(join(work, "bad.xml"), DAILY.replace('rate="1.1702"', 'rate="-1"'));
    const bad = update(`file://${join(work, "bad.xml")}`);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ERR_RATES_VALUE/);
    assert.equal(readFileSync(join(data, "rates.xml"), "utf8"), DAILY, "the rates in force stay");

    const missing = update(`file://${join(work, "nothing.xml")}`);
    assert.notEqual(missing.status, 0);
    assert.equal(readFileSync(join(data, "rates.xml"), "utf8"), DAILY);
    assert.deepEqual(
      readdirSync(data).filter((name) => name.startsWith(".rates")),
      [],
      "no temporary file left behind",
    );
  });
});
