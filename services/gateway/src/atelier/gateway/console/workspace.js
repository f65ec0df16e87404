// The workspace: thumbnails by job with their expiry; save, discard, use, download, clear.

import { all, call } from "./api.js";
import { act, fromNow, h, media, notify, reconcile } from "./dom.js";
import { useImage } from "./generate.js";

const root = () => document.getElementById("workspace");
let loading = Promise.resolve();

export function setUp() {
  const clearAll = document.getElementById("clear-workspace");
  clearAll.addEventListener("click", () => clear(clearAll, {}, "Clear the whole workspace?"));
  setUpSaveDialog();
}

/** Reload the grid; reloads queue behind each other, so the last one always wins. */
export function refresh() {
  loading = loading.then(() => act(null, render));
  return loading;
}

async function render() {
  const assets = await all("/v1/workspace/assets");
  const groups = [];
  for (const asset of assets) {
    const key = asset.job_id ?? "library";
    if (groups.at(-1)?.key !== key) groups.push({ key, jobId: asset.job_id, assets: [] });
    groups.at(-1).assets.push(asset);
  }
  reconcile(root(), groups, (g) => g.key, groupShell);
  for (const { key, assets: items } of groups) {
    const list = root().querySelector(`[data-key="${key}"] ul`);
    reconcile(list, items, (a) => `${a.id}:${a.library_asset_id}`, card);
  }
  document.getElementById("workspace-empty").hidden = assets.length > 0;
}

function groupShell({ jobId, assets }) {
  const first = assets[0];
  const title = jobId ? first.original_prompt : "Copied from the library";
  const heading = h("h3", {}, title);
  const actions = [];
  if (jobId) {
    const button = h("button", { type: "button", "data-focus": `clear-${jobId}` }, "Clear job");
    button.addEventListener("click", () => clear(button, { job_id: jobId }, "Clear this job? Unsaved results are saved to the library first."));
    actions.push(button);
  }
  return h("section", { class: "group" }, h("div", { class: "bar" }, heading, ...actions), h("ul", { class: "grid" }));
}

async function clear(button, body, question) {
  if (!confirm(question)) return;
  await act(button, async () => {
    const cleared = await call("POST", "/v1/workspace/clear", { body });
    notify(`${cleared.removed} left the workspace, ${cleared.saved} saved to the library`);
    await refresh();
  });
}

function card(asset) {
  const label = asset.original_prompt;
  const saved = asset.library_asset_id !== null;
  const save = h("button", { type: "button", "data-focus": `save-${asset.id}`, disabled: saved }, saved ? "Saved" : "Save");
  save.addEventListener("click", () => openSaveDialog(asset));
  const discard = h("button", { type: "button", "data-focus": `discard-${asset.id}`, disabled: saved }, "Discard");
  discard.addEventListener("click", async () => {
    if (!confirm("Discard this result? It is deleted.")) return;
    await act(discard, async () => {
      await call("DELETE", `/v1/workspace/assets/${asset.id}`);
      notify("Discarded");
      await refresh();
    });
  });
  const actions = [save, discard];
  if (asset.asset_type === "image") {
    actions.push(h("button", { type: "button", onclick: () => useImage({ asset_id: asset.id }, asset) }, "Use as reference"));
  }
  actions.push(h("a", { href: asset.file_url, download: "", class: "button" }, "Download"));
  return h(
    "li",
    { class: "asset", "data-asset-id": asset.id },
    h(
      "figure",
      {},
      media(asset, label),
      h(
        "figcaption",
        {},
        h("span", { class: "meta" }, `${asset.width}×${asset.height} · seed ${asset.generation_seed}`),
        saved ? h("span", { class: "badge" }, "In library") : null,
        h("time", { datetime: asset.expires_at, title: asset.expires_at }, `Expires ${fromNow(asset.expires_at)}`),
      ),
    ),
    h("div", { class: "actions" }, ...actions),
  );
}

// -- saving, into a collection (an existing one or a new one) -------------------------

const dialog = () => document.getElementById("save-dialog");
let saving = null;

function setUpSaveDialog() {
  const form = dialog().querySelector("form");
  form.elements.collection.addEventListener("change", showNewCollection);
  form.querySelector("[value=cancel]").addEventListener("click", () => dialog().close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form.querySelector("button[type=submit]"), async () => {
      await save(saving, form.elements);
      dialog().close();
      notify("Saved to the library");
      await refresh();
    });
  });
}

function showNewCollection() {
  const { collection, new_collection: name } = dialog().querySelector("form").elements;
  name.required = collection.value === "new";
  name.parentElement.hidden = !name.required;
}

async function openSaveDialog(asset) {
  saving = asset;
  await act(null, async () => {
    const form = dialog().querySelector("form");
    const { items } = await call("GET", "/v1/library/collections");
    form.reset();
    form.elements.collection.replaceChildren(
      h("option", { value: "" }, "No collection"),
      ...items.map((c) => h("option", { value: c.id }, c.name)),
      h("option", { value: "new" }, "New collection…"),
    );
    showNewCollection();
    dialog().showModal();
  });
}

async function save(asset, f) {
  let collectionId = f.collection.value || undefined;
  if (collectionId === "new") {
    const created = await call("POST", "/v1/library/collections", { body: { name: f.new_collection.value } });
    collectionId = created.id;
  }
  const body = {
    collection_id: collectionId,
    custom_title: f.title.value || undefined,
    tags: splitTags(f.tags.value),
  };
  await call("POST", `/v1/workspace/assets/${asset.id}/save`, { body });
}

export function splitTags(text) {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
}
