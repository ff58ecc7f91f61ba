/**
 * A payment on PostgreSQL in one round trip: the server-side function peage_record_payments
 * (migration 10) runs what operations/payments.ts's recordPayment runs statement by statement,
 * with the same rules in the same order, for one payment or a batch of them, in the one statement
 * and so the one transaction and commit of its call. Statement by statement a payment costs about
 * ten round trips between the server and the database (lock, user row, nonce, checks, inserts,
 * balance, commit); here it costs one, and a batch of payments that arrived together one for all.
 *
 * What the function is given is what the statements would compute in the server: the postings of
 * the payment for each mode the user may be in (paymentPostings, checked balanced), what they take
 * from the user's balance and deposit, and the payment's month. What it decides is what needs the
 * locked rows: the nonce (duplicate or reused), the account's status and currency, the prepaid
 * balance or card float, the postpaid deposit and monthly limit, the period still open. Its
 * outcomes are read back here into the store's PaymentOutcome.
 */
import type { CurrencyCode, MinorUnits } from "@peage/protocol";
import { assertBalanced, partyOf, paymentPostings, type Posting } from "../ledger/ledger.js";
import { periodOf } from "../ledger/periods.js";
import type { Migration } from "./migrations.js";
import { monthBounds } from "./operations/users.js";
import type { PaymentKeyCheck, PaymentOutcome, PaymentRecord } from "./store.js";

/** The function's text up to the user's row, locked: the row check goes there. */
const UP_TO_THE_ROW = ` peage_record_payments(ledger_key integer, batch jsonb)
  RETURNS TABLE (r_kind text, r_first numeric, r_second numeric, r_currency text)
  LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_p jsonb;
  v_user record;
  v_known boolean;
  v_hash text;
  v_charged bigint;
  v_balance numeric;
  v_used numeric;
  v_legs jsonb;
  v_period text;
  v_txn bigint;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(ledger_key);
  FOR v_p IN SELECT e FROM jsonb_array_elements(batch) WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
    r_kind := NULL; r_first := NULL; r_second := NULL; r_currency := NULL;
    v_charged := (v_p->>'chargedAmount')::bigint;
    SELECT * INTO v_user FROM users WHERE id = v_p->>'user' FOR UPDATE;
    v_known := FOUND;
`;

/** The rest of the function's text: the rules, then the writes. */
const AFTER_THE_ROW = `    SELECT request_hash INTO v_hash FROM payments WHERE user_id = v_p->>'user' AND nonce = v_p->>'nonce';
    IF FOUND THEN
      r_kind := CASE WHEN v_hash = v_p->>'requestHash' THEN 'duplicate' ELSE 'nonce-reused' END;
    ELSIF NOT v_known THEN
      r_kind := 'unknown-user';
    ELSIF v_user.status <> 'active' THEN
      r_kind := 'suspended';
    ELSIF v_user.home_currency <> v_p->>'chargedCurrency' THEN
      r_kind := 'currency-mismatch'; r_currency := v_user.home_currency;
    ELSIF v_user.mode = 'prepaid' THEN
      IF (v_p->>'fromCardFloat')::boolean THEN
        SELECT -COALESCE(SUM(amount), 0) INTO v_balance FROM postings
          WHERE account = 'float/' || v_user.id AND currency = v_p->>'chargedCurrency';
      ELSE
        v_balance := v_user.balance_minor;
      END IF;
      IF v_balance < v_charged THEN r_kind := 'insufficient-funds'; r_first := v_balance; END IF;
    ELSIF v_user.deposit_minor < v_user.deposit_required_minor THEN
      r_kind := 'deposit-required'; r_first := v_user.deposit_required_minor; r_second := v_user.deposit_minor;
    ELSE
      SELECT COALESCE(SUM(COALESCE(s.charged_used, q.charged_amount)), 0) INTO v_used FROM payments q
        LEFT JOIN usage_settlements s ON s.payment_id = q.id
        WHERE q.user_id = v_user.id AND q.server_time >= v_p->>'monthFrom' AND q.server_time < v_p->>'monthUntil'
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = q.id);
      IF v_used + v_charged > COALESCE(v_user.monthly_limit_minor, 0) THEN
        r_kind := 'limit-exceeded'; r_first := v_used; r_second := COALESCE(v_user.monthly_limit_minor, 0);
      END IF;
    END IF;
    IF r_kind IS NULL THEN
      INSERT INTO payments (id, user_id, publisher, offer_hash, price_amount, price_currency, charged_amount, charged_currency,
          rate, rate_date, nonce, offer_date, server_time, request_hash, acknowledgment, fee_minor)
        VALUES (v_p->>'id', v_p->>'user', v_p->>'publisher', v_p->>'offerHash', (v_p->>'priceAmount')::bigint,
          v_p->>'priceCurrency', v_charged, v_p->>'chargedCurrency', v_p->>'rate', v_p->>'rateDate', v_p->>'nonce',
          v_p->>'offerDate', v_p->>'serverTime', v_p->>'requestHash', v_p->>'acknowledgment', (v_p->>'fee')::bigint);
      v_legs := v_p->'legs'->(v_user.mode);
      IF v_legs IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_legs->'postings') x
          GROUP BY x->>1 HAVING SUM((x->>2)::numeric) <> 0) THEN
        RAISE EXCEPTION 'payment %: its postings for a % account are missing or do not balance', v_p->>'id', v_user.mode
          USING ERRCODE = 'check_violation';
      END IF;
      -- The period: the payment's month, or the next month still open (ledger/periods.ts, assignPeriod).
      v_period := v_p->>'month';
      WHILE EXISTS (SELECT 1 FROM closed_periods c WHERE c.period = v_period) LOOP
        v_period := to_char(to_date(v_period, 'YYYY-MM') + interval '1 month', 'YYYY-MM');
      END LOOP;
      INSERT INTO ledger_transactions (id, kind, period, created_at, user_id, publisher, payment_id, ref)
        VALUES ('txn_' || (v_p->>'id'), 'payment', v_period, v_p->>'serverTime', v_p->>'user', v_p->>'publisher', v_p->>'id', NULL)
        RETURNING seq INTO v_txn;
      INSERT INTO postings (txn_seq, account, currency, amount)
        SELECT v_txn, x->>0, x->>1, (x->>2)::bigint FROM jsonb_array_elements(v_legs->'postings') WITH ORDINALITY AS t(x, n) ORDER BY n;
      IF (v_legs->>'funds')::bigint <> 0 OR (v_legs->>'deposit')::bigint <> 0 THEN
        UPDATE users SET balance_minor = balance_minor - (v_legs->>'funds')::bigint,
            deposit_minor = deposit_minor - (v_legs->>'deposit')::bigint
          WHERE id = v_user.id;
      END IF;
      r_kind := 'recorded';
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
`;

/** The function's text; migration 10's is this with no row check, unchanged since it was released. */
function recordPaymentsSql(create: string, rowCheck: string): string {
  return `\n${create}${UP_TO_THE_ROW}${rowCheck}${AFTER_THE_ROW}`;
}

/**
 * Migration 10 on PostgreSQL. Each refusal is decided as operations/payments.ts decides it (the
 * same order, the same queries): an edit of one is an edit of the other, and
 * test/pg-payment-function.test.ts runs both on the same cases. The function is VOLATILE, so at
 * READ COMMITTED each query in it sees what committed before it ran: after the user's row is
 * locked, the nonce, float and month's use read are the latest, as they are statement by statement.
 */
export const PAYMENT_FUNCTION_PG: Migration = {
  version: 10,
  name: "payments recorded in one call",
  sql: recordPaymentsSql("CREATE FUNCTION", ""),
};

/**
 * What migration 16 adds right after the user's row is locked, in the statements' order
 * (operations/payments.ts):
 *   - the row checked as the statements parse it (operations/records.ts, toAccount): a row that
 *     the schema's CHECKs let through but the parse refuses (an amount past 2^53 − 1; a home
 *     currency that is not an active ISO 4217 code, which the function cannot tell, so every
 *     payment in another currency than the user's goes to the statements) fails the call. The
 *     store then records each payment of the batch alone, statement by statement, where that one
 *     fails with the StoreRowError naming the column before anything is written, and the others are
 *     recorded; "currency-mismatch" is then the statements' too;
 *   - the key the request was verified with, when the server sent it (PaymentKeyCheck): another
 *     key enrolled by now refuses the payment, unless it is a duplicate of a recorded request.
 */
const ROW_CHECK = `    IF v_known AND (v_user.home_currency <> v_p->>'chargedCurrency' OR GREATEST(v_user.balance_minor,
        v_user.deposit_minor, v_user.deposit_required_minor, v_user.monthly_limit_minor) > 9007199254740991) THEN
      RAISE EXCEPTION 'payment %: the user''s row is left to the statements', v_p->>'id' USING ERRCODE = 'data_exception';
    END IF;
    IF v_p->>'kid' IS NOT NULL AND v_user.kid IS DISTINCT FROM v_p->>'kid' AND NOT EXISTS (SELECT 1 FROM payments
        WHERE user_id = v_p->>'user' AND nonce = v_p->>'nonce' AND request_hash = v_p->>'requestHash') THEN
      r_kind := 'key-replaced';
      RETURN NEXT;
      CONTINUE;
    END IF;
`;

/** Migration 16 on PostgreSQL: the function again, with the user's row and the request's key checked (ROW_CHECK). */
export const PAYMENT_FUNCTION_ROW_CHECK_PG: Migration = {
  version: 16,
  name: "payments in one call: the user's row checked as the statements parse it, and the request's key",
  sql: recordPaymentsSql("CREATE OR REPLACE FUNCTION", ROW_CHECK),
};

/** One call of the function: its text, named so that node-postgres prepares it once per connection. */
export const RECORD_PAYMENTS = { name: "peage_record_payments", text: "SELECT * FROM peage_record_payments($1, $2)" } as const;

/** A row the function returns, one per payment, in the order given. */
export interface FunctionRow {
  readonly r_kind: string;
  readonly r_first: bigint | null;
  readonly r_second: bigint | null;
  readonly r_currency: string | null;
}

/** What the payment takes from the user in one mode: its postings, and its part of the stored balance and deposit. */
function legs(payment: PaymentRecord, mode: "prepaid" | "postpaid", fee: MinorUnits) {
  const postings: Posting[] = paymentPostings({
    id: payment.id,
    user: payment.user,
    mode,
    fromCardFloat: payment.fromCardFloat === true,
    publisher: payment.publisher,
    price: payment.price,
    charged: payment.charged,
    fee,
  });
  assertBalanced({ id: `txn_${payment.id}`, postings });
  // A user's stored balance is the opposite of the sum of their funds (or deposit) postings (postings.ts, post).
  let funds = 0;
  let deposit = 0;
  for (const p of postings) {
    const { kind, party } = partyOf(p.account);
    if ((kind === "funds" || kind === "deposit") && party !== payment.user)
      throw new Error(`payment ${payment.id}: a posting to ${p.account}, another user's account`);
    if (kind === "funds") funds += p.amount;
    else if (kind === "deposit") deposit += p.amount;
  }
  return { postings: postings.map((p) => [p.account, p.currency, p.amount]), funds, deposit };
}

/**
 * The function's argument for one payment. Throws what paymentPostings throws for a payment that
 * cannot be posted (a fee above the price): the caller then records that payment statement by
 * statement, where it fails after the same checks as on SQLite.
 */
export function functionArgument(payment: PaymentRecord, key?: PaymentKeyCheck): Record<string, unknown> {
  const fee = payment.fee ?? (0 as MinorUnits);
  const { from, until } = monthBounds(new Date(payment.serverTime));
  return {
    id: payment.id,
    user: payment.user,
    publisher: payment.publisher,
    offerHash: payment.offerHash,
    priceAmount: payment.price.amount,
    priceCurrency: payment.price.currency,
    chargedAmount: payment.charged.amount,
    chargedCurrency: payment.charged.currency,
    rate: payment.rate,
    rateDate: payment.rateDate ?? null,
    nonce: payment.nonce,
    offerDate: payment.offerDate,
    serverTime: payment.serverTime,
    requestHash: payment.requestHash,
    acknowledgment: JSON.stringify(payment.acknowledgment),
    fee,
    fromCardFloat: payment.fromCardFloat === true,
    month: periodOf(payment.serverTime),
    monthFrom: from,
    monthUntil: until,
    legs: { prepaid: legs(payment, "prepaid", fee), postpaid: legs(payment, "postpaid", fee) },
    kid: key?.kid ?? null,
  };
}

const minor = (value: bigint | null) => Number(value ?? 0) as MinorUnits;

/**
 * The outcome of one payment from its row; "duplicate" carries no payment yet: the caller reads the
 * recorded one (a retry is rare, and its row is committed by then).
 */
export function outcomeOf(
  payment: PaymentRecord,
  row: FunctionRow,
): Exclude<PaymentOutcome, { kind: "duplicate" }> | { kind: "duplicate" } {
  switch (row.r_kind) {
    case "recorded":
      return { kind: "recorded", payment: { ...payment, fee: payment.fee ?? (0 as MinorUnits) } };
    case "duplicate":
    case "nonce-reused":
    case "unknown-user":
    case "suspended":
    case "key-replaced":
      return { kind: row.r_kind };
    case "insufficient-funds":
      return { kind: "insufficient-funds", balance: minor(row.r_first) };
    case "limit-exceeded":
      return { kind: "limit-exceeded", used: minor(row.r_first), limit: minor(row.r_second) };
    case "deposit-required":
      return { kind: "deposit-required", required: minor(row.r_first), paid: minor(row.r_second) };
    case "currency-mismatch":
      return { kind: "currency-mismatch", homeCurrency: row.r_currency as CurrencyCode };
    default:
      throw new Error(`peage_record_payments answered an unknown outcome: ${row.r_kind}`);
  }
}
