// The SDK's one error type: a `code` to switch on, the gateway's message, and the HTTP status when there was one.

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

// A fetch of the gateway with the token in a header; the envelope's `data` (or the bare body of /call/webrtc/*).
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
