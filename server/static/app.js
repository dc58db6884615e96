// llamette's built-in chat page: plain JS, no build step, no external resources.
// Streams /v1/chat/completions (OpenAI SSE chunks) with fetch + ReadableStream,
// since EventSource cannot POST. Model output is only ever set as text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const messagesEl = $("messages");
  const input = $("input");
  const sendBtn = $("send");
  const stopBtn = $("stop");
  const statusEl = $("status");
  const apiKeyEl = $("api-key");
  const tempEl = $("temperature");
  const maxTokensEl = $("max-tokens");
  const systemEl = $("system-prompt");

  const KEY_STORAGE = "llamette.apiKey";
  let history = []; // [{role, content}] of finished turns
  let controller = null; // AbortController of the stream in flight
  let modelId = null;

  // --- small helpers -------------------------------------------------------

  function storage(op, value) {
    try {
      if (op === "get") return localStorage.getItem(KEY_STORAGE) || "";
      if (value) localStorage.setItem(KEY_STORAGE, value);
      else localStorage.removeItem(KEY_STORAGE);
    } catch (_) { /* storage disabled: the key just isn't remembered */ }
    return "";
  }

  function headers() {
    const h = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = apiKeyEl.value.trim();
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  function setStatus(text, isError = false) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", isError);
  }

  function modelStatus() {
    return modelId ? "Model: " + modelId : "Model: unknown";
  }

  // Turns a non-2xx response into an Error with the server's message.
  async function httpError(res) {
    let text = "";
    try { text = await res.text(); } catch (_) { /* ignore */ }
    let msg = text.trim() || res.statusText;
    try {
      const e = JSON.parse(text).error;
      if (e && e.message) msg = e.message + (e.code ? " (" + e.code + ")" : "");
    } catch (_) { /* not JSON: keep the raw text */ }
    return new Error("HTTP " + res.status + ": " + msg);
  }

  function nearBottom() {
    return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 40;
  }

  function scrollDown() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function addMessage(role, text) {
    const el = document.createElement("div");
    el.className = "message " + role;
    el.setAttribute("aria-label", role === "user" ? "You" : "Assistant");
    const content = document.createElement("div");
    content.className = "content";
    const node = document.createTextNode(text);
    content.append(node);
    el.append(content);
    messagesEl.append(el);
    scrollDown();
    return { el, node };
  }

  function showError(el, err) {
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = err.message || String(err);
    el.append(p);
  }

  function setBusy(busy) {
    sendBtn.disabled = busy;
    stopBtn.disabled = !busy;
  }

  function numberOr(el, parse, fallback) {
    const v = parse(el.value);
    return Number.isFinite(v) ? v : fallback;
  }

  // --- Server-Sent Events over fetch ---------------------------------------

  // Calls onData(payload) for each event's data; returns at end of stream.
  async function readSse(body, onData) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let data = [];
    const dispatch = () => {
      if (data.length) onData(data.join("\n"));
      data = [];
    };
    const line = (l) => {
      if (l === "") dispatch();
      else if (l.startsWith("data:")) data.push(l.slice(l[5] === " " ? 6 : 5));
      // comments (":"), event:, id:, retry: are ignored
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      const lines = buf.split(/\r\n|\r|\n/);
      buf = lines.pop();
      lines.forEach(line);
    }
    buf += decoder.decode();
    if (buf) line(buf);
    dispatch();
  }

  // --- chat ----------------------------------------------------------------

  async function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    addMessage("user", text);
    const conv = history; // replaced by "New chat"
    const userTurn = { role: "user", content: text };
    conv.push(userTurn);

    const { el, node } = addMessage("assistant", "");
    el.dataset.state = "streaming";
    el.setAttribute("aria-busy", "true");
    setBusy(true);
    setStatus(modelStatus() + " \u00b7 generating\u2026");

    const messages = [];
    const system = systemEl.value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...conv);

    const ctl = new AbortController();
    controller = ctl;
    let finish = null;
    let timings = null;
    const append = (s) => {
      if (!s) return;
      const stick = nearBottom();
      node.appendData(s);
      if (stick) scrollDown();
    };

    try {
      const res = await fetch("v1/chat/completions", {
        method: "POST",
        headers: headers(),
        body: JSON.stringify({
          messages,
          stream: true,
          temperature: numberOr(tempEl, parseFloat, 0.7),
          max_tokens: numberOr(maxTokensEl, (v) => parseInt(v, 10), 512),
        }),
        signal: ctl.signal,
      });
      if (!res.ok) throw await httpError(res);

      const type = res.headers.get("content-type") || "";
      if (type.includes("application/json")) {
        // A server that answered without streaming.
        const j = await res.json();
        const c = j.choices && j.choices[0];
        append(c && c.message && c.message.content);
        finish = (c && c.finish_reason) || "stop";
        timings = j.timings || null;
      } else {
        await readSse(res.body, (payload) => {
          if (payload.trim() === "[DONE]") return;
          let j;
          try { j = JSON.parse(payload); } catch (_) { return; }
          if (j.error) throw new Error(j.error.message || JSON.stringify(j.error));
          const c = j.choices && j.choices[0];
          if (c) {
            if (c.delta && typeof c.delta.content === "string") append(c.delta.content);
            if (c.finish_reason) finish = c.finish_reason;
          }
          if (j.timings) timings = j.timings;
        });
      }
      el.dataset.finish = finish || "end";
      el.dataset.state = "done";
      let status = modelStatus();
      const tps = timings && Number(timings.predicted_per_second);
      if (Number.isFinite(tps) && tps > 0) status += " \u00b7 " + tps.toFixed(1) + " tokens/s";
      if (finish === "length") status += " \u00b7 stopped at max tokens";
      setStatus(status);
    } catch (err) {
      if (ctl.signal.aborted) {
        el.dataset.finish = "stopped";
        el.dataset.state = "done";
        if (controller === ctl) setStatus(modelStatus() + " \u00b7 stopped");
      } else {
        el.dataset.state = "error";
        showError(el, err);
        setStatus(modelStatus() + " \u00b7 request failed", true);
      }
    } finally {
      el.removeAttribute("aria-busy");
      const answer = node.data;
      if (answer) {
        conv.push({ role: "assistant", content: answer });
      } else if (conv[conv.length - 1] === userTurn) {
        // Nothing came back: forget the turn, and offer the text again.
        conv.pop();
        if (conv === history && el.dataset.state === "error" && !input.value) input.value = text;
      }
      if (controller === ctl) {
        controller = null;
        setBusy(false);
      }
    }
  }

  function stop() {
    if (controller) controller.abort();
  }

  function newChat() {
    const ctl = controller;
    controller = null;
    if (ctl) ctl.abort();
    history = [];
    messagesEl.replaceChildren();
    setBusy(false);
    setStatus(modelStatus());
    input.focus();
  }

  async function loadModel() {
    try {
      const res = await fetch("v1/models", { headers: headers() });
      if (!res.ok) throw await httpError(res);
      const j = await res.json();
      modelId = (j.data && j.data[0] && j.data[0].id) || null;
      setStatus(modelStatus());
    } catch (err) {
      setStatus("Could not load the model list: " + err.message, true);
    }
  }

  // --- wiring --------------------------------------------------------------

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  stopBtn.addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  apiKeyEl.value = storage("get");
  apiKeyEl.addEventListener("change", () => {
    storage("set", apiKeyEl.value.trim());
    loadModel();
  });

  loadModel();
})();
