/**
 * Where `peage demo` keeps its data: one directory (temporary, or --data DIR) with a stable
 * layout, described in DIR/demo.json so that later tools (`peage settle --data DIR`, `peage
 * server --data DIR/server`, `peage wallet --data DIR/wallet`) find the server's database and the
 * rest without guessing.
 *
 *   DIR/demo.json          this layout, the parties, and the result of the run
 *   DIR/pki/               the demonstration PKI (root.crt, publisher.key, server-chain.pem, …)
 *   DIR/server/            the payment server's data directory (peage.db, server.key, rates.xml, …)
 *   DIR/wallet/            the user's wallet (config.json, key.json, history.sqlite, roots.pem);
 *                          its endpoint file wallet/endpoint.json exists only while the demo runs
 *   DIR/wallet-passphrase  the wallet's passphrase (mode 0600; a demonstration secret)
 *   DIR/operator-key       an operator API key with every scope (mode 0600)
 *   DIR/catalog.json       the example's offers, signed by the demonstration publisher
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CommandError } from "../errors.js";

export const DemoFiles = {
  manifest: "demo.json",
  pki: "pki",
  server: "server",
  /** The server's database in its data directory (DataDirFiles.database of @peage/server). */
  serverDatabase: join("server", "peage.db"),
  wallet: "wallet",
  walletEndpoint: join("wallet", "endpoint.json"),
  walletPassphrase: "wallet-passphrase",
  /** The postpaid user's wallet (demo/postpaid.ts). */
  postpaidWallet: "wallet-postpaid",
  postpaidWalletEndpoint: join("wallet-postpaid", "endpoint.json"),
  postpaidWalletPassphrase: "wallet-postpaid-passphrase",
  operatorKey: "operator-key",
  catalog: "catalog.json",
} as const;

export type DemoPaths = { readonly [K in keyof typeof DemoFiles]: string } & {
  readonly dir: string;
  /** True for a temporary directory, removed at the end. */
  readonly temporary: boolean;
};

function pathsIn(dir: string, temporary: boolean): DemoPaths {
  const entries = Object.entries(DemoFiles).map(([name, relative]) => [name, join(dir, relative)] as const);
  return { ...(Object.fromEntries(entries) as { [K in keyof typeof DemoFiles]: string }), dir, temporary };
}

/**
 * The demo's directory: a fresh temporary one, or `data`, which must not exist yet or be empty.
 * A directory that already holds a demo is refused rather than reused: its server database is the
 * record of that run, which later tools read, and a second run would mix two runs in it.
 */
export async function prepareDemoDir(data: string | undefined): Promise<DemoPaths> {
  if (data === undefined) return pathsIn(await mkdtemp(join(tmpdir(), "peage-demo-")), true);
  const dir = resolve(data);
  if (existsSync(join(dir, DemoFiles.manifest))) {
    throw new CommandError(
      "ERR_EXISTS",
      `${dir} already holds a demo (${DemoFiles.manifest}); its server data is kept for other tools: give a new --data directory, or remove ${dir} to run the demo there again`,
    );
  }
  if (existsSync(dir)) {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (cause) {
      throw new CommandError(
        "ERR_NOT_A_DIRECTORY",
        `--data ${dir} is not a directory that can be read (${(cause as NodeJS.ErrnoException).code ?? "error"}): give a new or empty directory`,
      );
    }
    if (entries.length > 0)
      throw new CommandError("ERR_EXISTS", `--data ${dir} is not empty: give a new or empty directory for the demo's data`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return pathsIn(dir, false);
}

/** Removes a temporary demo directory; a --data directory stays. */
export async function removeIfTemporary(paths: DemoPaths): Promise<void> {
  if (paths.temporary) await rm(paths.dir, { recursive: true, force: true });
}
