/**
 * What the user is shown of an offer before saying yes: exactly the signed terms (the publisher's
 * name from its certificate, the description, the price, what it grants), the price converted to
 * the home currency at the server's reference rates, why the wallet asks, and what pays. A price
 * that is a maximum (`upto`) or a metered session's cap reads as such, never as a plain price.
 */
import { convert, formatPrice, type CurrencyCode, type Price, type RateTable, type VerifiedOffer } from "@peage/protocol";
import type { OfferFacts, OfferView } from "./consent-prompt.js";

export interface OfferViewContext {
  readonly home: CurrencyCode;
  readonly rates: RateTable | undefined;
  /** Why the rules did not let the offer pass without asking. */
  readonly reason: string;
  readonly payWith: OfferFacts["payWith"];
  readonly server: string;
  readonly firstPayment: boolean;
  readonly noRuleChosen: boolean;
}

/** The view of a verified offer for the consent prompt or window. */
export function offerView({ offer, signature }: VerifiedOffer, ctx: OfferViewContext): OfferView {
  const { price, upto, tick } = offer.terms;
  const conversion = price.currency !== ctx.home && ctx.rates ? safeConvert(price, ctx.home, ctx.rates) : undefined;
  let converted: string | undefined;
  if (price.currency !== ctx.home)
    converted = conversion
      ? `about ${formatPrice(conversion.price)} at the reference rates of ${ctx.rates!.date}`
      : `no exchange rate to ${ctx.home} is available`;
  const publisherName = displayName(signature.chain.leaf);
  const facts: OfferFacts = {
    price,
    ...(upto ? { upto } : {}),
    ...(tick ? { tick } : {}),
    ...(conversion && ctx.rates
      ? { converted: { price: conversion.price, rate: conversion.rate, ratesDate: ctx.rates.date } }
      : {}),
    ...(publisherName ? { publisherName } : {}),
    firstPayment: ctx.firstPayment,
    ...(ctx.noRuleChosen ? { noRuleChosen: true } : {}),
    payWith: ctx.payWith,
    server: ctx.server,
  };
  return {
    facts,
    offerId: offer.terms.offerId,
    description: offer.terms.description,
    price: priceText(price, upto, tick),
    ...(converted ? { converted } : {}),
    date: offer.date,
    publisher: offer.terms.publisher,
    grant: offer.terms.grant,
    reason: ctx.firstPayment ? `first payment to this publisher; ${ctx.reason}` : ctx.reason,
  };
}

/** The price as the user reads it: a maximum says so, and a metered session says what each use costs. */
function priceText(price: Price, upto: true | undefined, tick: Price | undefined): string {
  if (tick) return `${formatPrice(tick)} per use, up to ${formatPrice(price)}`;
  return upto ? `up to ${formatPrice(price)}` : formatPrice(price);
}

/** The name a certificate gives its subject: its common name, else its organisation. */
function displayName(certificate: VerifiedOffer["signature"]["chain"]["leaf"]): string | undefined {
  const name = certificate.subjectName;
  return name.getField("CN")[0] ?? name.getField("O")[0];
}

function safeConvert(price: Price, home: CurrencyCode, rates: RateTable) {
  try {
    return convert(price, home, rates);
  } catch {
    return undefined;
  }
}
