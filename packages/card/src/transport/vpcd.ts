/**
 * The card emulator behind the real PC/SC stack: a virtual card for vsmartcard's virtual reader
 * driver (vpcd), which pcscd loads like any reader driver. vpcd listens on TCP (by default
 * 35963, /etc/reader.conf.d/vpcd); the card connects to it, and from then on every program
 * using PC/SC sees a reader with a card in it. While the connection lasts the card is inserted.
 *
 * The vpcd protocol: each message is a two-byte big-endian length and a payload. A one-byte
 * payload is a control code: 0 power off, 1 power on, 2 reset, 4 "send the ATR" (answered with
 * the ATR); any other payload is a command APDU, answered with the response APDU. `peage card
 * emulate` runs {@link runEmulator}.
 */
import { connect, type Socket } from "node:net";
import { CardApplet, type CardAppletOptions } from "../applet.js";
import { FileMedium, type Medium } from "../store.js";

export const VPCD_DEFAULT_PORT = 35963;

export const VpcdControl = { powerOff: 0, powerOn: 1, reset: 2, atr: 4 } as const;

export interface EmulatorOptions extends CardAppletOptions {
  /** The card's memory: a medium, or a directory holding a personalised card. */
  readonly medium?: Medium;
  readonly dir?: string;
  readonly host?: string;
  readonly port?: number;
  /** Pause before connecting again after vpcd went away (pcscd restarted); default 250 ms. */
  readonly reconnectMs?: number;
  /** A line per connection event and per refused command. */
  readonly log?: (line: string) => void;
}

export interface Emulator {
  readonly applet: CardApplet;
  /** Resolves at the first connection to vpcd. */
  readonly connected: Promise<void>;
  readonly stats: { commands: number; connections: number };
  /** Removes the card (closes the connection) and stops reconnecting. */
  close(): Promise<void>;
}

/** Opens the card's memory and keeps the card inserted in vpcd's reader until closed. */
export async function runEmulator(options: EmulatorOptions): Promise<Emulator> {
  const medium = options.medium ?? (options.dir !== undefined ? new FileMedium(options.dir) : undefined);
  if (!medium) throw new TypeError("runEmulator needs the card's medium or directory");
  const log = options.log;
  const applet = await CardApplet.open(medium, {
    ...options,
    onRefusal: (command, sw, reason) => {
      log?.(`${command} refused ${sw.toString(16).toUpperCase()}: ${reason}`);
      options.onRefusal?.(command, sw, reason);
    },
  });
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? VPCD_DEFAULT_PORT;
  const stats = { commands: 0, connections: 0 };
  let closed = false;
  let socket: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Messages are handled one after the other, in arrival order: vpcd waits for each answer.
  let work: Promise<void> = Promise.resolve();
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));

  const handle = async (target: Socket, message: Uint8Array): Promise<void> => {
    if (message.length !== 1) stats.commands++;
    const response = await answer(applet, message, log);
    if (response && !target.destroyed) target.write(frame(response));
  };

  const open = (): void => {
    if (closed) return;
    const current = connect({ host, port });
    socket = current;
    current.setNoDelay(true);
    current.on("connect", () => {
      stats.connections++;
      log?.(`card inserted in the virtual reader at ${host}:${port}`);
      onConnected();
    });
    current.on(
      "data",
      unframe((message) => {
        work = work
          .then(() => handle(current, message))
          .catch((cause: unknown) => log?.(`emulator: ${(cause as Error).message}`));
      }),
    );
    current.on("error", () => undefined);
    current.on("close", () => {
      if (socket === current) socket = undefined;
      // Without a connection the card is out of the reader: the next insertion is a new session.
      applet.powerOff();
      if (!closed) timer = setTimeout(open, options.reconnectMs ?? 250);
    });
  };
  open();

  return {
    applet,
    connected,
    stats,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const current = socket;
      if (current && !current.destroyed) {
        await new Promise<void>((resolve) => {
          current.once("close", () => resolve());
          current.destroy();
        });
      }
      await work;
    },
  };
}

/** vpcd's answer to one message: the ATR, a response APDU, or nothing for power control. */
async function answer(applet: CardApplet, message: Uint8Array, log?: (line: string) => void): Promise<Uint8Array | undefined> {
  if (message.length !== 1) return applet.process(message);
  switch (message[0]) {
    case VpcdControl.powerOff:
      applet.powerOff();
      return undefined;
    case VpcdControl.powerOn:
    case VpcdControl.reset:
      await applet.reset();
      return undefined;
    case VpcdControl.atr:
      return applet.atr;
    default:
      log?.(`unknown vpcd control code ${message[0]}`);
      return undefined;
  }
}

/** A payload as vpcd frames it: two bytes of big-endian length, then the payload. */
function frame(payload: Uint8Array): Buffer {
  const framed = Buffer.alloc(2 + payload.length);
  framed.writeUInt16BE(payload.length, 0);
  framed.set(payload, 2);
  return framed;
}

/** A socket's data handler that cuts the stream into vpcd's messages, whole and in order. */
function unframe(onMessage: (message: Uint8Array) => void): (chunk: Buffer) => void {
  let buffer: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (buffer.length >= 2) {
      const length = buffer.readUInt16BE(0);
      if (buffer.length < 2 + length) break;
      const message = new Uint8Array(buffer.subarray(2, 2 + length));
      buffer = buffer.subarray(2 + length);
      onMessage(message);
    }
  };
}
