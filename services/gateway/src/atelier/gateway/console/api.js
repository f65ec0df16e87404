// The public HTTP API, as any frontend sees it: bearer fetch, problem+json errors,
// and the user's Server-Sent Events (EventSource cannot send headers: ?access_token=).

const TOKEN_KEY = "atelier.token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An RFC 9457 problem the API answered with. */
class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
  }
}

export async function call(method, path, { body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Every page of a cursor-paginated list. */
export async function all(path, params = {}) {
  const items = [];
  let cursor;
  do {
    const page = await call("GET", path, { params: { ...params, limit: 100, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

const EVENT_TYPES = [
  "generation.requested",
  "generation.started",
  "generation.progress",
  "generation.completed",
  "generation.failed",
  "generation.cancel_requested",
  "generation.cancelled",
  "workspace.asset_saved",
  "workspace.asset_discarded",
  "workspace.asset_removed",
  "workspace.asset_expired",
  "workspace.asset_added",
  "workspace.asset_unsaved",
  "workspace.files_deleted",
  "library.asset_stored",
  "library.asset_updated",
  "library.asset_deleted",
  "library.copied_to_workspace",
  "library.files_deleted",
  "library.collection_created",
  "library.collection_updated",
  "library.collection_deleted",
];

/** Follow the user's events; `onLost` is told when the stream ends for good. */
export function follow(onEvent, onLost) {
  const url = `/v1/events?access_token=${encodeURIComponent(session.token)}`;
  const source = new EventSource(url);
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => onEvent(type, JSON.parse(message.data)));
  }
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) onLost(source);
  });
  return source;
}
