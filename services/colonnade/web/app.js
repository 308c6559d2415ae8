// The catalog's web UI: plain ES modules over the REST API, no build step.
// Locally the gateway serves it at /, next to the API; in AWS, CloudFront serves it from S3
// and routes /api/* to API Gateway, so the API base is "api/" there (see API_BASE).

const API_BASE = document.querySelector('meta[name="api-base"]')?.content ?? "";
const $ = (selector) => document.querySelector(selector);
let pageToken = "";
let loadSeq = 0; // only the latest list request may draw the table

// Signing in: a bearer token, kept for this tab only (sessionStorage). Locally `make run`
// prints a link carrying the dev token in the URL fragment (never sent to a server); in AWS
// the sign-in flow of the identity provider puts its token there the same way.
const TOKEN_KEY = "colonnade.token";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

function subject(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub ?? "?";
  } catch {
    return "?";
  }
}

function showSignIn() {
  const current = token();
  $("#who").textContent = current ? `signed in as ${subject(current)}` : "not signed in (reads only)";
  $("#sign-out").hidden = !current;
}

async function call(method, path, body) {
  const send = () => {
    const headers = body ? { "content-type": "application/json" } : {};
    if (token()) headers.authorization = `Bearer ${token()}`;
    return fetch(API_BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  };
  let response = await send();
  if (response.status === 401 && token()) {
    // The token expired or was revoked: sign out, and try once more without it (reads are
    // public; a write then says that it needs credentials).
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn();
    response = await send();
  }
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw data; // a google.rpc.Status
  return data;
}

function describe(status) {
  const lines = [status.message ?? String(status)];
  for (const detail of status.details ?? []) {
    for (const violation of detail.fieldViolations ?? []) {
      lines.push(`• ${violation.field}: ${violation.description}`);
    }
  }
  return lines.join("\n");
}

function say(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.className = kind;
}

function price(money) {
  if (!money) return "";
  const amount = Number(money.units ?? 0) + (money.nanos ?? 0) / 1e9;
  return `${amount.toFixed(2)} ${money.currencyCode}`;
}

function toMoney(text, currencyCode) {
  const match = /^\s*(\d+)(?:[.,](\d{1,9}))?\s*$/.exec(text);
  if (!match) throw { message: "price must be a decimal number such as 9.90" };
  const nanos = Number((match[2] ?? "").padEnd(9, "0"));
  return { currencyCode: currencyCode.toUpperCase(), units: match[1], nanos };
}

function row(product) {
  const tr = document.createElement("tr");
  tr.dataset.name = product.name;
  const cells = [product.name, product.sku, product.title, product.category, price(product.price), product.stock];
  cells.forEach((value, i) => {
    const td = document.createElement("td");
    td.textContent = value;
    if (i >= 4) td.className = "num";
    tr.append(td);
  });
  const actions = document.createElement("td");
  for (const [label, handler] of [["Edit", () => edit(product)], ["Delete", () => remove(product)]]) {
    const button = document.createElement("button");
    button.className = "link";
    button.textContent = label;
    button.addEventListener("click", handler);
    actions.append(button);
  }
  tr.append(actions);
  return tr;
}

async function load(append = false) {
  const form = new FormData($("#query"));
  const params = new URLSearchParams();
  for (const key of ["filter", "orderBy", "pageSize"]) {
    if (form.get(key)) params.set(key, form.get(key));
  }
  if (append && pageToken) params.set("pageToken", pageToken);
  const seq = ++loadSeq;
  try {
    const reply = await call("GET", `v1/products?${params}`);
    if (seq !== loadSeq) return; // a newer search started meanwhile
    const body = $("#products tbody");
    if (!append) body.replaceChildren();
    for (const product of reply.products) body.append(row(product));
    pageToken = reply.nextPageToken;
    $("#next").hidden = !pageToken;
  } catch (status) {
    say(describe(status), "error");
  }
}

function edit(product) {
  const form = $("#editor");
  for (const key of ["name", "etag", "sku", "title", "description", "category", "stock"]) {
    form.elements[key].value = product[key] ?? "";
  }
  form.elements.productId.value = product.name.split("/")[1];
  form.elements.productId.disabled = true;
  form.elements.price.value = price(product.price).split(" ")[0];
  form.elements.currencyCode.value = product.price?.currencyCode ?? "EUR";
  $("#edit-title").textContent = `Edit ${product.name}`;
  $("#save").textContent = "Save";
  $("#cancel").hidden = false;
}

function reset() {
  const form = $("#editor");
  form.reset();
  form.elements.name.value = form.elements.etag.value = "";
  form.elements.productId.disabled = false;
  $("#edit-title").textContent = "New product";
  $("#save").textContent = "Create";
  $("#cancel").hidden = true;
}

async function save(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const product = {
      sku: form.get("sku"),
      title: form.get("title"),
      description: form.get("description"),
      category: form.get("category"),
      price: toMoney(form.get("price"), form.get("currencyCode")),
      stock: String(form.get("stock") || 0),
    };
    const name = form.get("name");
    if (name) {
      product.etag = form.get("etag");
      const id = name.split("/")[1];
      await call("PATCH", `v1/products/${encodeURIComponent(id)}`, product);
      reset();
      await load();
      say(`Saved ${name}`, "ok");
    } else {
      const id = form.get("productId");
      const created = await call("POST", `v1/products${id ? `?productId=${encodeURIComponent(id)}` : ""}`, product);
      reset();
      await load();
      say(`Created ${created.name}`, "ok");
    }
  } catch (status) {
    say(describe(status), "error");
  }
}

async function remove(product) {
  if (!confirm(`Delete ${product.title}?`)) return;
  try {
    const id = product.name.split("/")[1];
    await call("DELETE", `v1/products/${encodeURIComponent(id)}?etag=${encodeURIComponent(product.etag)}`);
    await load();
    say(`Deleted ${product.name}`, "ok");
  } catch (status) {
    say(describe(status), "error");
  }
}

$("#query").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("#next").addEventListener("click", () => load(true));
$("#editor").addEventListener("submit", save);
$("#cancel").addEventListener("click", reset);
$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = event.target.token.value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  event.target.token.value = "";
  showSignIn();
});
$("#sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn();
});
showSignIn();
load();
