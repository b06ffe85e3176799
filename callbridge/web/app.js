// The softphone page: live calls, dialling, answering, and the browser's audio through the SDK.
// It holds the session token (it is the operator's console); the audio itself joins with a call token.
import { CallbridgeCall, EventStream } from "/sdk/callbridge.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1)); // #token= never reaches a server at all
if (params.has("token") || fragment.has("token")) {
  // Read once, then out of the address bar (so out of history and bookmarks too); it lives in storage.
  const token = params.get("token") || fragment.get("token");
  if (token) localStorage.setItem("callbridge.token", token);
  params.delete("token");
  fragment.delete("token");
  const [query, hash] = [params.toString(), fragment.toString()];
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}${hash ? `#${hash}` : ""}`);
}
const relayOnly = params.get("relay") === "1"; // force TURN relays, as behind a strict NAT
const rawAudio = params.get("raw") === "1"; // no echo cancellation etc. (test tones, music)
// ?role=listen (a supervisor listening in) or ?role=whisper (a coach): joins as its own endpoint beside the agent's.
const role = ["listen", "whisper"].includes(params.get("role")) ? params.get("role") : "talk";
function endpointId() {
  if (role === "talk") return "default";
  let id = sessionStorage.getItem("callbridge.endpoint"); // the same one after a reload, so it is replaced
  if (!id) sessionStorage.setItem("callbridge.endpoint", (id = `${role}-${Math.random().toString(36).slice(2, 10)}`));
  return id;
}

const page = {
  token: localStorage.getItem("callbridge.token") || "",
  calls: new Map(),
  audio: null, // the CallbridgeCall whose audio this page carries
  recording: false,
  stream: null,
};
window.softphone = page;

function notice(text) {
  $("notice").textContent = text || "";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { token: page.token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || data.success === false) throw new Error(data.error || `${path}: HTTP ${response.status}`);
  return data.data;
}

function button(label, action, kind = "") {
  const b = document.createElement("button");
  b.textContent = label;
  if (kind) b.className = kind;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action();
      notice("");
    } catch (error) {
      notice(error.message);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function render() {
  const list = $("calls");
  list.replaceChildren();
  const live = [...page.calls.values()].filter((c) => c.State !== "ended");
  if (!live.length) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = page.token ? "No live calls." : "Enter a session token to see calls.";
    list.append(empty);
  }
  for (const call of live) {
    const item = document.createElement("li");
    item.dataset.callId = call.CallID;
    const who = document.createElement("div");
    const arrow = call.Direction === "incoming" ? "←" : "→";
    who.innerHTML = `<span class="who"></span> <span class="pill ${call.State}">${call.State}</span>` +
      `<div class="muted">${arrow} ${call.Direction}${call.Browser === "connected" ? " · audio here" : ""}</div>`;
    who.querySelector(".who").textContent = call.Name ? `${call.Name} (${call.Phone})` : call.Phone;
    const actions = document.createElement("div");
    actions.className = "row";
    if (call.State === "ringing" && call.Direction === "incoming") {
      actions.append(
        button("Answer", async () => {
          await api("POST", "/call/accept", { CallID: call.CallID });
          await joinAudio(call.CallID);
        }, "primary"),
        button("Reject", () => api("POST", "/call/reject", { CallID: call.CallID }), "danger"),
      );
    } else {
      if (call.State === "active" && page.audio?.callId !== call.CallID) {
        actions.append(button("Join audio", () => joinAudio(call.CallID), "primary"));
      }
      actions.append(button("Hang up", () => api("POST", "/call/end", { CallID: call.CallID }), "danger"));
    }
    item.append(who, actions);
    list.append(item);
  }
}

function update(call) {
  if (!call?.CallID) return;
  page.calls.set(call.CallID, { ...page.calls.get(call.CallID), ...call });
  render();
}

function watchCalls() {
  page.stream?.close();
  if (!page.token) return render();
  const stream = new EventStream("/call/events", { token: page.token }); // in a header, not the URL
  page.stream = stream;
  stream.addEventListener("calls", (e) => {
    page.calls = new Map(JSON.parse(e.data).map((c) => [c.CallID, c]));
    render();
  });
  for (const name of ["CallOffer", "CallAccept", "CallTerminate", "CallState"]) {
    stream.addEventListener(name, (e) => update(JSON.parse(e.data)));
  }
  stream.addEventListener("error", () =>
    notice(stream.closed ? "The session token was refused." : "Event stream interrupted; reconnecting…"));
  stream.addEventListener("open", () => notice(""));
}

const dbToMeter = (db) => (db == null ? 0 : Math.max(0, Math.min(1, Math.pow(10, db / 20) * 2)));

async function joinAudio(callId) {
  await page.audio?.leave();
  const { token } = await api("POST", "/call/webrtc/token", { CallID: callId, ...(role !== "talk" && { Role: role }) });
  const call = new CallbridgeCall({
    callId,
    token,
    endpointId: endpointId(),
    role,
    audio: $("remote-audio"),
    iceTransportPolicy: relayOnly ? "relay" : "all",
    audioConstraints: rawAudio
      ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false }
      : { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  page.audio = call;
  $("audio-panel").hidden = false;
  $("audio-title").textContent = `Audio${role !== "talk" ? ` (${role})` : ""}: ${page.calls.get(callId)?.Phone || callId}`;
  $("mute").hidden = role === "listen";
  call.addEventListener("state", (e) => {
    $("audio-state").textContent = e.detail.state;
    $("audio-state").className = `pill ${e.detail.state}`;
  });
  call.addEventListener("levels", (e) => ($("remote-level").value = dbToMeter(e.detail.whatsapp)));
  call.addEventListener("progress", (e) => {
    const parts = [];
    if (e.detail.Recording) parts.push(`recording ${e.detail.Recording.Seconds.toFixed(0)} s`);
    if (e.detail.Playing) parts.push(`playing ${e.detail.Playing.AudioFile} ${e.detail.Playing.Position.toFixed(0)} s`);
    $("progress").textContent = parts.join(" · ");
  });
  call.addEventListener("error", (e) => notice(e.detail.message));
  call.addEventListener("ended", () => closeAudio());
  call.addEventListener("detached", () => (notice("The call was transferred."), closeAudio()));
  sessionStorage.setItem("callbridge.joined", callId); // a reload joins again
  await call.join();
  render();
  const meter = () => {
    if (page.audio !== call || call.state === "closed") return;
    $("mic-level").value = call.inputLevel;
    requestAnimationFrame(meter);
  };
  meter();
}

function closeAudio() {
  page.audio = null;
  page.recording = false;
  sessionStorage.removeItem("callbridge.joined");
  $("audio-panel").hidden = true;
  $("record").textContent = "Record";
  render();
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  page.token = $("token").value.trim();
  localStorage.setItem("callbridge.token", page.token);
  watchCalls();
});

$("dial").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const { call } = await api("POST", "/call/make", { Phone: $("phone").value.trim() });
    update(call);
    notice("");
  } catch (error) {
    notice(error.message);
  }
});

$("mute").addEventListener("click", () => {
  if (!page.audio) return;
  page.audio.mute(!page.audio.muted);
  $("mute").textContent = page.audio.muted ? "Unmute" : "Mute";
});
$("leave").addEventListener("click", async () => {
  await page.audio?.leave();
  closeAudio();
});
$("hangup").addEventListener("click", () => page.audio && api("POST", "/call/end", { CallID: page.audio.callId }));
$("play").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api("POST", "/call/play", { CallID: page.audio.callId, AudioFile: $("audio-file").value.trim() });
    notice("");
  } catch (error) {
    notice(error.message);
  }
});
$("play-stop").addEventListener("click", () => page.audio && api("POST", "/call/play/stop", { CallID: page.audio.callId }));
$("record").addEventListener("click", async () => {
  if (!page.audio) return;
  try {
    const path = page.recording ? "/call/record/stop" : "/call/record";
    const result = await api("POST", path, { CallID: page.audio.callId });
    page.recording = !page.recording;
    $("record").textContent = page.recording ? "Stop recording" : "Record";
    notice(page.recording ? "" : `Saved ${result.Path} (${result.Seconds} s)`);
  } catch (error) {
    notice(error.message);
  }
});

$("token").value = page.token;
watchCalls();
const rejoin = sessionStorage.getItem("callbridge.joined");
if (rejoin && page.token) {
  api("GET", `/call/status?CallID=${encodeURIComponent(rejoin)}`)
    .then(({ call }) => (call.State === "active" ? joinAudio(rejoin) : sessionStorage.removeItem("callbridge.joined")))
    .catch(() => sessionStorage.removeItem("callbridge.joined"));
}
