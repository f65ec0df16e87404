// Live job cards, fed by /v1/events: step progress with previews, outcome, cancel.

import { call } from "./api.js";
import { act, h, notify } from "./dom.js";

const cards = new Map(); // job id → card element
const ENDED = new Set(["completed", "failed", "cancelled"]);
const LABELS = {
  queued: "Queued",
  running: "Running",
  cancelling: "Cancelling…",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

function card(jobId, spec) {
  let el = cards.get(jobId);
  if (el) return el;
  const cancel = h("button", { type: "button", class: "cancel" }, "Cancel");
  cancel.addEventListener("click", () =>
    act(cancel, async () => {
      await call("POST", `/v1/generations/${jobId}/cancel`);
      setStatus(el, "cancelling");
    }),
  );
  const dismiss = h("button", { type: "button", class: "link dismiss", hidden: true }, "Dismiss");
  dismiss.addEventListener("click", () => {
    el.remove();
    cards.delete(jobId);
    document.getElementById("jobs-empty").hidden = cards.size > 0;
  });
  const what = spec ? `${spec.num_images ?? 1} × ${spec.model}` : "";
  el = h(
    "li",
    { class: "job", "data-job-id": jobId },
    h("p", { class: "prompt" }, spec?.prompt ?? jobId),
    h("p", { class: "meta" }, h("span", { class: "status" }), " ", what),
    h(
      "div",
      { class: "progress" },
      h("img", { class: "preview", alt: "Preview of the image so far", hidden: true }),
      h(
        "div",
        { class: "meter" },
        h("progress", { max: 100, value: 0, "aria-label": "Progress" }),
        h("span", { class: "steps" }, "Waiting to start"),
      ),
    ),
    h("p", { class: "error", hidden: true }),
    h("div", { class: "thumbs" }),
    h("div", { class: "actions" }, cancel, dismiss),
  );
  setStatus(el, "queued");
  cards.set(jobId, el);
  document.getElementById("jobs").prepend(el);
  document.getElementById("jobs-empty").hidden = true;
  followPlaces();
  return el;
}

// A queued job's place in the fair queue moves as other users' jobs start: asked for
// every few seconds while some job of this console waits.
const PLACE_EVERY_MS = 3000;
let placing = null;

function followPlaces() {
  if (placing) return;
  placing = setInterval(places, PLACE_EVERY_MS);
  places();
}

async function places() {
  const waiting = [...cards].filter(([, el]) => el.dataset.status === "queued");
  if (!waiting.length) {
    clearInterval(placing);
    placing = null;
    return;
  }
  for (const [jobId, el] of waiting) {
    try {
      const job = await call("GET", `/v1/generations/${jobId}`);
      if (el.dataset.status === "queued") showPlace(el, job.queue_position);
    } catch {
      // gone or not yet visible: the next round asks again
    }
  }
}

function showPlace(el, position) {
  const status = el.querySelector(".status");
  if (position === null || position === undefined) status.textContent = LABELS.queued;
  else if (position === 0) status.textContent = "Queued · next";
  else status.textContent = `Queued · ${position} ahead`;
}

function setStatus(el, status) {
  el.dataset.status = status;
  el.querySelector(".status").textContent = LABELS[status];
  const ended = ENDED.has(status);
  el.querySelector(".cancel").hidden = ended || status === "cancelling";
  el.querySelector(".dismiss").hidden = !ended;
  if (ended) el.querySelector(".progress").hidden = true;
  if (status === "running" && !el.querySelector("progress").value) {
    el.querySelector(".steps").textContent = "Starting…";
  }
}

/** The jobs still queued or running (after a reload: their events continue live). */
export async function refresh() {
  const page = await call("GET", "/v1/generations?status=queued&status=running&limit=100");
  for (const job of page.items.slice().reverse()) {
    const el = card(job.job_id, job.spec);
    if (el.dataset.status === "queued") setStatus(el, job.cancel_requested ? "cancelling" : job.status);
  }
}

/** A job this console submitted (its events may arrive before or after this). */
export function submitted(jobId, body) {
  card(jobId, body);
}

export function onEvent(type, body) {
  if (type === "generation.progress") return progress(body);
  const data = body.data;
  if (!type.startsWith("generation.") || !data?.job_id) return;
  const el = card(data.job_id, data.spec);
  switch (type) {
    case "generation.started":
      return setStatus(el, "running");
    case "generation.cancel_requested":
      return ENDED.has(el.dataset.status) || setStatus(el, "cancelling");
    case "generation.cancelled":
      return setStatus(el, "cancelled");
    case "generation.failed":
      el.querySelector(".error").textContent = data.reason;
      el.querySelector(".error").hidden = false;
      notify("A job failed");
      return setStatus(el, "failed");
    case "generation.completed":
      el.querySelector(".preview").hidden = true;
      el.querySelector(".thumbs").replaceChildren(
        ...body.assets.map((asset) =>
          h("img", { src: asset.thumbnail_url, alt: `Result ${asset.index + 1}` }),
        ),
      );
      notify(`A job completed with ${body.assets.length} result(s)`);
      return setStatus(el, "completed");
  }
}

function progress(step) {
  const el = cards.get(step.job_id);
  if (!el || ENDED.has(el.dataset.status)) return;
  if (el.dataset.status === "queued") setStatus(el, "running");
  const bar = el.querySelector("progress");
  bar.value = step.percent;
  bar.setAttribute("aria-valuetext", `step ${step.step} of ${step.total}`);
  el.querySelector(".steps").textContent = `Step ${step.step} / ${step.total}`;
  if (step.preview_webp_base64) {
    const preview = el.querySelector(".preview");
    preview.src = `data:image/webp;base64,${step.preview_webp_base64}`;
    preview.hidden = false;
  }
}
