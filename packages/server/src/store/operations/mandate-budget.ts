/**
 * What a payment made under a spending mandate (docs/protocol.md §16) gives back to the mandate's
 * budget when money goes back to the user: a refund gives back what it refunds, a usage settlement
 * the unused part it returns. It goes to the period the payment was charged to (recorded with the
 * payment in agent_mandate_payments), so a refund in May of an April payment frees April's budget,
 * not May's. Called inside the refund's or settlement's own transaction, after the row that makes
 * it happen once per payment (refunds, usage_settlements) was written, so it is given back exactly once.
 * The caller holds the user's row: a payment under the mandate updates the same counter under it too.
 */
import { get, run, type Logic } from "./operation.js";
import { str } from "./rows.js";

/** Gives `charged` minor units of the payment's charge back to its mandate's period; nothing for a payment made by the user. */
export function* giveBackToMandate(paymentId: string, charged: number): Logic<void> {
  if (charged <= 0) return;
  const link = yield* get("SELECT mandate_id, period_key FROM agent_mandate_payments WHERE payment_id = ?", paymentId);
  if (!link) return;
  // A period's counter that was pruned (its period is over) has nothing left to give back to. The
  // counter holds at least what is given back (it counted the whole charge); the floor at 0 is for
  // a counter that was changed by hand.
  yield* run(
    `UPDATE agent_mandate_usage SET spent = CASE WHEN spent > ? THEN spent - ? ELSE 0 END
      WHERE mandate_id = ? AND period_key = ?`,
    charged,
    charged,
    str(link["mandate_id"], "agent_mandate_payments.mandate_id"),
    str(link["period_key"], "agent_mandate_payments.period_key"),
  );
}
