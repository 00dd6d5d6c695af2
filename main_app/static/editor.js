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

  // Reads the JSON text like JSON.parse does, and notes where each value starts: its path
  // ("steps[1].selector", "viewport.width") -> line number (a member's line is its key's).
  // Not valid JSON: throws an Error whose "pos" is where the text goes wrong.
  function scanJson(text) {
    const lines = new Map();
    let i = 0, line = 1, counted = 0;
    const lineHere = () => {
      for (; counted < i; counted++) if (text[counted] === "\n") line++;
      return line;
    };
    const found = () => (i < text.length ? `'${text[i]}'` : "the end of the text");
    const fail = (what, at = i) => {
      const err = new Error(what);
      err.pos = at;
      throw err;
    };
    const ws = () => { while (i < text.length && " \t\r\n".includes(text[i])) i++; };
    const string = () => {
      const start = i++;
      while (text[i] !== '"') {
        if (i >= text.length || text[i] === "\n") fail("a string is not closed", start);
        i += text[i] === "\\" ? 2 : 1;
      }
      i++;
      try {
        return JSON.parse(text.slice(start, i));
      } catch (err) {
        return fail("a string has a bad escape (\\)", start);
      }
    };
    const value = (path) => {
      ws();
      if (!lines.has(path)) lines.set(path, lineHere());
      const c = text[i];
      if (c === "{" || c === "[") {
        const object = c === "{", close = object ? "}" : "]";
        i++; ws();
        if (text[i] === close) { i++; return; }
        for (let n = 0; ; n++) {
          if (object) {
            ws();
            if (text[i] !== '"') fail(`expected a "key" in double quotes, found ${found()}`);
            const at = lineHere(), key = string();
            const member = path ? `${path}.${key}` : key;
            lines.set(member, at);
            ws();
            if (text[i] !== ":") fail(`expected ':' after "${key}", found ${found()}`);
            i++;
            value(member);
          } else {
            value(`${path}[${n}]`);
          }
          ws();
          if (text[i] === close) { i++; return; }
          if (text[i] !== ",") fail(`expected ',' or '${close}', found ${found()}`);
          i++;
        }
      }
      if (c === '"') { string(); return; }
      const literal = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
      if (!literal) fail(`expected a value, found ${found()}`);
      i += literal[0].length;
    };
    value("");
    ws();
    if (i < text.length) fail(`unexpected ${found()} after the end of the spec`);
    return lines;
  }

  // The line an error is about: its field inside the step when the message names one
  // ("unknown field 'x'", "'x' is required"), else the step, else the task's field.
  function lineOf(error, lines) {
    const loc = error.loc || "";
    const step = /^steps\[(\d+)\]/.exec(loc);
    const named = /^(?:unknown field |unknown action )?'([^']+)'/.exec(error.message || "");
    let path = step ? `steps[${step[1]}]` : loc;
    if (step && named) path += `.${/^unknown action/.test(error.message) ? "action" : named[1]}`;
    while (path) {
      if (lines.has(path)) return lines.get(path);
      const shorter = path.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
      if (shorter === path) break;
      path = shorter;
    }
    return null;
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
    const mine = ++seq, text = area.value;
    let lines, parsed;
    try {
      lines = scanJson(text);
      parsed = JSON.parse(text);
    } catch (err) {
      const at = err.pos ?? Number((/position (\d+)/.exec(err.message) || [])[1]);
      const line = Number.isFinite(at) ? text.slice(0, at).split("\n").length : null;
      const column = line ? at - text.lastIndexOf("\n", at - 1) : null;
      show([{ loc: "", message: `not valid JSON: ${err.message}${column ? ` (column ${column})` : ""}`, line }]);
      return;
    }
    const response = await fetch("/api/v1/spec/validate", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(parsed),
    });
    if (mine !== seq) return; // a newer check is on its way
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      show([{ loc: "", message: answer.error || `the check failed (HTTP ${response.status})` }]);
      return;
    }
    show((answer.errors || []).map((e) => ({ ...e, line: lineOf(e, lines) })));
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
  validate(); // also marks the lines of the errors the server found in a posted spec
})();
