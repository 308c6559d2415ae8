// The cart (kept in localStorage) and the checkout that turns it into one order.
import { $, call, describe, element, price, requestId, say } from "./api.js";

const CART_KEY = "colonnade.cart";

// { "products/x": { title, price: Money, quantity } }
function load() {
  try {
    return JSON.parse(localStorage.getItem(CART_KEY) ?? "{}");
  } catch {
    return {};
  }
}

function store(cart) {
  localStorage.setItem(CART_KEY, JSON.stringify(cart));
  // A changed cart is another order: the next checkout gets a request id of its own.
  pendingRequestId = null;
  showCount();
}

// The request id of the order being placed: kept until that order exists, so a double click,
// or a retry after the service was unavailable places the same single order.
let pendingRequestId = null;
let placing = false;

export function showCount() {
  const count = Object.values(load()).reduce((sum, item) => sum + item.quantity, 0);
  $("#cart-count").textContent = String(count);
}

export function add(product, quantity = 1) {
  const cart = load();
  const item = cart[product.name] ?? { title: product.title, price: product.price, quantity: 0 };
  item.quantity += quantity;
  cart[product.name] = item;
  store(cart);
  say(`Added ${quantity} × ${product.title} to the cart`, "ok");
}

function total(items) {
  if (!items.length) return "";
  const currency = items[0].price?.currencyCode ?? "";
  const cents = items.reduce(
    (sum, item) =>
      sum + item.quantity * Math.round((Number(item.price?.units ?? 0) + (item.price?.nanos ?? 0) / 1e9) * 100),
    0,
  );
  return `${(cents / 100).toFixed(2)} ${currency}`;
}

export function render() {
  const cart = load();
  const body = $("#cart tbody");
  body.replaceChildren();
  const names = Object.keys(cart);
  for (const name of names) {
    const item = cart[name];
    const quantity = element("input", {
      type: "number",
      min: "1",
      value: String(item.quantity),
      name: "quantity",
      className: "qty",
    });
    quantity.setAttribute("aria-label", `Quantity of ${item.title}`);
    quantity.addEventListener("change", () => {
      const next = load();
      next[name].quantity = Math.max(1, Number(quantity.value) || 1);
      store(next);
      render();
    });
    const remove = element("button", { type: "button", className: "link", textContent: "Remove" });
    remove.setAttribute("aria-label", `Remove ${item.title}`);
    remove.addEventListener("click", () => {
      const next = load();
      delete next[name];
      store(next);
      render();
    });
    const row = element(
      "tr",
      {},
      element("td", { textContent: item.title }),
      element("td", { className: "num", textContent: price(item.price) }),
      element("td", { className: "num" }, quantity),
      element("td", {}, remove),
    );
    row.dataset.name = name;
    body.append(row);
  }
  const empty = names.length === 0;
  $("#cart-empty").hidden = !empty;
  $("#cart").hidden = empty;
  $("#checkout").hidden = empty;
  $("#cart-total").textContent = total(Object.values(cart));
}

async function checkout(event) {
  event.preventDefault();
  if (placing) return; // the second click of a double click: the first one is on its way
  const cart = load();
  const names = Object.keys(cart);
  if (!names.length) return;
  placing = true;
  const button = $("#place-order");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  pendingRequestId ??= requestId();
  const order = {
    currencyCode: cart[names[0]].price?.currencyCode ?? "EUR",
    lineItems: names.map((name) => ({ product: name, quantity: String(cart[name].quantity) })),
  };
  try {
    const placed = await call(
      "POST",
      `v1/orders?requestId=${encodeURIComponent(pendingRequestId)}`,
      order,
    );
    localStorage.removeItem(CART_KEY);
    pendingRequestId = null;
    showCount();
    say(`Order placed: ${placed.name} is ${placed.state}`, "ok");
    location.hash = `#/${placed.name}`;
  } catch (status) {
    say(describe(status, names.map((name) => cart[name].title)), "error");
  } finally {
    placing = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function init() {
  $("#checkout").addEventListener("submit", checkout);
  showCount();
  addEventListener("storage", (event) => {
    if (event.key === CART_KEY) showCount();
  });
}
