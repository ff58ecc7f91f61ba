/**
 * The real PC/SC stack for tests, the benchmark and the card demonstration ("@peage/card/emulator"):
 * pcscd (reused if one runs, otherwise started in the foreground as a child and stopped
 * afterwards), vsmartcard's virtual reader, and the card emulator inserted in it. pcscd's socket and vpcd's port are fixed system-wide, so a lock file
 * makes concurrent users (test files run in parallel, a benchmark) take turns.
 *
 * A missing pcscd is an error, never a reason to skip: scripts/setup.sh installs it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { PcscCardClient } from "./transport/pcsc.js";
import { runEmulator, VPCD_DEFAULT_PORT, type Emulator, type EmulatorOptions } from "./transport/vpcd.js";

/** pcsc-lite's socket (compiled in; PCSCLITE_CSOCK_NAME moves only the client's side). */
export const PCSCD_SOCKET = "/run/pcscd/pcscd.comm";
const PCSCD_PID_FILE = "/run/pcscd/pcscd.pid";
/** The name pcscd gives the first slot of the vpcd reader of /etc/reader.conf.d/vpcd. */
export const VPCD_READER = /^Virtual PCD 00 00$/;

/**
 * The in-process lock is a directory of its own: `flock /tmp/peage-pcsc.lock` (how people
 * serialise whole test runs on a shared machine) leaves a plain file at that path, which a
 * directory of the same name could never be made over.
 */
const LOCK_DIR = join(tmpdir(), "peage-pcsc-stack.lock");

/** Where pcscd is, or an error saying how to install it. */
export function findPcscd(): string {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, "pcscd");
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    "pcscd is not installed: the card's PC/SC tests need pcscd and vsmartcard-vpcd (scripts/setup.sh installs them)",
  );
}

function socketState(path: string): Promise<"listening" | "absent" | "stale"> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve("listening");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ENOENT" ? "absent" : "stale"));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the system-wide PC/SC test lock (a directory: mkdir is atomic); a dead owner's lock is taken over. */
async function lock(timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, "owner"), String(process.pid));
      return () => rmSync(LOCK_DIR, { recursive: true, force: true });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(LOCK_DIR, "owner"), "utf8"));
    } catch {
      // being written or removed
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the PC/SC stack is in use by process ${owner} (lock ${LOCK_DIR})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Pcscd {
  /** True when this process started pcscd (and will stop it). */
  readonly owned: boolean;
  /** What pcscd printed so far (its errors), when this process started it. */
  output(): string;
  stop(): Promise<void>;
}

/** Reuses a running pcscd, or starts one in the foreground and waits until it accepts clients. */
export async function ensurePcscd(timeoutMs = 15_000): Promise<Pcscd> {
  const binary = findPcscd();
  const state = await socketState(PCSCD_SOCKET);
  if (state === "listening") return { owned: false, output: () => "", stop: async () => undefined };
  if (state === "stale") {
    // A pcscd that died without cleaning up: it would refuse to start over its socket.
    rmSync(PCSCD_SOCKET, { force: true });
    rmSync(PCSCD_PID_FILE, { force: true });
  }
  const child: ChildProcess = spawn(binary, ["--foreground", "--error"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  const stop = async (): Promise<void> => {
    if (!running) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while ((await socketState(PCSCD_SOCKET)) !== "listening") {
    if (!running) throw new Error(`pcscd exited at start: ${output.trim() || "no output"}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pcscd did not open ${PCSCD_SOCKET} within ${timeoutMs} ms: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { owned: true, output: () => output.trim(), stop };
}

export interface PcscStack {
  readonly pcscd: Pcscd;
  /** The card in the reader now. */
  readonly emulator: Emulator;
  /** The reader the emulated card is in. */
  readonly reader: RegExp;
  /** Takes the card out of the reader and inserts another (or the same memory again). */
  insert(options: EmulatorOptions): Promise<Emulator>;
  /** Removes the card, stops pcscd if it was started here, releases the lock. */
  stop(): Promise<void>;
}

export interface PcscStackOptions extends EmulatorOptions {
  /** How long to wait for the stack to be free (another test or benchmark using it). */
  readonly lockTimeoutMs?: number;
}

/** How many times a pcscd started here is started again when its virtual reader takes no card. */
const START_ATTEMPTS = 3;
const INSERT_TIMEOUT_MS = 15_000;

/** Puts the card in vpcd's reader: resolves once vpcd took its connection. */
async function insertCard(card: EmulatorOptions, port: number): Promise<Emulator> {
  const emulator = await runEmulator({ ...card, port });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      emulator.connected,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the virtual reader (vpcd, port ${port}) did not accept the card`)),
          INSERT_TIMEOUT_MS,
        );
      }),
    ]);
    return emulator;
  } catch (cause) {
    await emulator.close();
    throw cause;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * pcscd with the card in its virtual reader. A pcscd started here whose vpcd driver could not
 * open its port (another socket held it for a moment: the port lies in Linux's ephemeral range,
 * which scripts/setup.sh reserves it from where it may) is stopped and started again; a pcscd that
 * runs for someone else is left alone and named in the error.
 */
async function startWithCard(card: EmulatorOptions, port: number): Promise<{ pcscd: Pcscd; emulator: Emulator }> {
  for (let attempt = 1; ; attempt++) {
    const pcscd = await ensurePcscd();
    try {
      return { pcscd, emulator: await insertCard(card, port) };
    } catch (cause) {
      const log = pcscd.output();
      await pcscd.stop();
      if (!pcscd.owned) {
        const pid = readPid();
        throw new Error(
          `${(cause as Error).message}: the pcscd running${pid ? ` as process ${pid}` : ""} was not started by these tests ` +
            "and has no vpcd reader on that port; stop it and run again",
          { cause },
        );
      }
      if (attempt >= START_ATTEMPTS) {
        const held = (await portFree(port))
          ? ""
          : `; port ${port} is held by another socket (\`ss -tanp | grep ${port}\` names it)`;
        throw new Error(
          `${(cause as Error).message} after ${attempt} starts of pcscd${held}${log ? `; pcscd said: ${log}` : ""}`,
          { cause },
        );
      }
    }
  }
}

/** True when nothing holds the port: a connection or a server that took it keeps vpcd from listening. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, () => probe.close(() => resolve(true)));
  });
}

function readPid(): number | undefined {
  try {
    const pid = Number(readFileSync(PCSCD_PID_FILE, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** pcscd + the virtual reader + the emulated card, ready for a PcscCardClient on {@link VPCD_READER}. */
export async function startPcscStack(options: PcscStackOptions): Promise<PcscStack> {
  const unlock = await lock(options.lockTimeoutMs ?? 180_000);
  let pcscd: Pcscd | undefined;
  try {
    const port = options.port ?? VPCD_DEFAULT_PORT;
    const started = await startWithCard(options, port);
    pcscd = started.pcscd;
    let current = started.emulator;
    // pcscd notices insertions and removals by polling: a watcher makes a swap wait until it has.
    const watcher = await PcscCardClient.open({ reader: VPCD_READER, timeoutMs: 15_000 });
    try {
      await watcher.waitForCard();
    } catch (cause) {
      watcher.close();
      await current.close();
      throw cause;
    }
    const daemon = pcscd;
    return {
      pcscd: daemon,
      get emulator() {
        return current;
      },
      reader: VPCD_READER,
      async insert(card) {
        await current.close();
        await watcher.waitForRemoval();
        current = await insertCard(card, port);
        await watcher.waitForCard();
        return current;
      },
      async stop() {
        try {
          watcher.close();
          await current.close();
          await daemon.stop();
        } finally {
          unlock();
        }
      },
    };
  } catch (cause) {
    await pcscd?.stop();
    unlock();
    throw cause;
  }
}
