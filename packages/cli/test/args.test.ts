/**
 * The option parsing every command shares, in-process: what is a usage error and what its
 * message says. (usage.test.ts checks that these errors reach exit status 2.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Options, parseCommand, usageOf, type CommandSpec } from "../src/args.js";
import { UsageError, describeFailure, CommandError, InvalidError } from "../src/errors.js";
import { parseSubject } from "../src/load.js";
import { printable } from "../src/output.js";
import { parseIdentity, parseInstant, parseRoles } from "../src/values.js";
import { VerificationError } from "@peage/protocol";

const spec: CommandSpec = {
  name: "test run",
  title: "a command for the tests",
  summary: "A command for the tests.",
  synopsis: "[--count N] [--mode a|b] [--json] FILE",
  positionals: ["FILE"],
  options: {
    count: { type: "string", value: "N", description: "how many" },
    mode: { type: "string", value: "a|b", description: "which mode" },
    from: { type: "string", value: "FILE", description: "one source" },
    to: { type: "string", value: "FILE", description: "another source" },
    extra: { type: "string", value: "X", multiple: true, description: "repeatable" },
    json: { type: "boolean", description: "JSON output" },
  },
};

const options = (...argv: string[]) => Options.of(spec, parseCommand(spec, argv));

function usage(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof UsageError, `a UsageError, got ${String(error)}`);
    assert.match(error.message, /^peage test run: /);
    assert.match(error.message, message);
    return true;
  });
}

describe("parseCommand", () => {
  it("parses options, positionals and --help", () => {
    const parsed = parseCommand(spec, ["file.json", "--count", "3", "--json", "--extra", "a", "--extra", "b"]);
    assert.equal(parsed.help, false);
    assert.deepEqual(parsed.positionals, ["file.json"]);
    const o = Options.of(spec, parsed);
    assert.equal(o.integer("count", 1, 10), 3);
    assert.equal(o.flag("json"), true);
    assert.deepEqual(o.strings("extra"), ["a", "b"]);
    assert.equal(parseCommand(spec, ["--help", "--count", "x"]).help, true);
  });

  it("names the option in every parse error", () => {
    usage(() => parseCommand(spec, ["--colour"]), /unknown option --colour$/);
    usage(() => parseCommand(spec, ["--count"]), /option --count needs a value: --count N$/);
    usage(() => parseCommand(spec, ["--json=yes"]), /option --json takes no value$/);
    usage(
      () => parseCommand(spec, ["--count", "-1"]),
      /option --count needs a value: --count N \(write a value starting with "-" as --count=-VALUE\)$/,
    );
    usage(() => parseCommand(spec, ["a", "b"]), /unexpected argument "b"$/);
  });

  it("prints every option in the usage text", () => {
    const text = usageOf(spec);
    assert.match(text, /^usage: peage test run \[--count N\]/);
    for (const name of Object.keys(spec.options)) assert.match(text, new RegExp(`^  --${name}\\b`, "m"));
    assert.match(text, /--extra X +repeatable \(may be repeated\)/);
  });
});

describe("Options", () => {
  it("checks required values, integers and choices", () => {
    usage(() => options().required("from", "FILE"), /--from FILE is required$/);
    usage(() => options("--from", "").string("from"), /--from needs a non-empty value$/);
    usage(() => options().positional(0, "FILE"), /FILE is required$/);
    for (const bad of ["1.5", "-1", "1e3", "0x10", " 2", ""]) {
      usage(
        () => options(`--count=${bad}`).integer("count", 1, 10),
        bad === "" ? /non-empty/ : /--count must be a whole number from 1 to 10/,
      );
    }
    usage(() => options("--count", "11").integer("count", 1, 10), /--count must be from 1 to 10, not 11$/);
    assert.equal(options().integer("count", 1, 10, 7), 7);
    usage(() => options("--mode", "c").choice("mode", ["a", "b"]), /--mode must be one of a, b, not "c"$/);
    assert.equal(options("--mode", "b").choice("mode", ["a", "b"], "a"), "b");
  });

  it("checks options that go together or exclude each other", () => {
    usage(() => options().exactlyOne("from", "to"), /one of --from or --to is required$/);
    usage(() => options("--from", "a", "--to", "b").exactlyOne("from", "to"), /give only one of --from or --to$/);
    assert.equal(options("--to", "b").exactlyOne("from", "to"), "to");
    usage(() => options("--to", "b").onlyWith("to", "from"), /--to is only meaningful with --from$/);
    usage(() => options("--to", "b", "--from", "a").notWith("to", "from"), /--to cannot be used with --from$/);
  });
});

describe("Péage values", () => {
  const o = options();

  it("parses roles and names unknown ones", () => {
    assert.deepEqual(parseRoles(o, "role", "offer-signing"), ["offer-signing"]);
    assert.deepEqual(parseRoles(o, "role", "acknowledgment-signing, card-issuing,acknowledgment-signing"), [
      "acknowledgment-signing",
      "card-issuing",
    ]);
    usage(
      () => parseRoles(o, "role", "offer-signing,minting"),
      /unknown role "minting"; the roles are offer-signing, acknowledgment-signing, card-issuing, card-acknowledgment/,
    );
  });

  it("parses identities, of one kind when asked", () => {
    assert.equal(parseIdentity(o, "identity", "urn:peage:server:pay-eu"), "urn:peage:server:pay-eu");
    usage(
      () => parseIdentity(o, "publisher", "urn:peage:server:pay-eu", "publisher"),
      /is not a publisher identity: write urn:peage:publisher:NAME/,
    );
    for (const bad of [
      "acme",
      "urn:peage:publisher:Acme",
      "urn:peage:robot:x",
      "urn:peage:publisher:",
      `urn:peage:user:${"a".repeat(64)}`,
    ]) {
      usage(() => parseIdentity(o, "identity", bad), /is not a Péage identity/);
    }
  });

  it("parses instants strictly: real calendar dates, a zone with any time", () => {
    assert.equal(parseInstant(o, "at", "2026-03-01T12:00:00Z").toISOString(), "2026-03-01T12:00:00.000Z");
    assert.equal(parseInstant(o, "at", "2026-03-01T13:30:00.250+01:30").toISOString(), "2026-03-01T12:00:00.250Z");
    assert.equal(parseInstant(o, "at", "2028-02-29").toISOString(), "2028-02-29T00:00:00.000Z");
    for (const bad of [
      "2026-02-30T00:00:00Z",
      "2026-02-29",
      "2026-13-01",
      "2026-03-01T24:00:00Z",
      "2026-03-01T12:00:00",
      "tomorrow",
      "1772366400000",
    ]) {
      usage(() => parseInstant(o, "at", bad), /is not a date and time: write it as 2026-03-01T12:00:00Z/);
    }
  });

  it("parses distinguished names and refuses empty or unknown attributes", () => {
    assert.equal(parseSubject("CN=acme-games,O=Péage", "--subject").toString(), "CN=acme-games, O=Péage");
    for (const bad of ["", "garbage", "NOPE=x"]) {
      assert.throws(
        () => parseSubject(bad, "--subject"),
        (error: unknown) => error instanceof UsageError && /is not a distinguished name/.test(error.message),
      );
    }
  });
});

describe("failures", () => {
  it("map to exit status and one line, never a stack", () => {
    assert.deepEqual(describeFailure(new UsageError("peage x: bad")), { exitCode: 2, line: "peage x: bad" });
    assert.deepEqual(describeFailure(new CommandError("ERR_EXISTS", "it exists")), {
      exitCode: 1,
      line: "error: ERR_EXISTS: it exists",
    });
    const invalid = new VerificationError("ERR_REVOKED", "certificate is revoked");
    assert.deepEqual(describeFailure(new InvalidError(invalid)), {
      exitCode: 1,
      line: "invalid: ERR_REVOKED: certificate is revoked",
    });
    assert.deepEqual(describeFailure(invalid), { exitCode: 1, line: "invalid: ERR_REVOKED: certificate is revoked" });
    assert.deepEqual(describeFailure(new TypeError("boom")), { exitCode: 1, line: "error: ERR_INTERNAL: boom" });
  });

  it("print nothing a terminal would interpret", () => {
    // Code units from the control ranges through the bidirectional marks, the backslash and the rest of the BMP.
    const unit = fc.oneof(
      fc.integer({ min: 0, max: 0x2fff }),
      fc.constantFrom(0x1b, 0x5c, 0x9b, 0x202a, 0x202e, 0x2066, 0x2069),
      fc.integer({ min: 0, max: 0xffff }),
    );
    const text = fc.array(unit, { maxLength: 40 }).map((codes) => String.fromCharCode(...codes));
    fc.assert(
      fc.property(text, (text) => {
        const shown = printable(text);
        assert.doesNotMatch(shown, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
        // Nothing else is altered: undoing the escapes gives the text back when it had no backslash.
        if (!text.includes("\\"))
          assert.equal(
            shown.replace(/\\u([0-9a-f]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            text,
          );
      }),
    );
  });
});
