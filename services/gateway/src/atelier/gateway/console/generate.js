// The prompt form: images with SDXL, videos with Wan 2.1, and the images they start from.

import { call } from "./api.js";
import * as detail from "./detail.js";
import { button, h, notify, onSubmit } from "./dom.js";

const form = () => document.getElementById("generate");
const SLOTS = { image: ["reference_image"], video: ["start_frame", "end_frame"] };
const SLOT_NAMES = {
  reference_image: "Reference image",
  start_frame: "Start frame",
  end_frame: "End frame",
};
const picked = {}; // slot → {source, asset}
let remixing = null; // {source, title, reference}: the asset whose settings the form took

export function setUp(onSubmitted) {
  const el = form();
  el.elements.kind.forEach((radio) => radio.addEventListener("change", showKind));
  onSubmit(el, async () => {
    const body = request(el);
    const accepted = await call("POST", "/v1/generations", { body });
    onSubmitted(accepted.job_id, body);
    notify(`Job queued: ${body.prompt}`);
  });
  showKind();
}

function kind() {
  return form().elements.kind.value;
}

function showKind() {
  const video = kind() === "video";
  for (const el of form().querySelectorAll("[data-kind]")) el.hidden = el.dataset.kind !== kind();
  form().elements.count.disabled = video;
  form().elements.frames.disabled = !video;
  renderSlots();
}

/** Put one of the user's images into the first free slot of the current kind. */
function useImage(source, asset) {
  const slots = SLOTS[kind()];
  const slot = slots.find((name) => !picked[name]) ?? slots.at(-1);
  picked[slot] = { source, asset };
  renderSlots();
  detail.close();
  document.querySelector('nav [data-view="create"]').click(); // the form is on that view
  form().elements.prompt.focus();
  notify(`${SLOT_NAMES[slot]} set`);
}

/** "Use as reference" for an image (a video cannot be one). */
export function useButton(source, asset) {
  if (asset.asset_type !== "image") return null;
  return button("Use as reference", async () => useImage(source, asset));
}

/** "Use these settings": the form takes the settings that made `asset` (its seed too),
 * ready to be changed and submitted. The job is then asked for with `remix_of`, so the
 * server resolves what the form cannot show (the asset's reference image, carried over
 * while the model stays SDXL and no other reference is picked). */
export function useSettingsButton(asset, source, title) {
  return button(
    "Use these settings",
    async () => {
      const settings = detail.settingsOf(asset);
      remixing = { source, title, reference: Boolean(settings.reference) };
      useSettings(settings);
    },
    { "data-focus": "use-settings" },
  );
}

function showRemix() {
  const el = document.getElementById("remix");
  el.hidden = !remixing;
  if (!remixing) return el.replaceChildren();
  const forget = () => {
    remixing = null;
    showRemix();
    form().elements.prompt.focus();
  };
  el.replaceChildren(
    h("span", {}, `Settings of “${remixing.title}”`),
    remixing.reference ? h("span", {}, " (its reference image comes along)") : null,
    " ",
    h("button", { type: "button", class: "link", onclick: forget }, "Start afresh"),
  );
}

function useSettings(s) {
  const f = form().elements;
  const video = s.mode === "video" || s.model === "wan";
  f.kind.value = video ? "video" : "image";
  for (const slot of Object.keys(picked)) delete picked[slot];
  showKind();
  const text = { prompt: s.prompt, negative_prompt: s.negative_prompt };
  for (const [name, value] of Object.entries(text)) f[name].value = value ?? "";
  if (s.quality) f.quality.value = s.quality;
  const numbers = {
    seed: s.seed,
    width: s.width,
    height: s.height,
    steps: s.steps,
    frames: s.num_frames,
  };
  for (const [name, value] of Object.entries(numbers)) f[name].value = value ?? "";
  f.count.value = 1;
  showRemix();
  detail.close();
  document.querySelector('nav [data-view="create"]').click(); // the form is on that view
  f.prompt.focus();
  notify("The form holds these settings: change what you like and generate");
}

function renderSlots() {
  document.getElementById("reference-options").hidden =
    !SLOTS[kind()].includes("reference_image") || !picked.reference_image;
  const list = document.getElementById("slots");
  list.replaceChildren(
    ...SLOTS[kind()].map((slot) => {
      const chosen = picked[slot];
      const label = SLOT_NAMES[slot];
      if (!chosen)
        return h(
          "li",
          { class: "slot empty" },
          `${label}: none — use one from the workspace or library`,
        );
      const remove = () => {
        delete picked[slot];
        renderSlots();
        form().elements.prompt.focus();
      };
      return h(
        "li",
        { class: "slot" },
        h("img", { src: chosen.asset.thumbnail_url, alt: "" }),
        h("span", {}, `${label}: ${chosen.asset.custom_title ?? chosen.asset.original_prompt}`),
        h(
          "button",
          { type: "button", class: "link", onclick: remove },
          `Remove ${label.toLowerCase()}`,
        ),
      );
    }),
  );
}

function number(el) {
  return el.value === "" || el.disabled ? undefined : Number(el.value);
}

function request(el) {
  const { elements: f } = el;
  const video = kind() === "video";
  const body = {
    model: video ? "wan" : "sdxl",
    mode: video ? "video" : "image",
    quality: f.quality.value,
    prompt: f.prompt.value,
    negative_prompt: f.negative_prompt.value || undefined,
    num_images: number(f.count),
    num_frames: number(f.frames),
    seed: number(f.seed),
    width: number(f.width),
    height: number(f.height),
    steps: number(f.steps),
  };
  for (const slot of SLOTS[kind()]) {
    if (picked[slot]) body[slot] = { ...picked[slot].source };
  }
  if (body.reference_image) {
    body.reference_image.mode = f.reference_mode.value;
    body.reference_image.strength = number(f.strength);
  }
  if (remixing) {
    // A field left out would be the asset's own: an emptied one means none, or random.
    body.remix_of = { ...remixing.source };
    body.negative_prompt ??= null;
    body.seed ??= crypto.getRandomValues(new Uint32Array(1))[0];
  }
  return body;
}
