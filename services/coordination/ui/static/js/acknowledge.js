// The acknowledge dialog, shared by the worklist and the patient page:
// POST /v1/flags/{id}/acknowledgement with a reason code (and an optional note).

import { api, newIdempotencyKey } from "./api.js";

let current = null; // { flag, resolve }

function dialogParts() {
  return {
    dialog: document.getElementById("ack-dialog"),
    form: document.getElementById("ack-form"),
    reason: document.getElementById("ack-reason"),
    note: document.getElementById("ack-note"),
    what: document.getElementById("ack-what"),
    error: document.getElementById("ack-error"),
    submit: document.getElementById("ack-submit"),
    cancel: document.getElementById("ack-cancel"),
  };
}

export function setUpAcknowledgement(vocabulary) {
  const parts = dialogParts();
  for (const [code, label] of vocabulary.ack_reasons) {
    parts.reason.append(new Option(label, code));
  }
  parts.cancel.addEventListener("click", () => parts.dialog.close("cancel"));
  parts.dialog.addEventListener("close", () => {
    if (current) current.resolve(null);
    current = null;
  });
  parts.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    parts.error.hidden = true;
    parts.submit.disabled = true;
    try {
      const body = { reason: parts.reason.value };
      if (parts.note.value.trim()) body.note = parts.note.value.trim();
      const flag = await api(`/v1/flags/${encodeURIComponent(current.flag.flag_id)}/acknowledgement`, {
        method: "POST", body, idempotencyKey: current.key,
      });
      const done = current;
      current = null;
      parts.dialog.close("done");
      done.resolve(flag);
    } catch (error) {
      parts.error.textContent = error.status === 409
        ? "This flag was resolved meanwhile; it needs no acknowledgement."
        : `Not acknowledged: ${error.message}`;
      parts.error.hidden = false;
    } finally {
      parts.submit.disabled = false;
    }
  });
}

/** Opens the dialog for ``flag``; resolves with the acknowledged flag, or null if cancelled. */
export function acknowledge(flag, description) {
  const parts = dialogParts();
  parts.what.textContent = description;
  parts.note.value = "";
  parts.error.hidden = true;
  parts.reason.selectedIndex = 0;
  return new Promise((resolve) => {
    // One key per dialog: a double submission or a retry after a lost answer records one act.
    current = { flag, resolve, key: newIdempotencyKey() };
    parts.dialog.showModal();
    parts.reason.focus();
  });
}
