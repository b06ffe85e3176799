// Keyboard shortcuts for a shift at the desk: Enter dials, A answers, H hangs up, M mutes. Never while typing in
// a field (Enter there submits its own form), nor with a modifier held (the browser's shortcuts stay).

export function bindKeys({ dial, answer, hangup, mute }) {
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || e.defaultPrevented) return;
    const target = e.target instanceof Element ? e.target : null;
    if (target?.closest("input, textarea, select, [contenteditable]")) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const action = { a: answer, h: hangup, m: mute }[key] || (key === "Enter" && !target?.closest("button, a, summary, audio") ? dial : null);
    if (!action) return;
    e.preventDefault();
    action();
  });
}
