// The dial pad: between calls its keys type the number to dial; during a call it shows the keys the caller
// pressed (CallDTMF events), lit as they arrive.

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

export function createDialpad(container, onKey) {
  container.replaceChildren(
    ...KEYS.map((key) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = key;
      b.dataset.key = key;
      b.setAttribute("aria-label", `key ${key}`);
      b.addEventListener("click", () => onKey(key));
      return b;
    }),
  );
}

// A key the caller pressed: added to the digits shown, and its key lit for a moment.
export function showDigit(container, digitsLine, digit) {
  digitsLine.textContent = `${digitsLine.textContent}${digit}`;
  const key = container.querySelector(`[data-key="${CSS.escape(digit)}"]`);
  if (!key) return;
  key.classList.add("lit");
  setTimeout(() => key.classList.remove("lit"), 400);
}
