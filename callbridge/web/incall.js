// The call this page carries: who it is, how long it has lasted, and the agent's tools (mute, hold, record
// with a consent announcement, play a file, transfer warm or blind, a supervisor's link). Everything shown is
// reset between calls, so nothing from one call carries into the next.

import { $, clock, copy, el, notice, who } from "./ui.js";

const SELECTS = ["play-file", "announce-file", "hold-file"];
let progressFade = null;

// The playable files (GET /files?Kind=audio) in the pickers; a consent-like name is the announcement by default.
export async function fillFilePickers(session) {
  let names = [];
  try {
    names = (await session.files("audio")).map((f) => f.Name).sort();
  } catch (error) {
    notice(`Audio files unavailable: ${error.message}`, "info");
  }
  const options = (extra) => [
    ...extra,
    ...names.map((name) => el("option", { value: name, text: name })),
  ];
  $("play-file").replaceChildren(...options(names.length ? [] : [el("option", { value: "", text: "no audio files" })]));
  $("announce-file").replaceChildren(...options([el("option", { value: "", text: "the gateway's default" })]));
  $("hold-file").replaceChildren(...options([el("option", { value: "", text: "silence while on hold" })]));
  $("announce-file").dataset.default = names.find((n) => /consent|announce|recording/i.test(n)) || "";
  resetPickers();
}

function resetPickers() {
  for (const id of SELECTS) $(id).value = $(id).dataset.default || $(id).options[0]?.value || "";
}

export function resetPanel() {
  $("progress").textContent = "";
  $("dtmf-digits").textContent = "";
  $("call-timer").textContent = "0:00";
  $("mute").textContent = "Mute";
  $("mute").setAttribute("aria-pressed", "false");
  $("record").textContent = "Record";
  $("audio-state").textContent = "idle";
  $("audio-state").className = "pill";
  resetPickers();
  $("call-held").hidden = true;
}

// The call object as the events give it: name and number, held, recording.
export function showCall(call, role) {
  if (!call) return;
  $("call-who").textContent = call.Name || call.Phone || call.CallID;
  $("call-phone").textContent = call.Name ? call.Phone : call.Direction || "";
  $("call-role").textContent = role !== "talk" ? `· ${role === "listen" ? "listening in" : "whispering"}` : "";
  $("call-held").hidden = !call.Held;
  $("hold").textContent = call.Held ? "Resume" : "Hold";
  $("hold").setAttribute("aria-pressed", String(Boolean(call.Held)));
  const busy = Boolean(call.Recording || call.Announcing);
  $("record").textContent = busy ? "Stop recording" : "Record";
  if (call.Announcing && !$("progress").textContent) $("progress").textContent = "consent announcement playing…";
  if (call.State === "ended") $("progress").textContent = "";
}

export function tick(call) {
  if (call?.AnsweredAt && call.State === "active") {
    $("call-timer").textContent = clock((Date.now() - Date.parse(call.AnsweredAt)) / 1000);
  }
}

// Recording and playback progress, as the call's stream reports it each second; gone when it stops coming.
export function showProgress(detail) {
  const parts = [];
  if (detail.Recording) parts.push(`recording ${detail.Recording.Seconds.toFixed(0)} s`);
  if (detail.Playing) parts.push(`playing ${detail.Playing.AudioFile} ${detail.Playing.Position.toFixed(0)} s`);
  $("progress").textContent = parts.join(" · ");
  clearTimeout(progressFade);
  progressFade = setTimeout(() => ($("progress").textContent = ""), 2500);
}

// A link to this page that joins the call with a call token: in the fragment, so it never reaches a server.
export function callLink(callId, token, role, endpointId) {
  const fragment = new URLSearchParams({ call: callId, calltoken: token, ...(endpointId && { endpoint: endpointId }) });
  return `${location.origin}/${role !== "talk" ? `?role=${role}` : ""}#${fragment}`;
}

export function clearLink() {
  $("link").value = "";
  $("link").hidden = true;
}

export async function share(link, what) {
  $("link").value = link;
  $("link").hidden = false;
  $("link").select();
  notice((await copy(link)) ? `${what} copied.` : `${what}: copy it from the box below.`, "success");
}

// The panel's buttons; `page` carries the session and the call whose audio this page has.
export function wirePanel(page, { leave }) {
  const callId = () => page.audio?.callId;
  const run = (b, action) =>
    $(b).addEventListener("click", async () => {
      if (!callId()) return;
      $(b).disabled = true;
      try {
        await action(callId());
      } catch (error) {
        notice(error.message);
      } finally {
        $(b).disabled = false;
      }
    });

  $("mute").addEventListener("click", () => page.toggleMute());
  run("hold", async (id) => {
    const held = !page.calls.get(id)?.Held;
    await page.session.hold(id, held, $("hold-file").value);
    page.update({ ...page.calls.get(id), Held: held }); // at once; the held/resumed event tells other pages
    notice(held ? "The caller is on hold." : "The call is resumed.", "info");
  });
  run("hangup", (id) => page.session.end(id));
  $("leave").addEventListener("click", () => leave());
  run("record", async (id) => {
    const call = page.calls.get(id);
    if (call?.Recording || call?.Announcing) {
      const done = await page.session.stopRecord(id);
      $("progress").textContent = "";
      notice(done.Seconds != null ? `Recording saved: ${done.Path} (${Number(done.Seconds).toFixed(0)} s)` : "Recording stopped.", "success");
      page.refreshRecordings();
    } else {
      const announce = $("announce-on").checked ? $("announce-file").value || undefined : "";
      const started = await page.session.record(id, { announce });
      $("progress").textContent = started.Announce ? `announcing ${started.Announce}, then recording…` : "recording…";
      page.update({ ...page.calls.get(id), ...(started.Announce ? { Announcing: true } : { Recording: started }) });
    }
  });
  run("play", async (id) => {
    if (!$("play-file").value) throw new Error("Choose a file to play (none is in the files dir).");
    const playing = await page.session.play(id, $("play-file").value);
    notice(`Playing ${$("play-file").value} (${Number(playing.Seconds).toFixed(0)} s)`, "info");
  });
  run("play-stop", (id) => page.session.stopPlay(id));
  run("warm-link", async (id) => {
    const { token } = await page.session.callToken(id, "talk");
    const endpointId = `agent-${Math.random().toString(36).slice(2, 8)}`;
    await share(callLink(id, token, "talk", endpointId), "Agent link");
  });
  $("warm-done").addEventListener("click", () => leave("Handed over: you left the call."));
  run("blind", async (id) => {
    const { token } = await page.session.transfer(id, $("hold-file").value);
    await share(callLink(id, token, "talk", "default"), "Transferred: the next agent's link");
  });
  run("supervisor-link", async (id) => {
    const { token } = await page.session.callToken(id, "listen");
    await share(callLink(id, token, "listen"), "Supervisor link");
  });
}
