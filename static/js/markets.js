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
