// FileTable's front-end: a virtual-scrolling ARIA grid. Rows come from the kernel in blocks on
// demand; selection, sorting and actions go back to it. Plain ES module, no dependencies.
const ROW = 28; // px; must match --pw-row in filetable.css
const BLOCK = 100; // rows per request
const OVERSCAN = 20; // rows drawn above and below the visible ones
const KEEP = 20; // blocks kept; the farthest from the view go first
const MENU = [
  ["download", "Download"], ["upload", "Upload here"], ["rename", "Rename"], ["move", "Move to…"],
  ["copy", "Copy to…"], ["mkdir", "New folder"], ["delete", "Delete"], ["copy_path", "Copy path"],
  ["properties", "Properties"],
];
const ICONS = { // outlines, filled by the theme's colours in filetable.css
  dir: '<svg viewBox="0 0 16 16"><path d="M1.5 3.5h4.5l1.5 1.5h7v8.5h-13z"/></svg>',
  file: '<svg viewBox="0 0 16 16"><path d="M3.5 1.5h6l3 3v10h-9z"/></svg>',
};
const COLUMNS = [["name", "Name"], ["size", "Size"], ["modified", "Modified"]];
const DRAG = "application/x-provena-rows"; // {source: table_id, names}: what a dragged row carries
let made = 0;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function when(ms) {
  if (ms == null) return ["", ""];
  const date = new Date(ms), now = new Date(), pad = (n) => String(n).padStart(2, "0");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return [date.toDateString() === now.toDateString() ? `today ${time}` : `${day} ${time}`, date.toString()];
}

function render({ model, el }) {
  const uid = `pw-filetable-${++made}`;
  const blocks = new Map(); // block index -> rows, or null while asked for
  const drawn = new Map(); // row index -> element
  let cursor = 0, editing = null, frame = 0, menuNames = [];

  const send = (message) => model.send(message);
  const act = (action, names, value = null) => send({ type: "action", action, names, value });
  const selection = () => new Set(model.get("selected"));
  const rowAt = (index) => (blocks.get(Math.floor(index / BLOCK)) || [])[index % BLOCK];

  const tools = MENU.map(([action, label]) => {
    const tool = h("button", { type: "button", class: `pw-tool pw-tool-${action}` }, label);
    tool.addEventListener("click", () => run(action));
    return tool;
  });
  const folderName = h("input", { class: "pw-new-folder", "aria-label": "New folder name", hidden: "" });
  const toolbar = h("div", { class: "pw-toolbar", role: "toolbar", "aria-label": "File actions" }, ...tools, folderName);
  const headers = COLUMNS.map(([key, label]) => {
    const header = h("div", { role: "columnheader", class: `pw-col-${key}`, tabindex: "-1" }, label);
    header.addEventListener("click", () => sortBy(key));
    return header;
  });
  const head = h("div", { class: "pw-head", role: "row", "aria-rowindex": "1" }, ...headers);
  const spacer = h("div", { class: "pw-spacer", role: "presentation" });
  const body = h("div", { class: "pw-body", role: "rowgroup" }, spacer);
  const empty = h("div", { class: "pw-empty" });
  const grid = h("div", { class: "pw-grid", role: "grid", tabindex: "0", "aria-multiselectable": "true",
    "aria-label": "Files" }, h("div", { role: "rowgroup" }, head), body, empty);
  const items = MENU.map(([action, label]) => h("div", { role: "menuitem", tabindex: "-1", "data-action": action }, label));
  const menu = h("div", { class: "pw-menu", role: "menu", "aria-label": "File actions", hidden: "" }, ...items);
  el.classList.add("pw-filetable");
  el.setAttribute("data-jp-suppress-context-menu", ""); // JupyterLab's own menu stays away
  el.append(toolbar, grid, menu);

  function offer() { // only the actions this table's Python side takes
    const allowed = new Set(model.get("actions"));
    MENU.forEach(([action], i) => { tools[i].hidden = items[i].hidden = !allowed.has(action); });
  }

  function sortBy(key) {
    model.set("sort_reverse", model.get("sort_key") === key ? !model.get("sort_reverse") : false);
    model.set("sort_key", key);
    model.save_changes();
  }

  function run(action, names = model.get("selected")) {
    closeMenu();
    if (action === "rename") return startRename(cursor);
    if (action === "mkdir") {
      folderName.hidden = false;
      folderName.value = "";
      return folderName.focus();
    }
    act(action, names);
  }

  function select(index, mode) {
    cursor = Math.max(0, Math.min(index, model.get("total") - 1));
    send({ type: "select", index: cursor, mode });
    reveal(cursor);
    schedule();
  }

  function reveal(index) {
    const top = index * ROW, height = body.clientHeight;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW > body.scrollTop + height) body.scrollTop = top + ROW - height;
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function ask() {
    const total = model.get("total");
    const first = Math.max(0, Math.floor(body.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(total, Math.ceil((body.scrollTop + body.clientHeight) / ROW) + OVERSCAN);
    for (let block = Math.floor(first / BLOCK); block * BLOCK < last; block++) {
      if (blocks.has(block)) continue;
      blocks.set(block, null);
      send({ type: "rows", start: block * BLOCK, count: BLOCK });
    }
    const middle = Math.floor(first / BLOCK);
    const far = [...blocks.keys()].sort((a, b) => Math.abs(b - middle) - Math.abs(a - middle));
    for (const block of far.slice(0, Math.max(0, blocks.size - KEEP))) blocks.delete(block);
    return [first, last];
  }

  function draw() {
    const total = model.get("total"), chosen = selection(), sorted = model.get("sort_key");
    const reverse = model.get("sort_reverse");
    grid.setAttribute("aria-rowcount", String(total + 1));
    spacer.style.height = `${total * ROW}px`;
    for (const [i, [key]] of COLUMNS.entries()) {
      headers[i].setAttribute("aria-sort", key !== sorted ? "none" : reverse ? "descending" : "ascending");
    }
    empty.textContent = total ? "" : model.get("loading") ? "Loading…" : "Nothing here.";
    const [first, last] = ask();
    for (const [index, node] of drawn) {
      if ((index < first || index >= last || index >= total) && node !== editing?.node) {
        node.remove();
        drawn.delete(index);
      }
    }
    for (let index = first; index < last; index++) {
      const row = rowAt(index);
      let node = drawn.get(index);
      if (!node) {
        node = h("div", { role: "row", class: "pw-row", id: `${uid}-${index}`, "aria-rowindex": String(index + 2) });
        node.style.top = `${index * ROW}px`;
        node.dataset.index = String(index);
        spacer.append(node);
        drawn.set(index, node);
      }
      if (node !== editing?.node) fill(node, row);
      node.setAttribute("aria-selected", String(!!row && chosen.has(row.id)));
      node.classList.toggle("pw-cursor", index === cursor);
    }
    if (total) grid.setAttribute("aria-activedescendant", `${uid}-${cursor}`);
    else grid.removeAttribute("aria-activedescendant");
  }

  function fill(node, row) {
    if (node.row === row) return;
    node.row = row;
    if (!row) return node.replaceChildren(h("div", { role: "gridcell", class: "pw-name pw-pending" }, "…"));
    const [modified, full] = when(row.modified);
    const name = row.dir ? row.id.slice(0, -1) : row.id;
    const icon = h("span", { class: "pw-icon", "aria-hidden": "true" });
    icon.innerHTML = row.dir ? ICONS.dir : ICONS.file;
    node.classList.toggle("pw-dir", row.dir);
    node.draggable = true;
    node.replaceChildren(
      h("div", { role: "gridcell", class: "pw-name" }, icon, h("span", { class: "pw-label", title: name }, name)),
      h("div", { role: "gridcell", class: "pw-size" }, row.size),
      h("div", { role: "gridcell", class: "pw-modified", title: full }, modified),
    );
  }

  function startRename(index) {
    const row = rowAt(index), node = drawn.get(index);
    if (!row || !node) return;
    const old = row.dir ? row.id.slice(0, -1) : row.id;
    const input = h("input", { class: "pw-rename", "aria-label": `New name for ${old}` });
    input.value = old;
    editing = { node, row };
    node.querySelector(".pw-label").replaceWith(input);
    input.focus();
    input.setSelectionRange(0, row.dir || !old.includes(".") ? old.length : old.lastIndexOf("."));
    const finish = (commit) => {
      if (!editing) return;
      editing = null;
      node.row = undefined;
      fill(node, row);
      grid.focus();
      if (commit && input.value.trim() && input.value !== old) act("rename", [row.id], input.value.trim());
    };
    input.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Enter") finish(true);
      else if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(false));
  }

  function openMenu(x, y, names) {
    menuNames = names;
    menu.hidden = false;
    const box = el.getBoundingClientRect();
    menu.style.left = `${x - box.left}px`;
    menu.style.top = `${y - box.top}px`;
    menu.querySelector("[role=menuitem]:not([hidden])")?.focus();
  }

  function closeMenu() {
    if (!menu.hidden) menu.hidden = true;
  }

  folderName.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter" && folderName.value.trim()) act("mkdir", [], folderName.value.trim());
    if (event.key === "Enter" || event.key === "Escape") {
      folderName.hidden = true;
      grid.focus();
    }
  });
  // Drag and drop: rows carry this table's id and their names; a drop names the folder row it
  // landed on ("" for the folder shown) and the kernel decides: upload, download or move.
  let over = null;
  const mark = (node) => {
    if (over === node) return;
    over?.classList.remove("pw-drop");
    over = node;
    over?.classList.add("pw-drop");
  };
  const dropTarget = (event) => {
    const row = event.target.closest?.(".pw-row")?.row;
    return row && row.dir ? row.id : "";
  };
  spacer.addEventListener("dragstart", (event) => {
    const node = event.target.closest(".pw-row");
    if (!node?.row || editing) return event.preventDefault();
    let names = model.get("selected");
    if (!names.includes(node.row.id)) {
      select(Number(node.dataset.index), "only");
      names = [node.row.id];
    }
    event.dataTransfer.setData(DRAG, JSON.stringify({ source: model.get("table_id"), names }));
    event.dataTransfer.effectAllowed = "copyMove";
  });
  grid.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes(DRAG)) return;
    event.preventDefault();
    const target = dropTarget(event);
    mark(target ? event.target.closest(".pw-row") : grid);
  });
  grid.addEventListener("dragleave", (event) => { if (!grid.contains(event.relatedTarget)) mark(null); });
  grid.addEventListener("drop", (event) => {
    mark(null);
    if (!event.dataTransfer.types.includes(DRAG)) return;
    event.preventDefault();
    const { source, names } = JSON.parse(event.dataTransfer.getData(DRAG));
    const value = dropTarget(event);
    if (names.includes(value) || (source === model.get("table_id") && !value)) return; // onto itself
    send({ type: "drop", source, names, value });
  });
  body.addEventListener("scroll", schedule);
  spacer.addEventListener("click", (event) => {
    const node = event.target.closest(".pw-row");
    if (!node || event.target.closest(".pw-rename")) return;
    grid.focus();
    const mode = event.shiftKey ? "range" : event.ctrlKey || event.metaKey ? "toggle" : "only";
    select(Number(node.dataset.index), mode);
  });
  spacer.addEventListener("dblclick", (event) => {
    const row = event.target.closest(".pw-row")?.row;
    if (row && !event.target.closest(".pw-rename")) act("open", [row.id]);
  });
  el.addEventListener("contextmenu", (event) => {
    const node = event.target.closest(".pw-row");
    if (!node && !event.target.closest(".pw-body")) return;
    event.preventDefault();
    let names = model.get("selected");
    if (node && node.row && !names.includes(node.row.id)) {
      select(Number(node.dataset.index), "only");
      names = [node.row.id];
    }
    openMenu(event.clientX, event.clientY, names);
  });
  menu.addEventListener("click", (event) => {
    const item = event.target.closest("[role=menuitem]");
    if (item) run(item.dataset.action, menuNames);
  });
  menu.addEventListener("keydown", (event) => {
    const items = [...menu.querySelectorAll("[role=menuitem]")];
    const shown = items.filter((item) => !item.hidden);
    const at = shown.indexOf(document.activeElement);
    event.stopPropagation();
    if (event.key === "Escape") { closeMenu(); grid.focus(); }
    else if (event.key === "ArrowDown") shown[(at + 1) % shown.length].focus();
    else if (event.key === "ArrowUp") shown[(at - 1 + shown.length) % shown.length].focus();
    else if (event.key === "Enter" && at >= 0) run(shown[at].dataset.action, menuNames);
    else return;
    event.preventDefault();
  });
  const outside = (event) => { if (!menu.contains(event.target)) closeMenu(); };
  document.addEventListener("mousedown", outside);

  grid.addEventListener("keydown", (event) => {
    const total = model.get("total"), page = Math.max(1, Math.floor(body.clientHeight / ROW) - 1);
    const mode = event.shiftKey ? "range" : "only", mod = event.ctrlKey || event.metaKey;
    const row = rowAt(cursor);
    const moves = { ArrowDown: cursor + 1, ArrowUp: cursor - 1, PageDown: cursor + page,
      PageUp: cursor - page, Home: 0, End: total - 1 };
    if (event.key in moves && total) select(moves[event.key], mode);
    else if (mod && event.key.toLowerCase() === "a") send({ type: "select", index: 0, mode: "all" });
    else if (event.key === "Enter" && row) act("open", [row.id]);
    else if (event.key === "Backspace") act("up", []);
    else if (event.key === "F2") startRename(cursor);
    else if (event.key === "Delete") act("delete", model.get("selected"));
    else if (event.key === "ContextMenu" || (event.shiftKey && event.key === "F10")) {
      const box = (drawn.get(cursor) || grid).getBoundingClientRect();
      openMenu(box.left + 24, box.bottom, model.get("selected"));
    } else return;
    event.preventDefault();
  });

  model.on("msg:custom", (message) => {
    if (message.type === "rows" && message.generation === model.get("generation")) {
      blocks.set(Math.floor(message.start / BLOCK), message.rows);
      schedule();
    } else if (message.type === "scroll") {
      body.scrollTop = message.index * ROW;
    }
  });
  model.on("change:generation", () => {
    blocks.clear();
    cursor = Math.min(cursor, Math.max(0, model.get("total") - 1));
    schedule();
  });
  model.on("change:actions", offer);
  offer();
  for (const name of ["selected", "sort_key", "sort_reverse", "loading", "total"]) model.on(`change:${name}`, schedule);
  const resized = new ResizeObserver(schedule);
  resized.observe(body);
  draw();
  return () => {
    document.removeEventListener("mousedown", outside);
    resized.disconnect();
  };
}

export default { render };
