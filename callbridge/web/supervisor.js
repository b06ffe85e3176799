// The supervisor view: the session's live calls with the agents (endpoints) on each, and one click to listen
// in or whisper to the agent. It joins as an endpoint of its own, beside the agent's.

import { button, el, who } from "./ui.js";

export function showSupervisor(list, calls, currentCallId, join) {
  const live = calls.filter((c) => c.State === "active");
  list.replaceChildren(
    ...(live.length ? [] : [el("li", { class: "muted", text: "No active calls to supervise." })]),
    ...live.map((call) => {
      const agents = (call.Endpoints || []).map((e) =>
        el("li", { class: `agent ${e.State}` }, `${e.EndpointID} · ${e.Role} · ${e.State}`),
      );
      const here = call.CallID === currentCallId;
      return el(
        "li",
        { "data-supervise-id": call.CallID },
        el(
          "div",
          { class: "grow" },
          el("div", { class: "who", text: who(call) }),
          el("ul", { class: "agents", "aria-label": "endpoints on the call" },
            ...(agents.length ? agents : [el("li", { class: "muted", text: "no agent connected" })])),
        ),
        here
          ? el("span", { class: "pill", text: "audio here" })
          : el("div", { class: "row" },
            button("Listen", () => join(call.CallID, "listen"), { aria: `listen to the call with ${who(call)}` }),
            button("Whisper", () => join(call.CallID, "whisper"), { aria: `whisper to the agent on ${who(call)}` })),
      );
    }),
  );
}
