/* The status page (/pay/<id>?token=…): the payment's status, live, through payhub.js. */
(function () {
  "use strict";

  var root = document.getElementById("payment");
  var checkButton = document.getElementById("check");
  var checkResult = document.getElementById("check-result");
  var returnLink = document.getElementById("return-link");
  var connection = document.getElementById("connection");
  var connectionText = document.getElementById("connection-text");
  var leaveWarning = document.getElementById("leave-warning");
  var received = document.getElementById("received");
  var receivedAmount = document.getElementById("received-amount");

  var MODES = {
    connecting: "Connecting for live updates…",
    live: "Live: this page updates by itself.",
    reconnecting: "Connection lost; reconnecting…",
    polling: "Live connection unavailable; checking every 5 seconds.",
    offline: "You seem to be offline; retrying…",
  };

  var leaving = false; // set when the shopper confirmed they want to go back

  function isPending() {
    return root.dataset.status === "pending";
  }

  function render(view) {
    root.dataset.status = view.status;
    root.dataset.version = String(view.version);
    root.dataset.final = String(view.final);
    document.querySelectorAll("[data-screen]").forEach(function (screen) {
      screen.hidden = screen.dataset.screen !== view.status;
    });
    var mismatch = view.amount_received !== null && view.amount_received !== view.amount;
    received.hidden = !mismatch;
    if (mismatch) receivedAmount.textContent = PayHub.formatAmount(view.amount_received, view.currency);
    if (returnLink) returnLink.hidden = !view.final;
    connection.hidden = PayHub.isDone(view); // still listening after failed/expired/cancelled: late money shows up
    leaveWarning.hidden = !isPending();
  }

  function showMode(mode) {
    connection.dataset.mode = mode;
    connectionText.textContent = MODES[mode] || "";
  }

  var watcher = PayHub.watch({
    paymentId: root.dataset.paymentId,
    token: root.dataset.token,
    onStatus: render,
    onMode: showMode,
    onError: function (error) {
      if (error.code === "invalid_token") checkResult.textContent = "This link has expired; reload it from the shop.";
      else if (error.code === "not_found") checkResult.textContent = "This payment no longer exists.";
    },
  });
  window.payhubWatcher = watcher; // handy from the browser console

  checkButton.addEventListener("click", function () {
    checkButton.disabled = true;
    checkResult.textContent = "Checking with the payment gateway…";
    watcher.refresh()
      .then(function (view) {
        checkResult.textContent = view.final ? "Checked just now." : "Checked just now: still waiting for the gateway.";
      })
      .catch(function (error) {
        checkResult.textContent = error.code === "rate_limited"
          ? "Checked moments ago; please try again in a few seconds."
          : "Could not check right now (" + (error.message || "network error") + ").";
      })
      .then(function () { checkButton.disabled = false; });
  });

  // Closing the tab or leaving while pending: the browser asks first.
  window.addEventListener("beforeunload", function (event) {
    if (!isPending() || leaving) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers only ask when this is set
  });

  // Going back while pending: the first Back press stays here and says why; a second one leaves.
  if (isPending()) history.pushState({ payhubGuard: true }, "", location.href);
  window.addEventListener("popstate", function () {
    if (isPending() && leaveWarning.dataset.warned !== "yes") {
      leaveWarning.dataset.warned = "yes";
      leaveWarning.setAttribute("role", "alert");
      leaveWarning.textContent = "Your payment is still being confirmed. Press Back again if you really want to leave.";
      history.pushState({ payhubGuard: true }, "", location.href);
      return;
    }
    leaving = true;
    history.back();
  });
})();
