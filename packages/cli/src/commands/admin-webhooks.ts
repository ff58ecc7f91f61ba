/**
 * `peage admin publisher-key` and `peage admin webhook-add | webhooks | webhook-remove`: the
 * operator gives a publisher its own API key (for `peage publisher …`), and registers the
 * endpoints the server sends signed events to (docs/webhooks.md).
 */
import type { Options, OptionSpec } from "../args.js";
import type { Command } from "../command.js";
import { print } from "../output.js";
import { command, publisherOption, publisherPath } from "./admin.js";

const EVENTS = ["payment.succeeded", "payment.refunded", "payout.scheduled"];

const publisherKey = command({
  name: "publisher-key",
  title: "create a publisher's own API key",
  summary:
    "Create an API key bound to one publisher: it reads that publisher's sales, earnings and payouts (peage publisher …) " +
    "and nothing else. Its secret is printed once; give it to the publisher. List, revoke and rotate it with the other keys.",
  synopsis: "--publisher URN --label TEXT",
  options: { publisher: publisherOption, label: { type: "string", value: "TEXT", description: "what the key is for" } },
  request: async (o) => ({ method: "POST", path: `${publisherPath(o)}/api-keys`, body: { label: o.required("label", "TEXT") } }),
  show: (answer) => {
    const key = answer as { id: string; publisher: string; secret: string };
    print(`${key.id}  ${key.publisher}`);
    print(`secret (shown once, for the publisher to keep in a file only it can read): ${key.secret}`);
  },
});

interface Endpoint {
  id: string;
  url: string;
  publisher?: string;
  events: string[];
  label: string;
  secret?: string;
}

const showEndpoint = (e: Endpoint) =>
  print(`${e.id}  ${e.url}  ${e.publisher ?? "every publisher"}  ${e.events.join(" ")}  ${e.label}`);

const webhookAdd = command({
  name: "webhook-add",
  title: "register a webhook endpoint",
  summary:
    "Register a URL the server POSTs signed events to (https://, or http:// to this machine). Without --publisher it " +
    "receives every publisher's events; with it, that publisher's only. The signing secret is printed once: the receiver " +
    "verifies each delivery with it (verifyWebhook in @peage/merchant).",
  synopsis: "--url URL --label TEXT [--event TYPE...] [--publisher URN]",
  options: {
    url: { type: "string", value: "URL", description: "where deliveries are POSTed" },
    label: { type: "string", value: "TEXT", description: "what the endpoint is for" },
    event: { type: "string", multiple: true, value: "TYPE", description: `${EVENTS.join(", ")} (default: all)` },
    publisher: { ...publisherOption, description: "only this publisher's events, urn:peage:publisher:…" } as OptionSpec,
  },
  async request(o: Options) {
    const events = o.strings("event");
    const unknown = events.filter((event) => !EVENTS.includes(event));
    if (unknown.length > 0) throw o.usage(`--event ${unknown.join(", ")}: expected ${EVENTS.join(", ")}`);
    const publisher = o.string("publisher");
    if (publisher !== undefined && !/^urn:peage:publisher:[A-Za-z0-9._~-]{1,64}$/.test(publisher))
      throw o.usage(`--publisher ${publisher}: expected urn:peage:publisher:NAME`);
    return {
      method: "POST",
      path: "/v1/admin/webhooks",
      body: {
        url: o.required("url", "URL"),
        label: o.required("label", "TEXT"),
        ...(events.length > 0 ? { events } : {}),
        ...(publisher === undefined ? {} : { publisher }),
      },
    };
  },
  show: (answer) => {
    showEndpoint(answer as Endpoint);
    print(`signing secret (shown once, for the receiver): ${(answer as Endpoint).secret}`);
  },
});

const webhooks = command({
  name: "webhooks",
  title: "list the webhook endpoints",
  summary: "List the webhook endpoints (never their secrets) and how many deliveries are pending and done.",
  synopsis: "",
  options: {},
  request: async () => ({ method: "GET", path: "/v1/admin/webhooks" }),
  show: (answer) => {
    const list = answer as { endpoints: Endpoint[]; deliveries: { pending: number; delivered: number } };
    list.endpoints.forEach(showEndpoint);
    print(`deliveries: ${list.deliveries.pending} pending, ${list.deliveries.delivered} delivered`);
  },
});

const webhookRemove = command({
  name: "webhook-remove",
  title: "remove a webhook endpoint",
  summary: "Remove a webhook endpoint: nothing more is sent to it, including the deliveries still pending.",
  synopsis: "--id ENDPOINT-ID",
  options: {
    id: { type: "string", value: "ENDPOINT-ID", description: "the endpoint's id, whe_… (peage admin webhooks lists them)" },
  },
  async request(o) {
    const id = o.required("id", "ENDPOINT-ID");
    if (!/^whe_[A-Za-z0-9_-]{1,64}$/.test(id))
      throw o.usage(`--id ${id}: expected an endpoint id, whe_… (peage admin webhooks lists them)`);
    return { method: "DELETE", path: `/v1/admin/webhooks/${id}` };
  },
  show: (answer) => print(`${(answer as { id: string }).id} removed`),
});

/** Added to the `admin` group (cli.ts). */
export const selfServiceAdmin: readonly Command[] = [publisherKey, webhookAdd, webhooks, webhookRemove];
