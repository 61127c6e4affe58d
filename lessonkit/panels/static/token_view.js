// lessonkit/panels/token_view.py explains the protocol; applyOps mirrors its apply_ops, op for op.
function applyOps(items, ops) {
  for (const op of ops) {
    const [kind] = op;
    if (kind === "run") items.splice(op[1] ? 0 : items.length, 0, { run: op[2] });
    else if (kind === "card") items.push({ label: op[1], model: op[2], status: op[3], text: "", args: [] });
    else if (kind === "status") items[op[1]].status = op[2];
    else if (kind === "text") items[op[1]].text += op[2];
    else if (kind === "args") {
      const args = items[op[1]].args;
      if (op[2] === args.length) args.push([op[3], ""]);
      args[op[2]][1] += op[4];
    }
  }
}

async function inflate(buffer) {
  const stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return JSON.parse(await new Response(stream).text());
}

function initialize({ model }) {
  let queue = Promise.resolve(), asked = -1;
  model.on("msg:custom", (msg, buffers) => {
    if (!Array.isArray(msg)) return;
    const [seq, inline] = msg;
    const ops = inline ? Promise.resolve(inline) : inflate(buffers[0]);  // decoded side by side, applied in order
    queue = queue.then(() => ops).then((ops) => {
      const panel = model.get("panel");
      if (seq <= panel.seq) return;
      if (seq > panel.seq + 1) {
        if (asked !== panel.seq) model.send({ resync: (asked = panel.seq) });
        return;
      }
      applyOps(panel.items, ops);
      model.set("panel", { seq, items: panel.items });  // views follow; never sent back to the kernel
    }).catch((error) => console.error("lessonkit token view:", error));
  });
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.append(document.createTextNode(text));
  return node;
}

// One item's DOM and how much of it is shown; update() appends only what is new (text, never markup).
function cardView(item) {
  if ("run" in item) {
    const node = el("div", "lk-run-label");
    node.append(el("b", "", item.run));
    return { node, update() {} };
  }
  const node = el("div", "lk-card"), head = el("div", "lk-head"), status = el("span", "lk-status");
  head.append(el("b", "", item.label), document.createTextNode(item.model ? " · " + item.model + " · " : " · "), status);
  node.append(head);
  let answer = null;
  const args = [];
  return {
    node,
    update(item) {
      if (status.textContent !== item.status) status.textContent = item.status;
      if (item.text && !answer) {
        answer = el("div", "lk-text lk-answer", "");
        head.after(answer);
      }
      if (answer) {
        const shown = answer.firstChild;
        if (item.text.startsWith(shown.data)) shown.appendData(item.text.slice(shown.data.length));
        else shown.data = item.text;
      }
      item.args.forEach(([tool, text], k) => {
        if (!args[k]) {
          const label = el("div", "lk-head");
          label.append(el("span", "lk-muted", "→ " + tool + "("));
          args[k] = el("div", "lk-text lk-args", "");
          node.append(label, args[k]);
        }
        const shown = args[k].firstChild;
        if (text.startsWith(shown.data)) shown.appendData(text.slice(shown.data.length));
        else shown.data = text;
      });
    },
  };
}

function render({ model, el: root }) {
  let items = null, views = new Map();
  const show = () => {
    const panel = model.get("panel");
    if (panel.items !== items) {  // a whole panel from the kernel (first render, resync): draw it afresh
      items = panel.items;
      views = new Map();
      root.replaceChildren();
    }
    items.forEach((item, i) => {
      let view = views.get(item);
      if (!view) {
        views.set(item, (view = cardView(item)));
        root.insertBefore(view.node, root.children[i] || null);
      }
      view.update(item);
    });
  };
  model.on("change:panel", show);
  show();
  return () => model.off("change:panel", show);
}

export default { initialize, render };
