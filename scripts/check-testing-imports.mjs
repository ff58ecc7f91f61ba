#!/usr/bin/env node
/**
 * Production code never imports test helpers: no file under packages/<name>/src, outside the
 * package's own testing module (src/testing.ts or src/testing/), may import a `@peage/<name>/testing`
 * export or reach a testing module by a relative path. Test helpers start fake services and hold
 * demo secrets; shipping code that loads them would run them in front of users.
 *
 * Usage: node scripts/check-testing-imports.mjs [ROOT]   (exit 1 and one line per import found)
 *        node scripts/check-testing-imports.mjs --self-test   (checks that the check finds them)
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const specifierPattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\1/g;

/** Whether a path (relative to a package's src/) is inside the package's testing module. */
function isTestingPath(pathInSrc) {
  const parts = pathInSrc.split(sep);
  return parts[0] === "testing" || /^testing\.(ts|js|d\.ts)$/.test(parts[0] ?? "");
}

function sourceFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

/** Every import of a testing module by production code under `root`, as "file:line: specifier". */
export function findTestingImports(root) {
  const problems = [];
  const packages = join(root, "packages");
  for (const pkg of readdirSync(packages, { withFileTypes: true })) {
    const src = join(packages, pkg.name, "src");
    if (!pkg.isDirectory()) continue;
    let files;
    try {
      files = sourceFiles(src);
    } catch {
      continue;
    }
    for (const file of files) {
      if (isTestingPath(relative(src, file))) continue;
      const lines = readFileSync(file, "utf8").split("\n");
      lines.forEach((line, index) => {
        for (const match of line.matchAll(specifierPattern)) {
          const specifier = match[2];
          const packageTesting = /^@peage\/[^/]+\/testing(\/|$)/.test(specifier);
          const relativeTesting = specifier.startsWith(".") && isTestingPath(relative(src, resolve(dirname(file), specifier)));
          if (packageTesting || relativeTesting) problems.push(`${relative(root, file)}:${index + 1}: imports ${specifier}`);
        }
      });
    }
  }
  return problems;
}

function selfTest() {
  const root = mkdtempSync(join(tmpdir(), "peage-testing-imports-"));
  try {
    const write = (path, text) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write("packages/a/src/index.ts", 'export { x } from "./x.js";\n');
    write("packages/a/src/x.ts", 'import { y } from "@peage/b";\nexport const x = y;\n');
    write("packages/a/src/testing/index.ts", 'export { z } from "@peage/b/testing";\n');
    write("packages/a/src/testing.ts", 'import "./testing/index.js";\n');
    if (findTestingImports(root).length !== 0) throw new Error("self-test: flagged code that imports no test helper");
    write("packages/a/src/demo.ts", 'const t = await import("@peage/b/testing");\n');
    write(
      "packages/a/src/cli/run.ts",
      'import { startSwtpm } from "../testing.js";\nexport * from "@peage/c/testing/browser";\n',
    );
    const found = findTestingImports(root).sort();
    const expected = [
      `packages${sep}a${sep}src${sep}cli${sep}run.ts:1: imports ../testing.js`,
      `packages${sep}a${sep}src${sep}cli${sep}run.ts:2: imports @peage/c/testing/browser`,
      `packages${sep}a${sep}src${sep}demo.ts:1: imports @peage/b/testing`,
    ];
    if (JSON.stringify(found) !== JSON.stringify(expected))
      throw new Error(`self-test: expected ${JSON.stringify(expected)}, found ${JSON.stringify(found)}`);
    console.log("check-testing-imports: self-test passed");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === "--self-test") {
    selfTest();
  } else {
    const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
    const problems = findTestingImports(root);
    for (const problem of problems) console.error(problem);
    if (problems.length > 0) {
      console.error(
        "check-testing-imports: production code imports test helpers; export what it needs from a non-testing module instead",
      );
      process.exit(1);
    }
    console.log("check-testing-imports: no production code imports a testing module");
  }
}
