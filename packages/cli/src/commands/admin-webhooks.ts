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
  disabled?: { at: string; reason: string };
  previousSecretUntil?: string;
}

const showEndpoint = (e: Endpoint) => {
  print(`${e.id}  ${e.url}  ${e.publisher ?? "every publisher"}  ${e.events.join(" ")}  ${e.label}`);
  if (e.disabled) print(`  disabled ${e.disabled.at}: ${e.disabled.reason} (peage admin webhook-redeliver --id ${e.id})`);
  if (e.previousSecretUntil) print(`  the previous secret signs too until ${e.previousSecretUntil}`);
};

const endpointId: OptionSpec = {
  type: "string",
  value: "ENDPOINT-ID",
  description: "the endpoint's id, whe_… (peage admin webhooks lists them)",
};

function endpointPath(o: Options): string {
  const id = o.required("id", "ENDPOINT-ID");
  if (!/^whe_[A-Za-z0-9_-]{1,64}$/.test(id))
    throw o.usage(`--id ${id}: expected an endpoint id, whe_… (peage admin webhooks lists them)`);
  return `/v1/admin/webhooks/${id}`;
}

interface Failure {
  eventId: string;
  endpointId: string;
  attempts: number;
  lastError: string;
  failedAt: string;
}

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
  summary:
    "List the webhook endpoints (never their secrets; disabled ones with the reason), how many deliveries are pending, " +
    "delivered and given up, and the latest deliveries given up with their last error.",
  synopsis: "",
  options: {},
  request: async () => ({ method: "GET", path: "/v1/admin/webhooks" }),
  show: (answer) => {
    const list = answer as {
      endpoints: Endpoint[];
      deliveries: { pending: number; delivered: number; failed: number };
      failures: Failure[];
    };
    list.endpoints.forEach(showEndpoint);
    const { pending, delivered, failed } = list.deliveries;
    print(`deliveries: ${pending} pending, ${delivered} delivered, ${failed} given up`);
    for (const f of list.failures)
      print(`given up ${f.failedAt}  ${f.eventId} → ${f.endpointId} after ${f.attempts} attempts: ${f.lastError}`);
    if (list.failures.length > 0) print("send them again with peage admin webhook-redeliver --id ENDPOINT-ID [--event EVENT-ID]");
  },
});

const webhookRemove = command({
  name: "webhook-remove",
  title: "remove a webhook endpoint",
  summary: "Remove a webhook endpoint: nothing more is sent to it, including the deliveries still pending.",
  synopsis: "--id ENDPOINT-ID",
  options: { id: endpointId },
  request: async (o) => ({ method: "DELETE", path: endpointPath(o) }),
  show: (answer) => print(`${(answer as { id: string }).id} removed`),
});

const webhookRedeliver = command({
  name: "webhook-redeliver",
  title: "send webhook deliveries again",
  summary:
    "Put deliveries back: with --event, that event's delivery to the endpoint (given up or delivered, until pruned); " +
    "without, every delivery to the endpoint that was given up. They are sent again with the same event ids, with a new " +
    "retry window; a disabled endpoint is enabled again.",
  synopsis: "--id ENDPOINT-ID [--event EVENT-ID]",
  options: { id: endpointId, event: { type: "string", value: "EVENT-ID", description: "only this event, evt_…" } },
  async request(o) {
    const event = o.string("event");
    if (event !== undefined && !/^evt_[A-Za-z0-9_-]{1,64}$/.test(event)) throw o.usage(`--event ${event}: expected evt_…`);
    return { method: "POST", path: `${endpointPath(o)}/redeliver`, body: event === undefined ? {} : { event } };
  },
  show: (answer) => {
    const { endpoint, deliveries, reenabled } = answer as { endpoint: string; deliveries: number; reenabled: boolean };
    print(
      `${deliveries} deliver${deliveries === 1 ? "y" : "ies"} to ${endpoint} due now${reenabled ? "; endpoint enabled again" : ""}`,
    );
  },
});

const webhookRotate = command({
  name: "webhook-rotate",
  title: "give a webhook endpoint a new signing secret",
  summary:
    "Give an endpoint a new signing secret, printed once. During the overlap (default 24 hours) every delivery is signed " +
    "with both the old and the new secret: install the new one at the receiver before it ends (verifyWebhook accepts " +
    "either, given both).",
  synopsis: "--id ENDPOINT-ID [--overlap-hours N]",
  options: {
    id: endpointId,
    "overlap-hours": { type: "string", value: "N", description: "hours the old secret still signs, 0 to 168 (default 24)" },
  },
  request: async (o) => ({
    method: "POST",
    path: `${endpointPath(o)}/rotate-secret`,
    body: { overlapHours: o.integer("overlap-hours", 0, 168, 24) },
  }),
  show: (answer) => {
    showEndpoint(answer as Endpoint);
    print(`new signing secret (shown once, for the receiver): ${(answer as Endpoint).secret}`);
  },
});

/** Added to the `admin` group (cli.ts). */
export const selfServiceAdmin: readonly Command[] = [
  publisherKey,
  webhookAdd,
  webhooks,
  webhookRemove,
  webhookRedeliver,
  webhookRotate,
];
