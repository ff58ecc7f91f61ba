/**
 * The card in the same process: APDU bytes handed straight to the applet. What tests and the
 * benchmark's baseline use, and `peage demo --card` when no reader is wanted.
 */
import { CardApplet, type CardAppletOptions } from "../applet.js";
import type { CardTransport } from "../client.js";
import type { Medium } from "../store.js";

export class InProcessTransport implements CardTransport {
  constructor(readonly applet: CardApplet) {}

  static async open(medium: Medium, options: CardAppletOptions = {}): Promise<InProcessTransport> {
    return new InProcessTransport(await CardApplet.open(medium, options));
  }

  transmit(apdu: Uint8Array): Promise<Uint8Array> {
    return this.applet.process(apdu);
  }

  /** Card removed and inserted again: the session (PIN verification, selection) is gone. */
  reset(): Promise<void> {
    return this.applet.reset();
  }
}
