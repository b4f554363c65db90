// Kikötő console: copy buttons and confirmations. No inline script anywhere (the CSP forbids it).
"use strict";
function flash(button, text) {
  const label = button.textContent;
  button.textContent = text;
  setTimeout(() => { button.textContent = label; }, 1500);
}
// Over plain HTTP anywhere but localhost the browser has no clipboard API (it needs a secure
// context): copy through a selection instead, and if even that is refused leave the text
// selected in a field beside the button, for the user's own Ctrl+C.
function copyBySelection(button) {
  const field = document.createElement("textarea");
  field.value = button.dataset.copy;
  field.readOnly = true;
  field.className = "copy-field";
  field.setAttribute("aria-label", button.dataset.copy);
  button.after(field);
  field.select();
  let copied = false;
  try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
  if (copied) {
    field.remove();
    flash(button, "✓");
  } else {
    field.focus();
    field.select();
    flash(button, "Ctrl+C");
  }
}
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button.copy");
  if (copy) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(copy.dataset.copy).then(() => flash(copy, "✓"), () => copyBySelection(copy));
    } else {
      copyBySelection(copy);
    }
  }
  const confirmButton = event.target.closest("button[data-confirm-button]");
  if (confirmButton && !window.confirm(confirmButton.dataset.confirmButton)) {
    event.preventDefault();
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
