/** Configuration, the data directory and the server's own identity, and the database schema. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  certificatesToPem,
  createDemoPki,
  exportPrivateKeyPem,
  fromX5c,
  writePkiDir,
  type CurrencyCode,
  type DemoPki,
  type MinorUnits,
  type PartyId,
} from "@peage/protocol";
import {
  ConfigError,
  DataDirError,
  DataDirFiles,
  initDataDir,
  loadConfig,
  SqliteStore,
  StoreSchemaError,
  type PaymentRecord,
} from "../src/index.js";
import { migrations } from "../src/store/migrations.js";
import { DEFAULT_PORT } from "../src/config.js";
import { identityFromPem } from "../src/data-dir.js";

describe("setup", () => {
  let root: string;
  let pki: DemoPki;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "peage-setup-test-"));
    pki = await createDemoPki();
    await writePkiDir(join(root, "pki"), pki);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe("config", () => {
    it("takes flags over environment over server.json over defaults", () => {
      const dir = join(root, "config-a");
      mkdirSync(dir);
      assert.deepEqual((({ host, port, logLevel }) => ({ host, port, logLevel }))(loadConfig(["--data", dir], {}).config), {
        host: "127.0.0.1",
        port: DEFAULT_PORT,
        logLevel: "info",
      });
      writeFileSync(
        join(dir, DataDirFiles.config),
        JSON.stringify({ port: 9000, host: "::1", logLevel: "warn", ratesFile: "other.xml" }),
      );
      const fromFile = loadConfig(["--data", dir], {}).config;
      assert.equal(fromFile.port, 9000);
      assert.equal(fromFile.host, "::1");
      assert.equal(fromFile.ratesFile, join(dir, "other.xml"));
      const fromEnv = loadConfig(["--data", dir], { PEAGE_PORT: "9100", PEAGE_LOG_LEVEL: "error" }).config;
      assert.equal(fromEnv.port, 9100);
      assert.equal(fromEnv.logLevel, "error");
      assert.equal(fromEnv.host, "::1");
      const fromFlags = loadConfig(["--data", dir, "--port", "0", "--host", "127.0.0.1"], { PEAGE_PORT: "9100" }).config;
      assert.equal(fromFlags.port, 0);
      assert.equal(fromFlags.host, "127.0.0.1");
      assert.equal(loadConfig([], { PEAGE_DATA: dir }).config.dataDir, dir);
      // A rates path on the command line is relative to the working directory, in server.json to the data directory.
      assert.equal(loadConfig(["--data", dir, "--rates", "r.xml"], {}, "/srv").config.ratesFile, "/srv/r.xml");
    });

    it("refuses bad values with ConfigError naming the setting", () => {
      const dir = join(root, "config-b");
      mkdirSync(dir);
      const refuses = (argv: string[], env: NodeJS.ProcessEnv, message: RegExp) =>
        assert.throws(
          () => loadConfig(argv, env),
          (error: unknown) => error instanceof ConfigError && error.code === "ERR_CONFIG" && message.test(error.message),
        );
      refuses([], {}, /no data directory/);
      refuses(["--data", dir, "--port", "http"], {}, /port must be an integer/);
      refuses(["--data", dir, "--port", "70000"], {}, /port must be an integer from 0 to 65535/);
      refuses(["--data", dir, "--log-level", "loud"], {}, /logLevel must be one of/);
      refuses(["--data", dir, "--unknown"], {}, /unknown/i);
      writeFileSync(join(dir, DataDirFiles.config), JSON.stringify({ prot: 1 }));
      refuses(["--data", dir], {}, /unknown setting "prot"/);
      writeFileSync(join(dir, DataDirFiles.config), "{port: 1}");
      refuses(["--data", dir], {}, /not valid JSON/);
    });

    it("runs one worker per core unless told: processes on PostgreSQL, payment threads on SQLite", () => {
      const dir = join(root, "config-workers");
      mkdirSync(dir);
      const postgres = { DATABASE_URL: "postgres://peage@127.0.0.1:5432/peage" };
      assert.equal(loadConfig(["--data", dir], {}).config.workers, availableParallelism());
      assert.equal(loadConfig(["--data", dir, "--workers", "2"], {}).config.workers, 2);
      assert.equal(loadConfig(["--data", dir], postgres).config.workers, availableParallelism());
      assert.equal(loadConfig(["--data", dir, "--workers", "3"], postgres).config.workers, 3);
      assert.equal(loadConfig(["--data", dir], { ...postgres, PEAGE_WORKERS: "4" }).config.workers, 4);
      assert.equal(loadConfig(["--data", dir, "--workers", "1"], {}).config.workers, 1);
      for (const [argv, env, message] of [
        [["--workers", "0"], {}, /workers must be an integer from 1 to 256/],
        [["--workers", "0"], postgres, /workers must be an integer from 1 to 256/],
        [["--workers", "many"], postgres, /workers must be an integer/],
      ] as const) {
        assert.throws(
          () => loadConfig(["--data", dir, ...argv], env),
          (error: unknown) => error instanceof ConfigError && message.test(error.message),
        );
      }
    });
  });

  describe("data directory", () => {
    it("is initialised from a PKI directory: key 0600, chain, root, sample rates; the identity is the server's", async () => {
      const dataDir = join(root, "data");
      const { identity, files } = await initDataDir({ dataDir, pkiDir: join(root, "pki") });
      assert.equal(identity.id, pki.server.identity);
      assert.equal(identity.x5c.length, 2);
      assert.equal(statSync(join(dataDir, DataDirFiles.key)).mode & 0o777, 0o600);
      for (const name of [DataDirFiles.key, DataDirFiles.chain, DataDirFiles.trustRoots, DataDirFiles.rates])
        assert.ok(files.includes(join(dataDir, name)));
      assert.match(readFileSync(join(dataDir, DataDirFiles.rates), "utf8"), /gesmes:Envelope/);
      await assert.rejects(
        initDataDir({ dataDir, pkiDir: join(root, "pki") }),
        (e: unknown) => e instanceof DataDirError && /already holds/.test(e.message),
      );
      await initDataDir({ dataDir, pkiDir: join(root, "pki"), force: true });
      await assert.rejects(
        initDataDir({ dataDir: join(root, "data-2"), pkiDir: join(root, "nowhere") }),
        (e: unknown) => e instanceof DataDirError && /missing/.test(e.message),
      );
    });

    it("refuses a publisher's certificate as the server's identity (ERR_WRONG_ROLE)", async () => {
      const rootsPem = certificatesToPem([pki.root.certificate]);
      const chainPem = certificatesToPem(pki.chainOf(pki.publisher.certificate).map(fromX5c));
      await assert.rejects(
        identityFromPem({ keyPem: exportPrivateKeyPem(pki.publisher.keys), chainPem, rootsPem }),
        (e: unknown) => e instanceof DataDirError && e.code === "ERR_SERVER_IDENTITY" && e.reason === "ERR_WRONG_ROLE",
      );
    });

    it("refuses a key that is not the one the chain certifies, and a chain from an untrusted root", async () => {
      const rootsPem = certificatesToPem([pki.root.certificate]);
      const chainPem = certificatesToPem(pki.chainOf(pki.server.certificate).map(fromX5c));
      await assert.rejects(
        identityFromPem({ keyPem: exportPrivateKeyPem(pki.publisher.keys), chainPem, rootsPem }),
        /is not the key certified/,
      );
      const other = await createDemoPki();
      await assert.rejects(
        identityFromPem({
          keyPem: exportPrivateKeyPem(pki.server.keys),
          chainPem,
          rootsPem: certificatesToPem([other.root.certificate]),
        }),
        (e: unknown) => e instanceof DataDirError && e.reason === "ERR_UNKNOWN_ISSUER",
      );
    });
  });

  describe("database", () => {
    it("migrates once, in WAL mode with synchronous=FULL and foreign keys on", async () => {
      const path = join(root, "schema.db");
      await SqliteStore.open(path).close();
      await SqliteStore.open(path).close();
      const db = new Database(path);
      assert.deepEqual(
        db.prepare("SELECT version FROM schema_migrations ORDER BY version").all(),
        migrations.map((m) => ({ version: m.version })),
      );
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      db.close();
      const store = SqliteStore.open(path);
      assert.deepEqual(store.durability(), { journalMode: "wal", synchronous: 2, foreignKeys: true, busyTimeoutMs: 5000 });
      await store.close();
    });

    it("records payments queued together in one transaction, each all-or-nothing on its own", async () => {
      const store = SqliteStore.open(join(root, "batch.db"));
      try {
        const user = "urn:peage:user:batch" as PartyId<"user">;
        await store.createUser({
          id: user,
          publicKeyJwk: "{}",
          alg: "ES256",
          kid: "kid-batch",
          mode: "prepaid",
          homeCurrency: "EUR" as CurrencyCode,
          monthlyLimit: undefined,
          createdAt: "2026-01-01T00:00:00.000Z",
        });
        await store.topUp({
          id: "top_1",
          user,
          amount: 250 as MinorUnits,
          currency: "EUR" as CurrencyCode,
          idempotencyKey: "batch-topup",
          createdAt: "2026-01-01T00:00:00.000Z",
        });
        const payment = (id: string, nonce: string, amount = 100): PaymentRecord => ({
          id,
          user,
          publisher: "urn:peage:publisher:p" as PartyId<"publisher">,
          offerHash: "h",
          price: { amount: amount as MinorUnits, currency: "EUR" as CurrencyCode },
          charged: { amount: amount as MinorUnits, currency: "EUR" as CurrencyCode },
          rate: "1.0000000000",
          rateDate: undefined,
          nonce,
          offerDate: "2026-01-01T00:00:00.000Z",
          serverTime: "2026-01-01T00:00:01.000Z",
          requestHash: `hash-${id}`,
          acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${id}` },
        });
        // Queued in the same turn: one commit. The second reuses the first's id (a constraint
        // violation), the fourth finds the balance spent by the others.
        const results = await Promise.allSettled([
          store.recordPayment(payment("pay_a", "nonce-a")),
          store.recordPayment(payment("pay_a", "nonce-b")),
          store.recordPayment(payment("pay_c", "nonce-c")),
          store.recordPayment(payment("pay_d", "nonce-d")),
          store.recordPayment(payment("pay_e", "nonce-a")),
        ]);
        assert.deepEqual(
          results.map((r) => (r.status === "fulfilled" ? r.value.kind : "rejected")),
          ["recorded", "rejected", "recorded", "insufficient-funds", "nonce-reused"],
        );
        assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE/);
        assert.equal((await store.getUser(user))?.balance, 50);
        const counts = await store.counts();
        assert.equal(counts.payments, 2);
        assert.equal(counts.transactions, 3, "the top-up and two payments");
      } finally {
        await store.close();
      }
    });

    it("refuses a database written by a newer server", async () => {
      const path = join(root, "newer.db");
      await SqliteStore.open(path).close();
      const db = new Database(path);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
      db.close();
      assert.throws(
        () => SqliteStore.open(path),
        (e: unknown) => e instanceof StoreSchemaError && /99/.test(e.message),
      );
    });

    it("keeps payments, ledger transactions and postings append-only, and balances non-negative", async () => {
      const path = join(root, "append.db");
      await SqliteStore.open(path).close();
      const db = new Database(path);
      db.pragma("foreign_keys = ON");
      db.prepare(
        "INSERT INTO users (id, public_key_jwk, alg, kid, mode, home_currency, created_at) VALUES ('urn:peage:user:a', '{}', 'ES256', 'k', 'prepaid', 'EUR', 'now')",
      ).run();
      db.prepare(
        `INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency, rate, nonce, offer_date, server_time, request_hash, acknowledgment)
         VALUES ('pay_1', 'urn:peage:user:a', 'p', 'h', 1, 'EUR', 1, 'EUR', '1', 'n', 'd', 't', 'r', '{}')`,
      ).run();
      db.prepare(
        "INSERT INTO ledger_transactions (id, kind, period, created_at, payment_id) VALUES ('txn_1', 'payment', '2026-01', 't', 'pay_1')",
      ).run();
      db.prepare("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (1, 'payable/p', 'EUR', -1)").run();
      assert.throws(() => db.prepare("UPDATE payments SET charged_amount = 0").run(), /append-only/);
      assert.throws(() => db.prepare("DELETE FROM payments").run(), /append-only/);
      assert.throws(() => db.prepare("UPDATE postings SET amount = 9").run(), /append-only/);
      assert.throws(() => db.prepare("DELETE FROM postings").run(), /append-only/);
      assert.throws(() => db.prepare("UPDATE ledger_transactions SET period = '2026-02'").run(), /append-only/);
      assert.throws(() => db.prepare("DELETE FROM ledger_transactions").run(), /append-only/);
      assert.throws(
        () => db.prepare("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (1, 'payable/p', 'EUR', 0)").run(),
        /CHECK/,
      );
      assert.throws(
        () => db.prepare("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (1, 'payable/p', 'EUR', 0.5)").run(),
        /cannot store REAL|datatype|CHECK/i,
      );
      assert.throws(() => db.prepare("UPDATE users SET balance_minor = -1").run(), /CHECK/);
      assert.throws(() => db.prepare("UPDATE users SET balance_minor = 1.5").run(), /cannot store REAL|datatype/i);
      assert.throws(
        () => db.prepare("INSERT INTO postings (txn_seq, account, currency, amount) VALUES (404, 'payable/p', 'EUR', 1)").run(),
        /FOREIGN KEY/,
      );
      db.close();
    });
  });
});
