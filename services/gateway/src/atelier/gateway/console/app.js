// Atelier's web console: sign in, then the views, all kept current by /v1/events.

import { call, follow, session } from "./api.js";
import { act, fail, onSubmit } from "./dom.js";
import * as detail from "./detail.js";
import * as generate from "./generate.js";
import * as jobs from "./jobs.js";
import * as library from "./library.js";
import * as usage from "./usage.js";
import * as webhooks from "./webhooks.js";
import * as workspace from "./workspace.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["create", "library", "webhooks"];
let stream = null;

function showView(name) {
  for (const view of VIEWS) $(view).hidden = view !== name;
  if (name === "webhooks") webhooks.refresh();
  for (const tab of document.querySelectorAll("nav [data-view]")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

function signedIn(yes) {
  $("signin").hidden = yes;
  $("nav").hidden = !yes;
  $("sign-out").hidden = !yes;
  if (!yes) $("usage-today").hidden = true;
  if (yes) showView("create");
  else for (const view of VIEWS) $(view).hidden = true;
}

function onEvent(type, body) {
  jobs.onEvent(type, body);
  workspace.onEvent(type, body);
  library.onEvent(type, body);
  usage.onEvent(type);
}

/** The stream ends for good on a refused token or a gateway that went away. */
function onLost() {
  fail({
    title: "Live updates stopped",
    message: "the event stream was closed; reload to reconnect",
  });
}

async function start() {
  await call("GET", "/v1/library/collections"); // the token is checked before anything shows
  signedIn(true);
  $("prompt").focus();
  stream = follow(onEvent, onLost);
  await Promise.all([
    jobs.refresh(),
    usage.refresh(),
    workspace.refresh(),
    library.refreshCollections().then(library.refresh),
  ]);
}

function signOut() {
  stream?.close();
  session.token = null;
  location.reload();
}

function setUp() {
  generate.setUp(jobs.submitted);
  detail.setUp();
  workspace.setUp();
  library.setUp();
  webhooks.setUp();
  for (const tab of document.querySelectorAll("nav [data-view]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  $("sign-out").addEventListener("click", signOut);
  const form = $("signin-form");
  onSubmit(form, (fields) => {
    session.token = fields.token.value.trim();
    return start().catch(refused);
  });
  // `make up` prints a link with the demo token in the fragment (never sent to a server).
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    session.token = fragment.get("token");
    history.replaceState(null, "", location.pathname);
  }
  if (session.token) act(null, () => start().catch(refused));
  else signedIn(false);
}

/** Back to the sign-in form; a refused token (401) is forgotten. */
function refused(error) {
  if (error.status === 401) session.token = null;
  signedIn(false);
  $("token").focus();
  throw error;
}

setUp();
