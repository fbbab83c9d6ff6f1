// Upvote and save without reloading the page. Without JavaScript the same forms POST and the
// server sends the reader back to where they were; with it, the form is sent with fetch and the
// button changes in place. (The site's CSP allows only scripts from the site itself.)
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form.votes, form.save")) return;
  const button = event.submitter || form.querySelector("button");
  event.preventDefault();
  if (button.disabled) return;            // a double click sends one request
  const body = new FormData(form);
  body.set(button.name, button.value);
  button.disabled = true;
  try {
    // getAttribute: form.action would be the button named "action"
    const response = await fetch(form.getAttribute("action"), {method: "POST", body, credentials: "same-origin",
                                               headers: {"Accept": "application/json"}});
    const data = await response.json().catch(() => ({}));
    if (response.status === 401 && data.signin) { window.location.assign(data.signin); return; }
    if (!response.ok) { window.alert(data.error || "That did not work; try again."); return; }
    if (form.matches("form.votes")) {
      for (const other of document.querySelectorAll("form.votes input[name=paper]")) {
        if (other.value !== data.paper) continue;
        const b = other.form.querySelector("button");
        b.value = data.voted ? "down" : "up";
        b.setAttribute("aria-pressed", String(data.voted));
        b.querySelector(".n").textContent = String(data.upvotes_total);
      }
    } else {
      for (const other of document.querySelectorAll("form.save input[name=paper]")) {
        if (other.value !== data.paper) continue;
        const b = other.form.querySelector("button");
        b.value = data.saved ? "unsave" : "save";
        b.setAttribute("aria-pressed", String(data.saved));
      }
    }
  } catch (error) {
    form.submit();                          // the network failed: fall back to the plain form
  } finally {
    button.disabled = false;
  }
});
