// Orders: the list, one order watched live over the streaming endpoint (SSE), cancelling.
import { $, API_BASE, call, describe, element, headers, price, say } from "./api.js";

let pageToken = "";
let watching = null; // aborts every stream this view opened
// Browsers open at most six HTTP/1.1 connections per host and each stream holds one: the list
// follows its newest open orders only, leaving connections for everything else.
const LIST_STREAMS = 3;
const FINAL = new Set(["SHIPPED", "CANCELLED"]);

const STATE_TEXT = {
  PENDING: "Pending: reserving the stock",
  CONFIRMED: "Confirmed",
  SHIPPED: "Shipped",
  CANCELLED: "Cancelled",
};

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "";
}

function orderRow(order) {
  const id = order.name.split("/")[1];
  const link = element("a", { href: `#/${order.name}`, textContent: id.slice(0, 8) });
  link.setAttribute("aria-label", `Order ${id}`);
  const row = element(
    "tr",
    {},
    element("td", {}, link),
    element("td", { textContent: when(order.createTime) }),
    element("td", { className: `state ${order.state}`, textContent: order.state }),
    element("td", { className: "num", textContent: price(order.total) }),
  );
  row.dataset.name = order.name;
  return row;
}

function updateRow(order) {
  const row = [...document.querySelectorAll("#orders tbody tr")].find(
    (tr) => tr.dataset.name === order.name,
  );
  if (row) row.replaceWith(orderRow(order));
}

export async function list(append = false) {
  const params = new URLSearchParams({ pageSize: "20" });
  if (append && pageToken) params.set("pageToken", pageToken);
  const controller = restart(append);
  try {
    const reply = await call("GET", `v1/orders?${params}`);
    const body = $("#orders tbody");
    if (!append) body.replaceChildren();
    for (const order of reply.orders ?? []) body.append(orderRow(order));
    pageToken = reply.nextPageToken ?? "";
    $("#orders-next").hidden = !pageToken;
    $("#orders-empty").hidden = body.children.length > 0;
    if (append) return;
    const open = (reply.orders ?? []).filter((order) => !FINAL.has(order.state));
    for (const order of open.slice(0, LIST_STREAMS)) {
      // a stream that fails leaves the row as it was loaded; the list still works
      stream(order.name, controller.signal, updateRow).catch(() => {});
    }
  } catch (status) {
    say(describe(status), "error");
  }
}

function draw(order) {
  $("#order-title").textContent = `Order ${order.name.split("/")[1]}`;
  const state = $("#order-state");
  state.textContent = STATE_TEXT[order.state] ?? order.state;
  state.className = `state ${order.state}`;
  $("#order-total").textContent = price(order.total);
  $("#order-created").textContent = when(order.createTime);
  const items = $("#order-items tbody");
  items.replaceChildren(
    ...(order.lineItems ?? []).map((item) =>
      element(
        "tr",
        {},
        element("td", {}, element("a", { href: `#/${item.product}`, textContent: item.product })),
        element("td", { className: "num", textContent: item.quantity }),
        element("td", { className: "num", textContent: price(item.unitPrice) }),
      ),
    ),
  );
  const cancel = $("#order-cancel");
  cancel.hidden = order.state !== "CONFIRMED";
  cancel.dataset.name = order.name;
}

function live(text) {
  $("#order-live").textContent = text;
}

// The watch endpoint as server-sent events, read with fetch (EventSource cannot send the
// authorization header): the order now, then after each change, until it is final.
async function stream(name, signal, onOrder, onOpen = () => {}) {
  const response = await fetch(`${API_BASE}v1/${name}:watch`, {
    headers: { ...headers(false), accept: "text/event-stream" },
    signal,
  });
  if (!response.ok) {
    let status;
    try {
      status = await response.json();
    } catch {
      status = { message: `HTTP ${response.status}` };
    }
    throw status;
  }
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      const message = JSON.parse(data);
      if (message.error) throw message.error;
      if (message.order) onOrder(message.order);
    }
  }
}

// Stop the streams of the view being left (or of the list being reloaded); a new signal.
function restart(keep = false) {
  if (keep && watching) return watching;
  stop();
  watching = new AbortController();
  return watching;
}

export async function show(name) {
  const controller = restart();
  $("#order-title").textContent = `Order ${name.split("/")[1]}`;
  try {
    draw(await call("GET", `v1/${name}`));
    live("connecting for live updates…");
    await stream(name, controller.signal, draw, () => live("live: changes show up as they happen"));
    live("final: this order will not change any more");
  } catch (status) {
    if (controller.signal.aborted) return;
    live("not live: reload the page to see changes");
    say(describe(status), "error");
  }
}

export function stop() {
  if (watching) watching.abort();
  watching = null;
}

async function cancel() {
  const button = $("#order-cancel");
  const name = button.dataset.name;
  button.disabled = true;
  try {
    const order = await call("POST", `v1/${name}:cancel`, {});
    draw(order); // the watch shows it too; this is for when the stream is not live
    say(`Cancelled ${name}: its stock is back in the catalog`, "ok");
  } catch (status) {
    say(describe(status), "error");
  } finally {
    button.disabled = false;
  }
}

export function init() {
  $("#order-cancel").addEventListener("click", cancel);
  $("#orders-next").addEventListener("click", () => list(true));
}
