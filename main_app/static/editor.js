// The new-task editor: line numbers, templates, and the spec's validation errors shown in
// place (the server's own validator, the one that will run the task).
(() => {
  const area = document.getElementById("spec");
  const gutter = document.getElementById("gutter");
  const box = document.getElementById("validation");
  const form = document.getElementById("task-form");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const templates = JSON.parse(document.getElementById("templates-data").textContent);
  let badLines = new Set(), timer = null, seq = 0;

  function renderGutter() {
    const count = area.value.split("\n").length;
    gutter.innerHTML = Array.from({ length: count }, (_, i) =>
      badLines.has(i + 1) ? `<span class="bad">${i + 1}</span>` : String(i + 1)).join("\n");
  }

  // The line where steps[index] starts: the index-th "action" key after "steps".
  function lineOfStep(index) {
    const text = area.value, start = text.indexOf('"steps"');
    if (start < 0) return null;
    let at = start;
    for (let i = 0; i <= index; i++) {
      at = text.indexOf('"action"', at + 1);
      if (at < 0) return null;
    }
    return text.slice(0, at).split("\n").length;
  }

  function lineOfField(loc) {
    const step = /^steps\[(\d+)\]/.exec(loc || "");
    if (step) return lineOfStep(Number(step[1]));
    const field = /^([a-z_]+)/.exec(loc || "");
    if (!field) return null;
    const at = area.value.indexOf(`"${field[1]}"`);
    return at < 0 ? null : area.value.slice(0, at).split("\n").length;
  }

  function escape(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  function show(errors) {
    badLines = new Set(errors.map((e) => e.line).filter(Boolean));
    renderGutter();
    if (!errors.length) {
      box.className = "validation good";
      box.textContent = "✓ Valid task spec";
      return;
    }
    box.className = "validation bad";
    box.innerHTML = "<strong>Fix these before running:</strong><ul>" + errors.map((e) =>
      `<li>${e.line ? `<a href="#" data-line="${e.line}">line ${e.line}</a> · ` : ""}` +
      `<code>${escape(e.loc || "spec")}</code> ${escape(e.message)}</li>`).join("") + "</ul>";
  }

  async function validate() {
    const mine = ++seq;
    let parsed;
    try {
      parsed = JSON.parse(area.value);
    } catch (err) {
      const pos = /position (\d+)/.exec(err.message);
      const line = pos ? area.value.slice(0, Number(pos[1])).split("\n").length : null;
      show([{ loc: "", message: `not valid JSON: ${err.message}`, line }]);
      return;
    }
    const response = await fetch("/api/v1/spec/validate", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(parsed),
    });
    if (mine !== seq) return; // a newer check is on its way
    const answer = await response.json();
    show((answer.errors || []).map((e) => ({ ...e, line: lineOfField(e.loc) })));
  }

  function schedule() {
    renderGutter();
    clearTimeout(timer);
    timer = setTimeout(validate, 350);
  }

  area.addEventListener("input", schedule);
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    if (event.key === "Tab") {
      event.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      schedule();
    }
  });
  box.addEventListener("click", (event) => {
    const line = event.target.dataset.line;
    if (!line) return;
    event.preventDefault();
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    area.focus();
    area.setSelectionRange(start, start + lines[line - 1].length);
  });
  document.querySelectorAll("[data-template]").forEach((link) => link.addEventListener("click", (event) => {
    event.preventDefault();
    const chosen = templates.find((t) => t.id === link.dataset.template);
    area.value = JSON.stringify(chosen.spec, null, 2);
    document.querySelectorAll("[data-template]").forEach((l) => l.classList.toggle("active", l === link));
    schedule();
  }));
  renderGutter();
  if (!box.classList.contains("bad")) validate();
})();
