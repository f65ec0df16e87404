// Webhooks: the user's endpoints (add with the events they want, the signing secret shown
// once; delete), and each one's recent deliveries with their status.

import { call } from "./api.js";
import { act, button, fromNow, h, notify, onSubmit, reconcile } from "./dom.js";
import { copyText } from "./share.js";

const list = () => document.getElementById("webhook-list");
const secretBox = () => document.getElementById("webhook-secret");
const open = new Set(); // ids of the webhooks whose deliveries are shown

export function setUp() {
  const form = document.getElementById("new-webhook");
  onSubmit(form, async (f) => {
    const events = [...form.querySelectorAll("[name=events]:checked")].map((box) => box.value);
    if (!events.length) throw new Error("choose at least one event");
    const body = { url: f.url.value.trim(), events };
    if (f.description.value.trim()) body.description = f.description.value.trim();
    const created = await call("POST", "/v1/webhooks", { body });
    form.reset();
    showSecret(created.secret);
    notify("Webhook added: copy its signing secret now, it is not shown again");
    await refresh();
  });
  const box = secretBox();
  const field = box.querySelector("input");
  field.addEventListener("focus", () => field.select());
  const copy = box.querySelector(".copy");
  copy.addEventListener("click", () =>
    act(copy, async () => {
      await copyText(field.value, field);
      copy.textContent = "Copied";
    }),
  );
  box.querySelector(".dismiss").addEventListener("click", () => {
    box.hidden = true;
    field.value = "";
    document.getElementById("webhook-url").focus();
  });
}

function showSecret(secret) {
  const box = secretBox();
  box.querySelector("input").value = secret;
  box.querySelector(".copy").textContent = "Copy secret";
  box.hidden = false;
  box.querySelector(".copy").focus();
}

export function refresh() {
  return act(null, render);
}

async function render() {
  const { items } = await call("GET", "/v1/webhooks");
  reconcile(list(), items, (w) => w.id, card);
  document.getElementById("webhooks-empty").hidden = items.length > 0;
  await Promise.all(items.filter((w) => open.has(w.id)).map(showDeliveries));
}

function card(webhook) {
  const toggle = h(
    "button",
    { type: "button", "aria-expanded": "false", "data-focus": `deliveries-${webhook.id}` },
    "Deliveries",
  );
  toggle.addEventListener("click", () =>
    act(toggle, async () => {
      const opening = !open.has(webhook.id);
      if (opening) open.add(webhook.id);
      else open.delete(webhook.id);
      toggle.setAttribute("aria-expanded", String(opening));
      if (opening) await showDeliveries(webhook);
      else deliveries(webhook.id).replaceChildren();
    }),
  );
  const remove = button(
    "Delete",
    async () => {
      await call("DELETE", `/v1/webhooks/${webhook.id}`);
      open.delete(webhook.id);
      notify("Webhook deleted");
      await render();
    },
    { question: `Delete the webhook to ${webhook.url}? Nothing more is delivered to it.` },
  );
  return h(
    "li",
    { class: "webhook", "data-webhook-id": webhook.id },
    h("p", { class: "url" }, webhook.url),
    webhook.description ? h("p", { class: "hint" }, webhook.description) : null,
    h(
      "p",
      { class: "events" },
      ...webhook.events.map((name) => h("span", { class: "chip" }, name)),
    ),
    h(
      "p",
      { class: "hint" },
      "Added ",
      h("time", { datetime: webhook.created_at }, fromNow(webhook.created_at)),
    ),
    h("div", { class: "actions" }, toggle, remove),
    h("div", { class: "deliveries" }),
  );
}

const deliveries = (id) => list().querySelector(`[data-webhook-id="${id}"] .deliveries`);

async function showDeliveries(webhook) {
  const { items } = await call("GET", `/v1/webhooks/${webhook.id}/deliveries`, {
    params: { limit: 20 },
  });
  const holder = deliveries(webhook.id);
  if (!holder) return;
  if (!items.length) {
    holder.replaceChildren(h("p", { class: "hint" }, "Nothing delivered yet."));
    return;
  }
  holder.replaceChildren(
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, `Recent deliveries to ${webhook.url}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Event", "Status", "Attempts", "Response", "Last attempt"].map((name) =>
            h("th", { scope: "col" }, name),
          ),
        ),
      ),
      h("tbody", {}, ...items.map(row)),
    ),
    h(
      "button",
      { type: "button", class: "link", onclick: () => refresh() },
      "Reload deliveries",
    ),
  );
}

function row(delivery) {
  const response = delivery.last_status_code
    ? `HTTP ${delivery.last_status_code}`
    : (delivery.last_error ?? "—");
  const when = delivery.last_attempt_at ?? delivery.created_at;
  return h(
    "tr",
    { "data-delivery-id": delivery.id, "data-status": delivery.status },
    h("td", {}, delivery.event_type),
    h("td", {}, h("span", { class: `status ${delivery.status}` }, delivery.status)),
    h("td", {}, String(delivery.attempts)),
    h("td", { class: "response" }, response),
    h("td", {}, h("time", { datetime: when }, fromNow(when))),
  );
}
