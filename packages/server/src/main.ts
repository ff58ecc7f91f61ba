#!/usr/bin/env node
/**
 * The payment server's entry point:
 *
 *   node packages/server/dist/src/main.js --data DIR [--port N] [--host 127.0.0.1] [--bootstrap-key FILE] [--workers N]
 *
 * Once listening it prints one JSON line {"event":"listening","url":…} on stdout (logs are JSON
 * lines too), so a parent process can find the port it chose. SIGTERM or SIGINT shut it down
 * gracefully; SIGHUP re-reads the rates, the TLS certificate and key, and the CRLs.
 */
import { bootstrapApiKey } from "./api-keys.js";
import { loadConfig, usage } from "./config.js";
import { openStore } from "./store/open.js";
import { isWorkerProcess, serve } from "./workers.js";

async function main(): Promise<void> {
  const { config, bootstrapKeyFile, help } = loadConfig(process.argv.slice(2));
  if (help) {
    process.stdout.write(usage);
    return;
  }
  // A worker process runs this script again: the primary already made the key.
  if (bootstrapKeyFile !== undefined && !isWorkerProcess()) {
    const store = await openStore(config);
    try {
      const created = await bootstrapApiKey(store, bootstrapKeyFile);
      process.stderr.write(
        created
          ? `bootstrap API key written to ${bootstrapKeyFile}\n`
          : "the database already has API keys: no bootstrap key created\n",
      );
    } finally {
      await store.close();
    }
  }
  const server = await serve(config);
  process.stdout
    .write(`${JSON.stringify({ event: "listening", url: server.url, server: server.serverId, workers: server.workers, ...(server.metricsUrl ? { metrics: server.metricsUrl } : {}) })}
`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${JSON.stringify({ event: "second-signal", signal })}\n`);
      process.exit(1);
    }
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`peage-server: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Each part logs its own result; a part that fails keeps what was in force.
  process.on("SIGHUP", () => server.reload());
}

main().catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  process.stderr.write(
    `peage-server: ${typeof code === "string" ? `${code}: ` : ""}${(error as Error).message ?? String(error)}\n`,
  );
  process.exit(1);
});
