// accessguard pages: JSON posts to the guard's own routes, WebAuthn Level 3 JSON ceremonies.
// Served from this origin only (CSP script-src 'self'); no inline script, nothing from other hosts.
"use strict";

const page = document.body.dataset;

// the page's language: the translations of the messages below, written by the server as JSON (English: none)
const STRINGS = JSON.parse(document.querySelector("meta[name=accessguard-strings]")?.content || "{}");

function t(message, values) {
  return (STRINGS[message] || message).replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
}

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
    throw new Error(document_.detail || t("request failed ({status})", { status: response.status }));
  }
  return document_;
}

function fields(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) values[name] = value;
  for (const box of form.querySelectorAll("input[type=checkbox]")) values[box.name] = box.checked;
  return values;
}

// A result that survives the reload showing the new state: announced on the reloaded page.
const CARRIED = "accessguard.message";

function announceAfterReload(text) {
  sessionStorage.setItem(CARRIED, text);
  window.location.reload();
}

function svgImage(svg, alt) {
  return Object.assign(document.createElement("img"), { src: "data:image/svg+xml;base64," + btoa(svg), alt, width: 200, height: 200 });
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
  section.focus(); // what to write down now; the result before it was announced (role=alert)
}

// the latest addition to an account this browser has shown or made (server times, so the browser's clock does not matter)
const SEEN = "accessguard.seen:";

function seenUntil(account) {
  return Number(localStorage.getItem(SEEN + account) || 0);
}

function markSeen(account, time) {
  if (account && time > seenUntil(account)) localStorage.setItem(SEEN + account, String(time));
}

function enrolled(result) {
  markSeen(document.querySelector(".who strong")?.textContent, result.authenticator.created);
  const added = t("Added “{label}” ({id}).", result.authenticator);
  show(result.session_ended ? `${added} ${t("This enrolment link is now used up: log in as usual.")}` : added, "ok");
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
  // what was added to the account lately ("a new security key …; not you?") is shown before going on, unless this
  // browser saw it already (it showed it, or the addition was made here): an attacker who logs in first elsewhere
  // cannot acknowledge it for the professional's own browser
  login: async (form) => {
    const result = await post(form.dataset.post, fields(form));
    const account = result.subject;
    const unseen = (result.notices || []).filter((notice) => notice.time > seenUntil(account));
    if (!unseen.length) return goNext();
    const section = document.getElementById("login-notices");
    section.querySelector("ul").replaceChildren(...unseen.map((notice) => element("li", notice.message)));
    for (const link of section.querySelectorAll("a")) link.addEventListener("click", () => markSeen(account, unseen[0].time));
    form.hidden = true;
    section.hidden = false;
    show(t("{count} change(s) to your account since your last visit: read them below. Not you? Tell your administrator at once.", { count: unseen.length }), "notice");
  },
  "totp-begin": async (form) => {
    const setup = await post(form.dataset.post, fields(form));
    document.getElementById("totp-qr").src = "data:image/svg+xml;base64," + btoa(setup.qr_svg);
    document.getElementById("totp-secret").textContent = setup.secret;
    const qr = document.getElementById("totp-setup");
    qr.hidden = false;
    form.hidden = true;
    qr.focus(); // the focused button is hidden: keyboard users go on from what replaced it
  },
  "totp-confirm": async (form) => enrolled(await post(form.dataset.post, fields(form))),
  "key-register": async (form) => enrolled(await securityKeyRegistration(form)),
};

function element(tag, text) {
  return Object.assign(document.createElement(tag), { textContent: text });
}

// admin console forms, by what follows their answer (data-then)
const consoleHandlers = {
  reload: async (form) => announceAfterReload((await post(form.dataset.post, fields(form))).message),
  link: async (form) => {
    const result = await post(form.dataset.post, fields(form));
    const region = document.getElementById(form.dataset.result);
    const anchor = Object.assign(element("a", result.link), { href: result.link });
    const account = form.querySelector("[name=account]").value;
    region.replaceChildren(element("p", t("One-time link:")), Object.assign(element("p"), { className: "link" }), svgImage(result.qr_svg, t("QR code of the link for {account}", { account })));
    region.querySelector("p.link").append(anchor);
    region.hidden = false;
    show(result.message, "ok");
  },
  import: async (form) => {
    const asked = fields(form);
    const preview = await post(form.dataset.post, { ...asked, confirm: false });
    const region = document.getElementById("import-preview");
    region.hidden = false;
    const parts = [];
    if (preview.errors.length) {
      const list = document.createElement("ul");
      list.replaceChildren(...preview.errors.map((e) => element("li", t("Line {line}: {error}", e))));
      parts.push(element("p", t("{count} line(s) are wrong; nothing will be created until they are corrected:", { count: preview.errors.length })), list);
    }
    const rows = document.createElement("ul");
    rows.replaceChildren(...preview.accounts.map((a) => element("li", t("Line {line}: {account} ({kind}; {roles}; {organisation})", { ...a, roles: a.roles.join(", "), organisation: a.organisation || t("no organisation") }))));
    parts.push(element("p", t("{count} account(s) to create:", { count: preview.accounts.length })), rows);
    if (!preview.errors.length) {
      const confirm = element("button", t("Create {count} accounts", { count: preview.accounts.length }));
      confirm.type = "button";
      confirm.addEventListener(
        "click",
        guarded(async () => {
          const names = preview.accounts.map((a) => a.account);
          const done = await post(form.dataset.post, { ...asked, confirm: true, expect: names });
          const links = document.createElement("ul");
          links.replaceChildren(
            ...done.created.map((c) => {
              const item = element("li", `${c.account}: `);
              item.append(Object.assign(element("a", c.link), { href: c.link }), svgImage(c.qr_svg, t("QR code of the password link for {account}", c)));
              return item;
            }),
          );
          region.replaceChildren(element("p", t("One-time password links:")), links);
          show(done.message, "ok");
        }),
      );
      parts.push(confirm);
    }
    region.replaceChildren(...parts);
    const errors = preview.errors.map((e) => t("line {line}: {error}", e)).join("; ");
    show(
      preview.errors.length
        ? t("Preview: {count} wrong line(s): {errors}.", { count: preview.errors.length, errors })
        : t("Preview: {count} account(s) to create. Confirm below.", { count: preview.accounts.length }),
      preview.errors.length ? "error" : "ok",
    );
  },
  preview: async (form) => {
    const asked = fields(form);
    const preview = await post(form.dataset.post, { ...asked, confirm: false });
    const region = document.getElementById("contain-preview");
    region.hidden = false;
    if (preview.accounts.length === 0) {
      region.replaceChildren(element("p", t("Nothing was enrolled, and no recovery code issued, after that time: nothing to contain.")));
      show(t("Preview: nothing to contain."), "ok");
      return;
    }
    const summary = t("This would hold back {authenticators} authenticators and delete {codes} unused recovery codes of {count} accounts; each loses its password and its sessions:", {
      authenticators: preview.authenticators,
      codes: preview.recovery_codes,
      count: preview.accounts.length,
    });
    const list = document.createElement("ul");
    list.replaceChildren(...preview.accounts.map((account) => element("li", account)));
    const parts = [element("p", summary), list];
    if (preview.own_account) parts.push(Object.assign(element("p", t("Your own account is among them: you will be logged out and need a password link too.")), { className: "notice" }));
    const confirm = element("button", t("Contain {authenticators} authenticators of {count} accounts", { authenticators: preview.authenticators, count: preview.accounts.length }));
    confirm.type = "button";
    confirm.className = "danger";
    confirm.addEventListener(
      "click",
      guarded(async () => announceAfterReload((await post(form.dataset.post, { ...asked, confirm: true, expect: preview.accounts })).message)),
    );
    parts.push(confirm);
    region.replaceChildren(...parts);
    show(t("Preview: {count} accounts would be contained ({accounts}). Confirm below.", { count: preview.accounts.length, accounts: preview.accounts.join(", ") }), "ok");
  },
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

for (const form of document.querySelectorAll("form:not([method=get])")) {
  const handler = formHandlers[form.id] || consoleHandlers[form.dataset.then];
  form.addEventListener(
    "submit",
    guarded(async (element) => {
      if (element.dataset.confirm && !window.confirm(element.dataset.confirm)) return;
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
    const { recovery_codes: codes } = await post(button.dataset.post);
    show(t("New recovery codes made; the old ones no longer work."), "ok");
    showRecoveryCodes(codes);
  }),
);

document.getElementById("request-link")?.addEventListener(
  "click",
  guarded(async (button) => {
    await post(button.dataset.post, { kind: button.dataset.kind });
    button.disabled = true;
    show(t("Your request was sent to the administrators: one of them will hand you an enrolment link in person or by phone."), "ok");
  }),
);

for (const button of document.querySelectorAll("[data-revoke]")) {
  button.addEventListener(
    "click",
    guarded(async (element) => {
      const { account, authenticator } = element.dataset;
      const question = authenticator ? t("Revoke authenticator {authenticator} of {account}?", { authenticator, account }) : t("Revoke every authenticator of {account}?", { account });
      if (!window.confirm(question)) return;
      const { revoked } = await post(element.dataset.revoke, { account: element.dataset.account, authenticator: element.dataset.authenticator || null });
      announceAfterReload(t("Revoked {count} authenticator(s) of {account}: {ids}.", { count: revoked.length, account, ids: revoked.join(", ") }));
    }),
  );
}

// buttons posting one field (data-field, data-value) to data-action: the answer's message is announced
for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener(
    "click",
    guarded(async (element) => {
      if (element.dataset.confirm && !window.confirm(element.dataset.confirm)) return;
      const result = await post(element.dataset.action, { [element.dataset.field]: element.dataset.value });
      if (element.dataset.then === "reload") announceAfterReload(result.message);
      else show(result.message, "ok");
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

const carried = sessionStorage.getItem(CARRIED);
if (carried) {
  sessionStorage.removeItem(CARRIED);
  show(carried, "ok");
}
