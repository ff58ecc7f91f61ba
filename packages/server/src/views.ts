/** Stored records as the API shows them, and the opaque page cursors. */
import type { MinorUnits, Price } from "@peage/protocol";
import { HttpProblem } from "./problems.js";
import type { Account, PaymentView } from "./schemas.js";
import type { PaymentRecord, PublisherRecord, RefundRecord, UserRecord } from "./store/store.js";

export function accountView(user: UserRecord, usedThisMonth: MinorUnits | undefined): Account {
  const money = (amount: MinorUnits): Price => ({ amount, currency: user.homeCurrency });
  return {
    user: user.id,
    kid: user.kid,
    alg: user.alg,
    publicKey: JSON.parse(user.publicKeyJwk) as Record<string, unknown>,
    mode: user.mode,
    homeCurrency: user.homeCurrency,
    status: user.status,
    ...(user.mode === "prepaid" ? { balance: money(user.balance) } : {}),
    ...(user.monthlyLimit === undefined ? {} : { monthlyLimit: money(user.monthlyLimit) }),
    ...(usedThisMonth === undefined ? {} : { usedThisMonth: money(usedThisMonth) }),
    ...(user.mode === "postpaid" ? { depositRequired: money(user.depositRequired), deposit: money(user.deposit) } : {}),
    ...(user.mandate
      ? {
          mandate: {
            id: user.mandate.id,
            signedOn: user.mandate.signedOn,
            name: user.mandate.name,
            iban: user.mandate.iban,
            ...(user.mandate.bic ? { bic: user.mandate.bic } : {}),
          },
        }
      : {}),
    createdAt: user.createdAt,
  };
}

export function paymentView(payment: PaymentRecord): PaymentView {
  return {
    paymentId: payment.id,
    user: payment.user,
    publisher: payment.publisher,
    offerHash: payment.offerHash,
    price: payment.price,
    charged: payment.charged,
    rate: payment.rate,
    ...(payment.rateDate === undefined ? {} : { rateDate: payment.rateDate }),
    nonce: payment.nonce,
    offerDate: payment.offerDate,
    serverTime: payment.serverTime,
    acknowledgment: payment.acknowledgment,
  };
}

export function refundView(refund: RefundRecord) {
  return {
    refundId: refund.id,
    paymentId: refund.paymentId,
    user: refund.user,
    publisher: refund.publisher,
    reason: refund.reason,
    charged: refund.charged,
    price: refund.price,
    period: refund.period,
    createdAt: refund.createdAt,
  };
}

export function publisherView(publisher: PublisherRecord) {
  return {
    publisher: publisher.id,
    name: publisher.name,
    country: publisher.country,
    ...(publisher.iban === undefined ? {} : { iban: publisher.iban }),
    ...(publisher.bic === undefined ? {} : { bic: publisher.bic }),
    ...(publisher.domestic === undefined ? {} : { domestic: publisher.domestic }),
    ...(publisher.payoutCurrency === undefined ? {} : { payoutCurrency: publisher.payoutCurrency }),
    createdAt: publisher.createdAt,
    updatedAt: publisher.updatedAt,
  };
}

/** A cursor is the position of the last payment of a page; opaque to clients. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`p${seq}`, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^p(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match)
    throw HttpProblem.of(
      "ERR_BAD_REQUEST",
      "cursor is not one this server returned: pass nextCursor from the previous page unchanged",
    );
  return Number(match[1]);
}
