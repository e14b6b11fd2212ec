// accessguard pages: JSON posts to the guard's own routes, WebAuthn Level 3 JSON ceremonies.
// Served from this origin only (CSP script-src 'self'); no inline script, nothing from other hosts.
"use strict";

const page = document.body.dataset;

function show(text, kind) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = kind || "error";
  message.hidden = !text;
  if (text) message.focus(); // announced (role=alert) and where keyboard users continue from
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  const document_ = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(document_.detail || `request failed (${response.status})`);
  }
  return document_;
}

function fields(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) values[name] = value;
  return values;
}

function goNext() {
  window.location.assign(page.next || "/");
}

function showRecoveryCodes(codes) {
  if (!codes) return;
  const section = document.getElementById("recovery-codes");
  const list = section.querySelector("ol");
  list.replaceChildren(...codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })));
  section.hidden = false;
}

function enrolled(result) {
  const after = result.session_ended ? " This enrolment link is now used up: log in as usual." : "";
  show(`Added “${result.authenticator.label}” (${result.authenticator.id}).${after}`, "ok");
  showRecoveryCodes(result.recovery_codes);
  document.querySelectorAll("section:has(form), section:has(#regenerate)").forEach((section) => section.setAttribute("hidden", ""));
}

async function securityKeyAssertion(button) {
  const { publicKey } = await post(button.dataset.begin);
  const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
  return post(button.dataset.complete, credential.toJSON());
}

async function securityKeyRegistration(form) {
  const { publicKey } = await post(form.dataset.begin, fields(form));
  const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) });
  return post(form.dataset.complete, credential.toJSON());
}

const formHandlers = {
  "totp-begin": async (form) => {
    const setup = await post(form.dataset.post, fields(form));
    document.getElementById("totp-qr").src = "data:image/svg+xml;base64," + btoa(setup.qr_svg);
    document.getElementById("totp-secret").textContent = setup.secret;
    document.getElementById("totp-setup").hidden = false;
    form.hidden = true;
  },
  "totp-confirm": async (form) => enrolled(await post(form.dataset.post, fields(form))),
  "key-register": async (form) => enrolled(await securityKeyRegistration(form)),
};

function guarded(action) {
  return async (event) => {
    event.preventDefault();
    const control = event.currentTarget;
    control.setAttribute("aria-busy", "true");
    show("");
    try {
      await action(control);
    } catch (error) {
      show(error.message || String(error));
    } finally {
      control.removeAttribute("aria-busy");
    }
  };
}

for (const form of document.querySelectorAll("form")) {
  const handler = formHandlers[form.id];
  form.addEventListener(
    "submit",
    guarded(async (element) => {
      if (handler) return handler(element);
      await post(element.dataset.post, fields(element));
      if (element.dataset.go === "next") goNext();
    }),
  );
}

document.getElementById("use-key")?.addEventListener(
  "click",
  guarded(async (button) => {
    await securityKeyAssertion(button);
    goNext();
  }),
);

document.getElementById("regenerate")?.addEventListener(
  "click",
  guarded(async (button) => {
    showRecoveryCodes((await post(button.dataset.post)).recovery_codes);
    show("New recovery codes made; the old ones no longer work.", "ok");
  }),
);

document.getElementById("request-link")?.addEventListener(
  "click",
  guarded(async (button) => {
    await post(button.dataset.post, { kind: button.dataset.kind });
    button.disabled = true;
    show("Your request was sent to the administrators: one of them will hand you an enrolment link in person or by phone.", "ok");
  }),
);

for (const button of document.querySelectorAll("[data-revoke]")) {
  button.addEventListener(
    "click",
    guarded(async (element) => {
      const what = element.dataset.authenticator ? `authenticator ${element.dataset.authenticator}` : "every authenticator";
      if (!window.confirm(`Revoke ${what} of ${element.dataset.account}?`)) return;
      await post(element.dataset.revoke, { account: element.dataset.account, authenticator: element.dataset.authenticator || null });
      window.location.reload();
    }),
  );
}

document.querySelector("[data-logout]")?.addEventListener(
  "click",
  guarded(async (button) => {
    await post(button.dataset.logout);
    window.location.assign(page.login);
  }),
);
