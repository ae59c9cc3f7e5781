/* An order followed live: the hub pushes its event history and state (Server-Sent Events)
   until the order is completed, failed or cancelled. */
"use strict";
(() => {
  const {el, money, when, data, replace} = cofab;
  let order = data();
  const events = document.getElementById("events");
  const seen = new Set();
  const map = cofabMap(document.getElementById("order-map"));

  function addEvent(e) {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    events.append(el("li", {"data-kind": e.kind}, el("time", {}, when(e.at)), e.message));
  }

  function render() {
    const status = document.getElementById("order-status");
    status.textContent = order.status.replace("_", " ");
    status.className = "pill status-" + order.status;
    document.getElementById("order-total").textContent = money(order.price_total, (order.jobs[0] && order.jobs[0].price || {}).currency);
    replace(document.getElementById("jobs"), order.jobs.map(j => {
      const lab = order.labs.find(l => l.id === j.node_id);
      return el("li", {"data-job": j.id, "data-status": j.status},
        el("div", {class: "row"}, el("strong", {}, j.file_name), el("span", {class: "pill status-" + j.status}, j.status.replace("_", " ")),
          lab ? el("span", {class: "small"}, `at ${lab.name}, ${j.distance_km} km`) : null),
        el("progress", {max: 100, value: j.percent || 0}),
        j.reason ? el("p", {class: "small error"}, j.reason) : null);
    }));
    map.draw({labs: order.labs.map(l => ({...l, label: l.name, chosen: true})), maker: {lat: order.lat, lon: order.lon, label: "you"}, flows: []});
    const pickup = document.getElementById("pickup");
    if (order.status === "completed") {
      pickup.hidden = false;
      replace(pickup, el("h2", {}, "Ready for pickup"),
        order.labs.map(l => el("p", {}, el("strong", {}, l.name), l.address ? `, ${l.address}` : "", l.city ? `, ${l.city}` : "")));
    }
  }

  for (const e of order.events.map((e, i) => ({...e, id: "initial-" + i}))) addEvent(e);
  render();
  if (order.finished) { document.getElementById("live-note").textContent = "this order is over"; return; }

  /* The stream resends everything after the last row id it was given; start from the page's. */
  const source = new EventSource(`/api/v1/orders/${encodeURIComponent(order.id)}/stream?after=${order.last_event_id}`);
  let resumeAfter = order.last_event_id;
  source.addEventListener("history", m => {
    const e = JSON.parse(m.data);
    if (e.id > resumeAfter) { addEvent(e); resumeAfter = e.id; }
  });
  source.addEventListener("order", m => { order = JSON.parse(m.data); render(); });
  source.addEventListener("end", () => { source.close(); document.getElementById("live-note").textContent = "this order is over"; });
  source.onerror = () => { document.getElementById("live-note").textContent = "reconnecting…"; };
  source.onopen = () => { document.getElementById("live-note").textContent = "live: updates arrive as the lab works"; };
})();
