/**
 * Opening the user's browser on a link, with the platform's own opener: `open` on macOS,
 * the URL handler on Windows, `xdg-open` on a desktop session elsewhere. $PEAGE_BROWSER names
 * another program (it gets the link as its one argument). Returns undefined where no browser
 * can be opened (a server, an SSH session): the wallet then prints the link or asks on the terminal.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export const BROWSER_ENV = "PEAGE_BROWSER";

export function browserOpener(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): ((url: string) => void) | undefined {
  const chosen = env[BROWSER_ENV];
  if (chosen) return (url) => launch(chosen, [url]);
  if (platform === "darwin") return (url) => launch("open", [url]);
  if (platform === "win32") return (url) => launch("rundll32", ["url.dll,FileProtocolHandler", url]);
  const desktop = Boolean(env["DISPLAY"] || env["WAYLAND_DISPLAY"]);
  if (!desktop || !onPath("xdg-open", env)) return undefined;
  return (url) => launch("xdg-open", [url]);
}

function launch(program: string, args: string[]): void {
  const child = spawn(program, args, { detached: true, stdio: "ignore" });
  // A browser that cannot start is reported by the printed link staying unanswered, not by a crash.
  child.on("error", () => undefined);
  child.unref();
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env["PATH"] ?? "").split(delimiter)) {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
