/**
 * `peage wallet mandates` and `peage wallet mandate-revoke`: the spending mandates the user gave
 * agents (docs/wallet.md), as the payment server holds them, and revoking one. Mandates are
 * granted in the wallet's consent window when a program asks for one, never by command.
 */
import type { Command } from "../command.js";
import { print, printJson } from "../output.js";
import { openPages, readOptions } from "./wallet-pages.js";

/** A mandate as the wallet's pages give it (amounts with their decimal text). */
interface MandateLine {
  readonly mandateId: string;
  readonly status: string;
  readonly agentKid: string;
  readonly payees: readonly string[];
  readonly maxPerPayment: { readonly decimal: string };
  readonly budget: { readonly decimal: string; readonly currency: string };
  readonly maxPayments: number;
  readonly period: string;
  readonly expiresAt: string;
  readonly current: { readonly spent?: { readonly decimal: string }; readonly payments: number };
}

const mandatesCommand: Command = {
  spec: {
    name: "wallet mandates",
    title: "the spending mandates you gave agents, and what each paid this period",
    summary:
      "List your mandates at the payment server (a request signed with your key), newest first: the agent's key, the payees, the limits, " +
      "the expiry, whether revoked, and what the mandate paid in its current period. `peage wallet history` says which mandate paid what.",
    synopsis: "--data DIR [--passphrase-file FILE] [--json]",
    options: readOptions,
  },
  async run(o) {
    const { opened } = await openPages(o);
    try {
      const wallet = await import("@peage/wallet");
      const { mandates } = await wallet.mandatesForPage(opened);
      if (o.flag("json")) return printJson({ mandates });
      if (mandates.length === 0) return print("no mandates: programs ask for one through the wallet's consent window");
      for (const m of mandates as MandateLine[]) {
        const spent = `${m.current.spent?.decimal ?? "0"}/${m.budget.decimal} ${m.budget.currency}`;
        print(
          `${m.mandateId}  ${m.status.padEnd(7)} agent ${m.agentKid}  ${spent} and ${m.current.payments}/${m.maxPayments} ` +
            `payments (${m.period}), at most ${m.maxPerPayment.decimal} a payment, to ${m.payees.join(", ")}, until ${m.expiresAt}`,
        );
      }
    } finally {
      opened.close();
    }
  },
};

const revokeCommand: Command = {
  spec: {
    name: "wallet mandate-revoke",
    title: "revoke a spending mandate: from now on it pays nothing",
    summary:
      "Revoke one of your mandates at the payment server (a request signed with your key). `peage wallet mandates` lists their ids.",
    synopsis: "--data DIR --id MANDATE [--passphrase-file FILE] [--json]",
    options: { ...readOptions, id: { type: "string", value: "MANDATE", description: "the mandate's id" } },
  },
  async run(o) {
    const id = o.required("id", "MANDATE");
    const { opened } = await openPages(o);
    try {
      const wallet = await import("@peage/wallet");
      const revoked = (await wallet.revokeMandate(opened, id)) as Record<string, unknown>;
      if (o.flag("json")) return printJson(revoked);
      print(`mandate ${id} revoked at ${String(revoked["revokedAt"])}: it pays nothing more`);
    } finally {
      opened.close();
    }
  },
};

export const walletMandateCommands: readonly Command[] = [mandatesCommand, revokeCommand];
