/* Shared helpers for the pages: API calls with the sign-in cookie and CSRF token, safe DOM building. */
"use strict";
const cofab = (() => {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(path, options = {}) {
    const headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    let body = options.body;
    if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if ((options.method || "GET") !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {method: options.method || "GET", headers, body, credentials: "same-origin"});
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!response.ok) {
      const detail = data && data.detail !== undefined ? data.detail : text;
      const message = typeof detail === "string" ? detail : JSON.stringify(detail);
      const error = new Error(message || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  /* el("tr", {class: "x"}, "text", childNode): text is always text, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function money(value, currency) {
    const n = Number(value || 0);
    return n.toFixed(2) + (currency ? " " + currency : "");
  }

  function when(seconds) {
    const d = new Date(seconds * 1000);
    return d.toLocaleString([], {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function data() {
    const node = document.getElementById("page-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  function replace(node, ...children) { node.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined)); }

  return {api, el, money, when, data, replace, csrf};
})();
