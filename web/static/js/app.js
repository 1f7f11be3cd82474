// The pages' few behaviours htmx does not cover: JSON command forms, the live order page, the version stepper.
// No build step and no dependency besides the vendored htmx.
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------------------------
  // Command forms: <form data-command action="/api/..." [data-method=PATCH]> posts its fields as JSON to the
  // command API, whose answer (202 or a problem+json) is shown next to the button.

  function setPath(target, path, value) {
    const keys = path.split(".");
    let node = target;
    keys.slice(0, -1).forEach(function (key) {
      node[key] = node[key] || {};
      node = node[key];
    });
    node[keys[keys.length - 1]] = value;
  }

  function fieldValue(element) {
    const raw = element.value.trim();
    if (element.dataset.type === "int") return raw === "" ? null : parseInt(raw, 10);
    if (element.dataset.type === "number") return raw === "" ? null : Number(raw);
    return raw;
  }

  // What is wrong with a field, in words, before the API is asked (it checks again and stays the authority).
  function fieldProblem(element) {
    const raw = element.value.trim();
    const name = element.dataset.label || element.getAttribute("aria-label") || element.name;
    if (element.dataset.item) {
      if (raw === "") return null;
      const quantity = Number(raw);
      if (!Number.isInteger(quantity) || quantity < 0) return name + ": enter a whole number of items.";
      const max = element.max === "" ? Infinity : Number(element.max);
      if (quantity > max) {
        return max === 0 ? name + " is sold out." : "Only " + max + " of " + element.dataset.product + " available: order at most " + max + ".";
      }
      return null;
    }
    if (element.dataset.type !== "number" && element.dataset.type !== "int") return null;
    if (raw === "") return "optional" in element.dataset || !element.required ? null : name + " is required.";
    const value = Number(raw);
    const min = element.dataset.min === undefined ? -Infinity : Number(element.dataset.min);
    const max = element.dataset.max === undefined ? Infinity : Number(element.dataset.max);
    const range = isFinite(min) && isFinite(max) ? " between " + min + " and " + max : "";
    if (!isFinite(value) || (element.dataset.type === "int" && !Number.isInteger(value))) {
      return name + " must be a " + (element.dataset.type === "int" ? "whole number" : "number") + range +
        (element.dataset.example ? ", such as " + element.dataset.example : "") + " (not “" + raw + "”).";
    }
    if (value < min || value > max) return name + " must be" + range + " (not " + raw + ").";
    return null;
  }

  function formProblems(form) {
    const problems = [];
    form.querySelectorAll("input").forEach(function (element) {
      if (element.disabled) return;
      const problem = fieldProblem(element);
      element.toggleAttribute("aria-invalid", problem !== null);
      if (problem) problems.push(problem);
    });
    return problems;
  }

  function commandBody(form) {
    const body = {};
    const items = [];
    form.querySelectorAll("input, select, textarea").forEach(function (element) {
      if (element.disabled) return;
      if (element.dataset.item) {
        const quantity = parseInt(element.value, 10);
        if (quantity > 0) items.push({ product_id: element.dataset.item, quantity: quantity });
        return;
      }
      if (!element.name) return;
      const value = fieldValue(element);
      if ((value === "" || value === null) && "optional" in element.dataset) return;
      setPath(body, element.name, value);
    });
    if (form.querySelector("[data-item]")) body.items = items;
    return body;
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function problemText(status, problem) {
    if (!problem || typeof problem !== "object") return "Refused (" + status + ")";
    const errors = Array.isArray(problem.errors) ? problem.errors : [];
    const details = errors.map(function (error) { return (error.field ? error.field + ": " : "") + error.message; });
    const head = problem.title || ("Refused (" + status + ")");
    if (details.length) return head + " – " + details.join("; ");
    return problem.detail && problem.detail !== head ? head + " – " + problem.detail : head;
  }

  function show(form, text, ok) {
    const output = form.querySelector("[data-result]");
    if (!output) return;
    output.textContent = text;
    output.classList.toggle("ok", ok);
    output.classList.toggle("error", !ok);
  }

  function announce(eventName) {
    // The read models follow the command a moment later: refresh now and once more shortly after.
    if (!eventName || !window.htmx) return;
    window.htmx.trigger(document.body, eventName);
    window.setTimeout(function () { window.htmx.trigger(document.body, eventName); }, 700);
  }

  async function appeared(url) {
    const deadline = Date.now() + 15000;
    let delay = 50;
    while (Date.now() < deadline) {
      try {
        const response = await fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
        if (response.ok) return;
      } catch (_) { /* not reachable for a moment: try again */ }
      await new Promise(function (resolve) { window.setTimeout(resolve, delay); });
      delay = Math.min(delay * 2, 500);
    }
  }

  async function submitCommand(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const method = (form.dataset.method || "POST").toUpperCase();
    const problems = formProblems(form);
    if (problems.length) {
      show(form, problems.join(" "), false);
      return;
    }
    const body = commandBody(form);
    if (form.querySelector("[data-item]") && body.items.length === 0) {
      show(form, "Choose a quantity for at least one product.", false);
      return;
    }
    const headers = { "Accept": "application/json" };
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "DELETE" && method !== "GET") {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if ("idempotent" in form.dataset) {
      // One key per filled-in form: a double click or a retry after a lost answer places one order, not two.
      form.dataset.idempotencyKey = form.dataset.idempotencyKey || newKey();
      headers["Idempotency-Key"] = form.dataset.idempotencyKey;
    }
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    show(form, "Sending…", true);
    try {
      const response = await fetch(form.getAttribute("action"), init);
      const text = await response.text();
      let answer = null;
      try { answer = text ? JSON.parse(text) : null; } catch (_) { answer = null; }
      if (!response.ok) {
        if (response.status === 401) { window.location.assign("/login"); return; }
        show(form, problemText(response.status, answer), false);
        return;
      }
      delete form.dataset.idempotencyKey;
      if ("reset" in form.dataset) form.reset();
      show(form, "Done" + (answer && answer.status ? ": " + answer.status : "."), true);
      if (form.dataset.redirect && answer) {
        const fill = function (template) {
          return template.replace(/\{(\w+)\}/g, function (_, key) { return encodeURIComponent(answer[key] || ""); });
        };
        if (form.dataset.await) {
          // The command is accepted before the read model shows it: wait for the page's data to exist.
          show(form, "Accepted, waiting for it to appear…", true);
          await appeared(fill(form.dataset.await));
        }
        window.location.assign(fill(form.dataset.redirect));
        return;
      }
      announce(form.dataset.refresh);
      if ("refreshLive" in form.dataset) refreshLive();
    } catch (error) {
      show(form, "Could not reach the server: " + error.message, false);
    } finally {
      if (button) button.disabled = false;
    }
  }

  // A message answers what was sent: once a field changes, an error about the old value no longer applies.
  document.addEventListener("input", function (event) {
    const form = event.target instanceof Element ? event.target.closest("form[data-command]") : null;
    if (!form) return;
    const output = form.querySelector("[data-result]");
    if (output && output.classList.contains("error")) {
      output.textContent = "";
      output.classList.remove("error");
    }
    if (event.target instanceof Element) event.target.removeAttribute("aria-invalid");
  });

  // A table re-fetched after a change keeps what the operator had open and the answers shown beside its
  // forms: a row's edit panel stays open and its "Done" stays readable after the refresh.
  const kept = new Map();

  function formKey(form) {
    const row = form.closest("[data-product-id]");
    return (row ? row.dataset.productId : "") + " " + (form.dataset.method || "POST") + " " + form.getAttribute("action");
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail && event.detail.target;
    if (!(target instanceof Element) || !target.matches("[data-keep-open]")) return;
    const state = { open: [], results: [], values: [] };
    target.querySelectorAll("details[open]").forEach(function (details) {
      const row = details.closest("[data-product-id]");
      if (row) state.open.push(row.dataset.productId);
    });
    target.querySelectorAll("form[data-command]").forEach(function (form) {
      const output = form.querySelector("[data-result]");
      if (output && output.textContent) {
        state.results.push({ key: formKey(form), text: output.textContent, ok: output.classList.contains("ok") });
      }
      // What the operator typed and has not sent yet survives too.
      form.querySelectorAll("input[name]").forEach(function (input) {
        if (input.value !== input.defaultValue) {
          state.values.push({ key: formKey(form), name: input.name, value: input.value });
        }
      });
    });
    kept.set(target, state);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail && event.detail.target;
    const state = target instanceof Element ? kept.get(target) : undefined;
    if (!state) return;
    kept.delete(target);
    state.open.forEach(function (id) {
      const details = target.querySelector('[data-product-id="' + CSS.escape(id) + '"] details');
      if (details) details.open = true;
    });
    target.querySelectorAll("form[data-command]").forEach(function (form) {
      const key = formKey(form);
      const result = state.results.find(function (entry) { return entry.key === key; });
      if (result) show(form, result.text, result.ok);
      state.values.forEach(function (entry) {
        if (entry.key !== key) return;
        const input = form.querySelector('input[name="' + CSS.escape(entry.name) + '"]');
        if (input) input.value = entry.value;
      });
    });
  });

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !("command" in form.dataset)) return;
    event.preventDefault();
    submitCommand(form);
  });

  // ---------------------------------------------------------------------------------------------------------
  // Live positions on a server-drawn map: the SVG says how it projects (centre, pixels per km), so a position
  // from a push frame lands exactly where the server would have drawn it (web/pages/maps.py, MapFrame.project).

  const KM_PER_DEGREE_LAT = 111.32;

  function project(svg, lat, lng) {
    const centreLat = Number(svg.dataset.centreLat);
    const centreLng = Number(svg.dataset.centreLng);
    const scale = Number(svg.dataset.pxPerKm);
    const box = svg.viewBox.baseVal;
    const dx = (lng - centreLng) * KM_PER_DEGREE_LAT * Math.cos(centreLat * Math.PI / 180);
    const dy = (lat - centreLat) * KM_PER_DEGREE_LAT;
    return { x: Math.round((box.width / 2 + dx * scale) * 100) / 100,
             y: Math.round((box.height / 2 - dy * scale) * 100) / 100 };
  }

  function newer(frame, element) {
    const shown = element && element.dataset.at ? Date.parse(element.dataset.at) : NaN;
    return isNaN(shown) || Date.parse(frame.at) > shown;
  }

  // Times as the server renders them: UTC, `HH:MM:SS` (or `HH:MM` for an ETA).
  function clock(iso, seconds) {
    const text = new Date(iso).toISOString().slice(11, 19);
    return seconds ? text : text.slice(0, 5);
  }

  // ---------------------------------------------------------------------------------------------------------
  // The live order page: a WebSocket follows the order; every change it reports re-fetches the page's live
  // fragment (status, timeline, map), at most one request at a time and always ending on the newest state.
  // Its courier's positions come on the same socket and move the marker and the ETA in place, with no request.

  let liveRoot = null;
  let lastPosition = null;

  // Moves the marker and the ETA; false when the page has no marker for this courier yet (it needs the fragment).
  // A delivered order's page, or one whose courier was just replaced, ignores the frame: the view change that
  // says so re-fetches the fragment anyway.
  function showPosition(frame) {
    const live = document.getElementById("order-live");
    if (!live || !("onTheWay" in live.dataset) || live.dataset.courierId !== frame.courier_id) return true;
    const svg = document.getElementById("order-map");
    const marker = document.getElementById("courier-marker");
    if (!svg || !marker) return false;
    if (!newer(frame, marker)) return true;
    const point = project(svg, frame.lat, frame.lng);
    marker.setAttribute("cx", point.x);
    marker.setAttribute("cy", point.y);
    marker.dataset.at = frame.at;
    const label = document.getElementById("courier-label");
    if (label) { label.setAttribute("x", point.x + 12); label.setAttribute("y", point.y - 8); }
    const route = document.getElementById("courier-route");
    if (route) route.setAttribute("points", (route.getAttribute("points") || "") + " " + point.x + "," + point.y);
    const seen = document.getElementById("courier-seen");
    if (seen) seen.textContent = clock(frame.at, true);
    const eta = document.getElementById("order-eta");
    const etaTime = document.getElementById("order-eta-time");
    if (eta && etaTime && frame.eta) {
      etaTime.textContent = clock(frame.eta, false);
      etaTime.setAttribute("datetime", frame.eta);
      eta.hidden = false;
    }
    return true;
  }

  function onOrderFrame(event) {
    let frame = null;
    try { frame = JSON.parse(event.data); } catch (_) { frame = null; }
    if (frame && frame.type === "position") {
      lastPosition = frame;
      // A courier the page does not show yet (just assigned): the fragment draws it, then the frame applies.
      if (!showPosition(frame)) refreshLive();
      return;
    }
    refreshLive();
  }

  // A re-fetched fragment shows the read model's (or the position path's) last position: a frame that came
  // meanwhile is newer, so it goes back on.
  document.addEventListener("htmx:afterSwap", function () {
    if (lastPosition && document.getElementById("order-live")) showPosition(lastPosition);
  });
  let fetching = false;
  let again = false;

  function setIndicator(state, text) {
    const indicator = document.getElementById("live-indicator");
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function refreshLive() {
    if (!liveRoot || !window.htmx) return;
    if (fetching) { again = true; return; }
    fetching = true;
    window.htmx.ajax("GET", liveRoot.dataset.fragment, { target: "#order-live", swap: "outerHTML" })
      .finally(function () {
        fetching = false;
        if (again) { again = false; refreshLive(); }
      });
  }

  // A WebSocket that reconnects with a growing pause; the HttpOnly session cookie goes with the handshake, so
  // the page never handles the token.
  function openLive(path, onMessage) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    let delay = 500;
    let stopped = false;

    function connect() {
      const socket = new WebSocket(scheme + window.location.host + path);
      socket.addEventListener("open", function () {
        delay = 500;
        setIndicator("live", "live");
      });
      socket.addEventListener("message", onMessage);
      socket.addEventListener("close", function (event) {
        if (stopped) return;
        if (event.code === 4401) { window.location.assign("/login"); return; }
        if (event.code === 4403 || event.code === 4404) { setIndicator("off", "not live"); return; }
        setIndicator("connecting", "reconnecting…");
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      });
    }
    window.addEventListener("pagehide", function () { stopped = true; });
    connect();
  }

  function followOrder(root) {
    liveRoot = root;
    openLive("/ws/orders/" + encodeURIComponent(root.dataset.liveOrder), onOrderFrame);
  }

  // ---------------------------------------------------------------------------------------------------------
  // The couriers map follows the fleet: each frame holds every courier that moved (at most two a second), and
  // moves its pin, its trip line and its "seen" time. The 2 s refresh redraws the map from the read models; the
  // newer positions from frames go back on after it.

  const fleetPositions = new Map();

  function movePin(position) {
    const svg = document.getElementById("couriers-map");
    if (!svg) return;
    const id = CSS.escape(position.courier_id);
    const point = project(svg, position.lat, position.lng);
    svg.querySelectorAll('.map-pin[data-courier-id="' + id + '"]').forEach(function (pin) {
      if (!newer(position, pin)) return;
      pin.dataset.at = position.at;
      const circle = pin.querySelector("circle");
      if (circle) { circle.setAttribute("cx", point.x); circle.setAttribute("cy", point.y); }
      const label = pin.querySelector(".map-label");
      if (label) { label.setAttribute("x", point.x + 10); label.setAttribute("y", point.y + 4); }
      svg.querySelectorAll('.map-trip[data-courier-id="' + id + '"] line').forEach(function (line) {
        line.setAttribute("x1", point.x);
        line.setAttribute("y1", point.y);
      });
      const seen = document.querySelector('[data-seen="' + id + '"]');
      if (seen) seen.textContent = clock(position.at, true);
    });
  }

  function onFleetFrame(event) {
    let frame = null;
    try { frame = JSON.parse(event.data); } catch (_) { return; }
    if (!frame || frame.type !== "fleet" || !Array.isArray(frame.positions)) return;
    frame.positions.forEach(function (position) {
      fleetPositions.set(position.courier_id, position);
      movePin(position);
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target instanceof Element && event.target.id === "couriers-live") fleetPositions.forEach(movePin);
  });

  // ---------------------------------------------------------------------------------------------------------
  // The audit stream's version stepper: ◀ ▶ and the event list move the range slider, which htmx follows.

  function moveSlider(slider, value) {
    const clamped = Math.max(Number(slider.min), Math.min(Number(slider.max), value));
    if (String(clamped) === slider.value) return;
    slider.value = String(clamped);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    slider.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    const control = event.target instanceof Element ? event.target.closest("[data-for]") : null;
    if (!control) return;
    const slider = document.getElementById(control.dataset.for);
    if (!slider) return;
    event.preventDefault();
    if (control.dataset.step) moveSlider(slider, Number(slider.value) + Number(control.dataset.step));
    else if (control.dataset.version) moveSlider(slider, Number(control.dataset.version));
  });

  // The event list beside the slider marks the version the state panel shows, and keeps it in view (its
  // own scroll only: the page does not jump).
  function revealCurrentVersion() {
    const list = document.querySelector(".stream-events");
    const current = list ? list.querySelector('a[aria-current="step"]') : null;
    if (!list || !current) return;
    const item = current.closest("li") || current;
    const top = item.offsetTop;
    if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 2 + item.offsetHeight / 2);
    }
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    const state = event.target instanceof Element ? event.target.querySelector(".state[data-version]") : null;
    if (!state) return;
    document.querySelectorAll(".stream-events a[data-version]").forEach(function (link) {
      if (link.dataset.version === state.dataset.version) {
        link.setAttribute("aria-current", "step");
        // Inside a collapsed run of checkpoints: open it, so the version shown is in view.
        const run = link.closest("details");
        if (run) run.open = true;
      } else link.removeAttribute("aria-current");
    });
    revealCurrentVersion();
  });

  // ---------------------------------------------------------------------------------------------------------
  // The couriers map: picking a name in the list (or a pin) shows that courier's label, trip and row; the
  // choice survives the map's refresh every two seconds.

  let selectedCourier = null;

  function markSelectedCourier() {
    document.querySelectorAll("#couriers-live .selected").forEach(function (element) { element.classList.remove("selected"); });
    if (!selectedCourier) return;
    const id = CSS.escape(selectedCourier);
    document.querySelectorAll('#couriers-live [data-courier-id="' + id + '"], #couriers-live [data-courier-row="' + id + '"]')
      .forEach(function (element) { element.classList.add("selected"); });
    document.querySelectorAll("#couriers-live .map-cluster").forEach(function (cluster) {
      cluster.classList.toggle("selected", (cluster.dataset.members || "").split(" ").indexOf(selectedCourier) >= 0);
    });
  }

  document.addEventListener("click", function (event) {
    const target = event.target instanceof Element ? event.target : null;
    const picker = target ? target.closest("[data-select-courier], #couriers-live .map-pin[data-courier-id]") : null;
    if (!picker) return;
    const id = picker.dataset.selectCourier || picker.dataset.courierId;
    selectedCourier = selectedCourier === id ? null : id;
    markSelectedCourier();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target instanceof Element && event.target.id === "couriers-live") markSelectedCourier();
  });

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.querySelector("[data-live-order]");
    if (root) followOrder(root);
    if (document.querySelector("[data-fleet-live]")) openLive("/ws/fleet", onFleetFrame);
    revealCurrentVersion();
  });
})();
