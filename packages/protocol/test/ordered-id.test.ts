/**
 * Time-ordered ids (nonce.ts, newOrderedId: the server's payment ids), so that the payments of one
 * commit share index pages: the form stays that of every id (a prefix and 22 base64url characters), the time can
 * be read back from the first 6 bytes, and the 10 bytes after it are random.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newOrderedId as orderedId } from "../src/index.js";

const timeOf = (id: string) => Buffer.from(id.slice(id.indexOf("_") + 1), "base64url").readUIntBE(0, 6);
const randomOf = (id: string) =>
  Buffer.from(id.slice(id.indexOf("_") + 1), "base64url")
    .subarray(6)
    .toString("hex");

describe("ordered ids", () => {
  it("keep the form of the other ids and carry the time they were made at", () => {
    const at = Date.parse("2026-03-02T10:00:00.123Z");
    const id = orderedId("pay", at);
    assert.match(id, /^pay_[A-Za-z0-9_-]{22}$/);
    assert.equal(timeOf(id), at);
    assert.equal(timeOf(orderedId("pay", Date.parse("9999-12-31T23:59:59.999Z"))), Date.parse("9999-12-31T23:59:59.999Z"));
    const now = Date.now();
    const made = timeOf(orderedId("pay"));
    assert.ok(made >= now && made <= Date.now());
  });

  it("differ within one millisecond by 80 random bits, and share their first characters with the ids made near them", () => {
    const at = Date.parse("2026-03-02T10:00:00.000Z");
    const ids = Array.from({ length: 1000 }, () => orderedId("pay", at));
    assert.equal(new Set(ids).size, 1000);
    assert.equal(new Set(ids.map(randomOf)).size, 1000);
    assert.ok(ids.every((id) => id.slice(0, 12) === ids[0]!.slice(0, 12)));
    // A minute later the id still shares its first characters: rows written close in time sit close in an index.
    assert.equal(orderedId("pay", at + 60_000).slice(0, 9), ids[0]!.slice(0, 9));
    assert.notEqual(orderedId("pay", at + 1).slice(0, 12), ids[0]!.slice(0, 12));
  });
});
