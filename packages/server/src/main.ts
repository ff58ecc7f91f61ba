#!/usr/bin/env node
/**
 * The payment server's entry point:
 *
 *   node packages/server/dist/src/main.js --data DIR [--port N] [--host 127.0.0.1] [--bootstrap-key FILE]
 *
 * Once listening it prints one JSON line {"event":"listening","url":…} on stdout (logs are JSON
 * lines too), so a parent process can find the port it chose. SIGTERM or SIGINT shut it down
 * gracefully; SIGHUP re-reads the rates, the TLS certificate and key, and the CRLs.
 */
import { bootstrapApiKey } from "./api-keys.js";
import { loadConfig, usage } from "./config.js";
import { startServer } from "./start.js";
import { openStore } from "./store/open.js";

async function main(): Promise<void> {
  const { config, bootstrapKeyFile, help } = loadConfig(process.argv.slice(2));
  if (help) {
    process.stdout.write(usage);
    return;
  }
  if (bootstrapKeyFile !== undefined) {
    const store = await openStore(config);
    try {
      const created = await bootstrapApiKey(store, bootstrapKeyFile);
      process.stderr.write(created ? `bootstrap API key written to ${bootstrapKeyFile}\n` : "the database already has API keys: no bootstrap key created\n");
    } finally {
      await store.close();
    }
  }
  const server = await startServer(config);
  process.stdout.write(`${JSON.stringify({ event: "listening", url: server.url, server: server.identity.id, ...(server.metricsUrl ? { metrics: server.metricsUrl } : {}) })}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      server.app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    server.app.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Each part logs its own result; a part that fails keeps what was in force.
  process.on("SIGHUP", () => void server.reload());
}

main().catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  process.stderr.write(`peage-server: ${typeof code === "string" ? `${code}: ` : ""}${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});
