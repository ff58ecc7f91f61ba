// Loaded into every test process by scripts/run-tests.mjs: fast-check properties without a seed of their own run
// with the seed of this run (PEAGE_FC_SEED), printed at the start, so any failure replays with the same inputs.
import fc from "fast-check";

const seed = Number(process.env.PEAGE_FC_SEED);
if (Number.isSafeInteger(seed)) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
