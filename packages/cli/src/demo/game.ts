/**
 * The example program, The Lighthouse Quest (examples/quest), run as its own process the way a
 * user runs a program: it finds the wallet through PEAGE_WALLET_FILE, verifies the catalog
 * against the trusted root, and plays its scripted moves (--auto) while the merchant SDK asks to
 * be paid at launch, for each period of play and when a new level starts.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { WALLET_FILE_ENV } from "@peage/wallet";
import { CommandError } from "../errors.js";

/** packages/cli/dist/src/demo/ → the repository's examples/quest/. */
const questDir = new URL("../../../../../examples/quest/", import.meta.url);

export const QuestFiles = {
  main: fileURLToPath(new URL("dist/src/main.js", questDir)),
  offers: fileURLToPath(new URL("offers.json", questDir)),
} as const;

/** The example's exit statuses (examples/quest/src/main.ts). */
export const QuestExit = { played: 0, failed: 1, notPaid: 2, noWallet: 3, unpaidTime: 4, usage: 64 } as const;

export interface QuestOptions {
  readonly catalog: string;
  readonly trustRoots: string;
  readonly endpointFile: string;
  readonly moveDelayMs: number;
  readonly timeoutSeconds: number;
  /** Each line the program prints (stdout and stderr). */
  readonly onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** Aborting stops the program (SIGTERM). */
  readonly signal: AbortSignal;
}

export interface QuestRun {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** From its last line: "2 level(s) completed, 6 riddle(s) solved (locked)." */
  readonly levelsCompleted?: number;
  readonly riddlesSolved?: number;
  readonly ending?: string;
}

/** Fails early, with what to do, when the example is not built. */
export function checkQuestBuilt(): void {
  for (const path of [QuestFiles.main, QuestFiles.offers]) {
    if (!existsSync(path))
      throw new CommandError(
        "ERR_NOT_FOUND",
        `the example program is missing (${path}): build it with \`npx tsc -b examples/quest\` (or \`npm run build\`)`,
      );
  }
}

export function runQuest(options: QuestOptions): Promise<QuestRun> {
  const args = [
    QuestFiles.main,
    "--catalog",
    options.catalog,
    "--trust",
    options.trustRoots,
    "--auto",
    "--move-delay-ms",
    String(options.moveDelayMs),
    "--timeout-seconds",
    String(options.timeoutSeconds),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, [WALLET_FILE_ENV]: options.endpointFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let summary: Pick<QuestRun, "levelsCompleted" | "riddlesSolved" | "ending"> = {};
    const follow = (readable: NodeJS.ReadableStream, stream: "stdout" | "stderr") => {
      let rest = "";
      readable.on("data", (chunk: Buffer) => {
        rest += chunk.toString("utf8");
        const parts = rest.split("\n");
        rest = parts.pop() ?? "";
        for (const line of parts) emit(line, stream);
      });
      readable.on("end", () => {
        if (rest !== "") emit(rest, stream);
      });
    };
    const emit = (line: string, stream: "stdout" | "stderr") => {
      const match = /^(\d+) level\(s\) completed, (\d+) riddle\(s\) solved \((\w+)\)\.$/.exec(line);
      if (match) summary = { levelsCompleted: Number(match[1]), riddlesSolved: Number(match[2]), ending: match[3]! };
      options.onLine(line, stream);
    };
    follow(child.stdout, "stdout");
    follow(child.stderr, "stderr");
    const stop = () => child.kill("SIGTERM");
    options.signal.addEventListener("abort", stop, { once: true });
    if (options.signal.aborted) stop();
    child.on("error", (error) => {
      options.signal.removeEventListener("abort", stop);
      reject(new CommandError("ERR_PROGRAM", `the example program could not be started: ${error.message}`));
    });
    child.on("close", (exitCode, signal) => {
      options.signal.removeEventListener("abort", stop);
      resolve({ exitCode, signal, ...summary });
    });
  });
}
