/**
 * `peage server --data DIR`: runs the payment server of @peage/server on a data directory, with
 * the server's own settings (flags, then PEAGE_* environment variables, then DIR/server.json);
 * `peage server init` makes that directory. The server is loaded only when these commands run,
 * so other commands do not pay for it.
 */
import { chmodSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { bookOptions, serverDataDir } from "../books.js";
import { CommandError } from "../errors.js";
import { print, printJson, printJsonLine } from "../output.js";
import { untilStopped } from "../service.js";

/** Options passed through to the server's own configuration loader, by name. */
const passThrough = [
  "data",
  "port",
  "host",
  "rates",
  "log-level",
  "revocation",
  "bootstrap-key",
  "database-url",
  "workers",
  "tls-cert",
  "tls-key",
  "trust-proxy",
  "metrics",
  "key-passphrase-file",
] as const;

const serverCommand: Command = {
  spec: {
    name: "server",
    title: "run the payment server on a data directory",
    summary:
      "Run the payment server on DIR (its database, signing key and chain, trusted roots, CRLs and rates). " +
      'Prints {"event":"listening","url":…,"server":…} as one JSON line on stdout once it listens, then its JSON logs; ' +
      "SIGINT or SIGTERM stop it gracefully, SIGHUP re-reads the rates, the TLS certificate and key, and the CRLs. " +
      "GET /healthz says it is alive, GET /readyz whether it is ready (database, rates, certificates, bank details); " +
      "the Prometheus metrics are on a listener of their own (127.0.0.1:9402 by default).",
    synopsis:
      "--data DIR [--port N] [--host ADDRESS] [--rates FILE] [--log-level LEVEL] [--revocation POLICY] [--bootstrap-key FILE] [--database-url URL] [--workers N] " +
      "[--tls-cert FILE --tls-key FILE] [--trust-proxy LIST] [--metrics HOST:PORT|public|off] [--key-passphrase-file FILE]",
    options: {
      data: { type: "string", value: "DIR", description: "the data directory (or set PEAGE_DATA)" },
      port: { type: "string", value: "N", description: "port to listen on, 0 for any free port (default 8402)" },
      host: { type: "string", value: "ADDRESS", description: "address to listen on (default 127.0.0.1)" },
      rates: { type: "string", value: "FILE", description: "ECB reference rates XML (default DIR/rates.xml)" },
      "log-level": {
        type: "string",
        value: "LEVEL",
        description: "fatal, error, warn, info, debug, trace or silent (default info)",
      },
      revocation: {
        type: "string",
        value: "POLICY",
        description: "best-effort or require: whether every certificate needs a CRL (default best-effort)",
      },
      "bootstrap-key": {
        type: "string",
        value: "FILE",
        description: "on an empty database, create an API key with every scope and write its secret to FILE (mode 0600)",
      },
      "database-url": {
        type: "string",
        value: "URL",
        description: "postgres://… to keep the books on PostgreSQL instead of DIR/peage.db (or set DATABASE_URL)",
      },
      workers: {
        type: "string",
        value: "N",
        description:
          "PostgreSQL: server processes sharing the port; SQLite: threads that check and sign payment requests beside the one writer, 1 for none (default one per core)",
      },
      "tls-cert": {
        type: "string",
        value: "FILE",
        description: "serve HTTPS with this PEM certificate chain (re-read on SIGHUP)",
      },
      "tls-key": { type: "string", value: "FILE", description: "the TLS private key, PEM" },
      "trust-proxy": {
        type: "string",
        value: "LIST",
        description: "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (default none)",
      },
      metrics: {
        type: "string",
        value: "WHERE",
        description: "HOST:PORT of the metrics listener, public (on the main listener) or off (default 127.0.0.1:9402)",
      },
      "key-passphrase-file": {
        type: "string",
        value: "FILE",
        description: "passphrase of an encrypted server.key (or set PEAGE_KEY_PASSPHRASE)",
      },
    },
    notes: [
      "Make DIR first with `peage server init --data DIR --pki PKIDIR` (or --key, --chain and --roots from any CA).",
      'A signing key in a PKCS#11 token (an HSM): "pkcs11": {"module", "token", "label", "pinFile"} in DIR/server.json, or the PIN in PEAGE_PKCS11_PIN.',
    ],
  },
  async run(o) {
    const server = await import("@peage/server");
    let commandLine: ReturnType<typeof server.loadConfig>;
    try {
      commandLine = server.loadConfig(argvOf(o));
    } catch (cause) {
      if (cause instanceof server.ConfigError) throw o.usage(cause.message.split("\n")[0]!);
      throw cause;
    }
    const { config, bootstrapKeyFile } = commandLine;
    // A worker process runs this command again: the primary already made the key.
    if (bootstrapKeyFile !== undefined && !server.isWorkerProcess()) {
      const store = await server.openStore(config);
      try {
        const created = await server.bootstrapApiKey(store, bootstrapKeyFile);
        process.stderr.write(
          created
            ? `bootstrap API key written to ${bootstrapKeyFile}\n`
            : "the database already has API keys: no bootstrap key created\n",
        );
      } finally {
        await store.close();
      }
    }
    const running = await server.serve(config);
    printJsonLine({
      event: "listening",
      url: running.url,
      server: running.serverId,
      workers: running.workers,
      ...(running.metricsUrl ? { metrics: running.metricsUrl } : {}),
    });
    const reload = () => running.reload();
    process.on("SIGHUP", reload);
    try {
      await untilStopped(() => running.close());
    } finally {
      process.off("SIGHUP", reload);
    }
  },
};

/** The command line the server's loader reads, from the options given here. */
function argvOf(o: Options): string[] {
  const argv: string[] = [];
  for (const name of passThrough) {
    const value = o.string(name);
    if (value !== undefined) argv.push(`--${name}`, value);
  }
  return argv;
}

const migrateCommand: Command = {
  spec: {
    name: "server migrate",
    title: "show or apply the database's schema migrations",
    summary:
      "With --status, list the schema migrations of the server's database (the books, and the card desk's when the server issues cards): " +
      "applied with their date, or pending; nothing is changed. Without it, apply the pending ones (the server also does so at start). " +
      "A database written by a newer server is reported, and refused.",
    synopsis: "--data DIR [--status] [--database-url URL] [--json]",
    options: {
      ...bookOptions,
      status: { type: "boolean", description: "only show what is applied and what is pending" },
      json: { type: "boolean", description: "print the status as JSON" },
    },
  },
  async run(o) {
    const server = await import("@peage/server");
    const data = o.string("data") ?? process.env["PEAGE_DATA"];
    if (data === undefined) throw o.usage("--data DIR is required: the payment server's data directory");
    const url = o.string("database-url");
    const { config } = server.loadConfig(["--data", serverDataDir(data), ...(url === undefined ? [] : ["--database-url", url])]);
    if (!o.flag("status")) await (await server.openStore(config)).close();
    const status = await server.migrationStatus(config);
    if (o.flag("json")) printJson(status);
    else {
      print(
        `${server.describeStore(config)}: ${status.pending === 0 ? "up to date" : `${status.pending} migration(s) pending (peage server migrate applies them)`}`,
      );
      for (const m of status.migrations)
        print(
          `  ${m.part.padEnd(6)} ${String(m.version).padStart(3)}  ${m.appliedAt === undefined ? "pending   " : `applied ${m.appliedAt}`}  ${m.name}`,
        );
    }
    if (status.unknown.length > 0) {
      throw new CommandError(
        "ERR_SCHEMA_NEWER",
        `the database has migration(s) ${status.unknown.map((u) => `${u.part} ${u.version}`).join(", ")} that this version does not know: run the newer server, or restore a backup`,
      );
    }
  },
};

const backupCommand: Command = {
  spec: {
    name: "server backup",
    title: "copy the SQLite database while the server runs",
    summary:
      "Write a consistent copy of DIR/peage.db to FILE while the server keeps running (SQLite VACUUM INTO, one read transaction: " +
      "the copy holds every payment committed when it started), checked and synced before it takes its name, with mode 0600. " +
      "Restore by stopping the server and putting the copy in place of peage.db (docs/operations.md). For PostgreSQL use pg_dump.",
    synopsis: "--data DIR --out FILE [--json]",
    options: {
      data: bookOptions.data,
      out: { type: "string", value: "FILE", description: "the backup file to write (not overwritten if it exists)" },
      json: { type: "boolean", description: "print the result as JSON" },
    },
  },
  async run(o) {
    const server = await import("@peage/server");
    const data = o.string("data") ?? process.env["PEAGE_DATA"];
    if (data === undefined) throw o.usage("--data DIR is required: the payment server's data directory");
    const out = resolve(o.required("out", "FILE"));
    if (process.env["DATABASE_URL"])
      throw new CommandError(
        "ERR_BACKUP_ENGINE",
        "the books are on PostgreSQL (DATABASE_URL): back them up with pg_dump --format=custom (docs/operations.md)",
      );
    const source = join(serverDataDir(data), server.DataDirFiles.database);
    if (!existsSync(source))
      throw new CommandError("ERR_NO_DATABASE", `${source} does not exist: give the payment server's data directory`);
    if (existsSync(out))
      throw new CommandError("ERR_EXISTS", `${out} already exists: choose a new file name (a backup never overwrites another)`);
    const result = server.backupSqlite(source, out);
    chmodSync(out, 0o600);
    if (o.flag("json")) printJson(result);
    else print(`backed up ${source} to ${out}: ${result.bytes} bytes, ${result.payments} payments`);
  },
};

const initCommand: Command = {
  spec: {
    name: "server init",
    title: "make a payment server's data directory from a PKI or a key and chain",
    summary:
      "Make the data directory DIR of a payment server: its signing key (mode 0600), certificate chain and trusted roots, " +
      "from a PKI directory (`peage pki init`) or from a key and a chain issued by any CA, with the ECB rates (the shipped " +
      "sample unless --rates) and CRLs. The identity is checked first (the chain must lead to a root, certify the key and " +
      "carry the acknowledgment-signing role); nothing is written when it fails.",
    synopsis:
      "--data DIR (--pki PKIDIR | --key FILE --chain FILE --roots FILE) [--rates FILE] [--crl FILE]... [--force] [--json]",
    options: {
      data: { type: "string", value: "DIR", description: "the data directory to make" },
      pki: { type: "string", value: "PKIDIR", description: "a directory written by `peage pki init`" },
      key: { type: "string", value: "FILE", description: "the server's private key, PKCS#8 PEM" },
      chain: { type: "string", value: "FILE", description: "the server's certificate chain, leaf first, PEM" },
      roots: { type: "string", value: "FILE", description: "the root certificate(s) the chain leads to, PEM" },
      rates: { type: "string", value: "FILE", description: "ECB reference rates XML (default: the shipped sample rates)" },
      crl: { type: "string", multiple: true, value: "FILE", description: "a CRL (PEM) to install" },
      force: { type: "boolean", description: "replace the identity of a directory that already has one" },
      json: { type: "boolean", description: "print the result as JSON" },
    },
  },
  async run(o) {
    const dataDir = o.required("data", "DIR");
    const from = o.exactlyOne("pki", "key");
    const source =
      from === "pki"
        ? { pkiDir: o.required("pki", "PKIDIR") }
        : { keyFile: o.required("key", "FILE"), chainFile: o.required("chain", "FILE"), rootsFile: o.required("roots", "FILE") };
    if (from === "pki" && (o.string("chain") ?? o.string("roots")) !== undefined)
      throw o.usage("--chain and --roots go with --key, not --pki");
    const server = await import("@peage/server");
    const rates = o.string("rates");
    const { identity, files } = await server.initDataDir({
      ...source,
      dataDir,
      crlFiles: o.strings("crl"),
      force: o.flag("force"),
      ...(rates !== undefined && { ratesFile: rates }),
    });
    const result = { dataDir, server: identity.id, notAfter: identity.notAfter.toISOString(), files };
    if (o.flag("json")) return printJson(result);
    print(
      `data directory ${dataDir} for ${identity.id} (certificate valid until ${result.notAfter})`,
      ...files.map((f) => `  ${f}`),
    );
    print(`next: peage server --data ${dataDir} --bootstrap-key ${dataDir}/operator.key`);
  },
};

export const server: CommandGroup = {
  name: "server",
  summary: "run the payment server, make its data directory, migrate or back up its database",
  commands: [serverCommand, initCommand, migrateCommand, backupCommand],
};
