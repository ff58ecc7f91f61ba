import { createTestWorld } from "@peage/wallet/testing";
import { readDrafts } from "/work/main/examples/quest/dist/src/index.js";
import { spawnSync } from "node:child_process";
const drafts = (await readDrafts("/work/main/examples/quest/offers.json")).map((d) => (d.grant.kind === "period" ? { ...d, grant: { kind: "period", seconds: 1 } } : d));
const world = await createTestWorld({ drafts });
const r = spawnSync(process.execPath, ["/work/main/examples/quest/dist/src/main.js", "--catalog", world.catalogFile, "--trust", world.rootsPemFile, "--auto", "--move-delay-ms", "150", "--wallet-file", world.endpointFile], { encoding: "utf8" });
console.log(r.stdout, r.stderr, r.status);
await world.close();
