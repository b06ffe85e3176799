// Server-Sent Events read with fetch, so the token goes in a header: EventSource can only put it in the URL,
// and URLs end up in proxy and server logs. Named events arrive as MessageEvents (`e.data`), like EventSource's;
// "open" and "error" too. It reconnects after a dropped or ended stream, and stops on a 4xx (a bad token).

const RETRY_MS = 3000;

export class EventStream extends EventTarget {
  constructor(url, headers = {}) {
    super();
    this.url = url;
    this.headers = headers;
    this.closed = false;
    this._abort = new AbortController();
    this._run();
  }

  close() {
    this.closed = true;
    this._abort.abort();
  }

  async _run() {
    while (!this.closed) {
      try {
        const response = await fetch(this.url, {
          headers: { ...this.headers, Accept: "text/event-stream" },
          cache: "no-store",
          signal: this._abort.signal,
        });
        if (!response.ok || !response.body) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
        this.dispatchEvent(new Event("open"));
        await this._read(response.body.pipeThrough(new TextDecoderStream()).getReader());
      } catch (error) {
        if (this.closed) return;
        if (error.status >= 400 && error.status < 500) this.close(); // as EventSource: no retry with a bad token
        // `status`: the HTTP status that refused the stream (401: a wrong token), undefined for a network error.
        this.dispatchEvent(Object.assign(new Event("error"), { status: error.status }));
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  async _read(reader) {
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.closed) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this._dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  _dispatch(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // a comment: the server's keepalive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) this.dispatchEvent(new MessageEvent(name, { data: data.join("\n") }));
  }
}
