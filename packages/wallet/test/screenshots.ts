/**
 * Takes the documentation's screenshots of the wallet's pages in Chromium (the consent window, in
 * English and French, and the history), on a throwaway wallet and payment server:
 *
 *   npm run build && node packages/wallet/dist/test/screenshots.js docs/images
 */
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createOffer, systemClock } from "@peage/protocol";
import { launchBrowser } from "../src/testing/browser.js";
import { createUiWorld } from "./ui-world.js";

const out = resolve(process.argv[2] ?? "docs/images");
await mkdir(out, { recursive: true });
const world = await createUiWorld({ minVisibleMs: 300 });
const { service } = world;
const offer = (id: string) =>
  createOffer(
    world.catalog.offers.find((e) => e.terms.offerId === id)!,
    systemClock,
  );
try {
  for (const [locale, file] of [
    ["en-GB", "consent-window.png"],
    ["fr-FR", "consent-window-fr.png"],
  ] as const) {
    const browser = await launchBrowser(locale);
    const page = await browser.context.newPage();
    await page.goto(service.uiLink());
    const paying = world.wallet.pay(offer("level-2"));
    await page.locator("#approve:enabled").waitFor();
    await page.screenshot({ path: join(out, file) });
    await page.locator("#approve").click();
    await paying;
    if (locale === "en-GB") {
      const second = world.wallet.pay(offer("launch"));
      await page.locator("#description", { hasText: "Start the game" }).waitFor();
      await page.locator("#decline").click();
      await second.catch(() => undefined);
      const third = world.wallet.pay(offer("play-time"));
      await page.locator("#approve:enabled").click();
      await third;
      await page.goto(`${service.url}/ui/history`);
      await page.locator("tbody tr").first().waitFor();
      await page.screenshot({ path: join(out, "history.png") });
    }
    await browser.close();
  }
} finally {
  await world.close();
}
console.log(`screenshots written to ${out}`);
