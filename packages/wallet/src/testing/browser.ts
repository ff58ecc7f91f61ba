/**
 * Debian's Chromium (installed by scripts/setup.sh), driven by playwright-core for the tests of
 * the wallet's pages (imported as "@peage/wallet/testing/browser", apart from the other fixtures so
 * that only browser tests load playwright-core). No browser is downloaded: the system's binary is launched headless with a
 * fresh profile, and without anything that would reach the network on its own.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/** The browser binary: Debian's, or $PEAGE_CHROMIUM. */
export const CHROMIUM = process.env["PEAGE_CHROMIUM"] ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A browser with its own new profile directory (removed on close); `locale` sets navigator.language. */
export async function launchBrowser(locale = "en-GB"): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), "peage-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    locale,
    timezoneId: "UTC",
    viewport: { width: 900, height: 760 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
