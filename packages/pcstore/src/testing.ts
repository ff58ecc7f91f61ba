/**
 * Test helpers: a software TPM (swtpm). The simulator itself is "@peage/pcstore/simulator", which
 * the demonstration uses too; tests import it from here.
 */
export * from "./simulator.js";
