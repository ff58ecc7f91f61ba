/**
 * The errors of the PC store, each with a code from one union so that the CLI and the wallet
 * branch on `code`: the TPM failed, the disk's files were rolled back or lost beyond repair, or
 * the store's directory is not what the operation needs.
 */
import { PeageError } from "@peage/protocol";

export const PcStoreErrorCodes = [
  /** A TPM command failed (TpmError). */
  "ERR_TPM",
  /** The files are older than the TPM's counter vouches for (RollbackDetected). */
  "ERR_ROLLBACK",
  /** More fragments were lost than erasure coding can rebuild (VaultDestroyed). */
  "ERR_VAULT_DESTROYED",
  /** The directory already holds a store. */
  "ERR_PCSTORE_EXISTS",
  /** The directory holds no store, or a configuration that is not one. */
  "ERR_PCSTORE_CONFIG",
  /** The store's key is in a TPM and no TPM was given. */
  "ERR_PCSTORE_NEEDS_TPM",
] as const;
export type PcStoreErrorCode = (typeof PcStoreErrorCodes)[number];

/** A PC store operation that cannot be done: the code says which kind, the message what to do. */
export class PcStoreError extends PeageError<PcStoreErrorCode> {
  override readonly name: string = "PcStoreError";
}
