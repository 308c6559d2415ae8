// Talking to the REST API: the base, the bearer token, calls, and errors in plain words.
// Locally the gateway serves the UI next to the API; in AWS, CloudFront serves it from S3 and
// routes api/* to API Gateway, so the cdn module adds <meta name="api-base" content="api/">.
// Every URL here is relative, so the UI works from any sub-path.

export const API_BASE = document.querySelector('meta[name="api-base"]')?.content ?? "";
export const $ = (selector) => document.querySelector(selector);

// Signing in: a bearer token, kept for this tab only (sessionStorage). Locally `make run`
// prints a link carrying the dev token in the URL fragment (never sent to a server); in AWS
// the sign-in flow of the identity provider puts its token there the same way.
const TOKEN_KEY = "colonnade.token";

export function takeTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new Event("colonnade:signin"));
}

export function subject(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub ?? "?";
  } catch {
    return "?";
  }
}

export function headers(json) {
  const result = json ? { "content-type": "application/json" } : {};
  if (token()) result.authorization = `Bearer ${token()}`;
  return result;
}

// A failure without a google.rpc.Status body (the network, a proxy's error page).
function transportError(detail) {
  return { message: detail, transport: true };
}

export async function call(method, path, body) {
  const send = async () => {
    try {
      return await fetch(API_BASE + path, {
        method,
        headers: headers(Boolean(body)),
        body: body ? JSON.stringify(body) : undefined,
        // Reads are cacheable (max-age, ETag): revalidate each time, so a stock that an order
        // changed shows at once (the gateway answers 304 while nothing was written).
        cache: "no-cache",
      });
    } catch {
      throw transportError("The server cannot be reached. Check your connection and try again.");
    }
  };
  let response = await send();
  if (response.status === 401 && token()) {
    // The token expired or was revoked: sign out, and try once more without it (reads are
    // public; a write then says that it needs credentials).
    setToken("");
    response = await send();
  }
  if (response.status === 204) return null;
  let data;
  try {
    data = await response.json();
  } catch {
    throw transportError(`The server answered HTTP ${response.status} without an explanation.`);
  }
  if (!response.ok) throw data; // a google.rpc.Status
  return data;
}

// google.rpc.Code → what it means for the person using the page.
const PLAIN = {
  3: "Please correct the following.",
  4: "The service took too long to answer. Please try again.",
  5: "It no longer exists.",
  6: "It exists already.",
  7: "You are not allowed to do this.",
  8: "Too many requests: please wait a moment and try again.",
  9: "This cannot be done now.",
  10: "Someone else changed it meanwhile: reload and try again.",
  13: "The service failed. Please try again later.",
  14: "The service is unavailable right now. Please try again in a moment.",
  16: "Sign in first.",
};

// "order.line_items[1].quantity" → "quantity of line 2 (Desk lamp)" when labels are given.
function fieldName(field, lineLabels) {
  const match = /line_items\[(\d+)\](?:\.(\w+))?/.exec(field);
  if (!match || !lineLabels) return field;
  const index = Number(match[1]);
  const what = match[2] ? match[2].replace(/_/g, " ") : "line";
  return `${what} of line ${index + 1} (${lineLabels[index] ?? "?"}) — ${field}`;
}

export function describe(status, lineLabels) {
  if (status instanceof Error) return `Something went wrong in this page: ${status.message}`;
  const lines = [];
  const plain = PLAIN[status.code];
  if (plain) lines.push(plain);
  if (status.message) lines.push(status.message);
  for (const detail of status.details ?? []) {
    for (const violation of detail.fieldViolations ?? []) {
      lines.push(`• ${fieldName(violation.field, lineLabels)}: ${violation.description}`);
    }
  }
  return lines.join("\n") || String(status);
}

export function say(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.className = kind;
}

export function price(money) {
  if (!money) return "";
  const amount = Number(money.units ?? 0) + (money.nanos ?? 0) / 1e9;
  return `${amount.toFixed(2)} ${money.currencyCode}`;
}

export function toMoney(text, currencyCode) {
  const match = /^\s*(\d+)(?:[.,](\d{1,9}))?\s*$/.exec(text);
  if (!match) throw { message: "price must be a decimal number such as 9.90" };
  const nanos = Number((match[2] ?? "").padEnd(9, "0"));
  return { currencyCode: currencyCode.toUpperCase(), units: match[1], nanos };
}

// An AIP-155 request id: the same id sent twice places one order.
export function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  node.append(...children);
  return node;
}
