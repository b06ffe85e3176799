// After the call: the session's recent calls (the last 24 h, from /call/status?History=N) with direction,
// duration and end reason, and the recordings (GET /files?Kind=recordings) with a player and a download.

import { button, clock, el, notice, who } from "./ui.js";

const HISTORY = 50;
const DAY_MS = 24 * 3600 * 1000;
const known = new Map(); // CallID → call, from the recent calls: who a recording is of

export async function showHistory(session, list) {
  const since = Date.now() - DAY_MS;
  const ended = (await session.calls({ history: HISTORY })).filter(
    (c) => c.State === "ended" && Date.parse(c.EndedAt || c.StartedAt) >= since,
  );
  ended.forEach((call) => known.set(call.CallID, call));
  list.replaceChildren(
    ...(ended.length ? [] : [el("li", { class: "muted", text: "No calls in the last 24 hours." })]),
    ...ended.map((call) =>
      el(
        "li",
        { "data-history-id": call.CallID },
        el("span", {
          class: "direction",
          text: call.Direction === "incoming" ? "←" : "→",
          title: call.Direction,
          "aria-label": call.Direction,
        }),
        el("span", { class: "who", text: who(call) }),
        el("span", { class: "duration", text: call.AnsweredAt ? clock(call.Duration || 0) : "not answered" }),
        el("span", { class: "reason muted", text: call.EndReason || "" }),
        el("time", {
          class: "muted",
          dateTime: call.EndedAt,
          text: new Date(call.EndedAt || call.StartedAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
        }),
      ),
    ),
  );
}

function size(bytes) {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

// Each recording gets a player: the file is fetched with the token in a header and played from memory, so the
// token never goes into an <audio src> URL (and from there into logs).
export async function showRecordings(session, list, urls, live = new Map()) {
  const files = await session.files("recordings");
  urls.forEach((url) => URL.revokeObjectURL(url));
  urls.clear();
  files.sort((a, b) => String(b.Modified).localeCompare(String(a.Modified)));
  const load = async (name) => {
    if (!urls.has(name)) urls.set(name, URL.createObjectURL(await session.fileBlob(name)));
    return urls.get(name);
  };
  list.replaceChildren(
    ...(files.length ? [] : [el("li", { class: "muted", text: "No recordings yet." })]),
    ...files.map((file) => {
      const player = el("audio", { controls: true, preload: "none", hidden: true, "aria-label": `recording ${file.Name}` });
      const label = file.Name.split("/").pop();
      const call = live.get(file.CallID) || known.get(file.CallID);
      const row = el(
        "li",
        { "data-name": file.Name },
        el(
          "div",
          { class: "grow" },
          el("div", { class: "who", text: call ? `Call with ${who(call)}` : label }),
          el("div", {
            class: "muted",
            text: [
              call ? new Date(call.StartedAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : null,
              file.Seconds != null ? clock(file.Seconds) : null,
              size(file.Size),
              file.Incomplete ? "incomplete" : null,
            ].filter(Boolean).join(" · "),
          }),
        ),
        button("Play", async () => {
          player.src = await load(file.Name);
          player.hidden = false;
          await player.play().catch(() => notice("Press play on the player to listen.", "info"));
        }, { aria: `play ${label}` }),
        button("Download", async () => {
          const link = el("a", { href: await load(file.Name), download: label, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
        }, { aria: `download ${label}` }),
        player,
      );
      return row;
    }),
  );
}
