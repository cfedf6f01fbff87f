// Live pages over WebSockets (apps/realtime/consumers.py). Loaded on every page; does nothing on a page
// that asks for nothing. No inline handlers, no inline styles (CSP): DOM APIs and CSS classes only.
//
// Claims. Any element may carry data-live-claims="<claim ids, space-separated>" and
// data-live-after="<highest outbox event id when the page rendered>" (apps.realtime.selectors.live_cursor).
// This script opens ONE socket for every claim id on the page (/ws/claims/?ids=1,2,3&after=N) and, for
// each event, dispatches on document.body:
//   - "credence:claim-<id>"  (detail: the event {id, kind, subject, payload, at})
//   - "credence:event"       (the same, for any claim)
// so a region refreshes itself with htmx, e.g.
//   hx-get="..." hx-trigger="credence:claim-7 from:body throttle:300ms" hx-target="this" hx-swap="outerHTML".
// When an htmx swap changes the set of claim ids on the page, the socket is reopened for the new set.
//
// Changes made from the page itself. The answer to an order, a belief or a resolution made on the page
// carries HX-Trigger "credence:announce" {claim, events: [ids]}: the events the page's refresh will show.
// The socket tells of the same events, a moment before or after. Both go through the socket's set of
// handled ids, so each event refreshes the page once, whichever tells first: an announce whose events the
// socket already delivered refreshes nothing (the socket's refresh read them), and the socket drops the
// events an announce already refreshed the page for. Without a socket, an announce still refreshes.
//
// The signed-in person. #notifications[data-live-user] (templates/realtime/live_region.html) opens their
// own stream (/ws/me/): each new notification appears there as a toast (keyboard: Tab to it, Escape or
// its button dismisses it; not on the notifications page, whose list shows it), every [data-unread-count]
// shows the unread count ([data-unread-badge] hides at zero), and "credence:notifications" is dispatched
// on document.body (the notifications page refreshes its list on it).
//
// Delivery. A socket that drops reconnects with exponential backoff (0.5 s doubling to 30 s, jittered)
// and resumes after what it saw. It asks again for a margin of ids below the highest it saw (an event
// that committed late, out of id order, is not lost) and drops every id it has already handled: each
// event is dispatched exactly once per page. Codes 4400/4401/4404 (a bad request, signed out, a claim
// that cannot be seen) are final: no reconnect.
"use strict";

(() => {
  const MARGIN = 500; // the relay's window of ids that may commit out of order (apps/realtime/relay.py)
  const FINAL_CODES = new Set([4400, 4401, 4404]); // apps/realtime/consumers.py closes with these alone
  const STABLE_MS = 3000; // a connection that lasted this long resets the backoff
  const MAX_TOASTS = 4;

  function socketUrl(path, params) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams(params).toString();
    return `${scheme}//${window.location.host}${path}${query ? `?${query}` : ""}`;
  }

  function emit(name, detail) {
    document.body.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));
  }

  // One followed stream: a socket that reconnects and resumes, handing each event on once.
  class Stream {
    constructor(path, params, { floor = null, seen = null, onEvent, onControl = () => {} }) {
      this.path = path;
      this.params = params;
      this.floor = floor; // where the page's own knowledge ends (its render cursor); null: live only
      this.seen = seen || new Set();
      this.highest = 0;
      this.onEvent = onEvent;
      this.onControl = onControl;
      this.attempts = 0;
      this.stopped = false;
      this.socket = null;
      this.timer = null;
      this.open();
    }

    resumeAfter() {
      if (this.highest > 0) return Math.max(this.floor || 0, this.highest - MARGIN);
      return this.floor;
    }

    open() {
      const params = { ...this.params };
      const after = this.resumeAfter();
      if (after !== null && after !== undefined) params.after = String(after);
      const socket = new WebSocket(socketUrl(this.path, params));
      let openedAt = 0;
      socket.addEventListener("open", () => { openedAt = Date.now(); });
      socket.addEventListener("message", (event) => this.receive(event.data));
      socket.addEventListener("close", (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        if (openedAt && Date.now() - openedAt >= STABLE_MS) this.attempts = 0;
        if (this.stopped || FINAL_CODES.has(event.code)) return;
        const delay = Math.min(30000, 500 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
        this.attempts += 1;
        this.timer = window.setTimeout(() => this.open(), delay);
      });
      this.socket = socket;
    }

    receive(data) {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return;
      }
      if (!message || typeof message !== "object") return;
      if (typeof message.id !== "number") {
        this.onControl(message);
        return;
      }
      if (this.seen.has(message.id)) return;
      this.seen.add(message.id);
      if (message.id > this.highest) {
        this.highest = message.id;
        const forget = this.highest - 2 * MARGIN; // never asked for again: resumes start at highest - MARGIN
        if (this.seen.size > 4 * MARGIN) {
          for (const id of this.seen) if (id < forget) this.seen.delete(id);
        }
      }
      this.onEvent(message);
    }

    stop() {
      this.stopped = true;
      window.clearTimeout(this.timer);
      if (this.socket) {
        const socket = this.socket;
        this.socket = null;
        socket.close(1000);
      }
    }
  }

  // --- Claims -----------------------------------------------------------------------------------

  let claims = null;
  let claimKey = "";

  function pageClaims() {
    const ids = new Set();
    let floor = null;
    for (const element of document.querySelectorAll("[data-live-claims]")) {
      for (const word of element.dataset.liveClaims.split(/\s+/)) {
        if (/^[1-9][0-9]*$/.test(word)) ids.add(Number(word));
      }
      const after = element.dataset.liveAfter;
      if (after && /^[0-9]+$/.test(after)) floor = floor === null ? Number(after) : Math.min(floor, Number(after));
    }
    return { ids: [...ids].sort((a, b) => a - b), floor };
  }

  function claimEvent(message) {
    const match = /^claim:([0-9]+)$/.exec(message.subject || "");
    if (match) emit(`credence:claim-${match[1]}`, message);
    emit("credence:event", message);
  }

  function followClaims() {
    const { ids, floor } = pageClaims();
    const key = ids.join(",");
    if (key === claimKey) return;
    claimKey = key;
    const previous = claims;
    claims = null;
    let start = floor;
    if (previous) {
      previous.stop();
      const resumed = previous.resumeAfter();
      if (resumed !== null && resumed !== undefined) start = start === null ? resumed : Math.min(start, resumed);
    }
    if (!ids.length) return;
    claims = new Stream("/ws/claims/", { ids: key }, {
      floor: start,
      seen: previous ? previous.seen : null,
      onEvent: claimEvent,
    });
  }

  // --- The signed-in person: notifications ------------------------------------------------------

  function showUnread(count) {
    if (typeof count !== "number" || count < 0) return;
    for (const element of document.querySelectorAll("[data-unread-count]")) element.textContent = String(count);
    for (const element of document.querySelectorAll("[data-unread-badge]")) element.hidden = count === 0;
  }

  function dismiss(toast) {
    const region = toast.parentElement;
    const focused = toast.contains(document.activeElement);
    const next = toast.nextElementSibling || toast.previousElementSibling;
    toast.remove();
    if (focused && next) next.querySelector(".toast-dismiss").focus();
    if (region && !region.children.length) region.classList.remove("toasts-visible");
  }

  function sameSitePath(link) {
    return typeof link === "string" && link.startsWith("/") && !link.startsWith("//");
  }

  function toast(region, notification) {
    const item = document.createElement("div");
    item.className = "toast";
    item.dataset.notificationId = String(notification.id);

    const text = document.createElement("p");
    text.className = "toast-text";
    text.textContent = notification.text;
    item.append(text);

    const actions = document.createElement("div");
    actions.className = "toast-actions";
    if (sameSitePath(notification.link)) {
      const view = document.createElement("a");
      view.href = notification.link;
      view.textContent = "View the claim";
      actions.append(view);
    }
    if (sameSitePath(region.dataset.notificationsUrl)) {
      const all = document.createElement("a");
      all.href = region.dataset.notificationsUrl;
      all.textContent = "All notifications";
      actions.append(all);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-dismiss button-link button-small";
    close.textContent = "Dismiss";
    close.setAttribute("aria-label", "Dismiss this notification");
    close.addEventListener("click", () => dismiss(item));
    actions.append(close);
    item.append(actions);

    region.append(item);
    region.classList.add("toasts-visible");
    while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  }

  function followMe(region) {
    const me = new Stream(region.dataset.liveUser, {}, {
      onControl: (message) => {
        if (message.kind !== "hello") return;
        showUnread(message.unread);
        if (me.floor === null && typeof message.cursor === "number") me.floor = message.cursor;
      },
      onEvent: (message) => {
        const payload = message.payload || {};
        showUnread(payload.unread);
        // The notifications page lists it as it arrives: a toast there would say it twice.
        const listed = document.getElementById("notification-list");
        if (message.kind === "notification.created" && payload.notification && !listed) {
          toast(region, payload.notification);
        }
        emit("credence:notifications", message);
      },
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const item = document.activeElement && document.activeElement.closest(".toast");
    if (item) dismiss(item);
  });

  // A change made from this page (see the top of this file).
  function announced(event) {
    const detail = event.detail || {};
    if (!Number.isInteger(detail.claim) || detail.claim <= 0) return;
    const ids = Array.isArray(detail.events) ? detail.events.filter(Number.isInteger) : [];
    const seen = claims ? claims.seen : null;
    const fresh = seen ? ids.filter((id) => !seen.has(id)) : ids;
    if (ids.length && !fresh.length) return; // the socket told of them all: the page refreshed then
    if (seen) for (const id of fresh) seen.add(id);
    emit(`credence:claim-${detail.claim}`, { id: fresh.length ? fresh[fresh.length - 1] : null, kind: "announce" });
  }

  function start() {
    document.body.addEventListener("credence:announce", announced);
    if (!("WebSocket" in window)) return;
    followClaims();
    document.addEventListener("htmx:afterSettle", followClaims);
    const region = document.getElementById("notifications");
    if (region && region.dataset.liveUser) followMe(region);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
