// The softphone page: live calls, ringing, answering, dialling, and the audio of one call through the SDK.
// It holds the session token (it is the operator's console); the audio itself joins with a call token, and a
// link made for a supervisor or another agent (#call=…&calltoken=…) joins with that token alone.
import { CallbridgeCall } from "/sdk/callbridge.js";
import { CallbridgeSession } from "/sdk/session.js";
import { createDialpad, showDigit } from "./dialpad.js";
import { showHistory, showRecordings } from "./history.js";
import { clearLink, fillFilePickers, resetPanel, showCall, showProgress, tick, wirePanel } from "./incall.js";
import { bindKeys } from "./keys.js";
import { showLevel, watchMicrophone } from "./levels.js";
import { ring, ringMuted, startRing, stopRing, unlockOnGesture } from "./ring.js";
import { showSupervisor } from "./supervisor.js";
import { $, button, el, notice, who } from "./ui.js";

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1)); // #token= never reaches a server at all
const PRIVATE = ["token", "call", "calltoken", "endpoint"];
if (PRIVATE.some((name) => params.has(name) || fragment.has(name))) {
  // Read once, then out of the address bar (so out of history and bookmarks too); they live in storage.
  const token = params.get("token") || fragment.get("token");
  if (token) localStorage.setItem("callbridge.token", token);
  if (fragment.get("calltoken") && fragment.get("call")) {
    const link = { callId: fragment.get("call"), token: fragment.get("calltoken"), endpointId: fragment.get("endpoint") };
    sessionStorage.setItem("callbridge.joined", JSON.stringify(link));
  }
  PRIVATE.forEach((name) => (params.delete(name), fragment.delete(name)));
  const [query, hash] = [params.toString(), fragment.toString()];
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${hash ? `#${hash}` : ""}`);
}
const relayOnly = params.get("relay") === "1"; // force TURN relays, as behind a strict NAT
const rawAudio = params.get("raw") === "1"; // no echo cancellation etc. (test tones, music)
// ?role=listen (a supervisor listening in) or ?role=whisper (a coach): joins as its own endpoint beside the agent's.
const pageRole = ["listen", "whisper"].includes(params.get("role")) ? params.get("role") : "talk";

const page = {
  token: localStorage.getItem("callbridge.token") || "",
  session: null, // CallbridgeSession with the session token
  calls: new Map(),
  audio: null, // the CallbridgeCall whose audio this page carries
  role: "talk",
  dialed: new Set(), // outgoing calls placed here: their audio joins when they are answered
  recordingUrls: new Map(),
  stream: null,
  refused: false,
  ring,
};
window.softphone = page;

// Another talker is on the call (warm transfer): join beside it under an id of our own, not in its place.
function endpointFor(call, role) {
  if (role === "talk") {
    const talking = (call?.Endpoints || []).some((e) => e.Role === "talk" && e.State !== "closed");
    return talking ? `agent-${Math.random().toString(36).slice(2, 8)}` : "default";
  }
  let id = sessionStorage.getItem("callbridge.endpoint"); // the same one after a reload, so it is replaced
  if (!id?.startsWith(role)) sessionStorage.setItem("callbridge.endpoint", (id = `${role}-${Math.random().toString(36).slice(2, 10)}`));
  return id;
}

function render() {
  const all = [...page.calls.values()];
  const live = all.filter((c) => c.State !== "ended");
  const list = $("calls");
  list.replaceChildren();
  if (!live.length) {
    const text = page.refused ? "The session token was refused." : page.token ? "No live calls." : "Enter a session token to see calls.";
    list.append(el("li", { class: page.refused ? "error" : "muted", text }));
  }
  for (const call of live) {
    const actions = el("div", { class: "row" });
    const incoming = call.State === "ringing" && call.Direction === "incoming";
    if (incoming) {
      actions.append(button("Answer", () => answer(call.CallID), { kind: "primary", aria: `answer ${who(call)}` }),
        button("Reject", () => page.session.reject(call.CallID), { kind: "danger", aria: `reject ${who(call)}` }));
    } else {
      if (call.State === "active" && page.audio?.callId !== call.CallID) {
        actions.append(button("Join audio", () => joinAudio(call.CallID), { kind: "primary" }));
      }
      actions.append(button("Hang up", () => page.session.end(call.CallID), { kind: "danger", aria: `hang up ${who(call)}` }));
    }
    const state = call.Held ? "held" : call.State;
    const details = `${call.Direction === "incoming" ? "←" : "→"} ${call.Direction}${page.audio?.callId === call.CallID ? " · audio here" : ""}`;
    list.append(el("li", { "data-call-id": call.CallID },
      el("div", {}, el("span", { class: "who", text: who(call) }), " ", el("span", { class: `pill ${state}`, text: state }),
        el("div", { class: "muted", text: details })),
      actions));
  }
  const ringing = live.find((c) => c.State === "ringing" && c.Direction === "incoming");
  $("incoming").hidden = !ringing;
  if (ringing) {
    $("incoming-who").textContent = who(ringing);
    $("incoming").dataset.callId = ringing.CallID;
    if (!ring.active) {
      startRing(who(ringing), ringing.CallID);
      setTimeout(() => ringMuted() && notice("Click anywhere on the page once to hear calls ring.", "info"), 1000);
    }
  } else stopRing();
  if (page.session) showSupervisor($("supervised"), live, page.audio?.callId, (id, role) => joinAudio(id, { role }));
}

page.update = (call) => {
  if (!call?.CallID) return;
  page.calls.set(call.CallID, call); // events carry the whole call: held, recording... are as given
  if (page.audio?.callId === call.CallID) showCall(call, page.role);
  render();
};

let refreshing = null;
page.refreshHistory = () => {
  clearTimeout(refreshing);
  refreshing = setTimeout(() => page.session && showHistory(page.session, $("recent")).catch(() => {}), 300);
};
page.refreshRecordings = () =>
  page.session && showRecordings(page.session, $("recordings"), page.recordingUrls, page.calls).catch(() => {});

// A call that ended by itself (hung up, rejected, unanswered) says so, and the reason stays until the next action.
function ended(call) {
  const mine = page.audio?.callId === call.CallID;
  if (mine) closeAudio();
  if (mine || page.dialed.has(call.CallID) || $("incoming").dataset.callId === call.CallID) {
    notice(`Call with ${who(call)} ended: ${call.EndReason || call.Reason || "ended"}`, "ended");
  }
  page.dialed.delete(call.CallID);
  page.refreshHistory();
  setTimeout(page.refreshRecordings, 500); // the recording is closed with the call
}

function watchCalls() {
  page.stream?.close();
  page.refused = false;
  document.body.classList.toggle("no-session", !page.token);
  page.session = page.token ? new CallbridgeSession({ token: page.token }) : null;
  if (!page.session) return render();
  const stream = page.session.events();
  page.stream = stream;
  const connection = (text, kind) => (($("connection").textContent = text), ($("connection").className = `pill ${kind}`));
  stream.addEventListener("open", () => {
    connection("online", "connected");
    if ($("notice").dataset.kind === "error") notice("");
    page.refreshHistory();
    page.refreshRecordings();
    fillFilePickers(page.session);
  });
  stream.addEventListener("calls", (e) => {
    page.calls = new Map(JSON.parse(e.data).map((c) => [c.CallID, c]));
    render();
  });
  const on = (name, then) => stream.addEventListener(name, (e) => {
    const call = JSON.parse(e.data);
    page.update(call);
    then?.(call);
  });
  on("CallOffer");
  on("CallAccept", (call) => page.dialed.has(call.CallID) && page.audio?.callId !== call.CallID && joinAudio(call.CallID).catch((error) => notice(error.message)));
  on("CallTerminate", ended);
  on("CallState", (call) => ["recording_finished", "media_warning"].includes(call.Event) && page.refreshRecordings());
  on("EndpointAttached");
  on("EndpointDetached");
  stream.addEventListener("error", (e) => {
    if (e.status === 401) {
      page.refused = true;
      connection("token refused", "error");
      notice("The session token was refused: check it and press Use.");
      render();
    } else if (stream.closed) {
      connection("refused", "error");
      notice(`The event stream was refused (HTTP ${e.status}).`);
    } else connection("reconnecting…", "warn");
  });
}

async function answer(callId) {
  stopRing();
  await page.session.accept(callId);
  await joinAudio(callId);
}

async function joinAudio(callId, { role = pageRole, token, endpointId } = {}) {
  if (page.audio) {
    const previous = page.audio;
    page.audio = null;
    await previous.leave();
  }
  resetPanel();
  clearLink();
  notice("");
  if (page.session) fillFilePickers(page.session); // what is playable now
  const known = page.calls.get(callId);
  endpointId ||= endpointFor(known, role);
  const linked = Boolean(token); // a link's call token: kept for a reload, as there may be no session to mint one
  token ||= (await page.session.callToken(callId, role)).token;
  const call = new CallbridgeCall({
    callId,
    token,
    endpointId,
    role,
    audio: $("remote-audio"),
    iceTransportPolicy: relayOnly ? "relay" : "all",
    audioConstraints: rawAudio
      ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false }
      : { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  page.audio = call;
  page.role = role;
  $("audio-panel").hidden = false;
  $("mute").hidden = role === "listen";
  showCall(known || { CallID: callId }, role);
  const current = () => page.audio === call;
  call.addEventListener("state", (e) => {
    $("audio-state").textContent = e.detail.state;
    $("audio-state").className = `pill ${e.detail.state}`;
  });
  call.addEventListener("levels", (e) => current() && showLevel($("remote-level"), $("remote-db"), e.detail.whatsapp));
  call.addEventListener("progress", (e) => current() && showProgress(e.detail));
  call.addEventListener("CallDTMF", (e) => current() && showDigit($("dialpad"), $("dtmf-digits"), e.detail.Digit));
  for (const name of ["call", "CallState", "CallAccept", "EndpointAttached", "EndpointDetached"]) {
    call.addEventListener(name, (e) => current() && !page.session && page.update(e.detail)); // a link: no session stream
  }
  call.addEventListener("error", (e) => current() && notice(e.detail.message));
  call.addEventListener("ended", (e) => current() && ended(e.detail));
  call.addEventListener("detached", () => {
    if (!current()) return;
    closeAudio();
    notice(`The call was transferred.${$("link").value ? " Give the next agent the link below." : ""}`, "ended");
  });
  call.addEventListener("autoplay-blocked", () => notice("Click anywhere on the page to hear the call.", "info"));
  sessionStorage.setItem("callbridge.joined", JSON.stringify({ callId, role, endpointId, ...(linked && { token }) }));
  await call.join();
  render();
  watchMicrophone(call, $("mic-level"), $("mic-db"), current);
}

function closeAudio() {
  page.audio = null;
  sessionStorage.removeItem("callbridge.joined");
  $("audio-panel").hidden = true;
  resetPanel();
  render();
}

async function leave(message) {
  const call = page.audio;
  if (!call) return;
  closeAudio();
  await call.leave();
  if (message) notice(message, "info");
}

page.toggleMute = () => {
  if (!page.audio || page.role === "listen") return;
  page.audio.mute(!page.audio.muted);
  $("mute").textContent = page.audio.muted ? "Unmute" : "Mute";
  $("mute").setAttribute("aria-pressed", String(page.audio.muted));
};

async function dial() {
  const phone = $("phone-number").value.trim();
  if (!phone) return $("phone-number").focus();
  if (!page.session) return notice("Enter a session token first.");
  try {
    notice("");
    const call = await page.session.make(phone);
    page.dialed.add(call.CallID); // joins by itself once answered (CallAccept)
    page.update(call);
    $("phone-number").value = "";
    notice(`Calling ${who(call)}…`, "info");
  } catch (error) {
    notice(error.message);
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  page.token = $("token").value.trim();
  localStorage.setItem("callbridge.token", page.token);
  notice("");
  watchCalls();
});
$("dial").addEventListener("submit", (e) => (e.preventDefault(), dial()));
$("answer").addEventListener("click", () => answer($("incoming").dataset.callId).catch((error) => notice(error.message)));
$("reject").addEventListener("click", () => page.session?.reject($("incoming").dataset.callId).catch((error) => notice(error.message)));
createDialpad($("dialpad"), (key) => {
  if (!page.audio) $("phone-number").value += key;
});
wirePanel(page, { leave });
bindKeys({
  dial,
  answer: () => !$("incoming").hidden && $("answer").click(),
  hangup: () => (page.audio ? $("hangup").click() : !$("incoming").hidden && $("reject").click()),
  mute: page.toggleMute,
});
unlockOnGesture();
setInterval(() => tick(page.calls.get(page.audio?.callId)), 1000);

$("token").value = page.token;
watchCalls();
let rejoin = null;
try {
  rejoin = JSON.parse(sessionStorage.getItem("callbridge.joined") || "null");
} catch {
  rejoin = { callId: sessionStorage.getItem("callbridge.joined") }; // the earlier page kept the CallID alone
}
if (rejoin?.token) {
  // A link (a supervisor's, a transfer's): its call token is all it needs.
  joinAudio(rejoin.callId, { role: rejoin.role || pageRole, token: rejoin.token, endpointId: rejoin.endpointId || undefined })
    .catch((error) => (notice(error.message), closeAudio()));
} else if (rejoin?.callId && page.session) {
  page.session.call(rejoin.callId)
    .then((call) => (call.State === "active" ? joinAudio(rejoin.callId, rejoin) : sessionStorage.removeItem("callbridge.joined")))
    .catch(() => sessionStorage.removeItem("callbridge.joined"));
}
