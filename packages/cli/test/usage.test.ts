/**
 * The command line itself: help for every command, and exit status 2 with a message naming the
 * problem (and nothing on stdout) for every kind of usage mistake.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { assertSuccess, assertUsage, peage, tempDir } from "./helpers/cli.js";

const commands = [
  "pki init",
  "pki issue",
  "pki revoke",
  "pki crl",
  "pki csr",
  "catalog sign",
  "inspect",
  "server",
  "wallet",
  "wallet init",
  "wallet history",
  "wallet balance",
  "wallet statement",
  "wallet rules",
  "wallet open",
  "demo",
  "ledger verify",
  "fx import",
  "settle",
  "card issue",
  "card emulate",
  "card status",
  "card sync",
];

describe("peage usage", () => {
  let work: string;
  before(() => {
    work = tempDir();
  });

  it("lists every command in `peage help` and prints a command's options with --help", async () => {
    const [overview, help, group] = await Promise.all([
      peage(["help"], work),
      peage(["pki", "issue", "--help"], work),
      peage(["help", "pki"], work),
    ]);
    assertSuccess(overview);
    for (const command of commands) assert.match(overview.stdout, new RegExp(`^  ${command} `, "m"), command);
    const helps = await Promise.all(commands.map((command) => peage([...command.split(" "), "--help"], work)));
    for (const [i, each] of helps.entries())
      assert.match(assertSuccess(each).stdout, new RegExp(`^usage: peage ${commands[i]}`), commands[i]);
    assert.match(
      assertSuccess(help).stdout,
      /^usage: peage pki issue --ca-cert FILE --ca-key FILE \(--csr FILE \| --new-key OUT.key/,
    );
    assert.match(help.stdout, /^  --identity URN +the holder/m);
    assert.match(help.stdout, /^  --help +print this help and exit$/m);
    assert.match(assertSuccess(group).stdout, /^  pki revoke +--ca-cert FILE/m);
  });

  it("exits 2 with a precise message and nothing on stdout for each kind of usage mistake", async () => {
    // The option checks themselves are unit-tested in args.test.ts; these show they reach the exit status.
    const cases: [string[], RegExp][] = [
      [["refund"], /unknown command "refund"/],
      [["pki", "destroy"], /unknown subcommand "destroy"/],
      [["pki", "init", "--dir", "x", "--colour"], /peage pki init: unknown option --colour/],
      [["pki", "init", "--dir", "x", "--alg", "RS256"], /--alg must be one of ES256, EdDSA, not "RS256"/],
      [
        ["pki", "crl", "--ca-cert", "missing.crt", "--ca-key", "missing.key", "--out", "x.crl"],
        /--ca-cert missing.crt: no such file or directory/,
      ],
    ];
    const runs = await Promise.all([peage([], work), ...cases.map(([args]) => peage(args, work))]);
    const [bare, ...rest] = runs;
    // No command at all: the overview, on stderr, and status 2.
    assert.equal(bare!.code, 2);
    assert.match(bare!.stderr, /^usage: peage COMMAND/m);
    assert.equal(bare!.stdout, "");
    rest.forEach((run, index) => assertUsage(run, cases[index]![1]));
  });
});
