/**
 * @peage/pcstore: the third way to pay offline (docs/pc-store.md). The card application of
 * @peage/card runs on the PC, its memory kept as encrypted, erasure-coded fragments spread over
 * the disk and anchored to the TPM's monotonic counter, its key in the TPM; without a TPM, a
 * software store of a lower assurance level. swtpm (a software TPM
 * for tests and the demonstration) is in "@peage/pcstore/simulator".
 */
export * from "./errors.js";
export * from "./reed-solomon.js";
export * from "./fragments.js";
export * from "./tpm.js";
export * from "./vault-medium.js";
export * from "./assurance.js";
export * from "./store.js";
export * from "./access.js";
