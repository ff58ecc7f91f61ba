/**
 * The ISO/IEC 7816-4 layer alone: APDU encoding in all seven cases, strict BER-TLV, the ATR, and
 * the terminal's command chaining and GET RESPONSE loop against a card that answers in pieces.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CardClient, SW, TlvError, type CommandApdu } from "../src/index.js";
import { Cla, encodeCommand, encodeResponse, fromHex, hex, Ins, parseCommand, parseResponse, PEAGE_ATR } from "../src/iso7816.js";
import { decodeExactly, decodeTlvs, encodeTlv, readUint, uintBytes } from "../src/tlv.js";

describe("APDUs (ISO/IEC 7816-4 §5.1)", () => {
  it("parses the short cases 1, 2S, 3S, 4S and the extended 2E, 3E, 4E", () => {
    const header = { cla: 0x80, ins: 0x50, p1: 1, p2: 2 };
    assert.deepEqual(parseCommand(fromHex("80500102")), { ok: true, command: { ...header, data: new Uint8Array(0), ne: 0 } });
    assert.deepEqual(parseCommand(fromHex("8050010200")), { ok: true, command: { ...header, data: new Uint8Array(0), ne: 256 } });
    assert.deepEqual(parseCommand(fromHex("805001020201AB")), { ok: true, command: { ...header, data: fromHex("01AB"), ne: 0 } });
    assert.deepEqual(parseCommand(fromHex("805001020201AB10")), {
      ok: true,
      command: { ...header, data: fromHex("01AB"), ne: 16 },
    });
    assert.deepEqual(parseCommand(fromHex("80500102000000")), {
      ok: true,
      command: { ...header, data: new Uint8Array(0), ne: 65536 },
    });
    assert.deepEqual(parseCommand(fromHex("8050010200000201AB")), {
      ok: true,
      command: { ...header, data: fromHex("01AB"), ne: 0 },
    });
    assert.deepEqual(parseCommand(fromHex("8050010200000201AB0100")), {
      ok: true,
      command: { ...header, data: fromHex("01AB"), ne: 256 },
    });
  });

  it("refuses inconsistent lengths with 6700", () => {
    for (const bad of [
      "805001",
      "805001020301AB",
      "805001020201AB1011",
      "805001020000",
      "8050010200000001",
      "8050010200000301AB",
    ]) {
      assert.deepEqual(parseCommand(fromHex(bad)), { ok: false, sw: SW.WRONG_LENGTH }, bad);
    }
  });

  it("encode then parse is the identity, short or extended (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          cla: fc.integer({ min: 0, max: 0xfe }),
          ins: fc.integer({ min: 0, max: 0xff }),
          p1: fc.integer({ min: 0, max: 0xff }),
          p2: fc.integer({ min: 0, max: 0xff }),
          data: fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.uint8Array({ minLength: 250, maxLength: 70_000 }).map((d) => d.subarray(0, 65535)),
          ),
          ne: fc.oneof(fc.integer({ min: 0, max: 256 }), fc.integer({ min: 0, max: 65536 })),
        }),
        (command: CommandApdu) => {
          const parsed = parseCommand(encodeCommand(command));
          assert.ok(parsed.ok);
          assert.deepEqual({ ...parsed.command, data: [...parsed.command.data] }, { ...command, data: [...command.data] });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("short encoding whenever it fits", () => {
    assert.equal(
      hex(encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: fromHex("F0504541474501"), ne: 256 })),
      "00A4040007F050454147450100",
    );
    assert.equal(encodeCommand({ cla: 0, ins: 0xca, p1: 0, p2: 0, data: new Uint8Array(256), ne: 0 })[4], 0);
  });

  it("responses: data then SW1-SW2", () => {
    assert.deepEqual(parseResponse(encodeResponse(fromHex("0102"), 0x6283)), { data: fromHex("0102"), sw: 0x6283 });
    assert.throws(() => parseResponse(fromHex("90")));
  });

  it("the ATR offers T=0 and T=1, carries the AID in its historical bytes, and its TCK checks", () => {
    assert.equal(hex(PEAGE_ATR), "3B89800180F7F0504541474501D8");
    assert.equal(
      PEAGE_ATR.subarray(1).reduce((x, b) => x ^ b, 0),
      0,
    );
  });
});

describe("BER-TLV (ISO/IEC 7816-4 §5.2.2)", () => {
  it("round-trips one- and two-byte tags and all three length forms (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            tag: fc.oneof(
              fc.integer({ min: 0xc0, max: 0xde }),
              fc.integer({ min: 0x1f, max: 0x7f }).map((n) => 0xdf00 | n),
            ),
            value: fc.uint8Array({ maxLength: 700 }),
          }),
          { maxLength: 5 },
        ),
        (objects) => {
          const bytes = Buffer.concat(objects.map((o) => encodeTlv(o.tag, o.value)));
          assert.deepEqual(
            decodeTlvs(bytes).map((o) => [o.tag, [...o.value]]),
            objects.map((o) => [o.tag, [...o.value]]),
          );
        },
      ),
    );
  });

  it("refuses truncated objects, non-minimal lengths, indefinite lengths, and unexpected or repeated tags", () => {
    for (const bad of ["C1", "C102AA", "C18101AA", "C1820001AA", "C180", "C183000001AA", "DF"]) {
      assert.throws(() => decodeTlvs(fromHex(bad)), TlvError, bad);
    }
    assert.throws(() => decodeExactly(fromHex("C101AAC101BB"), [0xc1]), /twice/);
    assert.throws(() => decodeExactly(fromHex("C101AA"), [0xc1, 0xc2]), /missing/);
    assert.throws(() => decodeExactly(fromHex("C301AA"), [0xc1]), /unexpected/);
    assert.throws(() => encodeTlv(0x1f, new Uint8Array(0)), TlvError);
  });

  it("unsigned integers, big-endian, bounded", () => {
    assert.equal(hex(uintBytes(0x01020304, 4)), "01020304");
    assert.equal(readUint(uintBytes(Number.MAX_SAFE_INTEGER, 8)), Number.MAX_SAFE_INTEGER);
    assert.throws(() => uintBytes(256, 1), RangeError);
    assert.throws(() => readUint(fromHex("0020000000000000")), TlvError);
  });
});

/**
 * A card that takes any amount of chained data for INS 50 and answers a response of a chosen
 * length, 61XX by 61XX, fetched with GET RESPONSE — as a card with a small I/O buffer would.
 */
function piecewiseCard(
  responseLength: number,
  chunk: number,
): { transmit(apdu: Uint8Array): Promise<Uint8Array>; received: () => Uint8Array; apdus: () => number } {
  let parts: Uint8Array[] = [];
  let received = new Uint8Array(0);
  let pending: Uint8Array | undefined;
  let apdus = 0;
  return {
    received: () => received,
    apdus: () => apdus,
    async transmit(bytes) {
      apdus++;
      const parsed = parseCommand(bytes);
      assert.ok(parsed.ok);
      const c = parsed.command;
      assert.ok(c.data.length <= 255, "short APDUs only");
      const send = (data: Uint8Array, ne: number): Uint8Array => {
        const n = Math.min(ne, chunk, data.length);
        const rest = data.subarray(n);
        pending = rest.length > 0 ? rest : undefined;
        return encodeResponse(
          data.subarray(0, n),
          rest.length > 0 ? SW.MORE_DATA | (rest.length > 0xff ? 0 : rest.length) : SW.OK,
        );
      };
      if (c.ins === Ins.getResponse) {
        assert.ok(pending);
        return send(pending, c.ne);
      }
      parts.push(c.data);
      if (c.cla & Cla.chaining) return encodeResponse(new Uint8Array(0), SW.OK);
      received = Uint8Array.from(Buffer.concat(parts));
      parts = [];
      return send(
        Uint8Array.from({ length: responseLength }, (_, i) => i & 0xff),
        c.ne,
      );
    },
  };
}

describe("the terminal's chaining and GET RESPONSE loop", () => {
  it("sends any length of data in 255-byte links and gathers any length of response (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 8, max: 256 }),
        async (data, responseLength, chunk) => {
          const card = piecewiseCard(responseLength, chunk);
          const answer = await new CardClient(card).exchange({ cla: Cla.proprietary, ins: Ins.pay, data, expectData: true });
          assert.equal(answer.sw, SW.OK);
          assert.deepEqual([...card.received()], [...data]);
          assert.deepEqual(
            [...answer.data],
            Array.from({ length: responseLength }, (_, i) => i & 0xff),
          );
          const links = Math.max(1, Math.ceil(data.length / 255));
          assert.ok(card.apdus() >= links);
        },
      ),
      { numRuns: 100 },
    );
  });
});
