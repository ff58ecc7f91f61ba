/**
 * CPU time that processes spent, read from /proc (Linux), so that a benchmark can say what each
 * side of a workload costs per operation (the server's processes, the database's, the load
 * generator) from its own run, rather than assume it. Reaped children count with their parent
 * (cutime, cstime): a database's backends that ended, a pgbench that exited.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times (USER_HZ). */
const TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime, stime, cutime, cstime of a process, in seconds; undefined once it is gone. */
function times(pid: number): { own: number; reaped: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const at = (field: number) => Number(fields[field - 3]);
    return { own: (at(14) + at(15)) / TICKS, reaped: (at(16) + at(17)) / TICKS };
  } catch {
    return undefined;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of one process alone, without its children. */
export function ownCpuSeconds(pid: number): number {
  return times(pid)?.own ?? 0;
}

/** CPU seconds of a process and all its descendants, living and reaped. */
export function treeCpuSeconds(root: number): number {
  const top = times(root);
  if (!top) return 0;
  let total = top.own + top.reaped;
  const stack = children(root);
  for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
    total += times(pid)?.own ?? 0;
    stack.push(...children(pid));
  }
  return total;
}

/** This process's CPU seconds, and its reaped children's (a pgbench it ran and waited for). */
export function selfCpuSeconds(): { own: number; reaped: number } {
  const usage = process.cpuUsage();
  return { own: (usage.user + usage.system) / 1e6, reaped: times(process.pid)?.reaped ?? 0 };
}
