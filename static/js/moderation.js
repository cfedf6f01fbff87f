// One-key moderation (templates/moderation/act_form.html): a button with data-shortcut="h" is pressed by the
// key h. Keys are ignored while a field has the focus, so typing a reason never acts; Esc leaves the field. A
// key with Ctrl, Alt or Meta is the browser's. Without JavaScript the buttons work as buttons.
"use strict";

(() => {
  const typing = (element) =>
    element instanceof HTMLElement &&
    (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    const form = document.querySelector("form[data-shortcuts]");
    if (!form) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && form.contains(event.target)) event.target.blur();
      return;
    }
    if (event.repeat || event.key.length !== 1) return;
    const key = event.key.toLowerCase();
    const button = Array.from(form.querySelectorAll("button[data-shortcut]")).find(
      (candidate) => candidate.dataset.shortcut === key && !candidate.disabled,
    );
    if (!button) return;
    event.preventDefault();
    // Once: a second key press while the form is on its way would post the action again.
    if (form.dataset.submitting) return;
    form.dataset.submitting = "true";
    form.requestSubmit(button);
  });
})();
