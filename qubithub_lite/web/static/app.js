/* QubitHub Lite progressive enhancement: every page works without this file; with it, the
   Run panel shows the run live over the WebSocket, the space editor saves and executes in
   place, and uploads take drag and drop. Same-origin requests only (the CSP allows no other). */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";
  var SVG = "http://www.w3.org/2000/svg";

  function api(method, path, body) {
    return fetch(path, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": CSRF },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 204) return {};
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
        return data;
      });
    });
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function socketUrl(runId) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/ws/runs/" + encodeURIComponent(runId);
  }
  /* The terminal run states, from the server's RunStatus (the page's body data-run-terminal). */
  var FINAL = (document.body.getAttribute("data-run-terminal") || "").split(" ").filter(Boolean);
  /* Live updates over the WebSocket; if the socket drops before the run ends (a restart, a
     proxy), the state is polled until it does. */
  function watchRun(runId, onMessage) {
    var done = false;
    var deliver = function (run) {
      if (done) return;
      done = FINAL.indexOf(run.status) >= 0;
      onMessage(run);
    };
    var poll = function () {
      if (done) return;
      api("GET", "/api/runs/" + encodeURIComponent(runId)).then(deliver).catch(function () {})
        .then(function () { if (!done) setTimeout(poll, 2000); });
    };
    var ws = new WebSocket(socketUrl(runId));
    ws.onmessage = function (ev) {
      deliver(JSON.parse(ev.data));
      if (done) ws.close();
    };
    ws.onclose = function () { if (!done) setTimeout(poll, 1000); };
    return ws;
  }

  /* A histogram in Qiskit bit order (qubit 0 rightmost), drawn with SVG elements (no markup strings). */
  function histogram(counts, expected) {
    var items = Object.keys(counts).map(function (k) { return [k, counts[k]]; });
    items.sort(function (a, b) { return b[1] - a[1]; });
    items = items.slice(0, 32).sort(function (a, b) { return a[0] < b[0] ? -1 : 1; });
    var W = Math.min(640, Math.max(160, items.length * 44)), H = 200, top = Math.max.apply(null, items.map(function (i) { return i[1]; })) || 1, slot = W / items.length;
    var fig = el("figure", { "class": "hist" });
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 -4 " + W + " " + (H + 64));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Histogram of measured counts");
    items.forEach(function (it, i) {
      var g = document.createElementNS(SVG, "g"), t = document.createElementNS(SVG, "title");
      t.textContent = it[0] + ": " + it[1];
      var h = it[1] / top * H, x = i * slot + slot * 0.1, r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", x.toFixed(1)); r.setAttribute("y", (H - h).toFixed(1));
      r.setAttribute("width", (slot * 0.8).toFixed(1)); r.setAttribute("height", h.toFixed(1));
      r.setAttribute("class", expected.indexOf(it[0]) >= 0 ? "bar expected" : "bar");
      var lx = (x + slot * 0.4).toFixed(1), lbl = document.createElementNS(SVG, "text");
      lbl.setAttribute("x", lx); lbl.setAttribute("y", H + 14); lbl.setAttribute("class", "lbl");
      lbl.setAttribute("transform", "rotate(60 " + lx + " " + (H + 14) + ")");
      lbl.textContent = it[0];
      g.appendChild(t); g.appendChild(r); g.appendChild(lbl); svg.appendChild(g);
    });
    fig.appendChild(svg);
    fig.appendChild(el("figcaption", {}, "Counts per bitstring (Qiskit order: qubit 0 is the rightmost bit)."));
    return fig;
  }

  /* Circuit page: the Run panel. */
  var runForm = document.getElementById("run-form");
  if (runForm) {
    var live = document.getElementById("run-live");
    var select = document.getElementById("backend"), calLink = document.getElementById("calibration-link");
    var showCalibration = function () {
      var opt = select.options[select.selectedIndex], id = opt && opt.getAttribute("data-calibration");
      calLink.href = id ? "/backends?backend=" + encodeURIComponent(id) + "#calibration" : "/backends";
      calLink.textContent = id ? "Calibration of " + id : "Backends and calibration";
    };
    if (select && calLink) { select.addEventListener("change", showCalibration); showCalibration(); }
    runForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = new FormData(runForm), body = { circuit_id: runForm.getAttribute("data-circuit"), shots: Number(f.get("shots") || 1024) };
      var backend = f.get("backend");
      if (backend) { var i = backend.indexOf(":"); body.backend_type = backend.slice(0, i); body.backend_name = backend.slice(i + 1); }
      if (f.get("seed")) body.seed = Number(f.get("seed"));
      var params = {};
      runForm.querySelectorAll("[name^=param_]").forEach(function (input) {
        var name = input.name.slice(6);
        if (input.type === "checkbox") params[name] = input.checked;
        else if (input.value === "") return;
        else if (input.type === "number") params[name] = Number(input.value);
        else params[name] = isNaN(Number(input.value)) ? input.value : Number(input.value);
      });
      if (Object.keys(params).length) body.parameters = params;
      var button = runForm.querySelector("button[type=submit]");
      button.disabled = true;
      live.hidden = false;
      var status = live.querySelector(".run-status"), queue = live.querySelector(".run-queue");
      var hist = live.querySelector(".run-hist"), check = live.querySelector(".run-check");
      var metrics = live.querySelector(".run-metrics"), link = live.querySelector(".run-link");
      hist.textContent = ""; check.textContent = ""; metrics.textContent = ""; link.textContent = "";
      status.textContent = "submitting";
      var expected = (live.getAttribute("data-expected") || "").split(",").filter(Boolean);
      api("POST", "/api/runs", body).then(function (run) {
        link.appendChild(el("a", { href: "/runs/" + run.id }, "Open the run page"));
        watchRun(run.id, function (r) {
          status.textContent = r.status;
          status.className = "run-status status s-" + r.status;
          queue.textContent = r.queue_position ? "· position " + r.queue_position + " in the queue" : "";
          if (r.status === "completed" && r.results && r.results.counts) {
            hist.appendChild(histogram(r.results.counts, expected));
            if (expected.length) {
              var total = 0, hit = 0, c = r.results.counts;
              for (var k in c) { total += c[k]; if (expected.indexOf(k) >= 0) hit += c[k]; }
              var share = total ? hit / total : 0, lo = Number(live.getAttribute("data-low")), hi = Number(live.getAttribute("data-high"));
              var ok = share >= lo && share <= hi;
              check.className = "run-check " + (ok ? "ok" : "error");
              check.textContent = "Expected output " + (ok ? "holds" : "does not hold") + ": " + expected.join(", ") + " got " + (share * 100).toFixed(1) + "% of the shots.";
            }
            for (var m in (r.metrics || {})) {
              if (typeof r.metrics[m] === "object") continue;
              metrics.appendChild(el("dt", {}, m)); metrics.appendChild(el("dd", {}, String(r.metrics[m])));
            }
          }
          if (r.status === "failed") check.textContent = (r.error_class || "error") + ": " + (r.error_message || "");
          if (FINAL.indexOf(r.status) >= 0) button.disabled = false;
        });
      }).catch(function (err) { status.textContent = "not submitted: " + err.message; button.disabled = false; });
    });
  }

  /* Run page: follow an unfinished run, then show the finished page. */
  var runPage = document.getElementById("run-page");
  if (runPage && runPage.getAttribute("data-done") === "false") {
    var strong = runPage.querySelector(".status");
    watchRun(runPage.getAttribute("data-run"), function (r) {
      strong.textContent = r.status;
      if (FINAL.indexOf(r.status) >= 0) location.reload();
    });
  }

  /* Space page: save, execute and visualize without leaving the editor. */
  var editor = document.getElementById("editor-form");
  if (editor) {
    var code = document.getElementById("code"), state = editor.querySelector(".save-state");
    var fileId = editor.getAttribute("data-file"), spaceId = editor.getAttribute("data-space");
    /* What the server has: the text the page came with, then what was last saved. Changed is
       "differs from that", not "an input event was seen": text typed (or pasted) before this
       deferred script ran fired no event here and must be saved all the same. */
    var saved = code.defaultValue;
    code.addEventListener("input", function () { if (state) state.textContent = code.value === saved ? "" : "unsaved changes"; });
    var save = function () {
      var content = code.value;
      if (content === saved) return Promise.resolve();
      return api("PUT", "/api/spaces/files/" + fileId, { content: content }).then(function () {
        saved = content;
        if (state) state.textContent = code.value === saved ? "saved" : "unsaved changes";
      });
    };
    editor.addEventListener("submit", function (ev) {
      ev.preventDefault();
      save().catch(function (err) { if (state) state.textContent = "not saved: " + err.message; });
    });
    var out = document.getElementById("exec-out"), execForm = document.getElementById("exec-form");
    if (execForm) execForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var b = execForm.querySelector("button");
      b.disabled = true;
      out.textContent = "";
      out.appendChild(el("p", {}, "Running…"));
      save().then(function () {
        return api("POST", "/api/spaces/" + spaceId + "/execute", { file_to_run: editor.getAttribute("data-path") });
      }).then(function (r) {
        out.textContent = "";
        var h = el("h2", {}, "Output "); h.appendChild(el("span", { "class": "status s-" + r.status }, r.status));
        out.appendChild(h);
        out.appendChild(el("pre", { "class": "out" }, r.output || ""));
        if (r.error) out.appendChild(el("pre", { "class": "out err" }, r.error));
      }).catch(function (err) { out.textContent = ""; out.appendChild(el("p", { "class": "error" }, err.message)); })
        .then(function () { b.disabled = false; });
    });
    var viz = document.getElementById("visualize");
    if (viz) {
      viz.hidden = false;
      viz.addEventListener("click", function () {
        var target = document.getElementById("viz-out");
        viz.disabled = true;
        target.textContent = "Drawing…";
        save().then(function () {
          return api("POST", "/api/spaces/" + spaceId + "/visualize", { file_to_visualize: editor.getAttribute("data-path") });
        }).then(function (r) {
          target.textContent = "";
          if (r.status !== "success") { target.appendChild(el("p", { "class": "error" }, r.error || r.status)); return; }
          /* The SVG is shown as an image (a data: URL): a picture can never run script in the page. */
          var fig = el("figure", { "class": "viz" });
          fig.appendChild(el("img", { src: "data:image/svg+xml;base64," + r.diagram, alt: "Circuit diagram of " + editor.getAttribute("data-path") }));
          target.appendChild(fig);
        }).catch(function (err) { target.textContent = ""; target.appendChild(el("p", { "class": "error" }, err.message)); })
          .then(function () { viz.disabled = false; });
      });
    }
  }

  /* Upload: drag and drop onto the file input's box. */
  var drop = document.getElementById("drop");
  if (drop) {
    var input = document.getElementById("files"), list = drop.querySelector(".drop-list");
    drop.querySelector(".drop-hint").hidden = false;
    var show = function () {
      list.textContent = "";
      Array.prototype.forEach.call(input.files, function (f) { list.appendChild(el("li", {}, f.name + " (" + f.size + " B)")); });
    };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); }); });
    ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function () { drop.classList.remove("over"); }); });
    drop.addEventListener("drop", function (ev) {
      ev.preventDefault();
      var dt = new DataTransfer();
      Array.prototype.forEach.call(ev.dataTransfer.files, function (f) { dt.items.add(f); });
      if (!input.multiple && dt.files.length > 1) { var one = new DataTransfer(); one.items.add(dt.files[0]); dt = one; }
      input.files = dt.files;
      show();
    });
  }

  /* Settings: change password (POST /auth/password), copy a new key. */
  var pw = document.getElementById("password-form");
  if (pw) pw.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var st = pw.querySelector(".pw-state"), f = new FormData(pw);
    api("POST", pw.getAttribute("data-api"), { current_password: f.get("current_password"), new_password: f.get("new_password") })
      .then(function () {
        /* A new password ends every browser session (this one too): sign in again with it. */
        st.className = "pw-state ok"; st.textContent = "Password changed. Log in again with the new password.";
        pw.reset();
        location.href = "/login?changed=1&next=" + encodeURIComponent("/settings");
      })
      .catch(function (err) { st.className = "pw-state error"; st.textContent = err.message; });
  });
  var copy = document.getElementById("copy-key");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(document.getElementById("new-key").value).then(function () { copy.textContent = "Copied"; });
    });
  }
})();
