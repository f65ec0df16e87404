// The workspace: thumbnails by job with their expiry, each opening the detail view;
// save, discard, use, use these settings, download, clear.

import { all, call } from "./api.js";
import {
  act,
  button,
  catchUp,
  download,
  fromNow,
  h,
  notify,
  onPress,
  onSubmit,
  reconcile,
} from "./dom.js";
import * as detail from "./detail.js";
import { useButton, useSettingsButton } from "./generate.js";

const root = () => document.getElementById("workspace");
let loading = Promise.resolve();
let shown = new Map(); // asset id → asset, as last listed

export function setUp() {
  const question = "Clear the whole workspace? Unsaved results are saved to the library first.";
  onPress(document.getElementById("clear-workspace"), () => clear({}), question);
  setUpSaveDialog();
}

/** Reload the grid (until `reflected` holds); reloads queue, so the last one wins. */
export function refresh(reflected = () => true) {
  loading = loading.then(() => act(null, () => catchUp(render, reflected)));
  return loading;
}

const gone = (event) => !shown.has(event.data.asset_id);
const REFLECTS = {
  "generation.completed": (event) => event.assets.every((asset) => shown.has(asset.id)),
  "workspace.asset_added": (event) => shown.has(event.data.asset_id),
  "workspace.asset_saved": (event) =>
    gone(event) || shown.get(event.data.asset_id).library_asset_id !== null,
  "workspace.asset_unsaved": (event) =>
    gone(event) || shown.get(event.data.asset_id).library_asset_id === null,
  "workspace.asset_discarded": gone,
  "workspace.asset_removed": gone,
  "workspace.asset_expired": gone,
};

const gallery = {
  assets: () => [...shown.values()],
  title: (asset) => asset.original_prompt,
  key: (asset) => String(asset.library_asset_id),
  actions: (asset) => [
    ...actions(asset, "detail"),
    useSettingsButton(asset, { asset_id: asset.id }, asset.original_prompt),
  ],
  tile: (id) => root().querySelector(`[data-asset-id="${id}"] .open`),
};

export function onEvent(type, event) {
  const reflects = REFLECTS[type];
  if (reflects) refresh(() => reflects(event));
}

async function render() {
  const assets = await all("/v1/workspace/assets");
  shown = new Map(assets.map((asset) => [asset.id, asset]));
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
  detail.refreshed(gallery);
}

function groupShell({ jobId, assets }) {
  const title = jobId ? assets[0].original_prompt : "Copied from the library";
  const question = "Clear this job? Unsaved results are saved to the library first.";
  const clearJob =
    jobId && button("Clear job", () => clear({ job_id: jobId }), { question, "data-focus": jobId });
  return h(
    "section",
    { class: "group" },
    h("div", { class: "bar" }, h("h3", {}, title), clearJob || null),
    h("ul", { class: "grid" }),
  );
}

async function clear(body) {
  const cleared = await call("POST", "/v1/workspace/clear", { body });
  notify(`${cleared.removed} left the workspace, ${cleared.saved} saved to the library`);
  await refresh();
}

function card(asset) {
  const saved = asset.library_asset_id !== null;
  const expires = h("time", { datetime: asset.expires_at }, `Expires ${fromNow(asset.expires_at)}`);
  return h(
    "li",
    { class: "asset", "data-asset-id": asset.id, "data-focus": asset.id, tabindex: -1 },
    h(
      "figure",
      {},
      detail.opener(gallery, asset, asset.original_prompt),
      h(
        "figcaption",
        {},
        h("span", {}, `${asset.width}×${asset.height} · seed ${asset.generation_seed}`),
        saved ? h("span", { class: "badge" }, "In library") : null,
        expires,
      ),
    ),
    h("div", { class: "actions" }, ...actions(asset, "tile").slice(0, 2)), // the view has all
  );
}

/** Save, discard, use as reference and download: in the detail view (the first two on
 * the tile too). */
function actions(asset, where) {
  const saved = asset.library_asset_id !== null;
  const save = h(
    "button",
    { type: "button", disabled: saved, "data-focus": `save-${asset.id}` },
    saved ? "Saved" : "Save",
  );
  save.addEventListener("click", () => openSaveDialog(asset));
  const discard = button(
    "Discard",
    async () => {
      await call("DELETE", `/v1/workspace/assets/${asset.id}`);
      notify("Discarded");
      await refresh();
    },
    {
      question: "Discard this result? It is deleted.",
      disabled: saved,
      "data-focus": where === "detail" ? "discard" : undefined,
    },
  );
  return [save, discard, useButton({ asset_id: asset.id }, asset), download(asset)].filter(Boolean);
}

// -- saving, into a collection (an existing one or a new one) -------------------------

const dialog = () => document.getElementById("save-dialog");
let saving = null;

function setUpSaveDialog() {
  const form = dialog().querySelector("form");
  form.elements.collection.addEventListener("change", showNewCollection);
  form.querySelector("[value=cancel]").addEventListener("click", () => dialog().close());
  onSubmit(form, async (fields) => {
    await save(saving, fields);
    dialog().close();
    notify("Saved to the library");
    await refresh();
    // its Save is disabled now (in the detail view, the view keeps the focus)
    if (!detail.isOpen()) root().querySelector(`[data-asset-id="${saving.id}"]`)?.focus();
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
    const created = await call("POST", "/v1/library/collections", {
      body: { name: f.new_collection.value },
    });
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
