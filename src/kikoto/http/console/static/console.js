// Kikötő console: copy buttons and confirmations. No inline script anywhere (the CSP forbids it).
"use strict";
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button.copy");
  if (copy) {
    navigator.clipboard?.writeText(copy.dataset.copy).then(() => {
      const label = copy.textContent;
      copy.textContent = "✓";
      setTimeout(() => { copy.textContent = label; }, 1200);
    });
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
