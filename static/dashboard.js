/* The operators' dashboard: payments live over Socket.IO (room "operators", joined only by a
   signed-in session: payment_created, payment_status), a refresh every 5 s as a safety net,
   filters, counts, event log, and the Resolve control for payments under review. */
(function () {
  "use strict";

  var REFRESH_EVERY = 5000;
  var tbody = document.querySelector("#payments tbody");
  var filters = document.getElementById("filters");
  var live = document.getElementById("live");
  var liveText = document.getElementById("live-text");
  var panel = document.getElementById("events-panel");
  var panelTitle = document.getElementById("events-title");
  var eventsBody = document.getElementById("events-body");
  var eventsPayment = document.getElementById("events-payment");
  var resolveForm = document.getElementById("resolve-form");
  var resolveResult = document.getElementById("resolve-result");
  var resolveSubmit = document.getElementById("resolve-submit");
  var resolveFor = null; // the payment the Resolve form was last filled in for
  var openId = null;
  var refreshTimer = null;
  var versions = {}; // payment id -> version shown, to highlight what changed

  /* Build an element; children are elements or strings (always text, never HTML). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function when(iso) {
    return iso ? el("time", { datetime: iso }, [new Date(iso).toLocaleString()]) : "";
  }

  function badge(status) {
    return el("span", { class: "badge badge-" + status, "data-field": "status" }, [status]);
  }

  function row(p) {
    var tr = el("tr", { "data-id": p.id, "data-status": p.status, "data-version": String(p.version) }, [
      el("td", { class: "optional" }, [when(p.created_at)]),
      el("td", {}, [el("code", {}, [p.id]), el("br"), el("span", { class: "muted small" }, [p.order_id])]),
      el("td", {}, [p.gateway]),
      el("td", {}, [PayHub.formatAmount(p.amount, p.currency)]),
      el("td", {}, [badge(p.status)]),
      el("td", { class: "optional", "data-field": "version" }, [String(p.version)]),
      el("td", { class: "optional", "data-field": "updated" }, [when(p.updated_at)]),
      actions(p),
    ]);
    if (versions[p.id] !== undefined && versions[p.id] !== p.version) tr.classList.add("flash");
    versions[p.id] = p.version;
    return tr;
  }

  function actions(p) {
    var buttons = [el("button", { type: "button", class: "secondary", "data-events": p.id,
      "aria-label": "Events of order " + p.order_id }, ["Events"])];
    if (p.status === "needs_review") {
      buttons.push(" ", el("button", { type: "button", "data-resolve": p.id,
        "aria-label": "Resolve order " + p.order_id }, ["Resolve"]));
    }
    return el("td", { "data-field": "actions" }, buttons);
  }

  function renderRows(payments) {
    var rows = payments.map(row);
    if (!rows.length) rows = [el("tr", { class: "empty" }, [el("td", { colspan: "8", class: "muted" }, ["No payments."])])];
    tbody.replaceChildren.apply(tbody, rows);
  }

  function renderCounts(counts) {
    Object.keys(counts).forEach(function (status) {
      var item = document.querySelector('[data-count="' + status + '"] strong');
      if (item) item.textContent = String(counts[status]);
    });
  }

  function query() {
    var params = new URLSearchParams();
    new FormData(filters).forEach(function (value, name) { if (value) params.set(name, value); });
    return params.toString();
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.status === 401) { location.reload(); throw new Error("signed out"); }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  function load() {
    return getJSON("/dashboard/data/payments?" + query()).then(function (data) {
      renderRows(data.payments);
      renderCounts(data.counts);
    }).catch(function () { showLive("offline", "Cannot reach PayHub; retrying…"); });
  }

  function scheduleLoad(delay) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      load().then(function () { scheduleLoad(REFRESH_EVERY); });
    }, delay);
  }

  // --- Event log of one payment ---------------------------------------------------------
  function loadEvents(id) {
    return getJSON("/dashboard/data/payments/" + encodeURIComponent(id)).then(function (p) {
      panelTitle.textContent = "Event log of " + p.id;
      var facts = [["Order", p.order_id], ["Gateway", p.gateway], ["Status", p.status + " (version " + p.version + ")"],
        ["Amount", PayHub.formatAmount(p.amount, p.currency)],
        ["Received", p.amount_received === null ? "–" : PayHub.formatAmount(p.amount_received, p.currency)],
        ["Gateway ids", [p.gateway_order_id, p.gateway_payment_id].filter(Boolean).join(" / ") || "–"]];
      eventsPayment.replaceChildren.apply(eventsPayment, facts.reduce(function (list, fact) {
        return list.concat([el("dt", {}, [fact[0]]), el("dd", {}, [fact[1]])]);
      }, []));
      eventsBody.replaceChildren.apply(eventsBody, p.events.map(eventRow));
      if (!p.events.length) eventsBody.appendChild(el("tr", {}, [el("td", { colspan: "7", class: "muted" }, ["No events yet."])]));
      showResolve(p);
      return p;
    });
  }

  // --- Resolve (needs_review -> succeeded | refund_pending, through the same door) ---------
  function showResolve(p) {
    if (resolveFor !== p.id) {
      resolveForm.reset(); // a fresh form for another payment; kept while the same one updates
      resolveResult.textContent = "";
      resolveFor = p.id;
    }
    resolveForm.hidden = p.status !== "needs_review";
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    var field = resolveForm.querySelector('input[name="csrf_token"]');
    return (meta && meta.content) || (field && field.value) || null;
  }

  resolveForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var id = resolveFor;
    var data = new FormData(resolveForm);
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var token = csrfToken();
    if (token) headers["X-CSRFToken"] = token;
    resolveSubmit.disabled = true;
    resolveResult.className = "small";
    resolveResult.textContent = "Resolving…";
    fetch("/dashboard/payments/" + encodeURIComponent(id) + "/resolve", {
      method: "POST", credentials: "same-origin", headers: headers,
      body: JSON.stringify({ status: data.get("status"), note: data.get("note") }),
    }).then(function (response) {
      if (response.status === 401) { location.reload(); throw new Error("signed out"); }
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = body.error || {};
          throw new Error(error.message || "HTTP " + response.status);
        }
        resolveResult.textContent = "Resolved: now " + body.status + ".";
      });
    }).catch(function (error) {
      resolveResult.className = "small error";
      resolveResult.textContent = "Not resolved: " + error.message;
    }).then(function () {
      resolveSubmit.disabled = false;
      scheduleLoad(0);
      // Either way, show the payment as it is now (e.g. it left review before the decision).
      if (openId === id) return loadEvents(id).catch(function () {});
    });
  });

  function eventRow(e) {
    // What the update said happened (its kind; older rows have only the status it asked for).
    var what = !e.kind ? e.status : e.kind === "resolve" ? "resolve: " + e.status : e.kind;
    var update = what + (e.gateway_status ? " (" + e.gateway_status + ")" : "");
    return el("tr", { "data-event": String(e.id), "data-applied": String(e.applied) }, [
      el("td", {}, [when(e.received_at)]),
      el("td", {}, [e.source]),
      el("td", {}, [update]),
      el("td", {}, [el("span", { class: "badge " + (e.applied ? "badge-applied" : "badge-not-applied") },
        [e.applied ? "applied" : "not applied"])]),
      el("td", {}, [e.reason || ""]),
      el("td", {}, [(e.status_before || "–") + " → " + (e.status_after || "–")]),
      el("td", {}, [el("details", {}, [el("summary", {}, ["show"]),
        el("pre", {}, [JSON.stringify(e.payload, null, 2)])])]),
    ]);
  }

  tbody.addEventListener("click", function (event) {
    var button = event.target.closest("[data-events], [data-resolve]");
    if (!button) return;
    openId = button.dataset.events || button.dataset.resolve;
    loadEvents(openId).then(function () {
      panel.hidden = false;
      if (button.dataset.resolve && !resolveForm.hidden) resolveForm.querySelector("input[name=status]").focus();
      else panel.focus();
    });
  });

  filters.addEventListener("change", function () {
    history.replaceState(null, "", "?" + query());
    scheduleLoad(0);
  });
  filters.addEventListener("submit", function (event) {
    event.preventDefault();
    scheduleLoad(0);
  });

  // --- Live feed ------------------------------------------------------------------------
  function showLive(mode, text) {
    live.dataset.mode = mode;
    liveText.textContent = text;
  }

  function onStatus(view) {
    var row = tbody.querySelector('tr[data-id="' + CSS.escape(view.id) + '"]');
    if (row && Number(row.dataset.version) < view.version) {
      row.dataset.status = view.status;
      row.dataset.version = String(view.version);
      row.querySelector("[data-field=status]").replaceWith(badge(view.status));
      row.querySelector("[data-field=version]").textContent = String(view.version);
      row.querySelector("[data-field=updated]").replaceChildren(when(view.updated_at));
      row.querySelector("[data-field=actions]").replaceWith(actions(view));
      versions[view.id] = view.version;
      row.classList.remove("flash");
      void row.offsetWidth; // restart the highlight animation
      row.classList.add("flash");
    }
    if (openId === view.id) loadEvents(view.id);
    scheduleLoad(300); // counts, filters and ordering follow shortly
  }

  document.querySelectorAll("#payments tbody tr[data-id]").forEach(function (tr) {
    versions[tr.dataset.id] = Number(tr.dataset.version);
  });
  scheduleLoad(REFRESH_EVERY);

  if (typeof window.io !== "function") {
    showLive("polling", "Live feed unavailable (Socket.IO client missing); refreshing every 5 s.");
    return;
  }
  var socket = window.io({ reconnectionDelayMax: 5000 });
  socket.on("connect", function () {
    socket.emit("operators_join", {}, function (ack) {
      if (ack && ack.ok) {
        showLive("live", "Live");
        scheduleLoad(0); // catch up on anything missed while disconnected
      } else {
        location.reload(); // the session ended: back to the sign-in form
      }
    });
  });
  socket.on("disconnect", function () { showLive("reconnecting", "Reconnecting… (refreshing every 5 s)"); });
  socket.on("connect_error", function () { showLive("reconnecting", "Reconnecting… (refreshing every 5 s)"); });
  socket.on("payment_status", onStatus);
  socket.on("payment_created", function () { scheduleLoad(200); });
})();
