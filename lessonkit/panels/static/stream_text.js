// lessonkit/panels/stream_text.py explains the protocol (this file is sent with every StreamText).
function initialize({ model }) {
  let asked = -1;
  model.on("msg:custom", (msg) => {
    if (!Array.isArray(msg)) return;
    const [at, text] = msg, have = model.get("value");
    if (at > have.length) {
      if (asked !== have.length) model.send({ from: (asked = have.length) });
    } else if (at + text.length > have.length) {
      model.set("value", have + text.slice(have.length - at));
    }
  });
}

function render({ model, el }) {
  const node = document.createTextNode(model.get("value"));
  el.append(node);
  model.on("change:value", () => {
    const value = model.get("value");
    if (value.startsWith(node.data)) node.appendData(value.slice(node.data.length));
    else node.data = value;
  });
}

export default { initialize, render };
