/**
 * Operations of features that keep their queries in modules of their own (publisher-logic.ts,
 * webhook-logic.ts), named so that a store on another thread (sqlite-thread.ts) can be asked for
 * one by name and arguments, which cross a thread, where a function would not.
 */
import { assignSales, earnings, hasUnassignedSales, payoutsOf, salesAfter } from "./publisher-logic.js";
import type { Logic } from "./logic.js";
import { addEndpoint, claimDue, deliveryCounts, fanOut, listEndpoints, removeEndpoint, settleDelivery } from "./webhook-logic.js";
import { failedDeliveries, pruneOutbox, putResealed, redeliver, rotateSecret, secretsToReseal } from "./webhook-lifecycle.js";

/** Run in a read transaction. */
export const ExtensionReads = {
  hasUnassignedSales,
  salesAfter,
  earnings,
  payoutsOf,
  listEndpoints,
  deliveryCounts,
  failedDeliveries,
  secretsToReseal,
} as const;
/** Run in a write transaction. */
export const ExtensionWrites = {
  assignSales,
  addEndpoint,
  removeEndpoint,
  fanOut,
  claimDue,
  settleDelivery,
  redeliver,
  pruneOutbox,
  rotateSecret,
  putResealed,
} as const;

export type Extensions = typeof ExtensionReads & typeof ExtensionWrites;
export type ExtensionName = keyof Extensions;
export type ExtensionResult<K extends ExtensionName> = ReturnType<Extensions[K]> extends Logic<infer T> ? T : never;

/** Whether operation `name` writes (an unknown name is refused when its operation is made). */
export const extensionWrites = (name: string): boolean => !Object.hasOwn(ExtensionReads, name);

/** The operation `name` with these arguments, and whether it writes. */
export function extensionOperation(name: string, args: readonly unknown[]): { logic: Logic<unknown>; writes: boolean } {
  const reads = ExtensionReads as Record<string, (...args: unknown[]) => Logic<unknown>>;
  const writes = ExtensionWrites as Record<string, (...args: unknown[]) => Logic<unknown>>;
  const make = Object.hasOwn(reads, name) ? reads[name] : Object.hasOwn(writes, name) ? writes[name] : undefined;
  if (!make) throw new TypeError(`no store extension ${name}`);
  return { logic: make(...args), writes: extensionWrites(name) };
}
