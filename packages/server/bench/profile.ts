/**
 * Reads a V8 CPU profile (node:inspector's Profiler.stop, the .cpuprofile format) into "where the
 * time goes": each sample is charged to the innermost frame on its stack that belongs to a known
 * part of the server (the signature calls, the store, the protocol code, the HTTP framework…), so
 * that the time of a native call lands in the part that made it. Used by the benchmarks to print
 * the table from the profile of their own run.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

const FRAMEWORK =
  /[/\\]node_modules[/\\](fastify|@fastify|find-my-way|avvio|pino|fast-json-stringify|secure-json-parse|light-my-request)/;

/** The parts, tried on each frame from the innermost outwards; the first that matches takes the sample. */
const PARTS: readonly (readonly [string, (frame: CallFrame) => boolean])[] = [
  ["node:crypto sign and verify (ECDSA P-256)", (f) => f.url.startsWith("node:internal/crypto/sig")],
  ["other node:crypto (hashes, keys, random)", (f) => f.url.startsWith("node:internal/crypto/") || f.url === "node:crypto"],
  [
    "store: SQL statements, transaction, commit (fsync)",
    (f) => /better-sqlite3|[/\\]node_modules[/\\]pg|[/\\]dist[/\\]src[/\\]store[/\\]/.test(f.url),
  ],
  [
    "protocol: JWS framing, RFC 8785, schema and claim checks",
    (f) => /[/\\]protocol[/\\]dist[/\\]|@sinclair[/\\]typebox/.test(f.url),
  ],
  ["server: payment logic, routes, rates", (f) => /[/\\]server[/\\]dist[/\\]src[/\\]/.test(f.url)],
  ["HTTP framework: fastify, routing, JSON, logs", (f) => FRAMEWORK.test(f.url)],
  [
    "Node HTTP, streams and sockets",
    (f) => /^node:(_http|http|net|stream|internal[/](http|streams|stream_base|net))/.test(f.url),
  ],
  ["garbage collection", (f) => f.functionName === "(garbage collector)"],
  ["idle (waiting for requests or the disk)", (f) => f.functionName === "(idle)"],
];
const OTHER = "other (V8, event loop, unattributed)";

export interface ProfileRow {
  readonly part: string;
  readonly ms: number;
  readonly share: number;
}

/** Time per part over the whole profile, largest first, idle included (its share says how busy the process was). */
export function whereTheTimeGoes(profile: CpuProfile): ProfileRow[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const partOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = partOf.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const own = PARTS.find(([, matches]) => matches(node.callFrame))?.[0];
    const up = parent.get(id);
    const part = own ?? (up === undefined ? OTHER : classify(up));
    partOf.set(id, part);
    return part;
  };
  const totals = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
  for (let i = 0; i < samples.length; i++) {
    const us = deltas[i + 1] ?? (profile.endTime - profile.startTime) / Math.max(1, samples.length);
    const part = classify(samples[i]!);
    totals.set(part, (totals.get(part) ?? 0) + Math.max(0, us));
  }
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals.entries()]
    .map(([part, us]) => ({ part, ms: us / 1000, share: all === 0 ? 0 : us / all }))
    .sort((a, b) => b.ms - a.ms);
}
