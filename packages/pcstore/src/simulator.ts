/**
 * A software TPM for tests and the demonstration ("@peage/pcstore/simulator"): Debian's swtpm in socket mode on two free
 * consecutive ports of 127.0.0.1 (commands, then control: what the swtpm TCTI expects), its state in a directory, started already powered
 * on (startup-clear). The same tpm2-tools stack then drives it as it would a chip. Without swtpm
 * installed this fails with the package to install; it never skips.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer, connect } from "node:net";
import { Tpm } from "./tpm.js";

export interface RunningSwtpm {
  readonly tcti: string;
  readonly tpm: Tpm;
  readonly stateDir: string;
  stop(): Promise<void>;
}

/** A port free now (0: any), or undefined if `port` is taken. */
async function freePort(port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Starts swtpm with its state in `stateDir` (kept: stop and start again to model a reboot). */
export async function startSwtpm(stateDir: string): Promise<RunningSwtpm> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 5; attempt++) {
    // The swtpm TCTI of tpm2-tss takes the control channel on the next port.
    const port = await freePort();
    if (port === undefined || port >= 65535) continue;
    const ctrl = await freePort(port + 1);
    if (ctrl === undefined) continue;
    const child = spawn(
      "swtpm",
      [
        "socket",
        "--tpm2",
        "--tpmstate",
        `dir=${stateDir}`,
        "--server",
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        "--ctrl",
        `type=tcp,port=${ctrl},bindaddr=127.0.0.1`,
        "--flags",
        "not-need-init,startup-clear",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const failed = new Promise<Error>((resolve) => {
      child.once("error", (error) => resolve(error));
      child.once("exit", (code) => resolve(new Error(`swtpm exited (${code}): ${stderr.trim()}`)));
    });
    const up = await Promise.race([waitListening(port), failed]);
    if (up === true) {
      const tcti = `swtpm:host=127.0.0.1,port=${port}`;
      return { tcti, tpm: new Tpm(tcti), stateDir, stop: () => stopChild(child) };
    }
    if ((up as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error("swtpm is not installed: install Debian's swtpm and swtpm-tools (scripts/setup.sh does)");
    stopChild(child).catch(() => undefined);
    if (!/address already in use/i.test(String((up as Error).message))) throw up;
  }
  throw new Error("swtpm could not find free ports");
}

async function waitListening(port: number): Promise<true> {
  for (let i = 0; i < 200; i++) {
    if (await listening(port)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`swtpm did not listen on port ${port}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
