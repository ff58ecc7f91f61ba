/** Spending mandates in the wallet: granting one in the consent window, listing and revoking the user's. */
export { grantMandate } from "./grant.js";
export { describeMandate, readMandateRequest, MandateRequestSchema, type MandateRequest, type MandateView } from "./request.js";
export { listMandates, mandateOfPayments, registerMandate, revokeMandate } from "./server-api.js";
export { mandatesForPage } from "./ui-api.js";
