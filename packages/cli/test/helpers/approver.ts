/**
 * A user at the browser, for the demo's test: the program $PEAGE_BROWSER names is this one (through
 * a shell wrapper), given the wallet's one-time link. It opens it in Chromium, approves each
 * payment once Approve is enabled, and ends when the wallet is gone. Each approval is a line in
 * the file $PEAGE_APPROVER_LOG.
 */
import { appendFileSync } from "node:fs";
import { launchBrowser } from "@peage/wallet/testing/browser";

const [url] = process.argv.slice(2);
const log = process.env["PEAGE_APPROVER_LOG"];
if (!url || !log) throw new Error("usage: approver URL (with PEAGE_APPROVER_LOG set)");
const origin = new URL(url).origin;
const browser = await launchBrowser();
try {
  const page = await browser.context.newPage();
  await page.goto(url);
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const alive = await page.request.get(`${origin}/ui/api/pending`).then(
      (r) => r.ok(),
      () => false,
    );
    if (!alive) break;
    const approve = page.locator("#approve:enabled");
    if ((await approve.count()) > 0) {
      const offer = await page.locator("#description").textContent();
      await approve.click();
      appendFileSync(log, `${offer}\n`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
} finally {
  await browser.close();
}
