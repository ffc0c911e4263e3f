// The cutout web page: a plain client of POST /v1/remove (and of GET /model-info for the
// edge levels and their default). No framework, no build step.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("remove-form");
  const input = $("image-input");
  const dropZone = $("drop-zone");
  const submit = $("submit");
  const statusLine = $("status");
  const errorBox = $("error");
  const before = $("before");
  const after = $("after");
  const afterFrame = $("after-frame");
  const spinner = $("spinner");
  const download = $("download");
  const resultInfo = $("result-info");
  const colorInput = $("bg-color");
  const cropInput = $("crop");
  const marginInput = $("margin");
  const formatInput = $("format");
  const edgesInput = $("edges");
  const keyInput = $("api-key");

  let file = null;
  let beforeUrl = null;
  let afterUrl = null;
  let controller = null;

  const EXTENSIONS = { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg" };

  function background() {
    return form.querySelector('input[name="background"]:checked').value;
  }

  // The options as /v1/remove query parameters (see docs/api.md).
  function query() {
    const params = new URLSearchParams();
    const bg = background();
    if (bg === "color") params.set("bg", colorInput.value.replace(/^#/, ""));
    else if (bg === "blur") params.set("bg", "blur");
    if (cropInput.checked) {
      params.set("crop", "true");
      const margin = marginInput.value.trim();
      if (margin && margin !== "0") params.set("margin", margin);
    }
    params.set("format", formatInput.value);
    if (!edgesInput.disabled && edgesInput.value) params.set("edges", edgesInput.value);
    return params;
  }

  // The edge levels and the default come from the server, never from a copy here; until
  // they arrive (or if they cannot) nothing is sent and the server's default applies.
  async function loadEdgeLevels() {
    let edges = null;
    try {
      const response = await fetch("/model-info");
      if (response.ok) edges = (await response.json()).edges;
    } catch (ignored) {
      edges = null;
    }
    if (!edges || !Array.isArray(edges.levels) || !edges.levels.length) return;
    edgesInput.replaceChildren(
      ...edges.levels.map((level) => {
        const option = document.createElement("option");
        option.value = level;
        option.textContent = level === edges.default ? level + " (default)" : level;
        option.selected = level === edges.default;
        return option;
      })
    );
    edgesInput.disabled = false;
  }

  // Every error shape the API may answer with, as one readable sentence.
  function describeError(status, body) {
    let message = null;
    if (body && Array.isArray(body.errors) && body.errors.length) {
      const first = body.errors[0];
      message = first.detail || first.title || first.code;
    } else if (body && body.error) {
      const error = body.error;
      message = typeof error === "string" ? error : error.message || error.detail || error.code;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    } else if (body && Array.isArray(body.detail)) {
      message = body.detail.map((item) => item.msg || JSON.stringify(item)).join("; ");
    }
    if (status === 403) {
      return (message ? message + " " : "") + "Enter this server's key under “API key”.";
    }
    if (message) return message;
    if (status === 413) return "The file is too large.";
    if (status === 503) return "The server is busy or still starting; try again in a moment.";
    return "The server answered " + status + ".";
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }

  function setBusy(busy) {
    submit.disabled = busy || !file;
    spinner.hidden = !busy;
    afterFrame.setAttribute("aria-busy", busy ? "true" : "false");
    form.classList.toggle("busy", busy);
  }

  function resetResult() {
    if (afterUrl) URL.revokeObjectURL(afterUrl);
    afterUrl = null;
    after.hidden = true;
    after.removeAttribute("src");
    $("after-placeholder").hidden = false;
    download.hidden = true;
    resultInfo.textContent = "";
  }

  function choose(chosen) {
    if (!chosen) return;
    file = chosen;
    clearError();
    resetResult();
    $("file-name").textContent = chosen.name + " · " + formatBytes(chosen.size);
    if (beforeUrl) URL.revokeObjectURL(beforeUrl);
    beforeUrl = URL.createObjectURL(chosen);
    before.src = beforeUrl;
    before.hidden = false;
    $("before-placeholder").hidden = true;
    submit.disabled = false;
    run();
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function baseName(name) {
    const dot = name.lastIndexOf(".");
    return (dot > 0 ? name.slice(0, dot) : name) || "image";
  }

  async function run() {
    if (!file) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    clearError();
    setBusy(true);
    statusLine.textContent = "Removing the background…";
    const body = new FormData();
    body.append("image", file, file.name);
    const started = performance.now();
    try {
      const headers = {};
      const key = keyInput.value.trim();
      if (key) headers["X-Api-Key"] = key;
      const response = await fetch("/v1/remove?" + query().toString(), {
        method: "POST",
        headers: headers,
        body: body,
        signal: mine.signal,
      });
      if (!response.ok) {
        let payload = null;
        try {
          payload = await response.json();
        } catch (ignored) {
          payload = null;
        }
        throw new Error(describeError(response.status, payload));
      }
      const blob = await response.blob();
      if (mine !== controller) return;
      resetResult();
      afterUrl = URL.createObjectURL(blob);
      after.src = afterUrl;
      await after.decode().catch(() => undefined);
      after.hidden = false;
      $("after-placeholder").hidden = true;
      const extension = EXTENSIONS[blob.type] || formatInput.value;
      download.href = afterUrl;
      download.download = baseName(file.name) + "-cutout." + extension;
      download.hidden = false;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const width = response.headers.get("X-Width");
      const height = response.headers.get("X-Height");
      const level = response.headers.get("X-Cutout-Edges");
      const confidence = response.headers.get("X-Cutout-Confidence");
      const parts = [];
      if (width && height) parts.push(width + " × " + height);
      parts.push(formatBytes(blob.size), seconds + " s");
      if (level) parts.push("edges " + level);
      // how much of the outline was clear; low values are worth a closer look
      if (confidence) parts.push("confidence " + confidence);
      resultInfo.textContent = parts.join(" · ");
      statusLine.textContent = "Done.";
    } catch (error) {
      if (error.name === "AbortError") return;
      resetResult();
      statusLine.textContent = "";
      showError(error.message || "The request failed: is the server running?");
    } finally {
      if (mine === controller) {
        setBusy(false);
        controller = null;
      }
    }
  }

  input.addEventListener("change", () => choose(input.files[0]));
  loadEdgeLevels();

  // the key lives for this tab only, never in localStorage
  keyInput.value = sessionStorage.getItem("cutout-api-key") || "";
  if (keyInput.value) $("advanced").open = true;
  keyInput.addEventListener("change", () => {
    sessionStorage.setItem("cutout-api-key", keyInput.value.trim());
  });

  ["dragenter", "dragover"].forEach((type) =>
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    })
  );
  ["dragleave", "drop"].forEach((type) =>
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.remove("dragging");
    })
  );
  dropZone.addEventListener("drop", (event) => {
    const dropped = event.dataTransfer && event.dataTransfer.files[0];
    choose(dropped);
  });
  // the whole page accepts a drop, so a near miss does not navigate away from it
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!dropZone.contains(event.target)) choose(event.dataTransfer && event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData ? event.clipboardData.files : [])][0];
    if (item) choose(item);
  });

  form.addEventListener("change", (event) => {
    if (event.target === input) return;
    if (event.target === keyInput && !errorBox.hidden && file) {
      run(); // a key entered after a 403: try again with it
      return;
    }
    if (event.target === keyInput) return;
    colorInput.disabled = background() !== "color";
    marginInput.disabled = !cropInput.checked;
    if (file) run();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
})();
