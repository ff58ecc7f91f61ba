/** The payment server's side of the card: certificates, signed commands, log verification. */
export * from "./certificates.js";
export * from "./commands.js";
export * from "./log.js";
