/* Grounding tags of an answer (Perceptron's grammar, as perceptron.collect_annotations reads it) and
   their drawing on the image they refer to. Coordinates are on the 0-1000 grid; pixels are
   round-half-even(v / 1000 * size) clamped to the image, as the SDK's scale_annotations_by_asset. */
"use strict";
(function () {
  const TAG = /<(\/)?(point_box|point|polygon|clip|collection|track)\b((?:"[^"]*"|'[^']*'|[^<>"'])*)>/gi;
  const ATTR = /(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))|"[^"]*"|'[^']*'/g;
  const COORD = /\(\s*(\d+)\s*,\s*(\d+)\s*\)/g;
  const LEAF = { point: "point", point_box: "box", polygon: "polygon" };
  const MAX_TAGS = 10000; // a long answer is drawn up to this many tags

  const NAMED = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  /* HTML character references in an attribute value (html.unescape's common cases). */
  function unescapeHtml(text) {
    return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
      if (ref[0] === "#") {
        const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return NAMED[ref.toLowerCase()] !== undefined ? NAMED[ref.toLowerCase()] : whole;
    });
  }

  function attrs(text) {
    const out = {};
    for (const m of text.matchAll(ATTR)) {
      if (m[1] === undefined) continue;
      const value = m[2] !== undefined ? m[2] : m[3] !== undefined ? m[3] : m[4];
      out[m[1]] = value.includes("&") ? unescapeHtml(value) : value;
    }
    return out;
  }

  function assetIdx(raw) {
    if (raw === undefined || raw === "") return null;
    const m = /^\s*\+?(\d+)\s*$/.exec(raw);
    if (!m) throw new Error("invalid asset_idx");
    return parseInt(m[1], 10);
  }

  function coords(body) {
    const points = [...body.matchAll(COORD)].map((m) => [parseInt(m[1], 10), parseInt(m[2], 10)]);
    if (points.length) return points;
    const tokens = body.split(/\s+/).filter(Boolean);
    if (tokens.length && tokens.length % 2 === 0 && tokens.every((t) => /^[0-9]+$/.test(t))) {
      const out = [];
      for (let i = 0; i < tokens.length; i += 2) out.push([parseInt(tokens[i], 10), parseInt(tokens[i + 1], 10)]);
      return out;
    }
    return [];
  }

  function tokenize(text) {
    const tokens = [];
    TAG.lastIndex = 0;
    for (const m of text.matchAll(TAG)) {
      if (tokens.length >= MAX_TAGS) break;
      const closing = m[1] !== undefined;
      const tag = m[2].toLowerCase();
      const stripped = m[3].replace(/\s+$/, "");
      const selfClosing = !closing && stripped.endsWith("/");
      if ((closing && stripped) || (selfClosing && tag !== "clip")) continue;
      tokens.push({ tag, closing, selfClosing, attrs: selfClosing ? stripped.slice(0, -1) : m[3], start: m.index, end: m.index + m[0].length });
    }
    return tokens;
  }

  function leaf(tag, attrText, body) {
    const points = coords(body);
    const need = tag === "point" ? points.length === 1 : tag === "point_box" ? points.length === 2 : points.length >= 3;
    if (!need) return null;
    const a = attrs(attrText);
    try {
      return { kind: LEAF[tag], points, mention: a.mention || null, asset_idx: assetIdx(a.asset_idx) };
    } catch (e) {
      return null;
    }
  }

  /* The spatial annotations (points, boxes, polygons) of `text`, each with the mention and asset_idx
     it has or inherits from its collection or track, in the order of the text. */
  function parse(text) {
    const tokens = tokenize(text);
    const out = [];
    const stack = []; // open containers: {tag, attrs, children}
    const emit = (item) => (stack.length ? stack[stack.length - 1].children.push(item) : out.push(item));
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i];
      const next = tokens[i + 1];
      if (tok.tag in LEAF || tok.tag === "clip") {
        if (tok.selfClosing) continue; // a clip: a time span, nothing to draw
        if (!tok.closing && next && next.closing && next.tag === tok.tag) {
          if (tok.tag !== "clip") {
            const item = leaf(tok.tag, tok.attrs, text.slice(tok.end, next.start));
            if (item) emit(item);
          }
          i++;
        }
      } else if (!tok.closing) {
        stack.push({ tag: tok.tag, attrs: tok.attrs, children: [] });
      } else {
        let depth = -1;
        for (let d = stack.length - 1; d >= 0; d--) if (stack[d].tag === tok.tag) { depth = d; break; }
        if (depth < 0) continue;
        while (stack.length > depth + 1) finish(stack.pop(), stack, out, false);
        finish(stack.pop(), stack, out, true);
      }
    }
    while (stack.length) finish(stack.pop(), stack, out, false);
    return out;
  }

  function finish(node, stack, out, closed) {
    const a = attrs(node.attrs);
    let idx;
    try {
      idx = assetIdx(a.asset_idx);
    } catch (e) {
      return; // an invalid container is not an annotation (the SDK reports it)
    }
    if (node.tag === "collection" && node.children.some((c) => c.container === "collection")) return;
    const mention = a.mention || null;
    const children = node.children.map((c) => ({
      ...c,
      mention: c.mention || mention,
      asset_idx: c.asset_idx !== null && c.asset_idx !== undefined ? c.asset_idx : idx,
      container: c.container || node.tag,
    }));
    const target = stack.length ? stack[stack.length - 1].children : out;
    for (const child of children) target.push(child);
  }

  function roundHalfEven(x) {
    const f = Math.floor(x);
    const d = x - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  function toPixels(v, size) {
    const scaled = roundHalfEven((v / 1000.0) * size);
    return Math.min(Math.max(scaled, 0), size - 1);
  }

  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990", "#000075"];

  function colourOf(mention, colours) {
    const key = mention || "";
    if (!colours.has(key)) colours.set(key, PALETTE[colours.size % PALETTE.length]);
    return colours.get(key);
  }

  const SVG = "http://www.w3.org/2000/svg";
  function el(name, attributes) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    return node;
  }

  /* Draw on `svg` (viewBox in the image's pixels) the annotations that refer to asset `index`
     (no asset_idx: the last asset, as the SDK resolves it). Returns how many were drawn. */
  function draw(svg, annotations, index, assetCount, width, height, colours) {
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    let drawn = 0;
    const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
    for (const a of annotations) {
      const target = a.asset_idx === null || a.asset_idx === undefined ? assetCount - 1 : a.asset_idx;
      if (target !== index) continue;
      const colour = colourOf(a.mention, colours);
      const pts = a.points.map(([x, y]) => [toPixels(x, width), toPixels(y, height)]);
      const group = el("g", { class: `annotation ${a.kind}`, "data-kind": a.kind, "data-mention": a.mention || "" });
      let shape;
      let lx = pts[0][0];
      let ly = pts[0][1];
      if (a.kind === "box") {
        const left = Math.min(pts[0][0], pts[1][0]);
        const top = Math.min(pts[0][1], pts[1][1]);
        const right = Math.max(pts[0][0], pts[1][0]);
        const bottom = Math.max(pts[0][1], pts[1][1]);
        shape = el("rect", { x: left, y: top, width: right - left, height: bottom - top, stroke: colour, "stroke-width": stroke, fill: "none" });
        lx = left;
        ly = top;
      } else if (a.kind === "polygon") {
        shape = el("polygon", { points: pts.map((p) => p.join(",")).join(" "), stroke: colour, "stroke-width": stroke, fill: colour, "fill-opacity": 0.15 });
        ly = Math.min(...pts.map((p) => p[1]));
        lx = Math.min(...pts.map((p) => p[0]));
      } else {
        shape = el("circle", { cx: pts[0][0], cy: pts[0][1], r: stroke * 2.5, fill: colour, stroke: "#fff", "stroke-width": stroke / 2 });
      }
      group.appendChild(shape);
      const title = el("title", {});
      title.textContent = `${a.mention || a.kind}: ${a.points.map((p) => `(${p[0]},${p[1]})`).join(" ")}`;
      group.appendChild(title);
      if (a.mention) {
        const fontSize = Math.max(12, Math.round(Math.min(width, height) / 30));
        const label = el("text", { x: lx + stroke, y: Math.max(fontSize, ly - stroke), fill: colour, "font-size": fontSize, class: "label" });
        label.textContent = a.mention; // text, never markup
        group.appendChild(label);
      }
      svg.appendChild(group);
      drawn++;
    }
    return drawn;
  }

  window.PMGrounding = { parse, draw, toPixels, colourOf, PALETTE };
})();
