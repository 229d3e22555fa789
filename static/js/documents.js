// Documents pages. Upload: dropped or picked files go one request per file (two at a time) so each
// gets a progress bar while its bytes travel. Then every unfinished row is refreshed from the
// status endpoint every 1.5 s until it is ready or failed; no reloads. Texts come translated from
// data-msg-* attributes rendered by the template.
const POLL_MS = 1500;
const CONCURRENT_UPLOADS = 2;

const table = document.querySelector("[data-documents]");
const rows = table ? table.querySelector("[data-document-rows]") : null;

function rowFromHtml(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function upsertRow(doc) {
  if (!rows) return;
  const row = rowFromHtml(doc.html);
  const existing = document.getElementById(`doc-${doc.id}`);
  if (existing) existing.replaceWith(row);
  else rows.prepend(row);
  table.hidden = false;
  const empty = document.querySelector("[data-empty-state]");
  if (empty) empty.remove();
}

// --- live status of the list ---------------------------------------------------------------------
let pollTimer = null;

function pendingIds() {
  return rows ? [...rows.querySelectorAll('tr[data-final="false"]')].map((tr) => tr.dataset.documentId) : [];
}

function schedulePoll() {
  if (pollTimer === null && pendingIds().length) pollTimer = window.setTimeout(poll, POLL_MS);
}

async function fetchStatus(url, ids) {
  const response = await fetch(`${url}?ids=${ids.join(",")}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`status ${response.status}`);
  return (await response.json()).documents;
}

async function poll() {
  pollTimer = null;
  const ids = pendingIds();
  if (!ids.length) return;
  try {
    const documents = await fetchStatus(table.dataset.statusUrl, ids);
    documents.forEach(upsertRow);
    const seen = new Set(documents.map((d) => String(d.id)));
    ids.filter((id) => !seen.has(id)).forEach((id) => {
      const row = document.getElementById(`doc-${id}`);
      if (row) row.dataset.final = "true"; // deleted meanwhile: stop asking
    });
  } catch (error) {
    // Offline or server busy: try again on the next tick.
  }
  schedulePoll();
}

schedulePoll();

// --- detail page: reload once the document is final --------------------------------------------
const badge = document.querySelector('[data-document-status][data-final="false"]');
if (badge) {
  const check = async () => {
    try {
      const [doc] = await fetchStatus(badge.dataset.statusUrl, [badge.dataset.documentId]);
      if (!doc || doc.final) {
        window.location.reload();
        return;
      }
    } catch (error) {
      // try again
    }
    window.setTimeout(check, POLL_MS);
  };
  window.setTimeout(check, POLL_MS);
}

// --- confirmations ------------------------------------------------------------------------------
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// --- uploads -----------------------------------------------------------------------------------
const uploader = document.querySelector("[data-uploader]");
if (uploader) {
  const text = uploader.dataset;
  const form = uploader.querySelector("[data-dropzone]");
  const input = form.querySelector('input[type="file"]');
  const list = uploader.querySelector("[data-upload-list]");
  const token = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const allowed = new Set(text.extensions.split(","));
  const maxBytes = Number(text.maxBytes);
  const queue = [];
  let active = 0;

  const problemWith = (file) => {
    if (file.size === 0) return text.msgEmpty;
    if (file.size > maxBytes) return text.msgTooLarge;
    const dot = file.name.lastIndexOf(".");
    const extension = dot > 0 ? file.name.slice(dot + 1).toLowerCase() : "";
    return allowed.has(extension) ? null : text.msgType;
  };

  const addItem = (file) => {
    const li = document.createElement("li");
    li.className = "upload-item";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    const note = document.createElement("span");
    note.className = "upload-note";
    note.textContent = text.msgWaiting;
    li.append(name, bar, note);
    list.prepend(li);
    return { li, name, bar, note };
  };

  const settle = (item, ok, message, url) => {
    item.li.classList.add(ok ? "ok" : "error");
    item.bar.value = 100;
    item.bar.hidden = true;
    item.note.textContent = message;
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = item.name.textContent;
      item.name.replaceChildren(link);
    }
  };

  const send = ({ file, item }) =>
    new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        item.bar.value = Math.round((event.loaded / event.total) * 100);
        item.note.textContent = `${text.msgUploading} ${item.bar.value}%`;
      });
      xhr.upload.addEventListener("load", () => {
        item.bar.removeAttribute("value"); // indeterminate while the server checks the file
        item.note.textContent = text.msgProcessing;
      });
      xhr.addEventListener("load", () => {
        let result = null;
        try {
          result = JSON.parse(xhr.responseText).results[0];
        } catch (error) {
          result = null;
        }
        if (!result) {
          settle(item, false, text.msgNetwork);
        } else {
          settle(item, result.ok, result.message, result.url);
          if (result.ok && result.document) {
            upsertRow(result.document);
            schedulePoll();
          }
        }
        resolve();
      });
      xhr.addEventListener("error", () => {
        settle(item, false, text.msgNetwork);
        resolve();
      });
      const body = new FormData();
      body.append("file", file, file.name);
      xhr.send(body);
    });

  const pump = () => {
    while (active < CONCURRENT_UPLOADS && queue.length) {
      active += 1;
      send(queue.shift()).finally(() => {
        active -= 1;
        pump();
      });
    }
  };

  const enqueue = (files) => {
    for (const file of files) {
      const item = addItem(file);
      const problem = problemWith(file);
      if (problem) settle(item, false, problem);
      else queue.push({ file, item });
    }
    pump();
  };

  input.addEventListener("change", () => {
    enqueue([...input.files]);
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enqueue([...input.files]);
  });
  for (const type of ["dragenter", "dragover"]) {
    form.addEventListener(type, (event) => {
      event.preventDefault();
      form.classList.add("dragging");
    });
  }
  form.addEventListener("dragleave", (event) => {
    if (!form.contains(event.relatedTarget)) form.classList.remove("dragging");
  });
  form.addEventListener("drop", (event) => {
    event.preventDefault();
    form.classList.remove("dragging");
    enqueue([...event.dataTransfer.files]);
  });
}
