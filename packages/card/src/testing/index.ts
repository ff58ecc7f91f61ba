/**
 * Test helpers: the PC/SC stack (pcscd, virtual reader, emulated card) under a lock. The stack
 * itself is "@peage/card/emulator", which the demonstration uses too; tests import it from here.
 */
export * from "../emulator.js";
