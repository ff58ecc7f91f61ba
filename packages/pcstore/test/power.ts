/**
 * Power cuts for the PC store's tests: a Disk and an Anchor that stop at the N-th write (a file
 * write torn in half, a removal or directory flush not done, the TPM counter not incremented),
 * as the card's TearingMedium does for its memory.
 */
import { PowerLoss } from "@peage/card";
import { type Anchor, type Disk } from "../src/index.js";
import { nodeDisk } from "../src/fragments.js";

export class Power {
  #left: number;
  cut = false;

  constructor(writesBeforeCut: number) {
    this.#left = writesBeforeCut;
  }

  /** True when this write is the one the power fails during. */
  #fails(): boolean {
    if (this.cut) throw new PowerLoss("the power is off");
    if (this.#left-- > 0) return false;
    this.cut = true;
    return true;
  }

  disk(base: Disk = nodeDisk): Disk {
    return {
      list: (dir) => base.list(dir),
      read: (path) => base.read(path),
      writeDurable: (path, data) => {
        if (this.#fails()) {
          base.writeDurable(path, data.subarray(0, Math.floor(data.length / 2)));
          throw new PowerLoss(`power cut while writing ${path}`);
        }
        base.writeDurable(path, data);
      },
      remove: (path) => {
        if (this.#fails()) throw new PowerLoss(`power cut before removing ${path}`);
        base.remove(path);
      },
      syncDir: (dir) => {
        if (this.#fails()) throw new PowerLoss(`power cut before flushing ${dir}`);
        base.syncDir(dir);
      },
    };
  }

  anchor(base: Anchor): Anchor {
    return {
      kind: base.kind,
      read: () => base.read(),
      increment: () => {
        if (this.#fails()) throw new PowerLoss("power cut before the TPM counter's increment");
        return base.increment();
      },
    };
  }
}
