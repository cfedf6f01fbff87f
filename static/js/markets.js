// The claim page's countdowns: a <time data-countdown="<ISO deadline>"> rendered by the server, with a
// [data-countdown-text] beside it that this keeps current. Without JavaScript the server's text stays.
// Live regions are replaced by htmx, so every tick looks the elements up again.
"use strict";

(() => {
  const unit = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  const left = (ms) => {
    const minutes = Math.floor(ms / 60000);
    const days = Math.floor(minutes / 1440);
    const hours = Math.floor((minutes % 1440) / 60);
    const mins = minutes % 60;
    if (days > 0) return `${unit(days, "day")} ${unit(hours, "hour")}`;
    if (hours > 0) return `${unit(hours, "hour")} ${unit(mins, "minute")}`;
    if (mins > 0) return unit(mins, "minute");
    return "less than a minute";
  };

  const tick = () => {
    document.querySelectorAll("time[data-countdown]").forEach((time) => {
      const text = time.parentElement && time.parentElement.querySelector("[data-countdown-text]");
      const deadline = Date.parse(time.dataset.countdown);
      if (!text || Number.isNaN(deadline)) return;
      const ms = deadline - Date.now();
      const value = ms > 0 ? `(${left(ms)} left)` : "(the window has closed)";
      if (text.textContent !== value) text.textContent = value;
    });
  };

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 15000);
})();

// The order ticket prices the order as it is typed (hx-trigger on the form). Picking a side or a kind of
// order is a change too, but before any amount, belief or number of shares is typed there is nothing to
// price: the request would only come back listing what is missing, as an error the person has not made.
// So the form's own quote requests wait until a text field of the ticket holds something, or a quote is
// showing (emptied again, the ticket's answer replaces that stale quote). Preview, a button with its own
// request, always asks.
(() => {
  const typed = (form) =>
    Array.from(form.querySelectorAll("input[type='text']")).some((input) => input.value.trim() !== "");
  const quoted = (form) => form.querySelector("#ticket-quote .quote-facts, #ticket-quote .errors, #ticket-quote .quote-error");

  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("ticket")) return;
    if (!typed(form) && !quoted(form)) event.preventDefault();
  });
})();
