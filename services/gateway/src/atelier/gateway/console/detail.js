// The detail view of a gallery: one asset full size (a video plays), every setting that
// made it, and its actions. ←/→ move through the grid it was opened from, Esc closes,
// and focus goes back to the tile of the asset shown last.

import { h } from "./dom.js";

const dialog = () => document.getElementById("detail");
let shown = null; // {gallery, id, index, key}: what the view shows

/** A gallery is `{assets(): [...], title(asset), key(asset), actions(asset): [el...],
 * tile(id): the element to focus when the view closes on that asset}`. */
export function open(gallery, id) {
  shown = { gallery, id, key: null };
  render();
  if (!dialog().open) dialog().showModal();
  control("close").focus();
}

export function isOpen() {
  return dialog().open;
}

export function close() {
  if (dialog().open) dialog().close();
}

/** The gallery reloaded: show the asset again if it changed, its neighbour if it left. */
export function refreshed(gallery) {
  if (!dialog().open || shown?.gallery !== gallery) return;
  const assets = gallery.assets();
  if (!assets.some((asset) => asset.id === shown.id)) {
    const next = assets[Math.min(shown.index, assets.length - 1)];
    if (!next) return dialog().close();
    shown.id = next.id;
  }
  render();
}

export function setUp() {
  const el = dialog();
  control("close").addEventListener("click", () => el.close());
  control("prev").addEventListener("click", () => step(-1));
  control("next").addEventListener("click", () => step(1));
  el.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    const delta = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!delta) return;
    event.preventDefault();
    step(delta);
  });
  // A click on the backdrop (outside the dialog's box) closes it too.
  el.addEventListener("click", (event) => {
    if (event.target === el) {
      const box = el.getBoundingClientRect();
      const inside =
        event.clientX >= box.left &&
        event.clientX <= box.right &&
        event.clientY >= box.top &&
        event.clientY <= box.bottom;
      if (!inside) el.close();
    }
  });
  el.addEventListener("close", () => {
    el.querySelector("video")?.pause();
    const tile = shown?.gallery.tile(shown.id);
    shown = null;
    // The browser gave focus back to the tile that opened the view (or, when a reload
    // replaced that tile, to nothing): the tile of the asset shown last takes it, unless
    // an action (use these settings) sent it elsewhere.
    const active = document.activeElement;
    const astray = !active || active === document.body || el.contains(active);
    if (astray || active.classList.contains("open")) tile?.focus();
  });
}

const control = (name) => dialog().querySelector(`[data-detail="${name}"]`);

/** Arrow keys in a text field or a menu move its caret or choice, not the view. */
function typing(target) {
  return target.closest("input, textarea, select, video, [contenteditable]") !== null;
}

function step(delta) {
  const assets = shown.gallery.assets();
  const index = assets.findIndex((asset) => asset.id === shown.id);
  const next = assets[index + delta];
  if (!next) return;
  shown.id = next.id;
  render();
}

function render() {
  const { gallery } = shown;
  const assets = gallery.assets();
  const index = assets.findIndex((asset) => asset.id === shown.id);
  const asset = assets[index];
  shown.index = index;
  control("prev").disabled = index <= 0;
  control("next").disabled = index >= assets.length - 1;
  if (document.activeElement?.disabled) {
    // a disabled button drops the focus, and with it the arrow keys: the other end takes it
    const other = control(document.activeElement === control("next") ? "prev" : "next");
    (other.disabled ? control("close") : other).focus();
  }
  dialog().querySelector(".position").textContent = `${index + 1} of ${assets.length}`;
  const key = `${asset.id}:${gallery.key(asset)}`;
  if (key === shown.key) return; // unchanged: keep the video playing and the focus
  shown.key = key;
  const inside = dialog().querySelector(".detail-body").contains(document.activeElement);
  const focused = inside ? document.activeElement.dataset.focus : undefined;
  const title = gallery.title(asset);
  dialog().querySelector("#detail-title").textContent = title;
  dialog()
    .querySelector(".detail-body")
    .replaceChildren(
      h("div", { class: "detail-media" }, fullSize(asset, title)),
      h(
        "div",
        { class: "detail-info" },
        h("div", { class: "actions" }, ...gallery.actions(asset)),
        h("h3", {}, "Settings"),
        h("dl", { class: "settings" }, ...describe(asset)),
      ),
    );
  if (!inside) return;
  const match = focused && dialog().querySelector(`.detail-body [data-focus="${focused}"]`);
  if (match && !match.disabled) match.focus();
  else control("close").focus();
}

function fullSize(asset, title) {
  if (asset.asset_type === "video") {
    return h("video", {
      src: asset.file_url,
      poster: asset.thumbnail_url,
      controls: true,
      loop: true,
      playsinline: true,
      preload: "metadata",
      "aria-label": title,
    });
  }
  return h("img", { src: asset.file_url, alt: title });
}

/** The settings that made an asset: `settings` where the API gives them, else what the
 * asset's own fields and its generation settings say. */
export function settingsOf(asset) {
  if (asset.settings) {
    return { ...asset.settings, seed: asset.settings.seed ?? asset.generation_seed };
  }
  const spec = asset.generation_settings ?? {};
  return {
    prompt: asset.original_prompt,
    negative_prompt: asset.negative_prompt,
    model: asset.model_used,
    mode: spec.mode ?? null,
    quality: spec.quality ?? null,
    width: spec.width ?? null,
    height: spec.height ?? null,
    steps: spec.steps ?? null,
    guidance_scale: spec.guidance_scale ?? null,
    seed: asset.generation_seed,
    num_frames: spec.num_frames ?? null,
    fps: spec.fps ?? null,
    reference: spec.reference ?? null,
  };
}

function describe(asset) {
  const s = settingsOf(asset);
  const strength = s.reference?.strength ? `, strength ${s.reference.strength}` : "";
  const reference = s.reference ? `${s.reference.mode ?? "modify"}${strength}` : null;
  const rows = [
    ["Prompt", s.prompt],
    ["Negative prompt", s.negative_prompt],
    ["Model", s.model],
    ["Mode", s.mode],
    ["Quality", s.quality],
    ["Size", s.width && s.height ? `${s.width} × ${s.height}` : null],
    ["Steps", s.steps],
    ["Guidance", s.guidance_scale],
    ["Seed", s.seed],
    ["Frames", s.num_frames],
    ["FPS", s.fps],
    ["Reference image", reference],
    ["File", `${asset.mime_type}, ${asset.width} × ${asset.height}, ${bytes(asset)}`],
    ["Duration", asset.duration_seconds ? `${asset.duration_seconds.toFixed(1)} s` : null],
  ];
  return rows
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]);
}

function bytes({ file_size_bytes: bytes }) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A tile's way in: its thumbnail as a button (Enter or Space open it too); a video
 * shows its poster with a play mark, and plays in the detail view. */
export function opener(gallery, asset, label) {
  const video = asset.asset_type === "video";
  const el = h(
    "button",
    {
      type: "button",
      class: "open",
      "aria-label": `Open ${label}`,
      "aria-haspopup": "dialog",
      "data-focus": `open-${asset.id}`, // a reload that replaces the tile keeps its focus
    },
    h("img", { src: asset.thumbnail_url, alt: "", loading: "lazy" }),
    video ? h("span", { class: "play", "aria-hidden": "true" }, "▶") : null,
  );
  el.addEventListener("click", () => open(gallery, asset.id));
  return el;
}
