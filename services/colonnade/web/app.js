// The shop's single-page app: plain ES modules over the REST API, no build step, no CDN.
// Routes live in the URL fragment (#/cart, #/orders/<id>…), so the app works from any path
// it is served at (CloudFront's sub-path included) and a reload or a shared link keeps the view.
import { $, setToken, subject, takeTokenFromFragment, token } from "./api.js";
import * as cart from "./cart.js";
import * as catalog from "./catalog.js";
import * as orders from "./orders.js";

takeTokenFromFragment();

const VIEWS = ["products", "product", "cart", "orders", "order"];

function route() {
  const path = location.hash.replace(/^#\/?/, "");
  const [collection, id] = path.split("/");
  if (collection === "products" && id) return { view: "product", name: `products/${id}` };
  if (collection === "orders" && id) return { view: "order", name: `orders/${id}` };
  if (collection === "orders") return { view: "orders" };
  if (collection === "cart") return { view: "cart" };
  return { view: "products" };
}

let first = true;

function render() {
  const { view, name } = route();
  for (const candidate of VIEWS) $(`#view-${candidate}`).hidden = candidate !== view;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view !== "order" && view !== "orders") orders.stop();
  if (view === "products") catalog.load();
  if (view === "product") catalog.show(name);
  if (view === "cart") cart.render();
  if (view === "orders") orders.list();
  if (view === "order") orders.show(name);
  // Keyboard and screen-reader users land on the new view's heading, not the top of the page.
  if (!first) $(`#view-${view} h2`)?.focus();
  first = false;
}

function showSignIn() {
  const current = token();
  $("#who").textContent = current ? `signed in as ${subject(current)}` : "not signed in (reads only)";
  $("#sign-out").hidden = !current;
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = event.target.token.value.trim();
  if (value) setToken(value);
  event.target.token.value = "";
});
$("#sign-out").addEventListener("click", () => setToken(""));
document.addEventListener("colonnade:signin", showSignIn);

catalog.init();
cart.init();
orders.init();
showSignIn();
addEventListener("hashchange", () => {
  // "#main" (the skip link) is a place on the page, not a route.
  if (!location.hash || location.hash.startsWith("#/")) render();
});
render();
