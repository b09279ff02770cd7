/*!
 * payhub.js: follow one payment's status live, from any page.
 *
 *   <script src="https://payhub.example.com/static/payhub.js"></script>
 *   <script>
 *     var watcher = PayHub.watch({
 *       paymentId: "pay_…", token: "<subscribe_token from POST /api/payments>",
 *       onStatus: function (payment) { … payment.status, payment.final, payment.version … },
 *       onError: function (error) { … error.code: "invalid_token" | "not_found" | … },
 *     });
 *     checkButton.onclick = function () { watcher.refresh(); };
 *   </script>
 *
 * Live updates come over Socket.IO (the client is loaded from the same PayHub, at
 * /vendor/socket.io.min.js, if the page has not loaded it). When the socket cannot connect,
 * or has been down for a few seconds, the watcher polls GET /api/payments/<id>/status every
 * 5 s (with If-None-Match) and goes back to the socket as soon as it is subscribed again.
 * onStatus is only called with a view newer (higher `version`) than the last one, so a late
 * or repeated message can never move the page backwards. The watcher keeps listening while
 * the payment is failed, expired or cancelled (late money can still make it succeed, and must
 * show up live) and stops once it is succeeded or refunded. No dependency apart from the
 * Socket.IO client.
 */
(function (global) {
  "use strict";

  var script = document.currentScript;
  // PayHub's own address: where this file was loaded from (merchants embed it cross-origin).
  var DEFAULT_BASE = script && script.src ? new URL(script.src, location.href).origin : location.origin;

  // Where a watcher may stop listening: nothing after these matters to the shopper's page.
  // `final` is not the signal: a failed, expired or cancelled payment can still succeed.
  var DONE = { succeeded: true, refunded: true };

  /* Wrap `callback` so it only sees views whose version is above the last one it saw. */
  function newerOnly(callback) {
    var last = 0;
    return function (view) {
      if (!view || typeof view.version !== "number" || view.version <= last) return false;
      last = view.version;
      callback(view);
      return true;
    };
  }

  /* 10050, "INR" -> "₹100.50" (exact: the minor units are never divided as floats). */
  function formatAmount(minor, currency, locale) {
    var style = { style: "currency", currency: currency };
    var digits;
    try {
      digits = new Intl.NumberFormat("en", style).resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return minor + " " + currency;
    }
    var text = String(Math.abs(minor)).padStart(digits + 1, "0");
    var decimal = digits ? text.slice(0, -digits) + "." + text.slice(-digits) : text;
    return new Intl.NumberFormat(locale, style).format((minor < 0 ? "-" : "") + decimal);
  }

  function loadSocketClient(base, done) {
    if (typeof global.io === "function") return done(true);
    var tag = document.createElement("script");
    tag.src = base + "/vendor/socket.io.min.js";
    tag.onload = function () { done(typeof global.io === "function"); };
    tag.onerror = function () { done(false); };
    document.head.appendChild(tag);
  }

  function watch(options) {
    var id = options.paymentId;
    var token = options.token;
    var base = (options.baseUrl || DEFAULT_BASE).replace(/\/$/, "");
    var pollEvery = options.pollInterval || 5000;
    var fallbackAfter = options.fallbackAfter || 3000;
    var onError = options.onError || function () {};
    var onMode = options.onMode || function () {};
    var statusUrl = base + "/api/payments/" + encodeURIComponent(id);
    var etag = null;
    var pollTimer = null;
    var fallbackTimer = null;
    var stopped = false;
    var subscribed = false;

    var watcher = { socket: null, payment: null, mode: "connecting", refresh: refresh, stop: stop };

    var offer = newerOnly(function (view) {
      watcher.payment = view;
      options.onStatus(view);
      if (DONE[view.status]) stop();
    });

    function setMode(mode) {
      if (watcher.mode === mode || stopped) return;
      watcher.mode = mode;
      onMode(mode);
    }

    function fail(code, message) {
      onError({ code: code, message: message || code });
    }

    function fatal(code, message) {
      fail(code, message);
      stop();
    }

    // --- Socket.IO ----------------------------------------------------------------------
    function connect() {
      var socket = global.io(base, { reconnectionDelayMax: 5000, timeout: 5000 });
      watcher.socket = socket;
      socket.on("connect", subscribe);
      socket.on("payment_status", function (view) {
        if (view && view.id === id) offer(view);
      });
      socket.on("disconnect", socketDown);
      socket.on("connect_error", socketDown);
    }

    function subscribe() {
      watcher.socket.timeout(5000).emit("subscribe", { payment_id: id, token: token }, function (err, ack) {
        if (stopped) return;
        if (err) return socketDown();
        // Too many subscribes from this address (PayHub's per-address limit): poll meanwhile.
        if (ack && ack.error === "rate_limited") return socketDown();
        if (!ack || !ack.ok) return fatal((ack && ack.error) || "subscribe_failed");
        subscribed = true;
        stopPolling();
        setMode("live");
        offer(ack.payment);
      });
    }

    // A blip of a second is not worth a poll; a few seconds without the socket is.
    function socketDown() {
      if (subscribed) setMode("reconnecting");
      subscribed = false;
      if (stopped || pollTimer || fallbackTimer) return;
      fallbackTimer = setTimeout(function () {
        fallbackTimer = null;
        if (!subscribed) startPolling();
      }, fallbackAfter);
    }

    // --- Polling fallback ---------------------------------------------------------------
    function startPolling() {
      if (stopped || pollTimer) return;
      setMode("polling");
      pollTimer = setTimeout(pollOnce, 0);
    }

    function stopPolling() {
      clearTimeout(pollTimer);
      clearTimeout(fallbackTimer);
      pollTimer = fallbackTimer = null;
    }

    function pollOnce() {
      var headers = { "X-Payhub-Token": token };
      if (etag) headers["If-None-Match"] = etag;
      fetch(statusUrl + "/status", { headers: headers, cache: "no-store" })
        .then(function (response) {
          if (response.status === 304) return null;
          if (response.status === 401 || response.status === 404) {
            throw { fatal: true, code: response.status === 401 ? "invalid_token" : "not_found" };
          }
          if (!response.ok) throw { code: "http_" + response.status };
          etag = response.headers.get("ETag");
          return response.json();
        })
        .then(function (view) {
          setMode("polling");
          if (view) offer(view);
        })
        .catch(function (error) {
          if (error && error.fatal) return fatal(error.code);
          setMode("offline");
        })
        .then(function () {
          if (pollTimer && !stopped && !subscribed) pollTimer = setTimeout(pollOnce, pollEvery);
        });
    }

    // --- Public methods -----------------------------------------------------------------
    /* Ask PayHub to check with the gateway now. Resolves with the payment's view. */
    function refresh() {
      return fetch(statusUrl + "/refresh", { method: "POST", headers: { "X-Payhub-Token": token } })
        .catch(function () { throw { code: "network", message: "PayHub could not be reached" }; })
        .then(function (response) {
          return response.json().catch(function () { return null; }).then(function (body) {
            if (!response.ok || !body) {
              var error = (body && body.error) || {};
              throw { code: error.code || "http_" + response.status, message: error.message, status: response.status };
            }
            offer(body);
            return body;
          });
        });
    }

    /* Close the socket and cancel every timer. Called by itself once the payment is succeeded or refunded. */
    function stop() {
      stopped = true;
      stopPolling();
      if (watcher.socket) watcher.socket.disconnect();
      watcher.mode = "stopped";
    }

    loadSocketClient(base, function (ok) {
      if (stopped) return;
      if (!ok) {
        fail("socket_unavailable", "Socket.IO client could not be loaded; polling instead");
        return startPolling();
      }
      connect();
      socketDown(); // arms the fallback: polling starts unless subscribed within a few seconds
    });
    return watcher;
  }

  function isDone(view) {
    return Boolean(view && DONE[view.status]);
  }

  global.PayHub = { watch: watch, newerOnly: newerOnly, formatAmount: formatAmount, isDone: isDone };
})(window);
