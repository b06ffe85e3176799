// Small DOM helpers the softphone's modules share: lookups, elements, buttons whose failures are reported, and
// the notice line (errors stay until the next action; successes and information fade by themselves).

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

let fade = null;

// kind: "error" and "ended" (a call's end reason) stay; "success" and "info" fade after a few seconds; no text clears.
export function notice(text, kind = "error") {
  const line = $("notice");
  clearTimeout(fade);
  line.textContent = text || "";
  line.dataset.kind = text ? kind : "";
  if (text && (kind === "success" || kind === "info")) fade = setTimeout(() => notice(""), 8000);
}

// A button that runs `action`, disabled meanwhile; a failure goes to the notice line, success clears a stale error.
export function button(label, action, { kind = "", aria, title } = {}) {
  const b = el("button", { type: "button", class: kind, text: label, "aria-label": aria, title });
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await action();
      if ($("notice").dataset.kind === "error") notice("");
    } catch (error) {
      notice(error.message);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// 75 → "1:15", 3725 → "1:02:05"
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

export const who = (call) => (call?.Name ? `${call.Name} (${call.Phone})` : call?.Phone || "");

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no permission, or not a secure page: the link is shown to copy by hand
  }
}
