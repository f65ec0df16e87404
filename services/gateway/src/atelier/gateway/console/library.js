// The library: search and filters, infinite scroll, title/tag/favourite editing, moving
// between collections, copy to the workspace; and the collections themselves.

import { call } from "./api.js";
import {
  act,
  atLeast,
  button,
  catchUp,
  download,
  h,
  notify,
  onSubmit,
  reconcile,
} from "./dom.js";
import * as detail from "./detail.js";
import { useButton, useSettingsButton } from "./generate.js";
import { shareControls } from "./share.js";
import { splitTags } from "./workspace.js";

const grid = () => document.getElementById("library-grid");
const filters = () => document.getElementById("library-filters");
let items = [];
let cursor = null;
let collections = [];
let collectionsVersion = ""; // part of each card's key: its collection menu lists them
let generation = 0; // a newer reload makes older page loads moot
let loading = Promise.resolve();
const PAGE = 24;

export function setUp() {
  filters().addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  filters().addEventListener("change", () => refresh());
  // Infinite scroll: the "Load more" button loads the next page whenever it is in view
  // (and stays a button for keyboards); a page that leaves it in view loads another.
  const more = document.getElementById("library-more");
  let inView = false;
  const loadWhileInView = () => {
    if (inView && !more.hidden && !more.disabled) more.click();
  };
  more.addEventListener("click", async () => {
    if (await act(more, loadMore)) loadWhileInView();
  });
  new IntersectionObserver((entries) => {
    inView = entries.at(-1).isIntersecting;
    loadWhileInView();
  }).observe(more);
  const create = document.getElementById("new-collection");
  onSubmit(create, async (fields) => {
    await call("POST", "/v1/library/collections", { body: { name: fields.name.value } });
    create.reset();
    notify("Collection created");
    await refreshCollections();
  });
}

/** Reload what is shown (as many items as are loaded now) with the current filters,
 * until `reflected` holds. */
export function refresh(reflected = () => true) {
  loading = loading.then(() => act(null, () => catchUp(reload, reflected)));
  return loading;
}

async function reload() {
  const mine = ++generation;
  const page = await call("GET", "/v1/library/assets", {
    params: { ...query(), limit: Math.min(100, Math.max(PAGE, items.length)) },
  });
  if (mine !== generation) return;
  items = page.items;
  cursor = page.next_cursor;
  show();
}

const item = (event) => items.find((asset) => asset.id === event.data.library_asset_id);
const collection = (event) => collections.find((c) => c.id === event.data.collection_id);
const filtered = () => Object.values(query()).some(Boolean);
const ASSET_REFLECTS = {
  // a new asset is listed first, unless the filters leave it out
  "library.asset_stored": (event) => Boolean(item(event)) || filtered(),
  "library.asset_updated": (event) => !item(event) || atLeast(item(event), event),
  "library.asset_deleted": (event) => !item(event),
};
const COLLECTION_REFLECTS = {
  "library.collection_created": (event) => Boolean(collection(event)),
  "library.collection_updated": (event) => !collection(event) || atLeast(collection(event), event),
  "library.collection_deleted": (event) => !collection(event),
};

export async function onEvent(type, event) {
  if (COLLECTION_REFLECTS[type]) await refreshCollections(() => COLLECTION_REFLECTS[type](event));
  if (type === "library.collection_deleted") await refresh(); // its assets left it
  if (ASSET_REFLECTS[type]) {
    await refresh(() => ASSET_REFLECTS[type](event));
    await refreshCollections(); // their asset counts
  }
}

/** The next page; true once it is shown (a reload meanwhile makes it moot). */
async function loadMore() {
  const mine = generation;
  const page = await call("GET", "/v1/library/assets", {
    params: { ...query(), limit: PAGE, cursor },
  });
  if (mine !== generation) return true;
  items.push(...page.items);
  cursor = page.next_cursor;
  show();
  return true;
}

function query() {
  const f = filters().elements;
  return {
    q: f.q.value.trim(),
    tag: f.tag.value.trim().toLowerCase(),
    favorite: f.favorite.checked ? "true" : undefined,
    asset_type: f.asset_type.value,
    collection_id: f.collection_id.value,
  };
}

function show() {
  reconcile(grid(), items, (a) => `${a.id}:${a.updated_at}:${collectionsVersion}`, card);
  document.getElementById("library-more").hidden = !cursor;
  document.getElementById("library-empty").hidden = items.length > 0;
  detail.refreshed(gallery);
}

const titleOf = (asset) => asset.custom_title ?? asset.original_prompt;
const gallery = {
  assets: () => items,
  title: titleOf,
  key: (asset) => `${asset.updated_at}:${asset.share_url}:${collectionsVersion}`,
  actions: (asset) => actions(asset),
  tile: (id) => grid().querySelector(`[data-asset-id="${id}"] .open`),
};

function card(asset) {
  const title = titleOf(asset);
  return h(
    "li",
    { class: "asset", "data-asset-id": asset.id, "data-focus": asset.id, tabindex: -1 },
    h(
      "figure",
      {},
      detail.opener(gallery, asset, title),
      h(
        "figcaption",
        {},
        h("strong", { class: "title" }, title),
        h("span", { class: "tags" }, asset.tags.map((t) => `#${t}`).join(" ")),
        asset.visibility === "private" ? null : h("span", { class: "badge" }, asset.visibility),
      ),
    ),
    h("div", { class: "actions" }, favouriteButton(asset, `fav-${asset.id}`), download(asset)),
  );
}

function favouriteButton(asset, focus) {
  return button(
    asset.is_favorite ? "★ Favourite" : "☆ Favourite",
    () => patch(asset, { is_favorite: !asset.is_favorite }),
    { "aria-pressed": String(asset.is_favorite), "data-focus": focus },
  );
}

/** The detail view's actions: title and tags, favourite, collection, sharing, and the rest. */
function actions(asset) {
  const edit = h(
    "form",
    { class: "edit" },
    h(
      "label",
      {},
      "Title",
      h("input", {
        name: "title",
        value: asset.custom_title ?? "",
        "data-focus": "title",
        maxlength: 200,
      }),
    ),
    h(
      "label",
      {},
      "Tags (comma-separated)",
      h("input", { name: "tags", value: asset.tags.join(", "), "data-focus": "tags" }),
    ),
    h("button", { type: "submit", "data-focus": "update" }, "Update"),
  );
  onSubmit(edit, (f) =>
    patch(asset, { custom_title: f.title.value.trim() || null, tags: splitTags(f.tags.value) }),
  );
  const move = h(
    "select",
    { "data-focus": "move" },
    h("option", { value: "" }, "No collection"),
    ...collections.map((c) => h("option", { value: c.id }, c.name)),
  );
  move.value = asset.collection_id ?? "";
  move.addEventListener("change", () =>
    act(move, () => patch(asset, { collection_id: move.value || null })),
  );
  const copy = button("Copy to workspace", async () => {
    await call("POST", `/v1/library/assets/${asset.id}/copy-to-workspace`);
    notify("Copied; it appears in the workspace in a moment");
  });
  const remove = button(
    "Delete",
    async () => {
      await call("DELETE", `/v1/library/assets/${asset.id}`);
      notify("Deleted");
      await refresh();
    },
    { question: "Delete this asset from the library for good?", class: "danger" },
  );
  return [
    h(
      "div",
      { class: "buttons" },
      favouriteButton(asset, "fav"),
      useSettingsButton(asset, { library_asset_id: asset.id }, titleOf(asset)),
      useButton({ library_asset_id: asset.id }, asset),
      copy,
      download(asset),
      remove,
    ),
    edit,
    h("label", { class: "move" }, "Collection ", move),
    shareControls(asset, (visibility) => patch(asset, { visibility })),
  ];
}

async function patch(asset, body) {
  await call("PATCH", `/v1/library/assets/${asset.id}`, { body });
  notify("Updated");
  await refresh();
}

// -- collections ----------------------------------------------------------------------

export async function refreshCollections(reflected = () => true) {
  await act(null, () => catchUp(showCollections, reflected));
}

async function showCollections() {
  collections = (await call("GET", "/v1/library/collections")).items;
  collectionsVersion = collections.map((c) => `${c.id}=${c.name}`).join(",");
  reconcile(
    document.getElementById("collections"),
    collections,
    (c) => `${c.id}:${c.updated_at}:${c.asset_count}`,
    collectionItem,
  );
  const select = filters().elements.collection_id;
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, "All"),
    ...collections.map((c) => h("option", { value: c.id }, c.name)),
  );
  select.value = collections.some((c) => c.id === chosen) ? chosen : "";
  if (select.value !== chosen) refresh(); // the collection shown was deleted
  show();
}

function collectionItem(collection) {
  const rename = h(
    "form",
    { class: "rename" },
    h(
      "label",
      { class: "visually-hidden", for: `name-${collection.id}` },
      `New name for ${collection.name}`,
    ),
    h("input", {
      id: `name-${collection.id}`,
      name: "name",
      value: collection.name,
      "data-focus": `name-${collection.id}`,
      required: true,
    }),
    h("button", { type: "submit" }, "Rename"),
  );
  onSubmit(rename, async (fields) => {
    const body = { name: fields.name.value };
    await call("PATCH", `/v1/library/collections/${collection.id}`, { body });
    notify("Renamed");
    await refreshCollections();
  });
  const open = h(
    "button",
    { type: "button", class: "link" },
    `${collection.name} (${collection.asset_count})`,
  );
  open.addEventListener("click", () => {
    filters().elements.collection_id.value = collection.id;
    refresh();
  });
  const question = `Delete the collection “${collection.name}”? Its assets stay in the library.`;
  const remove = button(
    "Delete",
    async () => {
      await call("DELETE", `/v1/library/collections/${collection.id}`);
      notify("Collection deleted");
      await refreshCollections();
    },
    { question },
  );
  return h("li", { class: "collection" }, open, rename, remove);
}
