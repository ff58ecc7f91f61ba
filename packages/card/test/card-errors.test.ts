/** Card errors carry a code, a refusal's code coming from its status word (docs/card.md, "Status words"). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PeageError } from "@peage/protocol";
import { CardError, CardErrorCodes, CardMemoryError, CardProtocolError, CardRefusalCodes, SW, TlvError } from "../src/index.js";
import { decodeTlvs } from "../src/tlv.js";
import { parseResponse, refusalCodeOf } from "../src/iso7816.js";

test("each status word the card answers has its refusal code", () => {
  const expected: [number, string][] = [
    [0x63c2, "ERR_CARD_WRONG_PIN"],
    [0x63c0, "ERR_CARD_WRONG_PIN"],
    [SW.AUTHENTICATION_BLOCKED, "ERR_CARD_PIN_BLOCKED"],
    [SW.SECURITY_STATUS_NOT_SATISFIED, "ERR_CARD_PIN_REQUIRED"],
    [SW.CONDITIONS_NOT_SATISFIED, "ERR_CARD_CONDITIONS"],
    [SW.NOT_ENOUGH_MEMORY, "ERR_CARD_LOG_FULL"],
    [SW.WRONG_DATA, "ERR_CARD_WRONG_DATA"],
    [SW.RECORD_NOT_FOUND, "ERR_CARD_NOT_FOUND"],
    [SW.MEMORY_FAILURE, "ERR_CARD_MEMORY_FAILURE"],
    [SW.INS_NOT_SUPPORTED, "ERR_CARD_UNSUPPORTED"],
    [SW.WRONG_LENGTH, "ERR_CARD_UNSUPPORTED"],
    [SW.NO_DIAGNOSIS, "ERR_CARD_REFUSED"],
    [0x1234, "ERR_CARD_REFUSED"],
  ];
  for (const [sw, code] of expected) {
    assert.equal(refusalCodeOf(sw), code, sw.toString(16));
    const error = new CardError(sw, "PAY");
    assert.equal(error.code, code);
    assert.equal(error.sw, sw);
    assert.ok(error instanceof PeageError);
  }
  assert.equal(new CardError(0x63c2, "VERIFY").triesLeft, 2);
});

test("every card error is a PeageError with a code of the card's union", () => {
  const errors: PeageError[] = [
    new CardMemoryError("torn"),
    new CardProtocolError("short"),
    new CardError(SW.WRONG_DATA, "PAY"),
    new TlvError("bad"),
  ];
  assert.throws(
    () => parseResponse(Uint8Array.of(0x90)),
    (error: unknown) => {
      errors.push(error as PeageError);
      return error instanceof CardProtocolError && error.code === "ERR_CARD_PROTOCOL";
    },
  );
  assert.throws(
    () => decodeTlvs(Uint8Array.of(0x80, 0x05, 0x01)),
    (error: unknown) => {
      errors.push(error as PeageError);
      return error instanceof TlvError && error.code === "ERR_TLV";
    },
  );
  for (const error of errors) {
    assert.ok(error instanceof PeageError, error.name);
    assert.ok((CardErrorCodes as readonly string[]).includes(error.code), error.code);
  }
  for (const code of CardRefusalCodes) assert.ok((CardErrorCodes as readonly string[]).includes(code));
});
