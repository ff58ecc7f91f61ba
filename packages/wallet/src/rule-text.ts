/**
 * The user's auto-accept rules in words, as the history records them next to each payment they let
 * through without asking: the user can see later which rule paid.
 */
import { formatPrice } from "@peage/protocol";
import type { AutoAcceptRules } from "./rules.js";

export function describeAutoAccept(rules: AutoAcceptRules): string {
  const parts: string[] = [];
  if (rules.perPayment) parts.push(`up to ${formatPrice(rules.perPayment)} per payment`);
  if (rules.perPublisherPerDay) parts.push(`${formatPrice(rules.perPublisherPerDay)} per publisher per day`);
  if (rules.perPublisherPerMonth) parts.push(`${formatPrice(rules.perPublisherPerMonth)} per publisher per month`);
  if (rules.sinceConfirmation) parts.push(`${formatPrice(rules.sinceConfirmation)} between approvals`);
  if (rules.consecutive !== undefined) parts.push(`${rules.consecutive} payment(s) in a row`);
  return parts.length === 0 ? "auto-accept without limit" : `auto-accept ${parts.join(", ")}`;
}
