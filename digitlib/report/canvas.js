// draw_a_digit's canvas (digitlib/report/canvas.py): strokes drawn here as the pointer moves, sent to the kernel,
// and the kernel's reading shown beside them. Everything shown from the kernel is set as text, never as markup.
const SEND_EVERY_MS = 200; // while a stroke goes on: a few readings a second, not one per pointer event

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function button(label, title) {
  const made = element("button", "digitlib-button", label);
  made.type = "button";
  made.title = title;
  return made;
}

// A 28x28 picture on a small canvas: grey levels, with the occlusion map laid over in red (evidence) and blue.
function paint(target, seen, occlusion) {
  const context = target.getContext("2d");
  const image = context.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    let [r, g, b] = [seen[i], seen[i], seen[i]];
    if (occlusion) {
      const v = Math.max(-1, Math.min(1, occlusion[i]));
      const alpha = Math.abs(v) * 0.75;
      const [cr, cg, cb] = v > 0 ? [207, 34, 46] : [33, 102, 172];
      [r, g, b] = [r + (cr - r) * alpha, g + (cg - g) * alpha, b + (cb - b) * alpha];
    }
    image.data.set([r, g, b, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

function render({ model, el }) {
  const size = model.get("size");
  const root = element("div", "digitlib-canvas");
  const pad = element("canvas", "digitlib-pad");
  pad.width = pad.height = size;
  pad.setAttribute("role", "img");
  pad.setAttribute("aria-label", "drawing canvas: draw one digit with the mouse, a finger or a pen");
  const tools = element("div", "digitlib-tools");
  const undo = button("undo", "take back the last stroke");
  const clear = button("clear", "start again on an empty canvas");
  const label = element("select", "digitlib-label");
  label.title = "the digit you drew, for the kept file's name";
  label.append(new Option("label: the reading", ""));
  for (let d = 0; d <= 9; d++) label.append(new Option(`label: ${d}`, String(d)));
  const keep = button("keep", "");
  const kept = element("div", "digitlib-kept");
  kept.setAttribute("aria-live", "polite");
  tools.append(undo, clear, label, keep);

  const reading = element("div", "digitlib-reading");
  const said = element("div", "digitlib-said");
  const digit = element("output", "digitlib-digit");
  said.append(element("span", "", "read as "), digit);
  const pictures = element("div", "digitlib-pictures");
  const seen = element("canvas", "digitlib-seen");
  const looks = element("canvas", "digitlib-occlusion");
  for (const small of [seen, looks]) small.width = small.height = 28;
  const seenBox = element("figure", "");
  seenBox.append(seen, element("figcaption", "", "what the model sees (28x28)"));
  const looksBox = element("figure", "");
  const looksCaption = element("figcaption", "", "where it looks");
  looksBox.append(looks, looksCaption);
  pictures.append(seenBox, looksBox);
  const bars = element("div", "digitlib-bars");
  bars.setAttribute("role", "img");
  const rows = [];
  for (let d = 0; d <= 9; d++) {
    const row = element("div", "digitlib-bar");
    const fill = element("span", "digitlib-fill");
    const value = element("span", "digitlib-value", "");
    row.append(element("span", "digitlib-name", String(d)), element("span", "digitlib-track"), value);
    row.children[1].append(fill);
    bars.append(row);
    rows.push({ row, fill, value });
  }
  reading.append(said, pictures, bars);
  const left = element("div", "digitlib-left");
  left.append(pad, tools, kept);
  root.append(left, reading);
  el.append(root);

  const context = pad.getContext("2d");
  let strokes = (model.get("strokes") || []).map((stroke) => stroke.map((point) => [...point]));
  let current = null;
  let lastSent = 0;

  function draw() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, size, size);
    context.strokeStyle = context.fillStyle = "#000";
    context.lineWidth = model.get("pen");
    context.lineCap = context.lineJoin = "round";
    for (const stroke of strokes) {
      context.beginPath();
      context.moveTo(stroke[0][0], stroke[0][1]);
      for (const [x, y] of stroke.slice(1)) context.lineTo(x, y);
      if (stroke.length === 1) context.lineTo(stroke[0][0] + 0.01, stroke[0][1]); // a dot
      context.stroke();
    }
  }

  function send() {
    lastSent = Date.now();
    model.set("strokes", strokes.map((stroke) => stroke.map((point) => [...point])));
    model.save_changes();
  }

  function where(event) {
    const box = pad.getBoundingClientRect();
    return [Math.round(((event.clientX - box.left) * size) / box.width * 10) / 10,
      Math.round(((event.clientY - box.top) * size) / box.height * 10) / 10];
  }

  // One pointer draws at a time: a second finger or a resting palm neither cuts the stroke short nor draws.
  pad.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || current !== null || !event.isPrimary) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = event.pointerId;
    strokes.push([where(event)]);
    draw();
  });
  pad.addEventListener("pointermove", (event) => {
    if (event.pointerId !== current) return;
    const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    const stroke = strokes[strokes.length - 1];
    for (const move of moves.length ? moves : [event]) {
      const [x, y] = where(move);
      const [lastX, lastY] = stroke[stroke.length - 1];
      if (Math.hypot(x - lastX, y - lastY) >= 1) stroke.push([x, y]); // a point a pixel or more on: no finer
    }
    draw();
    if (Date.now() - lastSent > SEND_EVERY_MS) send();
  });
  const end = (event) => {
    if (event.pointerId !== current) return;
    current = null;
    send();
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", (event) => { // the browser took the pointer back (a palm, a scroll)
    if (event.pointerId !== current) return;
    strokes.pop(); // not a stroke the user finished: not read, not kept
    current = null;
    draw();
    send();
  });
  // Undo and clear end a stroke still going on (another finger taps them): its later moves draw nothing.
  undo.addEventListener("click", () => { current = null; strokes.pop(); draw(); send(); });
  clear.addEventListener("click", () => { current = null; strokes = []; draw(); send(); });
  keep.addEventListener("click", () => {
    keep.disabled = true; // until the kernel says what it did (or a second on): a double click keeps one file
    model.send({ keep: true, label: label.value === "" ? null : Number(label.value) });
    setTimeout(enableKeep, 1000);
  });
  const enableKeep = () => { keep.disabled = !("digit" in (model.get("reading") || {})); };

  function showReading() {
    const now = model.get("reading") || {};
    const empty = !("digit" in now);
    root.classList.toggle("digitlib-empty", empty);
    keep.disabled = empty;
    keep.textContent = "keep";
    keep.title = `save the drawing as label<digit>_<n>.png in ${model.get("keep_in")}`;
    digit.textContent = empty ? "…" : String(now.digit);
    const probabilities = empty ? Array(10).fill(0) : now.probabilities;
    rows.forEach(({ row, fill, value }, d) => {
      fill.style.width = `${(100 * probabilities[d]).toFixed(1)}%`;
      value.textContent = empty ? "" : `${(100 * probabilities[d]).toFixed(1)}%`;
      row.classList.toggle("digitlib-read", !empty && d === now.digit);
    });
    bars.setAttribute("aria-label", empty ? "no reading yet" : now.alt);
    pad.title = empty ? "draw a digit here" : now.alt;
    looksCaption.textContent = empty ? "where it looks" : `where it looks to read ${now.digit}`;
    paint(seen, empty ? Array(784).fill(0) : now.seen, null);
    paint(looks, empty ? Array(784).fill(0) : now.seen, empty ? null : now.occlusion);
  }

  // Another view of this canvas (the notebook open twice) drew: show its strokes, unless one is going on here.
  function adopt() {
    if (current !== null) return;
    strokes = (model.get("strokes") || []).map((stroke) => stroke.map((point) => [...point]));
    draw();
  }

  model.on("change:reading", showReading);
  model.on("change:strokes", adopt);
  const showKept = () => {
    kept.textContent = model.get("kept");
    enableKeep();
  };
  model.on("change:kept", showKept);
  kept.textContent = model.get("kept");
  draw();
  showReading();
  return () => {
    model.off("change:reading", showReading);
    model.off("change:strokes", adopt);
    model.off("change:kept", showKept);
  };
}

export default { render };
