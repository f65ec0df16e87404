// Sharing a library asset: private, unlisted (anyone with the link) or public (also in the
// public gallery), and its link with a copy button.

import { act, h, notify } from "./dom.js";

const CHOICES = [
  ["private", "Private", "Only you can see it."],
  ["unlisted", "Unlisted", "Anyone with the link can see it."],
  ["public", "Public", "Listed in the public gallery; anyone with the link can see it."],
];

/** The share toggle of `asset`; `change(visibility)` asks the API for the new one.
 * Toggle buttons rather than radios: arrow keys move the detail view, and must never
 * share an asset by the way. */
export function shareControls(asset, change) {
  const choices = CHOICES.map(([value, label]) => {
    const current = asset.visibility === value;
    const choice = h(
      "button",
      { type: "button", "aria-pressed": String(current), "data-focus": `visibility-${value}` },
      label,
    );
    choice.addEventListener("click", () => current || act(choice, () => change(value)));
    return choice;
  });
  const [, , explained] = CHOICES.find(([value]) => value === asset.visibility) ?? CHOICES[0];
  return h(
    "fieldset",
    { class: "share" },
    h("legend", {}, "Sharing"),
    h("div", { class: "choices" }, ...choices),
    h("p", { class: "hint" }, explained),
    asset.share_url ? linkRow(asset.share_url) : null,
  );
}

function linkRow(url) {
  const field = h("input", { readonly: true, value: url, "aria-label": "Share link" });
  field.addEventListener("focus", () => field.select());
  const copy = h("button", { type: "button", "data-focus": "copy-link" }, "Copy link");
  copy.addEventListener("click", () =>
    act(null, async () => {
      await copyText(url, field);
      copy.textContent = "Copied";
      setTimeout(() => (copy.textContent = "Copy link"), 2000);
    }),
  );
  const safe = /^https?:\/\//.test(url);
  return h(
    "div",
    { class: "copy-row" },
    field,
    copy,
    safe
      ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "button" }, "Open")
      : null,
  );
}

/** The clipboard API where the page may use it (a secure context that was granted it),
 * else the old way: select the text in `field` and copy the selection. */
export async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    field.focus();
    field.select();
    if (!document.execCommand("copy")) {
      throw new Error("the browser refused to copy: the text is selected, copy it by hand");
    }
  }
  notify("Copied to the clipboard");
}
