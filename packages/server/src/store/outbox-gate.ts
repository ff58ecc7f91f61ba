/**
 * On PostgreSQL, the webhook outbox's triggers (self-service-migration.ts) fire only while an
 * endpoint wants their event type: with no endpoint registered, the usual case, a payment writes
 * no event row, which the worker would otherwise read, close (an update of the row) and prune (a
 * delete), each with its indexes. docs/webhooks.md promises an endpoint the events of causes
 * committed after it was registered; the gate keeps that promise exactly:
 *
 *   - a statement trigger on webhook_endpoints re-derives each outbox trigger's state (enabled
 *     while some endpoint, enabled or disabled, lists the type) in the transaction that adds or
 *     removes the endpoint;
 *   - before it reads the endpoints it locks the tables the outbox triggers are on in SHARE ROW
 *     EXCLUSIVE mode, the lock ALTER TABLE … ENABLE TRIGGER takes: it waits for every transaction
 *     that has written a payment, refund or payout and not yet committed (those committed before
 *     the endpoint was registered), and a payment written after it waits for its commit and then
 *     sees the trigger enabled. Whether a trigger fires is read from the catalogue when the insert
 *     takes its lock, not from the transaction's snapshot, so this holds at SERIALIZABLE too;
 *   - two transactions adding and removing endpoints at once take that lock one after the other,
 *     and at READ COMMITTED the second reads the endpoints after the first committed; at
 *     SERIALIZABLE, where its snapshot may be older, both read and write webhook_endpoints, so one
 *     of them fails with a serialization failure and is run again.
 *
 * SQLite keeps its triggers unconditional: one writer at a time, no race to close.
 */
import type { Migration } from "./migrations.js";

export const OUTBOX_GATE_PG: Migration = {
  version: 15,
  name: "webhook outbox triggers enabled only while an endpoint wants their events",
  sql: `
CREATE FUNCTION peage_gate_outbox() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v record;
  v_wanted boolean;
BEGIN
  LOCK TABLE payments, refunds, payouts IN SHARE ROW EXCLUSIVE MODE;
  FOR v IN SELECT * FROM (VALUES ('payments', 'payment.succeeded'), ('refunds', 'payment.refunded'),
      ('payouts', 'payout.scheduled')) AS t(tbl, type) LOOP
    v_wanted := EXISTS (SELECT 1 FROM webhook_endpoints WHERE v.type = ANY (string_to_array(events, ' ')));
    -- Set even when it already is: the transaction's snapshot may be older than the catalogue (SERIALIZABLE).
    EXECUTE format('ALTER TABLE %I %s TRIGGER %I', v.tbl, CASE WHEN v_wanted THEN 'ENABLE' ELSE 'DISABLE' END, v.tbl || '_outbox');
  END LOOP;
END $$;
CREATE FUNCTION webhook_endpoints_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM peage_gate_outbox();
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_endpoints_gate AFTER INSERT OR DELETE OR UPDATE OF events ON webhook_endpoints
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_endpoints_gate();
SELECT peage_gate_outbox();
`,
};
