// ThisComputer's front-end: files between this computer and the dataset, through the widget's comm.
// Up: offer the files (and empty folders, as paths ending in "/"), stream the ones the kernel asks
// for in CHUNK-sized binary messages, at most WINDOW unacknowledged. Files come from the pickers,
// the drop zone, or (inside an Explorer) a drop on its dataset pane or a folder row in it. Down: a presigned URL, or chunks through the kernel acknowledged as they
// are written (File System Access API where the browser has it, else a Blob). No dependencies.
const CHUNK = 8 << 20; // must match CHUNK in computer.py
const WINDOW = 4; // must match WINDOW in computer.py
const BLOB_WARNING = 2 ** 31; // bytes: above this a Blob download may exhaust the browser's memory
const MODES = [["ask", "Ask"], ["skip", "Skip"], ["overwrite", "Overwrite"], ["newer", "Overwrite if newer"],
  ["different", "Overwrite if size or time differ"]]; // ThisComputer.overwrite's values
const PANE = ".provena-explorer .provena-remote-browser .pw-grid"; // a dataset pane: desktop drops go here
let made = 0;

// An element with attributes and children.
const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([key, value]) => node.setAttribute(key, value));
  return node.append(...children), node;
};

function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function save(href, name) {
  const link = h("a", { href, download: name, hidden: "" });
  document.body.append(link);
  link.click();
  link.remove();
}

// Every file under the dropped items, with its path from the dropped folder (folders kept; an
// empty one as {path: "name/", file: null}). The entries are taken before the first await: a drop's
// items are gone once its handler returns.
async function dropped(items) {
  const entries = [...items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  const found = [];
  const walk = async (entry) => {
    const path = entry.fullPath.replace(/^\//, "");
    if (entry.isFile) {
      found.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), path });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      let empty = true;
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        empty = false;
        for (const child of batch) await walk(child);
      }
      if (empty) found.push({ file: null, path: `${path}/` });
    }
  };
  for (const entry of entries) await walk(entry);
  return found;
}

// The same for a folder picked with showDirectoryPicker (a FileSystemDirectoryHandle), its own name first.
async function picked(folder, path = `${folder.name}/`) {
  const found = [];
  for await (const handle of folder.values()) {
    if (handle.kind === "file") found.push({ file: await handle.getFile(), path: path + handle.name });
    else found.push(...await picked(handle, `${path}${handle.name}/`));
  }
  return found.length ? found : [{ file: null, path }];
}

function render({ model, el }) {
  const uid = `pw-computer-${++made}`;
  const waiting = new Map(); // message type -> resolve, for the kernel's replies
  const acked = new Map(); // file id -> bytes the kernel has taken
  const ended = new Map(); // path -> status of files the kernel has finished with
  const downloads = new Map(); // id -> {name, size, parts | writable, received, chain}
  let nudge = null, cancelled = false, running = false;
  let key = "", seq = 0; // the running upload's name and the number of its next message

  const send = (message, buffers) => model.send(message, undefined, buffers);
  // An upload's messages: the kernel takes them in this order, whichever of its threads brings
  // each, and drops those of an upload that is not running there (this page's, gone).
  const post = (message, buffers) => send({ ...message, upload: key, seq: seq++ }, buffers);
  const reply = (type) => new Promise((resolve) => waiting.set(type, resolve));
  const changed = () => new Promise((resolve) => { nudge = resolve; });

  const button = (label, cls, extra = {}) => h("button", { type: "button",
    class: `jupyter-button widget-button pw-button ${cls}`, ...extra }, label); // ipywidgets' own look
  const pick = button("Upload from this computer", "pw-pick-files");
  const pickFolder = button("Upload a folder", "pw-pick-folder");
  const download = button("Download to this computer", "pw-download");
  const stop = button("Cancel", "pw-cancel", { disabled: "" });
  const rule = h("select", { class: "pw-overwrite", id: `${uid}-rule` },
    ...MODES.map(([value, label]) => h("option", { value }, label)));
  rule.value = model.get("overwrite");
  rule.addEventListener("change", () => { model.set("overwrite", rule.value); model.save_changes(); });
  model.on("change:overwrite", () => { rule.value = model.get("overwrite"); });
  const files = h("input", { type: "file", multiple: "", hidden: "", class: "pw-files", "aria-label": "Files to upload" });
  const folder = h("input", { type: "file", webkitdirectory: "", hidden: "", class: "pw-folder", "aria-label": "Folder to upload" });
  const zone = h("div", { class: "pw-drop", role: "region", "aria-label": "Drop files or folders here to upload" },
    "Drop files or folders here to upload them into the dataset folder.");
  const bar = h("progress", { class: "pw-total", max: "1", value: "0", "aria-label": "Total progress", hidden: "" });
  const list = h("ul", { class: "pw-files-active", "aria-label": "Files in progress" });
  const status = h("div", { class: "pw-status", role: "status", "aria-live": "polite", id: `${uid}-status` });
  const question = h("div", { class: "pw-question", role: "alertdialog", "aria-modal": "false", hidden: "",
    "aria-labelledby": `${uid}-question` });
  el.classList.add("pw-computer");
  const heading = h("div", { class: "pw-heading", role: "heading", "aria-level": "3" }, h("b", {}, "This computer"),
    h("span", { class: "pw-hint" }, " (where your browser runs): upload from it, or download the dataset selection to it"));
  el.append(heading, h("div", { class: "pw-toolbar", role: "toolbar", "aria-label": "This computer" }, pick, pickFolder,
    download, stop, h("label", { for: `${uid}-rule` }, "If a file exists:"), rule), files, folder, zone, bar, list, status, question);

  function say(text, level = "info") {
    status.textContent = text;
    status.dataset.level = level;
  }

  // Asks about each existing file; "Apply to all" answers the rest the same way.
  async function ask(asks) {
    const answers = {};
    let all = null;
    for (const decision of asks) {
      if (all) { answers[decision.id] = all; continue; }
      const text = h("p", { id: `${uid}-question` }, `${decision.path} exists in the dataset ` +
        `(${bytes(decision.existing.size)}, ${new Date(decision.existing.modified).toLocaleString()}).`);
      const every = h("input", { type: "checkbox", class: "pw-all" });
      const choices = ["overwrite", "skip"].map((mode) =>
        button(mode === "overwrite" ? "Overwrite" : "Skip", `pw-answer-${mode}`));
      question.replaceChildren(text, ...choices, h("label", {}, every, " Apply to all"));
      question.hidden = false;
      choices[0].focus();
      const mode = await new Promise((resolve) => choices.forEach((choice, i) =>
        choice.addEventListener("click", () => resolve(i ? "skip" : "overwrite"))));
      answers[decision.id] = mode;
      if (every.checked) all = mode;
    }
    question.hidden = true;
    return answers;
  }

  async function stream(item, offset, id) {
    acked.set(id, offset);
    let sent = offset;
    const size = item.file ? item.file.size : 0; // an empty folder: nothing to send but "finish"
    const over = () => cancelled || ended.has(item.path);
    const read = (start) => item.file.slice(start, Math.min(size, start + CHUNK)).arrayBuffer();
    let next = sent < size ? read(sent) : null; // the next chunk is read while acks come
    while (sent < size && !over()) {
      const buffer = await next;
      const end = sent + buffer.byteLength;
      next = end < size ? read(end) : null;
      while (sent - acked.get(id) >= WINDOW * CHUNK && !over()) await changed();
      if (over()) return;
      post({ type: "chunk", id, offset: sent }, [buffer]);
      sent = end;
    }
    if (!over()) post({ type: "finish", id });
  }

  // Uploads the chosen files into the target folder, or its sub-folder `into` (a dropped-on row).
  async function upload(chosen, into = "") {
    if (running) return say("An upload is running: wait for it, or Cancel it.", "warning");
    if (!chosen.length) return;
    running = true;
    cancelled = false;
    ended.clear();
    stop.disabled = false;
    bar.hidden = false;
    bar.value = 0;
    try {
      // File ids unique to this upload: ipykernel routes a message by its "id" to where the kernel's
      // last message with that id came from (a reopened page's "0" went to the gone page's thread).
      key = `${uid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
      seq = 0;
      const offered = chosen.map((item, i) => ({ id: `${key}/${i}`, path: item.path,
        size: item.file ? item.file.size : 0, mtime: item.file ? item.file.lastModified / 1000 : null }));
      const items = new Map(offered.map((file, i) => [file.id, chosen[i]]));
      say(`Checking ${offered.length} file(s) against the dataset…`);
      post({ type: "offer", files: offered, into });
      let decisions = (await Promise.race([reply("decisions"), reply("error")])).decisions;
      if (!decisions) return;
      const asks = decisions.filter((decision) => decision.action === "ask");
      if (asks.length) {
        post({ type: "answer", answers: await ask(asks) });
        decisions = (await reply("decisions")).decisions;
      }
      for (const decision of decisions) {
        if (cancelled) break;
        if (decision.action === "send") await stream(items.get(decision.id), decision.offset, decision.id);
      }
      post({ type: "done" }); // after Cancel too: the kernel ends the upload and reports
      await reply("report");
    } finally {
      running = false;
      stop.disabled = downloads.size === 0;
    }
  }

  // -- down --------------------------------------------------------------------------------

  async function begin(message) {
    const item = { ...message, received: 0, parts: [], writable: null, chain: Promise.resolve() };
    downloads.set(message.id, item);
    stop.disabled = false;
    if (window.showSaveFilePicker && navigator.userActivation?.isActive) {
      try {
        const handle = await window.showSaveFilePicker({ suggestedName: message.name });
        item.writable = await handle.createWritable();
      } catch (error) {
        downloads.delete(message.id);
        return send({ type: "abort", id: message.id });
      }
    } else if (message.size == null || message.size > BLOB_WARNING) {
      say(`${message.name}: this browser keeps the download in memory until it is saved` +
        (message.size ? ` (${bytes(message.size)})` : "") + ": very large files may not fit.", "warning");
    }
    send({ type: "pull", id: message.id });
  }

  function data(message, buffer) {
    const item = downloads.get(message.id);
    if (!item) return;
    item.chain = item.chain.then(async () => {
      if (item.writable) await item.writable.write(buffer);
      else item.parts.push(buffer);
      item.received += buffer.byteLength;
      say(`Downloading ${item.name}: ${bytes(item.received)}${item.size ? ` of ${bytes(item.size)}` : ""}`);
      send({ type: "ack", id: message.id, received: item.received });
    });
  }

  function end(message, failed) {
    const item = downloads.get(message.id);
    if (!item) return;
    item.chain = item.chain.then(async () => {
      downloads.delete(message.id);
      stop.disabled = running || downloads.size === 0;
      if (failed) {
        if (item.writable) await item.writable.abort();
        return say(`${item.name}: ${message.message}`, "error");
      }
      if (item.writable) await item.writable.close();
      else {
        const url = URL.createObjectURL(new Blob(item.parts));
        save(url, item.name);
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      }
      say(`Downloaded ${item.name} (${bytes(message.size)}).`);
    });
  }

  // Straight from S3 (an attachment): in a hidden frame, so an error page never replaces this one.
  function fetchDirect(message) {
    const frame = h("iframe", { hidden: "", class: "pw-direct", src: message.url, title: message.name });
    el.append(frame);
    setTimeout(() => frame.remove(), 60_000);
    say(`Downloading ${message.name} straight from the dataset.`);
  }

  model.on("msg:custom", (message, buffers) => {
    const type = message.type;
    if (type === "ack") acked.set(message.id, message.received);
    else if (type === "file") ended.set(message.path, message.status);
    else if (type === "progress") {
      bar.value = message.fraction;
      say(message.text);
      list.replaceChildren(...message.files.map((file) =>
        h("li", {}, `${file.path}: ${file.text} (${Math.round(file.fraction * 100)}%)`)));
    } else if (type === "report") {
      list.replaceChildren();
      say(message.summary, message.ok ? "info" : "warning");
    } else if (type === "error") say(message.message, "error");
    else if (type === "url") fetchDirect(message);
    else if (type === "stream") begin(message);
    else if (type === "data") data(message, buffers[0]);
    else if (type === "end" || type === "abort") end(message, type === "abort");
    const resolve = waiting.get(type);
    if (resolve) { waiting.delete(type); resolve(message); }
    if (nudge) { const wake = nudge; nudge = null; wake(); }
  });

  pick.addEventListener("click", () => files.click());
  pickFolder.addEventListener("click", async () => {
    if (!window.showDirectoryPicker) return folder.click(); // this input drops empty folders
    try {
      upload(await picked(await window.showDirectoryPicker()));
    } catch (error) {
      if (error.name !== "AbortError") say(`Cannot read that folder: ${error.message}`, "error");
    }
  });
  for (const input of [files, folder]) {
    input.addEventListener("change", () => {
      const chosen = [...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
      input.value = "";
      upload(chosen);
    });
  }
  download.addEventListener("click", () => send({ type: "download" }));
  stop.addEventListener("click", () => {
    cancelled = true;
    send({ type: "cancel" });
    for (const id of downloads.keys()) send({ type: "abort", id });
    if (nudge) nudge();
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("pw-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("pw-over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("pw-over");
    upload(await dropped(event.dataTransfer.items));
  });

  // Desktop files dropped on the dataset pane of the Explorer this widget is in (its table ignores them).
  let marked = null;
  const mark = (node) => {
    if (marked) marked.classList.remove("pw-desktop-over");
    marked = node;
    if (node) node.classList.add("pw-desktop-over");
  };
  const onPane = (event) => {
    const grid = event.dataTransfer?.types.includes("Files") && event.target.closest?.(PANE);
    if (!grid || !grid.closest(".provena-explorer").contains(el)) return null;
    const row = event.target.closest(".pw-row");
    return row?.row?.dir ? row : grid; // a folder row, or the folder shown
  };
  const over = (event) => {
    const target = onPane(event);
    if (!target) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    mark(target);
  };
  const leave = (event) => { if (marked && !marked.contains(event.relatedTarget)) mark(null); };
  const drop = async (event) => {
    const target = onPane(event);
    mark(null);
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    upload(await dropped(event.dataTransfer.items), target.row ? target.row.id : "");
  };
  const listeners = [["dragover", over], ["dragleave", leave], ["drop", drop]];
  listeners.forEach(([type, listener]) => document.addEventListener(type, listener, true));
  send({ type: "page", host: window.location.hostname });
  return () => listeners.forEach(([type, listener]) => document.removeEventListener(type, listener, true));
}

export default { render };
