/**
 * `peage server --data DIR`: runs the payment server of @peage/server on a data directory, with
 * the server's own settings (flags, then PEAGE_* environment variables, then DIR/server.json).
 * The server is loaded only when this command runs, so other commands do not pay for it.
 */
import type { Options } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { printJsonLine } from "../output.js";
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
      "--data DIR [--port N] [--host ADDRESS] [--rates FILE] [--log-level LEVEL] [--revocation POLICY] [--bootstrap-key FILE] [--database-url URL] " +
      "[--tls-cert FILE --tls-key FILE] [--trust-proxy LIST] [--metrics HOST:PORT|public|off] [--key-passphrase-file FILE]",
    options: {
      data: { type: "string", value: "DIR", description: "the data directory (or set PEAGE_DATA)" },
      port: { type: "string", value: "N", description: "port to listen on, 0 for any free port (default 8402)" },
      host: { type: "string", value: "ADDRESS", description: "address to listen on (default 127.0.0.1)" },
      rates: { type: "string", value: "FILE", description: "ECB reference rates XML (default DIR/rates.xml)" },
      "log-level": { type: "string", value: "LEVEL", description: "fatal, error, warn, info, debug, trace or silent (default info)" },
      revocation: { type: "string", value: "POLICY", description: "best-effort or require: whether every certificate needs a CRL (default best-effort)" },
      "bootstrap-key": { type: "string", value: "FILE", description: "on an empty database, create an API key with every scope and write its secret to FILE (mode 0600)" },
      "database-url": { type: "string", value: "URL", description: "postgres://… to keep the books on PostgreSQL instead of DIR/peage.db (or set DATABASE_URL)" },
      "tls-cert": { type: "string", value: "FILE", description: "serve HTTPS with this PEM certificate chain (re-read on SIGHUP)" },
      "tls-key": { type: "string", value: "FILE", description: "the TLS private key, PEM" },
      "trust-proxy": { type: "string", value: "LIST", description: "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (default none)" },
      metrics: { type: "string", value: "WHERE", description: "HOST:PORT of the metrics listener, public (on the main listener) or off (default 127.0.0.1:9402)" },
      "key-passphrase-file": { type: "string", value: "FILE", description: "passphrase of an encrypted server.key (or set PEAGE_KEY_PASSPHRASE)" },
    },
    notes: ['A signing key in a PKCS#11 token (an HSM): "pkcs11": {"module", "token", "label", "pinFile"} in DIR/server.json, or the PIN in PEAGE_PKCS11_PIN.'],
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
    printJsonLine({ event: "listening", url: running.url, server: running.identity.id, ...(running.metricsUrl ? { metrics: running.metricsUrl } : {}) });
    // Each part logs its own result; a part that fails keeps what was in force.
    const reload = () => void running.reload();
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

export const server: CommandGroup = {
  name: "server",
  summary: "run the payment server",
  commands: [serverCommand],
};
