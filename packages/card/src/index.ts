/**
 * @peage/card: the smart card of the offline variant (patent claims 3-10, figure 3). The card
 * application and its ISO/IEC 7816-4 command set (docs/card.md), its power-failure-safe memory,
 * personalisation, the issuing server's functions (reload and sync commands, log verification),
 * and three transports: in-process, the emulator behind vsmartcard's virtual PC/SC reader, and
 * the PC/SC client the wallet uses with any reader. The PC/SC stack with the emulated card is in
 * "@peage/card/emulator", test helpers in "@peage/card/testing".
 */
export { CardApplet, type CardAppletOptions } from "./applet.js";
export { CardRefusalCodes, type CardRefusalCode, CardErrorCodes, type CardErrorCode } from "./errors.js";
export { SW, type CommandApdu, type ParsedCommand, type ResponseApdu, CardProtocolError, CardError } from "./iso7816.js";
export { type Tlv, TlvError } from "./tlv.js";
export {
  minimumDeposit,
  type CardMode,
  type CardProfile,
  type Purse,
  type PinRecord,
  Records,
  type CertificateId,
  type PurseView,
  type LogEntryBody,
  type LogHeadBody,
  type ReloadBody,
  type SyncBody,
  type ReceiptBody,
} from "./model.js";
export { decodeToken, type VerificationKey, type DecodedToken } from "./signed.js";
export { type Medium, PowerLoss, CardMemoryError, FileMedium, MemoryMedium, type TearPlan, type Operation } from "./store.js";
export { type CardStatus } from "./wire.js";
export { certificateId, revokedByCrls, revokedListForCards } from "./revocation.js";
export { issueCard, type IssueCardOptions, type IssuedCard } from "./personalise.js";
export {
  createCardPaymentRequest,
  payWithCard,
  readLogForSync,
  type CardTransport,
  type CardPaymentRequest,
  type CardPaymentRequestInput,
  type CardClientOptions,
  CardClient,
  type CardPaymentInput,
  type LogUpload,
} from "./client.js";
export {
  cardIssuerFromDemo,
  cardKeyFromChain,
  cardKeyFromCertificate,
  type CardIssuer,
  type CardIssuerCertificateOptions,
  type CardCertificateOptions,
  type CardKey,
} from "./issuer/certificates.js";
export {
  createReloadCommand,
  createSyncCommand,
  newChallenge,
  verifyReceipt,
  type ReloadCommandInput,
  type SyncCommandInput,
} from "./issuer/commands.js";
export {
  verifyUploadedLog,
  type LogProblemKind,
  type LogProblem,
  type LogVerificationInput,
  type LogVerification,
} from "./issuer/log.js";
export { InProcessTransport } from "./transport/in-process.js";
export { runEmulator, VPCD_DEFAULT_PORT, type EmulatorOptions, type Emulator } from "./transport/vpcd.js";
export { PcscUnavailableError, type PcscOptions, PcscCardClient } from "./transport/pcsc.js";
