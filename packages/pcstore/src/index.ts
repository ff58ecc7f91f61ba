/**
 * @peage/pcstore: the third way to pay offline (docs/pc-store.md). The card application of
 * @peage/card runs on the PC, its memory kept as encrypted, erasure-coded fragments spread over
 * the disk and anchored to the TPM's monotonic counter, its key in the TPM; without a TPM, a
 * software store of a lower assurance level. swtpm (a software TPM
 * for tests and the demonstration) is in "@peage/pcstore/simulator".
 */
export { PcStoreErrorCodes, type PcStoreErrorCode, PcStoreError } from "./errors.js";
export { type Coding } from "./reed-solomon.js";
export { type Disk, type VaultOptions, type VaultRead, VaultDestroyed } from "./fragments.js";
export { TpmError, type TpmObjects, Tpm } from "./tpm.js";
export { type Anchor, RollbackDetected, type OpenReport } from "./vault-medium.js";
export { assuranceOf, type AssuranceLevel, type AssuranceLimits, defaultLimits } from "./assurance.js";
export {
  createPcStore,
  readConfig,
  openPcStore,
  type PcStoreConfig,
  type CreatePcStoreOptions,
  type OpenedPcStore,
  type OpenPcStoreOptions,
} from "./store.js";
export { type PcStoreSessions, PcStoreAccess } from "./access.js";
