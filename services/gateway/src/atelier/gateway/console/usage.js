// The user's usage today (GET /v1/usage), in the header: refreshed on sign-in and as jobs end.

import { call } from "./api.js";

let pending = null;

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Ask again for today's usage (at most once a second, however many jobs end at once). */
export function refresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    const el = document.getElementById("usage-today");
    try {
      const { totals } = await call("GET", "/v1/usage");
      const made = [plural(totals.images, "image", "images")];
      if (totals.videos) made.push(plural(totals.videos, "video", "videos"));
      el.textContent =
        `Today: ${plural(totals.requested, "job", "jobs")} · ${made.join(" · ")} · ` +
        `${totals.gpu_seconds.toFixed(1)} GPU s`;
      el.hidden = false;
    } catch {
      el.hidden = true; // the scheduler is away: nothing to show, nothing to break
    }
  }, 200);
}

const COUNTED = new Set([
  "generation.requested",
  "generation.completed",
  "generation.failed",
  "generation.cancelled",
]);

export function onEvent(type) {
  if (COUNTED.has(type)) refresh();
}
