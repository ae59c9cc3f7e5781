/* Design page: the 3D view, and for makers a quote (price breakdown, lead time, distance, the
   lab on the map) that becomes an order. */
"use strict";
(() => {
  const {api, el, money, data, replace} = cofab;
  const page = data();
  cofabViewer.show(document.getElementById("viewer"), page.viewer_url, document.getElementById("viewer-fallback"));

  const form = document.getElementById("quote-form");
  if (!form) return;
  const labs = page.labs || [];
  const byId = Object.fromEntries(labs.map(l => [l.id, l]));
  const latInput = document.getElementById("lat"), lonInput = document.getElementById("lon");
  const mean = key => labs.length ? labs.reduce((s, l) => s + l[key], 0) / labs.length : 0;
  latInput.value = (mean("lat") + 0.004).toFixed(5);
  lonInput.value = (mean("lon") - 0.006).toFixed(5);
  let chosen = new Set();
  let lastRequest = null;
  const map = cofabMap(document.getElementById("quote-map"), {
    onPick(lat, lon) { latInput.value = lat; lonInput.value = lon; redraw(); clearQuote(); },
  });
  function redraw() {
    map.draw({labs: labs.map(l => ({...l, label: l.name, chosen: chosen.has(l.id), title: `${l.name}, ${l.city || ""}`})),
              maker: {lat: Number(latInput.value), lon: Number(lonInput.value), label: "you"}, flows: []});
  }
  latInput.addEventListener("change", () => { redraw(); clearQuote(); });
  lonInput.addEventListener("change", () => { redraw(); clearQuote(); });
  redraw();

  const result = document.getElementById("quote-result"), error = document.getElementById("quote-error");
  const orderButton = document.getElementById("order-button");
  function clearQuote() { replace(result); orderButton.hidden = true; chosen = new Set(); lastRequest = null; }

  function request() {
    const body = {design_id: page.design_id, material: form.material.value, quantity: Number(form.quantity.value || 1),
                  lat: Number(latInput.value), lon: Number(lonInput.value)};
    if (form.lead_time_h.value) body.lead_time_h = Number(form.lead_time_h.value);
    return body;
  }

  function breakdown(price) {
    const b = price.basis || {};
    const row = (label, value, how) => el("tr", {}, el("td", {}, label, how ? el("div", {class: "small muted"}, how) : null), el("td", {}, money(value)));
    if (b.note) return el("p", {class: "small"}, b.note);
    return el("table", {class: "breakdown"},
      el("tbody", {},
        row("Material", price.material, `${b.mass_g} g printed × ${b.material_price_per_kg} ${price.currency}/kg`),
        row("Machine time", price.machine_time, `${b.print_hours} h × ${b.machine_rate_per_hour} ${price.currency}/h`),
        row("Labour", price.labour, "per job"),
        row("Designer's share", price.designer_share, `${Math.round(b.designer_share_of_lab_price * 100)} % of the lab's price`),
        row("Cooperative fee", price.coop_fee, `${Math.round(b.coop_fee_of_lab_price * 100)} % of the lab's price`),
        el("tr", {class: "total"}, el("td", {}, "Per part"), el("td", {}, money(price.total, price.currency)))));
  }

  function candidateCard(c, best, quantity) {
    const lab = byId[c.node_id] || {name: c.node_id};
    return el("div", {class: "quote" + (best ? " best" : ""), "data-node": c.node_id},
      el("h3", {}, best ? "Best: " : "", lab.name),
      el("p", {class: "small"}, el("span", {class: "distance"}, `${c.distance_km.toFixed(1)} km from you`), " · ",
         el("span", {class: "lead"}, `ready in about ${c.lead_time_h.toFixed(1)} h`), " · machine ", c.machine_id),
      breakdown(c.price),
      el("p", {class: "small muted"}, `× ${quantity} = ${money(c.price.total * quantity, c.price.currency)}`));
  }

  form.addEventListener("submit", async event => {
    event.preventDefault();
    error.hidden = true;
    const body = request();
    const button = document.getElementById("quote-button");
    button.disabled = true;
    try {
      const quote = await api("/api/v1/quotes", {method: "POST", body});
      chosen = new Set();
      const blocks = quote.parts.map(part => {
        if (!part.candidates.length) {
          const reasons = Object.entries(part.rejected).map(([node, checks]) =>
            el("li", {}, `${(byId[node] || {name: node}).name}: `, checks.filter(c => !c.passed).map(c => c.reason).join("; ")));
          return el("div", {}, el("h3", {}, part.file_name), el("p", {class: "error"}, "No lab can make this part now."), el("ul", {}, reasons));
        }
        chosen.add(part.candidates[0].node_id);
        return el("div", {}, el("h3", {}, `${part.file_name} × ${part.quantity}`),
          el("div", {class: "quotes"}, part.candidates.map((c, i) => candidateCard(c, i === 0, part.quantity))));
      });
      const total = quote.total_best === null ? el("p", {class: "error"}, "Not every part can be made now.")
        : el("p", {class: "total-line"}, "Total with the best labs: ", el("strong", {id: "quote-total"}, money(quote.total_best, quote.currency)));
      replace(result, blocks, total);
      redraw();
      lastRequest = body;
      orderButton.hidden = quote.total_best === null;
    } catch (err) {
      error.textContent = err.message; error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  orderButton.addEventListener("click", async () => {
    if (!lastRequest) return;
    orderButton.disabled = true;
    try {
      const order = await api("/api/v1/orders", {method: "POST", body: lastRequest});
      window.location.assign(`/orders/${encodeURIComponent(order.id)}`);
    } catch (err) {
      error.textContent = err.message; error.hidden = false; orderButton.disabled = false;
    }
  });
})();
