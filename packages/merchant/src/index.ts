/**
 * @peage/merchant: the SDK a publisher embeds. Give it the signed catalog and the trusted roots;
 * call pay() (or atLaunch, onEvent, periodic) where the program wants to be paid; go on only when
 * it resolves. It depends on nothing but @peage/protocol.
 */
export { Merchant, type MerchantOptions, type PayOptions, type Authorization } from "./merchant.js";
export { MerchantError, MerchantErrorCodes, type MerchantErrorCode, type MerchantErrorDetails } from "./errors.js";
export {
  HttpWalletTransport,
  defaultEndpointFile,
  fromProblem,
  WALLET_FILE_ENV,
  type WalletTransport,
  type HttpWalletTransportOptions,
  type OpenedSession,
  type SessionTick,
} from "./wallet-transport.js";
export { settleAtServer, SettlementRefused, type SettlementRequest, type UsageSettlement } from "./settle.js";
export { PeriodicPayment, type PeriodicController, type PeriodicHandlers, type PeriodicState } from "./periodic.js";
export { systemMonotonic, systemScheduler, type MonotonicClock, type Scheduler } from "./monotonic.js";
export {
  verifyWebhook,
  ReplayGuard,
  WebhookError,
  WebhookErrorCodes,
  type WebhookErrorCode,
  type WebhookEvent,
  type WebhookEventType,
  type VerifyWebhookOptions,
  type HeadersLike,
} from "./webhook.js";
