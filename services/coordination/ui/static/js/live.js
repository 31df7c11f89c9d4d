// Live flag changes from GET /v1/streams/flags (Server-Sent Events).
//
// EventSource cannot send an Authorization header, and the stream takes the token from that
// header only, so the stream is read with fetch() and a ReadableStream reader, parsed here as
// the HTML standard parses text/event-stream. When the server ends a stream (it does every
// ten minutes) or the network drops, it resumes with Last-Event-ID: no change is missed.

import { currentToken, goToSignIn } from "./session.js";

const PATH = "/v1/streams/flags";

function setStatus(state, text) {
  const status = document.getElementById("live-status");
  if (!status) return;
  status.dataset.state = state;
  document.getElementById("live-text").textContent = text;
}

/** Feeds text in; calls ``dispatch({id, event, data})`` for each complete event. */
export class SseParser {
  constructor(dispatch) {
    this.dispatch = dispatch;
    this.buffer = "";
    this.reset();
    this.lastEventId = null;
    this.retryMs = null;
  }

  reset() {
    this.event = "";
    this.data = [];
  }

  feed(text) {
    this.buffer += text;
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, end);
      const width = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      this.buffer = this.buffer.slice(end + width);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length) {
        this.dispatch({ id: this.lastEventId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

/**
 * Follows the caller's flag changes: ``onChange(kind, flag)`` for each (kind: raised,
 * acknowledged, resolved). Returns a function that stops following. A token without the
 * coordinator or dashboard role gets ``onUnavailable`` once, and the page falls back to
 * refreshing now and then.
 */
export function followFlags({ onChange, onUnavailable }) {
  let stopped = false;
  let controller = null;
  let lastEventId = null;
  let failures = 0;

  async function connectOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${currentToken()}` };
    if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
    const response = await fetch(PATH, { headers, signal: controller.signal, cache: "no-store" });
    if (response.status === 401) {
      goToSignIn();
      return "stop";
    }
    if (response.status === 403) {
      onUnavailable?.();
      return "stop";
    }
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    const parser = new SseParser((message) => {
      lastEventId = message.id ?? lastEventId;
      let flag = null;
      try {
        flag = JSON.parse(message.data);
      } catch {
        return;
      }
      onChange(message.event, flag);
    });
    setStatus("connected", "Live");
    document.body.dataset.live = "connected";
    failures = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
      // The opening block sets the position without an event: keep it for a resumption.
      lastEventId = parser.lastEventId ?? lastEventId;
    }
    return "ended";
  }

  async function loop() {
    while (!stopped) {
      let outcome;
      try {
        outcome = await connectOnce();
      } catch (error) {
        if (stopped) return;
        failures += 1;
      }
      if (outcome === "stop" || stopped) return;
      document.body.dataset.live = "reconnecting";
      setStatus("reconnecting", "Reconnecting…");
      const wait = Math.min(30000, 1000 * 2 ** Math.min(failures, 5));
      await new Promise((resolve) => setTimeout(resolve, outcome === "ended" ? 200 : wait));
    }
  }

  setStatus("reconnecting", "Connecting…");
  loop();
  return () => {
    stopped = true;
    controller?.abort();
    setStatus("off", "Live updates off");
    document.body.dataset.live = "off";
  };
}

export function showPolling(seconds) {
  setStatus("polling", `Refreshing every ${seconds} s`);
  document.body.dataset.live = "polling";
}
