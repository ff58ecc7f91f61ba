/**
 * `peage server --data DIR`: runs the payment server of @peage/server on a data directory, with
 * the server's own settings (flags, then PEAGE_* environment variables, then DIR/server.json);
 * `peage server init` makes that directory. The server is loaded only when these commands run,
 * so other commands do not pay for it.
 */
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { print, printJson, printJsonLine } from "../output.js";
import { untilStopped } from "../service.js";

/** Options passed through to the server's own configuration loader, by name. */
const passThrough = ["data", "port", "host", "rates", "log-level", "revocation", "bootstrap-key", "database-url"] as const;

const serverCommand: Command = {
  spec: {
    name: "server",
    title: "run the payment server on a data directory",
    summary:
      "Run the payment server on DIR (its database, signing key and chain, trusted roots, CRLs and rates). " +
      'Prints {"event":"listening","url":…,"server":…} as one JSON line on stdout once it listens, then its JSON logs; ' +
      "SIGINT or SIGTERM stop it gracefully, SIGHUP re-reads the rates.",
    synopsis: "--data DIR [--port N] [--host ADDRESS] [--rates FILE] [--log-level LEVEL] [--revocation POLICY] [--bootstrap-key FILE] [--database-url URL]",
    notes: ["Make DIR first with `peage server init --data DIR --pki PKIDIR` (or --key, --chain and --roots from any CA)."],
    options: {
      data: { type: "string", value: "DIR", description: "the data directory (or set PEAGE_DATA)" },
      port: { type: "string", value: "N", description: "port to listen on, 0 for any free port (default 8402)" },
      host: { type: "string", value: "ADDRESS", description: "address to listen on (default 127.0.0.1)" },
      rates: { type: "string", value: "FILE", description: "ECB reference rates XML (default DIR/rates.xml)" },
      "log-level": { type: "string", value: "LEVEL", description: "fatal, error, warn, info, debug, trace or silent (default info)" },
      revocation: { type: "string", value: "POLICY", description: "best-effort or require: whether every certificate needs a CRL (default best-effort)" },
      "bootstrap-key": { type: "string", value: "FILE", description: "on an empty database, create an API key with every scope and write its secret to FILE (mode 0600)" },
      "database-url": { type: "string", value: "URL", description: "postgres://… to keep the books on PostgreSQL instead of DIR/peage.db (or set DATABASE_URL)" },
    },
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
    if (bootstrapKeyFile !== undefined) {
      const store = await server.openStore(config);
      try {
        const created = await server.bootstrapApiKey(store, bootstrapKeyFile);
        process.stderr.write(created ? `bootstrap API key written to ${bootstrapKeyFile}\n` : "the database already has API keys: no bootstrap key created\n");
      } finally {
        await store.close();
      }
    }
    const running = await server.startServer(config);
    printJsonLine({ event: "listening", url: running.url, server: running.identity.id });
    const reload = () => {
      running.rates.reload().then(
        (table) => running.app.log.info({ date: table.date }, "rates reloaded"),
        (error: unknown) => running.app.log.error({ err: error }, "rates reload failed: the previous rates stay in force"),
      );
    };
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

const initCommand: Command = {
  spec: {
    name: "server init",
    title: "make a payment server's data directory from a PKI or a key and chain",
    summary:
      "Make the data directory DIR of a payment server: its signing key (mode 0600), certificate chain and trusted roots, " +
      "from a PKI directory (`peage pki init`) or from a key and a chain issued by any CA, with the ECB rates (the shipped " +
      "sample unless --rates) and CRLs. The identity is checked first (the chain must lead to a root, certify the key and " +
      "carry the acknowledgment-signing role); nothing is written when it fails.",
    synopsis: "--data DIR (--pki PKIDIR | --key FILE --chain FILE --roots FILE) [--rates FILE] [--crl FILE]... [--force] [--json]",
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
    if (from === "pki" && (o.string("chain") ?? o.string("roots")) !== undefined) throw o.usage("--chain and --roots go with --key, not --pki");
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
    print(`data directory ${dataDir} for ${identity.id} (certificate valid until ${result.notAfter})`, ...files.map((f) => `  ${f}`));
    print(`next: peage server --data ${dataDir} --bootstrap-key ${dataDir}/operator.key`);
  },
};

export const server: CommandGroup = {
  name: "server",
  summary: "run the payment server, or make its data directory",
  commands: [serverCommand, initCommand],
};
