// callbridge browser SDK: join a WhatsApp call's audio from a web page.
//
//   import { CallbridgeCall } from "/sdk/callbridge.js";
//   const call = new CallbridgeCall({ callId, token, audio: document.querySelector("audio") });
//   call.addEventListener("state", (e) => console.log(e.detail));
//   await call.join();
//
// A call carries several endpoints, each under its own `endpointId` ("default" unless you say otherwise), each
// with a `role`: "talk" (the default: heard by the WhatsApp user and everyone), "listen" (hears everything, says
// nothing: no microphone is asked for) or "whisper" (heard by the other endpoints, never by the WhatsApp user).
// `token` should be a call token minted by your server (POST /call/webrtc/token): it is good for this call's
// audio and events only, so the session token never reaches the browser. Tokens go in headers, never in URLs.
// No dependencies (event-stream.js beside it is part of it); an ES module.

import { EventStream } from "./event-stream.js";

export { EventStream };

export class CallbridgeError extends Error {
  // code: "insecure-origin" | "microphone-denied" | "no-microphone" | "ice-failed" | "http" | "ended"
  //       | "unauthorized" (a wrong or expired token: 401) | "endpoint-limit" (CALLBRIDGE_MAX_ENDPOINTS reached)
  constructor(code, message, status) {
    super(message);
    this.name = "CallbridgeError";
    this.code = code;
    this.status = status;
  }
}

// A fetch of the gateway with the token in a header: the JSON answer (session.js uses it too).
export async function request(baseUrl, token, method, path, body) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok || data?.success === false) {
    const message = data?.error || `${method} ${path} answered ${response.status}`;
    const code =
      response.status === 401 ? "unauthorized"
      : response.status === 409 && /MAX_ENDPOINTS/.test(message) ? "endpoint-limit" // the call goes on: it is full
      : response.status === 409 ? "ended"
      : "http";
    throw new CallbridgeError(code, message, response.status);
  }
  return data;
}

const GATHER_TIMEOUT_MS = 5000;
const RECONNECT_AFTER_MS = 3000; // a "disconnected" connection gets this long to come back by itself
const MAX_RECONNECTS = 5;

export class CallbridgeCall extends EventTarget {
  constructor({
    callId,
    token,
    endpointId = "default",
    role = "talk",
    baseUrl = globalThis.location ? globalThis.location.origin : "",
    audio = null,
    iceTransportPolicy = "all",
    audioConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  }) {
    super();
    if (!callId || !token) throw new TypeError("callId and token are required");
    this.callId = callId;
    this.token = token;
    this.endpointId = endpointId;
    this.role = role;
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.audio = audio;
    this.iceTransportPolicy = iceTransportPolicy;
    this.audioConstraints = audioConstraints;
    this.pc = null;
    this.localStream = null;
    this.remoteStream = null;
    this.state = "idle"; // idle | joining | connected | reconnecting | closed
    this._reconnects = 0;
    this._disconnectTimer = null;
    this._events = null;
    this._meter = null;
    this._onOnline = () => this.state === "connected" || this.state === "reconnecting" ? this.reconnect() : null;
  }

  // The checklist: config → RTCPeerConnection → microphone → track → remote audio → offer → gathering →
  // POST the offer → the answer. Ending is watched on the event stream.
  async join() {
    this._setState("joining");
    try {
      const config = await this._api("GET", "/call/webrtc/config");
      if (this.role !== "listen") await this._microphone();
      await this._connect(config);
      this._watchEvents();
      globalThis.addEventListener?.("online", this._onOnline);
      return this;
    } catch (error) {
      this._fail(error);
      throw error;
    }
  }

  // Re-offer on a fresh connection: after a network change, or when the connection failed. The call and the
  // WhatsApp side never notice; the gateway swaps the browser leg.
  async reconnect() {
    if (this.state === "closed") return;
    if (this._reconnects >= MAX_RECONNECTS) {
      this._fail(new CallbridgeError("ice-failed", "could not reconnect the audio (ICE failed); check the network and TURN"));
      return;
    }
    this._reconnects += 1;
    this._setState("reconnecting");
    try {
      const config = await this._api("GET", "/call/webrtc/config");
      await this._connect(config);
    } catch (error) {
      this._emit("error", error);
      setTimeout(() => this.reconnect(), 1000 * this._reconnects);
    }
  }

  // Leave the call's audio (the call itself goes on at the gateway; end it from your server).
  async leave() {
    if (this.state === "closed") return;
    try {
      await this._api("POST", "/call/webrtc/close", { callID: this.callId, endpointID: this.endpointId });
    } catch (error) {
      this._emit("error", error);
    }
    this.close();
  }

  close() {
    if (this.state === "closed") return;
    this._setState("closed");
    globalThis.removeEventListener?.("online", this._onOnline);
    clearTimeout(this._disconnectTimer);
    this._events?.close();
    this.pc?.close();
    this.localStream?.getTracks().forEach((t) => t.stop());
    this._meter?.context.close();
  }

  mute(on = true) {
    this.localStream?.getAudioTracks().forEach((t) => (t.enabled = !on));
    this._emit("mute", { muted: on });
  }

  get muted() {
    const track = this.localStream?.getAudioTracks()[0];
    return track ? !track.enabled : false;
  }

  // The microphone's level now, 0 (silence) to 1 (full scale).
  get inputLevel() {
    if (!this._meter) return 0;
    return Math.min(1, this._rms() * 2);
  }

  // The same in dBFS (-Infinity for silence, 0 for full scale), as the levels events give the remote side.
  get inputDb() {
    if (!this._meter) return -Infinity;
    return 20 * Math.log10(Math.max(1e-9, this._rms()));
  }

  _rms() {
    const { analyser, buffer } = this._meter;
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const v of buffer) sum += v * v;
    return Math.sqrt(sum / buffer.length);
  }

  async _microphone() {
    if (this.localStream) return;
    if (globalThis.isSecureContext === false || !navigator.mediaDevices?.getUserMedia) {
      throw new CallbridgeError("insecure-origin",
        "the microphone needs a secure page: serve it over HTTPS (or from localhost)");
    }
    try {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints, video: false });
    } catch (error) {
      if (error.name === "NotAllowedError" || error.name === "SecurityError") {
        throw new CallbridgeError("microphone-denied", "microphone access was denied: allow it for this site");
      }
      if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
        throw new CallbridgeError("no-microphone", "no microphone was found");
      }
      throw error;
    }
    const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (AudioContextClass) {
      const context = new AudioContextClass();
      const analyser = context.createAnalyser();
      analyser.fftSize = 1024;
      context.createMediaStreamSource(this.localStream).connect(analyser);
      this._meter = { context, analyser, buffer: new Float32Array(analyser.fftSize) };
    }
  }

  async _connect(config) {
    const old = this.pc;
    const pc = new RTCPeerConnection({ iceServers: config.iceServers, iceTransportPolicy: this.iceTransportPolicy });
    this.pc = pc;
    old?.close();
    if (this.localStream) this.localStream.getTracks().forEach((track) => pc.addTrack(track, this.localStream));
    else pc.addTransceiver("audio", { direction: "recvonly" }); // a listener: hears, sends nothing
    pc.ontrack = (event) => {
      this.remoteStream = event.streams[0] || new MediaStream([event.track]);
      if (this.audio) {
        this.audio.srcObject = this.remoteStream;
        this.audio.play?.().catch(() => this._emit("autoplay-blocked", {}));
      }
      this._emit("track", { stream: this.remoteStream });
    };
    pc.onconnectionstatechange = () => this._onConnectionState(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await this._gathered(pc);
    const answer = await this._api("POST", "/call/webrtc/offer", {
      callID: this.callId,
      type: "offer",
      sdp: pc.localDescription.sdp,
      endpointID: this.endpointId,
      role: this.role,
    });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  // The gateway takes complete offers only (no trickle ICE), as WhatsApp does.
  _gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState !== "complete") return;
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_TIMEOUT_MS); // send what was gathered rather than hang
    });
  }

  _onConnectionState(pc) {
    if (pc !== this.pc || this.state === "closed") return;
    const state = pc.connectionState;
    clearTimeout(this._disconnectTimer);
    if (state === "connected") {
      this._reconnects = 0;
      this._setState("connected");
    } else if (state === "failed") {
      this.reconnect();
    } else if (state === "disconnected") {
      this._disconnectTimer = setTimeout(() => this.reconnect(), RECONNECT_AFTER_MS);
    }
  }

  _watchEvents() {
    if (!globalThis.TextDecoderStream) return;
    const url = `${this.baseUrl}/call/events?CallID=${encodeURIComponent(this.callId)}`;
    const events = new EventStream(url, { token: this.token });
    this._events = events;
    const forward = (name) => events.addEventListener(name, (e) => this._emit(name, JSON.parse(e.data)));
    ["call", "CallState", "CallAccept", "CallTerminate", "CallDTMF", "EndpointAttached", "EndpointDetached", "levels",
      "progress"]
      .forEach(forward);
    // Transferred away (POST /call/transfer detached this talker): stay away rather than reconnect and take the
    // call back. Replacements and network losses are left to the connection watch (a reload, our own re-offer).
    events.addEventListener("EndpointDetached", (e) => {
      const data = JSON.parse(e.data);
      if (data.Endpoint?.EndpointID !== this.endpointId || data.Reason !== "transferred") return;
      this._emit("detached", data);
      this.close();
    });
    events.addEventListener("CallState", (e) => {
      const data = JSON.parse(e.data);
      if (data.Event === "ended") {
        this._emit("ended", data);
        this.close();
      }
    });
  }

  _api(method, path, body) {
    return request(this.baseUrl, this.token, method, path, body);
  }

  _fail(error) {
    this._emit("error", error);
    if (error instanceof CallbridgeError && error.code !== "http") this.close();
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", { state });
  }

  _emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
