// lessonkit/panels/graph_view.py explains it: the picture arrives once, then only the marks (states, counts, caption).
function render({ model, el }) {
  const mark = () => {
    const m = model.get("marks"), taken = new Set(m.taken || []);
    for (const g of el.querySelectorAll("[data-node]")) {
      const id = g.getAttribute("data-node"), n = (m.visits || {})[id] || 0;
      g.setAttribute("class", "lk-node " + ((m.states || {})[id] || "idle"));
      g.querySelector("[data-visits]").textContent = n > 1 ? "×" + n : "";
    }
    for (const p of el.querySelectorAll("[data-edge]")) {
      p.setAttribute("class", taken.has(p.getAttribute("data-edge")) ? "lk-edge taken" : "lk-edge");
    }
    const caption = el.querySelector("[data-caption]");
    if (caption) caption.textContent = m.caption || "";
  };
  const draw = () => { el.innerHTML = model.get("svg"); mark(); };
  model.on("change:svg", draw);
  model.on("change:marks", mark);
  draw();
}

export default { render };
