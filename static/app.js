// Keyward's small progressive enhancements. Every page works without this file:
// modals are plain pages, forms post normally, and the server checks everything.
"use strict";

(() => {
  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  let opener = null;

  function modalRoot() {
    return document.getElementById("modal");
  }

  function openDialog() {
    return document.querySelector("#modal [role=dialog]");
  }

  function closeModal() {
    const root = modalRoot();
    const dialog = openDialog();
    if (!root || !dialog) return;
    // A secret is never shown again: closing before it was copied asks first.
    const reveal = dialog.querySelector("[data-reveal]");
    if (reveal && !reveal.hasAttribute("data-copied") && !reveal.hasAttribute("data-stored")) {
      askWhetherStored(reveal);
      return;
    }
    // After a Reveal the list has a new key or token: show it, and drop the secret from
    // the page.
    const reload = dialog.querySelector("[data-reload-on-close]");
    if (reload) {
      root.replaceChildren();
      window.location.assign(reload.dataset.reloadOnClose);
      return;
    }
    root.replaceChildren();
    document.body.classList.remove("has-modal");
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  // The Reveal's confirmation step replaces the key in the dialog until it is answered.
  function askWhetherStored(reveal) {
    reveal.querySelector("[data-reveal-key]").hidden = true;
    const confirm = reveal.querySelector("[data-reveal-confirm]");
    confirm.hidden = false;
    confirm.querySelector("[data-reveal-back]").focus();
  }

  function backToKey(reveal) {
    reveal.querySelector("[data-reveal-confirm]").hidden = true;
    reveal.querySelector("[data-reveal-key]").hidden = false;
    reveal.querySelector("[data-copy]").focus();
  }

  function askingWhetherStored() {
    const confirm = document.querySelector("#modal [data-reveal-confirm]");
    return confirm && !confirm.hidden ? confirm.closest("[data-reveal]") : null;
  }

  // Hidden elements (and those inside hidden ones) take no focus.
  function shown(element) {
    return element.offsetParent !== null;
  }

  function focusDialog(dialog) {
    document.body.classList.add("has-modal");
    const first =
      dialog.querySelector("[autofocus]") ||
      dialog.querySelector("input[type=radio]:checked") ||
      [...dialog.querySelectorAll(FOCUSABLE)].find(shown) ||
      dialog;
    first.focus();
  }

  // Remember which control opened a modal, to give focus back when it closes.
  document.addEventListener("click", (event) => {
    const trigger = event.target.closest("[data-opens-modal]");
    if (trigger) opener = trigger;
    const close = event.target.closest("[data-close-modal]");
    if (close && openDialog()) {
      event.preventDefault();
      closeModal();
    }
    const back = event.target.closest("[data-reveal-back]");
    if (back) backToKey(back.closest("[data-reveal]"));
    const stored = event.target.closest("[data-reveal-stored]");
    if (stored && openDialog()) {
      event.preventDefault();
      stored.closest("[data-reveal]").setAttribute("data-stored", "");
      closeModal();
    }
    // A click beside a Reveal does not close it: the key would be lost unnoticed.
    const backdrop = event.target.matches && event.target.matches(".modal-backdrop");
    if (backdrop && !document.querySelector("#modal .reveal")) closeModal();
  });

  document.addEventListener("keydown", (event) => {
    const dialog = openDialog();
    if (!dialog) return;
    if (event.key === "Escape") {
      event.preventDefault();
      const reveal = askingWhetherStored();
      if (reveal) backToKey(reveal);
      else closeModal();
      return;
    }
    if (event.key !== "Tab") return;
    // Keep Tab and Shift+Tab inside the dialog. A radio group is one stop: its
    // checked radio (or its first, when none is).
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => {
      if (!shown(el)) return false;
      if (el.type !== "radio") return true;
      const group = [...dialog.querySelectorAll(`input[type=radio][name="${el.name}"]`)];
      const checked = group.find((radio) => radio.checked);
      return checked ? el === checked : el === group[0];
    });
    if (items.length === 0) {
      event.preventDefault();
      dialog.focus();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (!dialog.contains(document.activeElement)) {
      event.preventDefault();
      first.focus();
    } else if (event.shiftKey && (document.activeElement === first || document.activeElement === dialog)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  // Selects a copy field's text, or the text of the element that shows it, for Ctrl+C.
  function selectForCopy(element) {
    if (element.select) {
      element.focus();
      element.select();
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(element);
    document.getSelection().removeAllRanges();
    document.getSelection().addRange(range);
  }

  function enhance(root) {
    // The merchant switcher submits on change; its button is only for no-JS browsers.
    for (const select of root.querySelectorAll("select[data-autosubmit]")) {
      select.addEventListener("change", () => select.form.requestSubmit());
    }
    for (const button of root.querySelectorAll("[data-hide-with-js]")) {
      button.hidden = true;
    }

    // Copy buttons copy the target's value and say so. Without JavaScript they stay
    // hidden and the key is selected by hand.
    for (const button of root.querySelectorAll("[data-copy]")) {
      button.hidden = false;
      button.addEventListener("click", async () => {
        const field = document.querySelector(button.dataset.copy);
        const status = button.closest(".reveal")?.querySelector("[data-copy-status]");
        try {
          await navigator.clipboard.writeText(field.value);
          button.textContent = "Copied";
          button.closest("[data-reveal]")?.setAttribute("data-copied", "");
          if (status) status.textContent = "Copied to the clipboard.";
        } catch {
          selectForCopy(button.dataset.copyShown ? document.querySelector(button.dataset.copyShown) : field);
          if (status) status.textContent = "Press Ctrl+C (or ⌘C) to copy the selection.";
        }
      });
    }

    // A secret copied by hand (selected, then Ctrl+C) counts as copied too.
    for (const reveal of root.querySelectorAll("[data-reveal]")) {
      const shown = reveal.querySelector(".key-text code");
      reveal.addEventListener("copy", () => {
        if (document.getSelection().toString().includes(shown.textContent)) {
          reveal.setAttribute("data-copied", "");
        }
      });
    }

    // A confirm button stays disabled until its field holds exactly the word.
    for (const field of root.querySelectorAll("[data-confirm-word]")) {
      const button = field.form.querySelector("[data-confirm-button]");
      const sync = () => {
        button.disabled = field.value !== field.dataset.confirmWord;
      };
      field.addEventListener("input", sync);
      sync();
    }

    // On a phone the sidebar folds behind its Menu button (the stylesheet hides the
    // button on wider screens); without JavaScript it stays open.
    for (const button of root.querySelectorAll("[data-menu-button]")) {
      const sidebar = button.closest(".sidebar");
      sidebar.classList.add("has-menu-button");
      button.hidden = false;
      button.addEventListener("click", () => {
        const open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", String(open));
        sidebar.classList.toggle("menu-open", open);
      });
    }

    // On a phone a table's rows stack (see app.css), and each cell shows its column's
    // name; a column named for screen readers only (Actions) needs none.
    for (const table of root.querySelectorAll("table.stacking")) {
      const names = [...table.tHead.rows[0].cells].map((th) =>
        th.querySelector(".visually-hidden") ? "" : th.textContent.trim(),
      );
      for (const row of table.tBodies[0].rows) {
        [...row.cells].forEach((cell, index) => {
          if (names[index]) cell.dataset.label = names[index];
        });
      }
    }

    // The profile menu closes on Escape and on a click outside it.
    for (const menu of root.querySelectorAll("details.profile-menu")) {
      document.addEventListener("click", (event) => {
        if (menu.open && !menu.contains(event.target)) menu.open = false;
      });
      menu.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && menu.open) {
          menu.open = false;
          menu.querySelector("summary").focus();
        }
      });
    }

    const dialog = root.querySelector ? root.querySelector("[role=dialog]") : null;
    if (dialog) focusDialog(dialog);
  }

  document.addEventListener("DOMContentLoaded", () => enhance(document));
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === modalRoot()) {
      if (!openDialog()) document.body.classList.remove("has-modal");
      enhance(event.detail.target);
    }
  });
})();
