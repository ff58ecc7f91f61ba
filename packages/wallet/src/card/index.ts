/** The wallet's smart card (offline variant, docs/card.md): finding it, paying with it, syncing it with its issuing server. */
export { PcscCardAccess, findPeageReader, type CardAccess, type CardReaderOptions, type CardSessions } from "./reader.js";
export { payByCard, readCardStatus, cardRefusal, type CardPaymentInput, type CardPaymentResult, type PinAsk } from "./pay.js";
export {
  CardDeskClient,
  syncCard,
  type CardAccountView,
  type CardRegistration,
  type CardSyncOptions,
  type CardSyncResult,
  type SyncAnswer,
} from "./desk.js";
export { fromCardError } from "./errors.js";
export { openConfiguredStore, type OpenedStoreAccess } from "./pc-store.js";
