/**
 * Long-running commands (the payment server, the wallet) run until SIGINT or SIGTERM, then stop
 * gracefully; a second signal while stopping exits at once, for a stop that hangs.
 */

/** Resolves once `stop` has finished after the first SIGINT or SIGTERM. */
export function untilStopped(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      stop().then(
        () => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve();
        },
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
