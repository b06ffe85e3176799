// The session side of the SDK (/sdk/session.js, beside callbridge.js), for consoles that hold a session token (an operator's own page, like the
// softphone): the calls, their commands, call tokens for pages, and the files. A page that only carries one
// call's audio needs none of this: it gets a call token from your server and uses CallbridgeCall.
//
//   const session = new CallbridgeSession({ token, baseUrl: "https://calls.example.com" });
//   const calls = await session.calls({ history: 20 });
//   const events = session.events(); events.addEventListener("CallOffer", (e) => ...JSON.parse(e.data));

import { EventStream } from "./event-stream.js";
import { CallbridgeError, request } from "./callbridge.js";

const path = (name) => name.split("/").map(encodeURIComponent).join("/");

export class CallbridgeSession {
  constructor({ token, baseUrl = globalThis.location ? globalThis.location.origin : "" }) {
    if (!token) throw new TypeError("token is required");
    this.token = token;
    this.baseUrl = baseUrl.replace(/\/$/, "");
  }

  // The envelope's `data`; a CallbridgeError (code "unauthorized" for a refused token) otherwise.
  async request(method, route, body) {
    return (await request(this.baseUrl, this.token, method, route, body)).data;
  }

  // The live calls, then up to `history` ended ones, newest first.
  async calls({ history = 0 } = {}) {
    return (await this.request("GET", `/call/status${history ? `?History=${history}` : ""}`)).calls;
  }

  async call(callId) {
    return (await this.request("GET", `/call/status?CallID=${encodeURIComponent(callId)}`)).call;
  }

  async make(phone, extra = {}) {
    return (await this.request("POST", "/call/make", { Phone: phone, ...extra })).call;
  }

  accept(callId) {
    return this.request("POST", "/call/accept", { CallID: callId });
  }

  reject(callId) {
    return this.request("POST", "/call/reject", { CallID: callId });
  }

  end(callId) {
    return this.request("POST", "/call/end", { CallID: callId });
  }

  // On hold the caller and the endpoints are cut off from each other; the caller hears holdAudio (a file) or silence.
  hold(callId, on, holdAudio) {
    return this.request("POST", "/call/hold", { CallID: callId, On: on, ...(on && holdAudio && { HoldAudio: holdAudio }) });
  }

  // Blind transfer: the talkers are detached; the result's `token` is a call token for the next agent.
  transfer(callId, holdAudio) {
    return this.request("POST", "/call/transfer", { CallID: callId, ...(holdAudio && { HoldAudio: holdAudio }) });
  }

  // A call token for a page: role "talk" (default), "listen" (a supervisor link) or "whisper" (a coach).
  callToken(callId, role = "talk") {
    return this.request("POST", "/call/webrtc/token", { CallID: callId, ...(role !== "talk" && { Role: role }) });
  }

  play(callId, audioFile, to = "all") {
    return this.request("POST", "/call/play", { CallID: callId, AudioFile: audioFile, To: to });
  }

  stopPlay(callId) {
    return this.request("POST", "/call/play/stop", { CallID: callId });
  }

  // announce: a file everyone hears first (consent); "" records at once even when the gateway sets a default.
  record(callId, { announce, path: file, stereo } = {}) {
    return this.request("POST", "/call/record", {
      CallID: callId,
      ...(announce !== undefined && { Announce: announce }),
      ...(file && { Path: file }),
      ...(stereo && { Stereo: true }),
    });
  }

  stopRecord(callId) {
    return this.request("POST", "/call/record/stop", { CallID: callId });
  }

  // Files under the gateway's files dir: kind "audio" (playable) or "recordings"; each {Name, Size, Seconds?, Modified}.
  async files(kind) {
    return (await this.request("GET", `/files${kind ? `?Kind=${encodeURIComponent(kind)}` : ""}`)).files;
  }

  // A file's content, fetched with the token in a header (an <audio src> could only carry it in the URL).
  async fileBlob(name) {
    const response = await fetch(`${this.baseUrl}/files/${path(name)}`, { headers: { token: this.token } });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      const message = data?.error || `GET /files/${name} answered ${response.status}`;
      throw new CallbridgeError(response.status === 401 ? "unauthorized" : "http", message, response.status);
    }
    return response.blob();
  }

  deleteFile(name) {
    return this.request("DELETE", `/files/${path(name)}`);
  }

  // Server-Sent Events of every call of the session (or of one): "calls" (or "call") first, then CallOffer,
  // CallAccept, CallTerminate, CallState, CallDTMF, EndpointAttached, EndpointDetached (and levels, progress for one call).
  events(callId) {
    const query = callId ? `?CallID=${encodeURIComponent(callId)}` : "";
    return new EventStream(`${this.baseUrl}/call/events${query}`, { token: this.token });
  }
}
