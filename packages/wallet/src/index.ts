/**
 * @peage/wallet: the user's payment module. It verifies offers before showing them, applies the
 * user's rules (none until chosen) or asks (in the browser's consent window, ui/), signs the consent proof (message 2), pays at the
 * payment server, verifies the acknowledgment (message 3) and keeps a local history. Programs
 * reach it through a local HTTP service described by an endpoint file.
 */
export { WalletError, fromVerification } from "./errors.js";
export {
  sealKey,
  unsealKey,
  saveKey,
  loadKey,
  readKeyFile,
  parseKeyFile,
  publicJwkOf,
  DEFAULT_SCRYPT,
  type KeyStoreFile,
  type ScryptParameters,
} from "./key-store.js";
export { ensurePrivateDir, writePrivateFile, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "./private-files.js";
export {
  decide,
  toHome,
  parseRules,
  PSD2_LOW_VALUE_RULES,
  ASK_EVERY_TIME_RULES,
  type Rules,
  type AutoAcceptRules,
  type MoneyLimits,
  type SpendingTotals,
  type Decision,
  type DecisionInput,
} from "./rules.js";
export {
  readConfig,
  writeConfig,
  parseConfig,
  serverUrlProblem,
  walletPaths,
  WalletFiles,
  type WalletConfig,
  type CardConfig,
  type PcStoreConfig,
} from "./config.js";
export { History, Outcomes, type Outcome, type ConsentKind, type HistoryEntry, type RecordInput } from "./history.js";
export { PaymentServerClient, type ServerClientOptions } from "./server-client.js";
export {
  TerminalPrompt,
  AutoYesPrompt,
  ScriptedPrompt,
  NobodyPrompt,
  describeGrant,
  renderOffer,
  renderMandate,
  CARD_PIN_ENV,
  type ConsentPrompt,
  type OfferView,
  type OfferFacts,
  type PinRequest,
  type TerminalPromptOptions,
} from "./consent-prompt.js";
export { Wallet, createWallet, loadTrustStore, type WalletParts, type OpenWalletOptions, type PaymentResult } from "./wallet.js";
export { initWallet, type InitWalletOptions, type InitializedWallet } from "./init.js";
export {
  defaultEndpointFile,
  writeEndpointFile,
  removeEndpointFile,
  WALLET_FILE_ENV,
  type WalletEndpoint,
} from "./endpoint-file.js";
export { startWallet, type StartWalletOptions, type WalletService } from "./service.js";
export * from "./card/index.js";
export { ConsentWindow, type ConsentWindowOptions, type PendingOffer } from "./ui/consent-window.js";
export { UserPages, amountOf, type Amount, type HistoryLine, type HistoryPage } from "./ui/user-pages.js";
export { browserOpener } from "./ui/opener.js";
export * from "./mandates/index.js";
