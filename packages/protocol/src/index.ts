/**
 * @peage/protocol: the three Péage messages, their canonical hashing and JWS signatures, and the
 * X.509 certificate profile with chain validation. docs/protocol.md is the specification.
 */
export * from "./errors.js";
export * from "./money.js";
export * from "./time.js";
export * from "./nonce.js";
export * from "./identity.js";
export * from "./canonical.js";
export * from "./strict-json.js";
export * from "./keys.js";
export * from "./jws.js";
export * from "./pki/index.js";
export * from "./messages/schema.js";
export * from "./messages/offer-signature.js";
export * from "./messages/catalog.js";
export * from "./messages/metering.js";
export * from "./messages/offer.js";
export * from "./messages/payment-request.js";
export * from "./messages/acknowledgment.js";
export * from "./messages/user-request.js";
export * from "./problem.js";
export * from "./fx.js";
