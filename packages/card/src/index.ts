/**
 * @peage/card: the smart card of the offline variant (patent claims 3-10, figure 3). The card
 * application and its ISO/IEC 7816-4 command set (docs/card.md), its power-failure-safe memory,
 * personalisation, the issuing server's functions (reload and sync commands, log verification),
 * and three transports: in-process, the emulator behind vsmartcard's virtual PC/SC reader, and
 * the PC/SC client the wallet uses with any reader. The PC/SC stack with the emulated card is in
 * "@peage/card/emulator", test helpers in "@peage/card/testing".
 */
export * from "./errors.js";
export * from "./iso7816.js";
export * from "./tlv.js";
export * from "./model.js";
export * from "./signed.js";
export * from "./store.js";
export * from "./pin.js";
export * from "./wire.js";
export * from "./revocation.js";
export { CardApplet, MAX_CHAINED_DATA, paymentIdOf, type CardAppletOptions } from "./applet.js";
export * from "./personalise.js";
export * from "./client.js";
export * from "./issuer/index.js";
export * from "./transport/in-process.js";
export * from "./transport/vpcd.js";
export * from "./transport/pcsc.js";
