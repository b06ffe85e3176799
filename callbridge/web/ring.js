// An incoming call is heard, seen and notified: a ring made with Web Audio (two tones, 2 s on, 4 s off, as a
// phone line rings; no audio file), the tab's title, and a browser notification when the tab is hidden.

const TONES = [440, 480];
const ON_S = 2;
const PERIOD_S = 6;

export const ring = {
  active: false,
  context: null,
  analyser: null, // what is being rung, for a level display (and tests)
  _gain: null,
  _oscillators: [],
  _timer: null,
  _notification: null,
  _title: document.title,
};

function audio() {
  if (!ring.context) {
    const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AudioContextClass) return null;
    ring.context = new AudioContextClass();
    ring.analyser = ring.context.createAnalyser();
    ring.analyser.connect(ring.context.destination);
  }
  return ring.context;
}

// Browsers start audio only after a gesture on the page: any click or key unlocks the ring (and asks once
// whether notifications may be shown).
export function unlockOnGesture() {
  const unlock = () => {
    audio()?.resume();
    if (globalThis.Notification?.permission === "default") Notification.requestPermission().catch(() => {});
  };
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });
}

function burst(context) {
  const now = context.currentTime;
  ring._gain.gain.cancelScheduledValues(now);
  ring._gain.gain.setValueAtTime(0, now);
  ring._gain.gain.linearRampToValueAtTime(0.15, now + 0.02);
  ring._gain.gain.setValueAtTime(0.15, now + ON_S - 0.02);
  ring._gain.gain.linearRampToValueAtTime(0, now + ON_S);
}

export function startRing(label, callId) {
  if (ring.active) return;
  ring.active = true;
  ring._title = document.title;
  document.title = `☎ Incoming call: ${label}`;
  const context = audio();
  if (context) {
    context.resume().catch(() => {});
    ring._gain = context.createGain();
    ring._gain.gain.value = 0;
    ring._gain.connect(ring.analyser);
    ring._oscillators = TONES.map((hz) => {
      const osc = context.createOscillator();
      osc.frequency.value = hz;
      osc.connect(ring._gain);
      osc.start();
      return osc;
    });
    burst(context);
    ring._timer = setInterval(() => burst(context), PERIOD_S * 1000);
  }
  if (document.hidden && globalThis.Notification?.permission === "granted") {
    ring._notification = new Notification("Incoming WhatsApp call", { body: label, tag: callId, requireInteraction: true });
    ring._notification.onclick = () => {
      window.focus();
      ring._notification?.close();
    };
  }
}

// Ringing, but silent: the browser keeps the page's audio off until a click or key on it.
export const ringMuted = () => ring.active && ring.context !== null && ring.context.state !== "running";

export function stopRing() {
  if (!ring.active) return;
  ring.active = false;
  document.title = ring._title;
  clearInterval(ring._timer);
  ring._oscillators.forEach((osc) => osc.stop());
  ring._gain?.disconnect();
  ring._oscillators = [];
  ring._notification?.close();
  ring._notification = null;
}
