// Products: search and page through them, one product's page, and managing them (create,
// edit with etags, delete; these need a token with catalog.products.write).
import { $, call, describe, element, price, say, toMoney } from "./api.js";
import * as cart from "./cart.js";

let pageToken = "";
let loadSeq = 0; // only the latest list request may draw the table

function productId(product) {
  return product.name.split("/")[1];
}

function row(product) {
  const tr = document.createElement("tr");
  tr.dataset.name = product.name;
  const link = element("a", { href: `#/${product.name}`, textContent: product.name });
  const cells = [link, product.sku, product.title, product.category, price(product.price), product.stock];
  cells.forEach((value, i) => {
    const td = element("td", {}, value ?? "");
    if (i >= 4) td.className = "num";
    tr.append(td);
  });
  const actions = document.createElement("td");
  const buttons = [
    ["Add to cart", () => cart.add(product), "add"],
    ["Edit", () => edit(product), "link"],
    ["Delete", () => remove(product), "link"],
  ];
  for (const [label, handler, kind] of buttons) {
    const button = element("button", { type: "button", className: kind, textContent: label });
    button.setAttribute("aria-label", `${label}: ${product.title}`);
    button.addEventListener("click", handler);
    actions.append(button);
  }
  if (Number(product.stock ?? 0) <= 0) actions.firstChild.disabled = true;
  tr.append(actions);
  return tr;
}

export async function load(append = false) {
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
    for (const product of reply.products ?? []) body.append(row(product));
    pageToken = reply.nextPageToken;
    $("#next").hidden = !pageToken;
  } catch (status) {
    say(describe(status), "error");
  }
}

export async function show(name) {
  const view = $("#product-detail");
  view.replaceChildren(element("p", { textContent: "Loading…" }));
  try {
    const product = await call("GET", `v1/${name}`);
    $("#product-title").textContent = product.title;
    const quantity = element("input", { type: "number", min: "1", value: "1", id: "product-quantity" });
    const add = element("button", { type: "submit", textContent: "Add to cart", id: "product-add" });
    add.disabled = Number(product.stock ?? 0) <= 0;
    const form = element(
      "form",
      { className: "row" },
      element("label", {}, "Quantity", quantity),
      add,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      cart.add(product, Math.max(1, Number(quantity.value) || 1));
    });
    const facts = element("dl");
    for (const [term, value] of [
      ["Price", price(product.price)],
      ["In stock", product.stock ?? "0"],
      ["SKU", product.sku],
      ["Category", product.category ?? ""],
      ["Name", product.name],
    ]) {
      facts.append(element("dt", { textContent: term }), element("dd", { textContent: value }));
    }
    facts.querySelectorAll("dd")[1].id = "product-stock";
    view.replaceChildren(element("p", { textContent: product.description ?? "" }), facts, form);
  } catch (status) {
    view.replaceChildren();
    say(describe(status), "error");
  }
}

function edit(product) {
  const form = $("#editor");
  for (const key of ["name", "etag", "sku", "title", "description", "category", "stock"]) {
    form.elements[key].value = product[key] ?? "";
  }
  form.elements.productId.value = productId(product);
  form.elements.productId.disabled = true;
  form.elements.price.value = price(product.price).split(" ")[0];
  form.elements.currencyCode.value = product.price?.currencyCode ?? "EUR";
  $("#edit-title").textContent = `Edit ${product.name}`;
  $("#save").textContent = "Save";
  $("#cancel").hidden = false;
  form.elements.title.focus();
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
    await call("DELETE", `v1/products/${encodeURIComponent(productId(product))}?etag=${encodeURIComponent(product.etag)}`);
    await load();
    say(`Deleted ${product.name}`, "ok");
  } catch (status) {
    say(describe(status), "error");
  }
}

export function init() {
  $("#query").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("#next").addEventListener("click", () => load(true));
  $("#editor").addEventListener("submit", save);
  $("#cancel").addEventListener("click", reset);
}
