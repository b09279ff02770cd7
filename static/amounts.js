/* Localize every [data-minor][data-currency] amount on the page (the server writes "249.50 INR"). */
document.querySelectorAll("[data-minor][data-currency]").forEach(function (el) {
  el.textContent = PayHub.formatAmount(Number(el.dataset.minor), el.dataset.currency);
});
