/* The live view: the journal's rows as they arrive (server-sent events), one request opened beside
   its answer, grounding drawn on its images, and the admin API's steering. Every text a client wrote
   goes into the page as text (textContent, attributes), never as markup. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const FILTERS = ["model", "status", "path", "method", "request_id"];
  const EVENTS_SHOWN = 2000;
  const state = { rows: new Map(), selected: null, source: null, filters: {} };

  function h(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attributes || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(text, bad) {
    const box = $("message");
    box.textContent = text;
    box.classList.toggle("bad", !!bad);
  }

  async function api(method, path, body, headers) {
    const init = { method, credentials: "same-origin", headers: { ...(headers || {}) } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `${response.status} ${response.statusText}`;
      throw new Error(message);
    }
    return data;
  }

  function query(filters, extra) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filters, ...(extra || {}) })) if (v !== "" && v !== undefined && v !== null) params.set(k, v);
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  // --- the list ------------------------------------------------------------------------------

  function cell(text, cls) {
    const shown = text === null || text === undefined ? "—" : String(text);
    return h("td", { class: cls, title: cls === "path" || cls === "model" ? shown : null }, shown);
  }

  function rowOf(entry) {
    const status = entry.status === null ? "none" : entry.status;
    const tr = h(
      "tr",
      {
        tabindex: 0,
        "data-id": entry.id,
        "data-request-id": entry.request_id,
        class: `row s${String(status)[0]}`,
        onclick: () => open(entry.id),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            open(entry.id);
          } else if (event.key === "ArrowDown" && tr.nextElementSibling) {
            event.preventDefault();
            tr.nextElementSibling.focus();
          } else if (event.key === "ArrowUp" && tr.previousElementSibling) {
            event.preventDefault();
            tr.previousElementSibling.focus();
          }
        },
      },
      cell(entry.id),
      cell(new Date(entry.time * 1000).toLocaleTimeString([], { hour12: false })),
      cell(entry.method),
      cell(entry.path, "path"),
      cell(entry.model, "model"),
      cell(status, "status"),
      cell(entry.fault),
      cell(entry.duration_ms === null ? null : entry.duration_ms.toFixed(1), "num"),
      cell(entry.stream ? "yes" : "no"),
    );
    return tr;
  }

  function addRow(entry, atTop) {
    if (state.rows.has(entry.id)) return;
    state.rows.set(entry.id, entry);
    const tr = rowOf(entry);
    const body = $("rows");
    if (atTop) body.insertBefore(tr, body.firstChild);
    else body.appendChild(tr);
    const limit = parseInt(state.filters.limit, 10);
    while (limit >= 0 && body.rows.length > limit) {
      state.rows.delete(Number(body.lastElementChild.dataset.id));
      body.removeChild(body.lastElementChild);
    }
    $("count").textContent = `(${body.rows.length})`;
  }

  function clearRows() {
    state.rows.clear();
    $("rows").replaceChildren();
    $("count").textContent = "(0)";
  }

  async function loadList() {
    try {
      const { test_id: testId, ...filters } = state.filters; // the admin API takes the test id as its header
      const listed = await api("GET", `/_admin/requests${query(filters, { limit: state.filters.limit })}`, undefined, testId ? { "X-Mock-Test-Id": testId } : {});
      clearRows();
      for (const entry of listed.data.reverse()) addRow(entry, false); // newest first
    } catch (e) {
      say(`Could not read the journal: ${e.message}`, true);
    }
  }

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource(`/_admin/ui/events${query(state.filters)}`);
    state.source = source;
    const live = $("live-state");
    source.addEventListener("ready", () => {
      live.textContent = "live";
      live.classList.add("on");
      loadList(); // after subscribing: no row can fall between the list and the feed
    });
    source.addEventListener("request", (event) => addRow(JSON.parse(event.data), true));
    source.addEventListener("cleared", () => {
      clearRows();
      showDetailHint();
    });
    source.addEventListener("reload", loadList);
    source.onerror = () => {
      live.classList.remove("on");
      if (source.readyState !== EventSource.CLOSED) {
        live.textContent = "disconnected: retrying…"; // the browser reconnects by itself
        return;
      }
      // Refused (journal off, key no longer valid): the browser will not retry; say why.
      live.textContent = "not live";
      api("GET", "/_admin/requests?limit=0")
        .then(() => say("The live feed was refused; reload the page to try again.", true))
        .catch((e) => say(`The live feed was refused: ${e.message}`, true));
    };
  }

  // --- one request opened ----------------------------------------------------------------------

  function showDetailHint() {
    state.selected = null;
    $("detail").replaceChildren(h("p", { class: "hint" }, "Choose a request to see what the client sent and what the mock answered."));
  }

  async function open(id) {
    const entry = state.rows.get(id);
    if (!entry) return;
    for (const tr of $("rows").rows) {
      if (Number(tr.dataset.id) === id) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
    state.selected = id;
    try {
      const found = await api("GET", `/_admin/requests${query({ request_id: entry.request_id })}`);
      const full = found.data.find((e) => e.id === id) || found.data[found.data.length - 1];
      if (!full) throw new Error("it is no longer in the journal");
      renderDetail(full);
    } catch (e) {
      say(`Could not open request ${id}: ${e.message}`, true);
    }
  }

  function partUrl(part) {
    const inner = part && typeof part === "object" ? part[part.type] : null;
    return inner && typeof inner === "object" && typeof inner.url === "string" ? inner.url : null;
  }

  /* Every media part of the request in order (the SDK's asset_idx numbering), with where to show it
     from: the journal's image store for data URLs (by sha256, in the order of the body), a link for
     http(s), nothing for the rest. */
  /* Chat's messages; a multilook request's shared context, then each prompt as the user turn it answers. */
  function messagesOf(entry) {
    const body = entry.body && typeof entry.body === "object" ? entry.body : {};
    if (Array.isArray(body.messages)) return body.messages;
    if (!Array.isArray(body.prompts)) return [];
    const context = Array.isArray(body.context) ? body.context : [];
    const prompts = body.prompts.map((p, i) => ({ role: "user", prompt: i, content: p && typeof p === "object" && !Array.isArray(p) ? p.content : p }));
    return context.concat(prompts);
  }

  function assetsOf(entry) {
    const assets = [];
    const stored = entry.images || [];
    let next = 0;
    const messages = messagesOf(entry);
    messages.forEach((message, m) => {
      if (!message || !Array.isArray(message.content)) return;
      message.content.forEach((part, p) => {
        if (!part || typeof part !== "object" || part.type === "text") return;
        const url = partUrl(part);
        const asset = { index: assets.length, type: part.type, message: m, part: p, url, src: null, link: null };
        const fileId = part.type === "image_file_id" && part.image_file_id && typeof part.image_file_id.file_id === "string" ? part.image_file_id.file_id : null;
        if (fileId) {
          asset.src = `/_admin/ui/files/${encodeURIComponent(fileId)}`; // the uploaded image, from the files directory
        } else if (url && url.startsWith("data:")) {
          const sha = stored[next++];
          if (sha) asset.src = `/_admin/ui/images/${sha}`;
          else if (!/\.\.\.\[\d+ chars\]$/.test(url) && url.startsWith("data:image/")) asset.src = url;
        } else if (url && /^https?:\/\//i.test(url)) {
          asset.link = url;
        }
        assets.push(asset);
      });
    });
    return assets;
  }

  function textOf(content) {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) return content.filter((p) => p && p.type === "text").map((p) => p.text).join("\n");
    return content === null || content === undefined ? "" : JSON.stringify(content);
  }

  function figure(asset, annotations, assetCount, colours, thumb) {
    if (!asset.src) {
      const what = asset.link
        ? h("a", { href: asset.link, rel: "noopener noreferrer", target: "_blank" }, asset.link)
        : `${asset.type} (not kept: see --journal-image-bytes)`;
      return h("div", { class: "asset missing", "data-asset": asset.index }, h("span", {}, `asset ${asset.index}: `), what);
    }
    const img = h("img", { src: asset.src, alt: `asset ${asset.index} of the request`, class: "asset-img" });
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "overlay");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    const stage = h("span", { class: "stage" }, img, svg); // phrasing content: it sits in a button
    const box = h(
      "figure",
      { class: thumb ? "asset thumb" : "asset", "data-asset": asset.index },
      h("button", { type: "button", class: "open-full", "aria-label": `Open asset ${asset.index} at full size`, onclick: () => viewFull(asset, annotations, assetCount, colours) }, stage),
      h("figcaption", {}, `asset ${asset.index}`),
    );
    const drawIt = () => {
      const count = window.PMGrounding.draw(svg, annotations, asset.index, assetCount, img.naturalWidth, img.naturalHeight, colours);
      box.dataset.drawn = String(count);
      box.dataset.width = String(img.naturalWidth);
      box.dataset.height = String(img.naturalHeight);
    };
    if (img.complete && img.naturalWidth) drawIt();
    else img.addEventListener("load", drawIt, { once: true });
    return box;
  }

  function viewFull(asset, annotations, assetCount, colours) {
    const dialog = $("viewer");
    $("viewer-body").replaceChildren(figure(asset, annotations, assetCount, colours, false));
    $("viewer-body").querySelector(".open-full").disabled = true;
    dialog.showModal();
  }

  function pre(text, cls) {
    return h("pre", { class: cls || "text" }, text);
  }

  function conversation(entry, assets, annotations, colours) {
    const messages = messagesOf(entry);
    return h(
      "ol",
      { class: "conversation" },
      messages.map((message, m) => {
        const role = message && typeof message.role === "string" ? message.role : "?";
        const text = textOf(message && message.content);
        const hinted = /<hint>/i.test(text);
        const thumbs = assets.filter((a) => a.message === m).map((a) => figure(a, annotations, assets.length, colours, true));
        return h(
          "li",
          { class: `message role-${role.replace(/[^a-z]/g, "")}${role === "system" ? " system" : ""}` },
          h("span", { class: "role" }, role, role === "system" && hinted ? h("span", { class: "badge" }, "hint") : null, message && typeof message.prompt === "number" ? h("span", { class: "badge" }, `prompt ${message.prompt}`) : null),
          text ? pre(text) : null,
          message && message.reasoning_content ? h("details", {}, h("summary", {}, "reasoning"), pre(message.reasoning_content)) : null,
          message && message.tool_calls ? h("details", { open: true }, h("summary", {}, "tool calls"), pre(JSON.stringify(message.tool_calls, null, 2))) : null,
          message && message.tool_call_id ? h("p", { class: "meta" }, `result of tool call ${message.tool_call_id}`) : null,
          thumbs.length ? h("div", { class: "thumbs" }, thumbs) : null,
        );
      }),
    );
  }

  function parameters(entry) {
    const body = entry.body && typeof entry.body === "object" ? entry.body : {};
    const rows = Object.entries(body).filter(([k]) => !["messages", "context", "prompts"].includes(k));
    return h(
      "table",
      { class: "params" },
      h("caption", {}, "parameters"),
      h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, typeof v === "string" ? v : JSON.stringify(v))))),
    );
  }

  function answerPane(entry) {
    const a = entry.answer || {};
    const parts = [h("h3", {}, "Answer"), h("p", { class: "meta" }, `status ${entry.status === null ? "none (no answer sent)" : entry.status}`, a.finish_reason ? ` · finish_reason ${a.finish_reason}` : "", a.shortened ? " · shortened (journal-body-bytes)" : "")];
    if (a.error) parts.push(h("section", { class: "error" }, h("h4", {}, "error"), pre(JSON.stringify({ error: a.error }, null, 2))));
    if (a.reasoning) parts.push(h("details", { class: "reasoning" }, h("summary", {}, "reasoning"), pre(a.reasoning)));
    if (a.content !== null && a.content !== undefined) parts.push(h("section", { class: "content" }, h("h4", {}, "content"), pre(a.content, "text answer-content")));
    if (a.tool_calls) parts.push(h("section", { class: "tools" }, h("h4", {}, "tool calls"), a.tool_calls.map((c) => pre(JSON.stringify(c, null, 2)))));
    if (a.results) parts.push(h("ol", { class: "results", start: 0 }, a.results.map((r) => h("li", { class: "result", "data-prompt": r.prompt_index }, h("h4", {}, `prompt ${r.prompt_index}`), r.error ? pre(JSON.stringify({ error: r.error }, null, 2)) : (r.completions || []).map((c) => pre(c.content === null ? "" : String(c.content), "text answer-content"))))));
    if (a.text) parts.push(pre(a.text));
    if (a.events) {
      const shown = a.events.slice(0, EVENTS_SHOWN);
      parts.push(
        h(
          "details",
          { class: "events" },
          h("summary", {}, `${a.events.length} streamed events`),
          h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "ms"), h("th", { scope: "col" }, "data"))), h("tbody", {}, shown.map((e) => h("tr", {}, h("td", { class: "num" }, e.ms.toFixed(1)), h("td", {}, h("code", {}, e.data)))))),
        ),
      );
    }
    return h("section", { class: "answer", "aria-label": "The answer" }, parts);
  }

  function renderDetail(entry) {
    const content = entry.answer && typeof entry.answer.content === "string" ? entry.answer.content : "";
    const annotations = window.PMGrounding.parse(content);
    const assets = assetsOf(entry);
    const colours = new Map();
    for (const a of annotations) window.PMGrounding.colourOf(a.mention, colours);
    const legend = h("ul", { class: "legend", "aria-label": "mentions" }, [...colours.entries()].map(([mention, colour]) => h("li", {}, h("span", { class: "swatch", "data-colour": colour }), mention || "(no mention)")));
    const stage = h("section", { class: "grounding", "aria-label": "Grounding on the images" }, h("h3", {}, `Grounding: ${annotations.length} annotations`), legend, h("div", { class: "stages" }, assets.map((a) => figure(a, annotations, assets.length, colours, false))));
    const request = h(
      "section",
      { class: "request", "aria-label": "The request" },
      h("h3", {}, "Request"),
      entry.body_shortened ? h("p", { class: "meta" }, "body shortened (journal-body-bytes); images are shown from the image store") : null,
      entry.body_text !== null && entry.body_text !== undefined ? pre(entry.body_text) : conversation(entry, assets, annotations, colours),
      parameters(entry),
      h("details", {}, h("summary", {}, "headers"), pre(JSON.stringify(entry.headers, null, 2))),
    );
    const detail = $("detail");
    detail.replaceChildren(
      h("h2", {}, `${entry.method} ${entry.path} → ${entry.status === null ? "no answer" : entry.status}`),
      h("p", { class: "meta" }, `#${entry.id} · ${entry.request_id || ""} · ${entry.model || "no model"} · ${entry.duration_ms} ms · ${entry.stream ? "streamed" : "not streamed"}${entry.fault ? ` · fault ${entry.fault}` : ""}${entry.test_id ? ` · test ${entry.test_id}` : ""}${entry.complete ? "" : " · incomplete"}`),
      assets.length ? stage : null,
      h("div", { class: "sides" }, request, answerPane(entry)),
    );
    // Swatch colours from data attributes: the CSP allows no inline style attribute.
    for (const swatch of detail.querySelectorAll(".swatch")) swatch.style.backgroundColor = swatch.dataset.colour;
    detail.focus();
  }

  // --- steering --------------------------------------------------------------------------------

  async function refreshSteering() {
    try {
      const [faults, fixtures] = await Promise.all([api("GET", "/_admin/faults"), api("GET", "/_admin/fixtures")]);
      $("faults").replaceChildren(...faults.data.map((f) => h("li", {}, `${f.fault} × ${f.remaining}${f.model ? ` (model ${f.model})` : ""}`)));
      $("fixtures").replaceChildren(
        ...fixtures.data.map((f) =>
          h("li", {}, `${f.name} `, h("span", { class: "meta" }, f.source || ""), " ", h("button", { type: "button", "aria-label": `Remove fixture ${f.name}`, onclick: () => steer(() => api("DELETE", `/_admin/fixtures/${encodeURIComponent(f.name)}`), `Removed fixture ${f.name}.`) }, "Remove")),
        ),
      );
    } catch (e) {
      say(`Could not read the faults and fixtures: ${e.message}`, true);
    }
  }

  async function steer(action, done) {
    try {
      await action();
      say(done, false);
    } catch (e) {
      say(e.message, true);
    }
    await refreshSteering();
  }

  function wire() {
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      state.filters = {};
      for (const name of [...FILTERS, "test_id", "limit"]) state.filters[name] = String(form.get(name) || "").trim();
      showDetailHint();
      connect();
    });
    $("fault-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      const body = { fault: String(form.get("fault")).trim(), count: parseInt(form.get("count"), 10) || 1, model: String(form.get("model") || "").trim() || null };
      steer(() => api("POST", "/_admin/faults", body), `Queued fault ${body.fault} for the next ${body.count} request(s).`);
    });
    $("clear-faults").addEventListener("click", () => steer(() => api("DELETE", "/_admin/faults"), "Cleared the queued faults."));
    $("fixture-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      let fixture;
      try {
        fixture = JSON.parse(String(form.get("fixture")));
      } catch (e) {
        say(`The fixture is not JSON: ${e.message}`, true);
        return;
      }
      steer(() => api("POST", `/_admin/fixtures${form.get("first") ? "?first=true" : ""}`, fixture), "Added the fixture.");
    });
    $("reset").addEventListener("click", () => steer(() => api("POST", "/_admin/reset"), "Reset: journal, faults, rate limits and run-time fixtures cleared."));
    $("clear-journal").addEventListener("click", () => steer(() => api("DELETE", "/_admin/requests"), "Cleared the journal."));
    const limit = $("filters").elements.namedItem("limit");
    state.filters = { limit: limit.value };
    api("GET", "/_admin/config")
      .then((config) => {
        if (config.admin_access === "key") $("logout").hidden = false;
      })
      .catch(() => {});
  }

  wire();
  connect();
  refreshSteering();
})();
