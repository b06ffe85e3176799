// Levels in dB: a meter from -60 dB (empty) to 0 dB (full) and the figure beside it.

const FLOOR_DB = -60;

export function showLevel(meter, label, db) {
  const known = typeof db === "number" && Number.isFinite(db);
  meter.value = known ? Math.max(0, Math.min(1, (db - FLOOR_DB) / -FLOOR_DB)) : 0;
  label.textContent = known && db > FLOOR_DB ? `${Math.round(db)} dB` : "— dB";
}

// The microphone's level, redrawn every frame while `call` carries this page's audio.
export function watchMicrophone(call, meter, label, stillCurrent) {
  const draw = () => {
    if (!stillCurrent() || call.state === "closed") return;
    showLevel(meter, label, call.inputDb);
    requestAnimationFrame(draw);
  };
  draw();
}
