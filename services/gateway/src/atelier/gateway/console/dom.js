// DOM helpers: elements without innerHTML (prompts and titles are user text), keyed
// updates that keep focus, and the two live regions.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return el;
}

/** Make `parent`'s children the rendering of `items`, reusing the element of every item
 * whose key is unchanged (so focus and typing survive a refresh). When an element that
 * held focus is replaced, focus goes to the closest enabled match of its `data-focus`
 * names (the control, else the card) in the new elements. */
export function reconcile(parent, items, keyOf, render) {
  const old = new Map([...parent.children].map((el) => [el.dataset.key, el]));
  const wanted = items.map((item) => {
    const key = keyOf(item);
    const el = old.get(key) ?? render(item);
    el.dataset.key = key;
    old.delete(key);
    return el;
  });
  const focused = document.activeElement;
  const holder = [...old.values()].find((el) => el.contains(focused));
  for (const el of old.values()) el.remove();
  wanted.forEach((el, index) => {
    if (parent.children[index] !== el) parent.insertBefore(el, parent.children[index] ?? null);
  });
  for (let el = focused; holder && el !== holder.parentElement; el = el.parentElement) {
    const match = el.dataset.focus && parent.querySelector(`[data-focus="${el.dataset.focus}"]`);
    if (match && !match.disabled) return match.focus();
  }
}

const problem = () => document.getElementById("problem");

/** Show an error (a problem+json answer, or any failure) in the alert region. */
export function fail(error) {
  const region = problem();
  region.replaceChildren(
    h("strong", {}, error.title ?? "Error"),
    ": ",
    error.message,
    h("button", { type: "button", class: "link", onclick: clearProblem }, "Dismiss"),
  );
  region.hidden = false;
}

function clearProblem() {
  problem().hidden = true;
  problem().replaceChildren();
}

export function notify(message) {
  document.getElementById("notice").textContent = message;
}

/** Run an action from a control: errors go to the alert region, the control is busy. */
export async function act(control, action) {
  control?.setAttribute("aria-busy", "true");
  if (control) control.disabled = true;
  try {
    clearProblem();
    return await action();
  } catch (error) {
    fail(error);
  } finally {
    control?.removeAttribute("aria-busy");
    if (control) control.disabled = false;
  }
}

/** Projections apply the log a moment after an event is streamed: reload until the
 * view reflects the event, pausing longer each time (at most 5 s), for up to a minute. */
export async function catchUp(reload, reflected) {
  const deadline = Date.now() + 60_000;
  for (let pause = 100; ; pause = Math.min(pause * 2, 5000)) {
    await reload();
    if (reflected() || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/** Whether a projected row is at least as new as the event (rows keep its time). */
export function atLeast(row, event) {
  return Date.parse(row.updated_at) >= Date.parse(event.occurred_at);
}

/** Run `action` through `act` when `el` is pressed, once `question` (if any) is confirmed. */
export function onPress(el, action, question) {
  el.addEventListener("click", () => {
    if (!question || confirm(question)) act(el, action);
  });
  return el;
}

/** Run `action(fields)` through `act` when `form` is submitted. */
export function onSubmit(form, action) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form.querySelector("[type=submit]"), () => action(form.elements));
  });
  return form;
}

export function button(label, action, { question, ...props } = {}) {
  return onPress(h("button", { type: "button", ...props }, label), action, question);
}

export function download(asset) {
  return h("a", { href: asset.file_url, download: "", class: "button" }, "Download");
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function fromNow(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? ["minute", 60];
  return relative.format(Math.round(seconds / size), unit);
}
