/** Test helpers: the PC/SC stack (pcscd, virtual reader, emulated card) under a lock. */
export * from "./pcscd.js";
