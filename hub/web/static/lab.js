/* Lab console: machines, offers (with the design's analysis and every match check) to accept or
   decline, queue, history and earnings, pushed by the hub whenever any of it changes. */
"use strict";
(() => {
  const {api, el, money, when, data, replace} = cofab;
  let consoleData = data();
  const node = consoleData.node;

  function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v)} %`; }

  function machineCard(m) {
    return el("div", {class: "machine", "data-machine": m.machine_id},
      el("h3", {}, m.machine_id, " ", el("span", {class: "pill state"}, m.state)),
      el("p", {class: "small muted"}, [m.make, m.model].filter(Boolean).join(" ") || m.process, " · ", m.build_volume_mm.join(" × "), " mm"),
      el("dl", {class: "facts"},
        el("dt", {}, "Material loaded"), el("dd", {}, m.material_loaded ? `${m.material_loaded}${m.colour_loaded ? " " + m.colour_loaded : ""}` : "not reported"),
        el("dt", {}, "Works"), el("dd", {}, m.materials.join(", ")),
        el("dt", {}, "Queue"), el("dd", {}, `${m.queue_length} / ${m.queue_limit}`, m.eta_free_s ? ` · free in ${Math.round(m.eta_free_s / 60)} min` : ""),
        el("dt", {}, "Temperatures"), el("dd", {}, m.temperatures ? JSON.stringify(m.temperatures) : "not reported"),
        el("dt", {}, "Printing"), el("dd", {}, m.job_id ? `${m.job_id} · ${pct(m.percent)}` : "nothing")),
      m.job_id ? el("progress", {max: 100, value: m.percent || 0}) : null);
  }

  function offerCard(o) {
    const a = o.analysis || {};
    const out = el("p", {class: "small result", role: "status"});
    const decide = async accept => {
      for (const b of card.querySelectorAll("button")) b.disabled = true;
      try {
        const body = accept ? undefined : {reason: card.querySelector("input[name=reason]").value || null};
        const r = await api(`/api/v1/jobs/${encodeURIComponent(o.id)}/${accept ? "accept" : "decline"}`, {method: "POST", body: body || {}});
        out.textContent = accept ? "Accepted: the node goes ahead." : `Declined: offered to ${r.node_id || "no other lab"}.`;
      } catch (err) {
        out.textContent = err.message; out.classList.add("error");
        for (const b of card.querySelectorAll("button")) b.disabled = false;
      }
    };
    const card = el("div", {class: "offer", "data-job": o.id, "data-status": o.status},
      el("h3", {}, o.design_title || o.file_name, " ", el("span", {class: "pill"}, o.status.replace("_", " "))),
      el("p", {class: "small"}, `${o.file_name} · ${o.material}${o.colour ? " " + o.colour : ""} · ${o.licence} · maker ${o.distance_km} km away · pays the lab ${money(o.lab_price, o.currency)}`,
        o.offer_deadline ? ` · answer by ${when(o.offer_deadline)}` : ""),
      el("h4", {}, "The design's analysis"),
      el("p", {class: "small"}, `verdict ${a.verdict || "–"} · watertight ${a.watertight ? "yes" : "no"} · ${(a.size_mm || []).map(v => Number(v).toFixed(1)).join(" × ")} mm`,
        a.volume_mm3 ? ` · ${(a.volume_mm3 / 1000).toFixed(2)} cm³` : "", a.faces ? ` · ${a.faces} triangles` : ""),
      (a.reasons || []).length ? el("ul", {class: "warnings small"}, a.reasons.map(r => el("li", {}, r))) : null,
      el("h4", {}, "Why it came here (match checks)"),
      el("ul", {class: "checks"}, (o.checks || []).map(c => el("li", {class: c.passed ? "pass" : "fail", "data-check": c.check}, c.check, c.reason ? `: ${c.reason}` : ""))),
      o.can_decide
        ? el("div", {class: "actions"},
            el("button", {type: "button", class: "primary accept", onclick: () => decide(true)}, "Accept"),
            el("input", {name: "reason", placeholder: "reason to decline (optional)", maxlength: 200}),
            el("button", {type: "button", class: "danger decline", onclick: () => decide(false)}, "Decline"))
        : el("p", {class: "small muted"}, "The node is fetching and checking the file; you can decide once it has."),
      out);
    return card;
  }

  function render() {
    const c = consoleData;
    const online = document.getElementById("lab-online");
    online.textContent = c.node.online ? "online" : "offline";
    online.className = "pill " + (c.node.online ? "ok" : "warn");
    const month = new Date().toISOString().slice(0, 7);
    document.getElementById("earn-total").textContent = money(c.earnings.total);
    document.getElementById("earn-month").textContent = money(c.earnings.by_month[month] || 0);
    document.getElementById("count-offers").textContent = c.offers.length;
    document.getElementById("count-queue").textContent = c.queue.length;
    replace(document.getElementById("machines"), c.machines.length ? c.machines.map(machineCard) : el("p", {}, "No machines registered."));
    /* keep a half-typed decline reason: only re-render offers whose state changed */
    const offers = document.getElementById("offers");
    const current = new Map([...offers.querySelectorAll(".offer")].map(n => [n.dataset.job, n]));
    const fresh = c.offers.map(o => {
      const existing = current.get(o.id);
      return existing && existing.dataset.status === o.status ? existing : offerCard(o);
    });
    replace(offers, fresh.length ? fresh : el("p", {class: "muted", id: "no-offers"}, "No offers waiting."));
    replace(document.getElementById("queue"), c.queue.length ? c.queue.map(j => el("tr", {"data-job": j.id},
      el("td", {}, j.id), el("td", {}, j.design_title), el("td", {}, j.machine_id), el("td", {}, j.status),
      el("td", {}, el("progress", {max: 100, value: j.percent || 0}), " ", pct(j.percent)), el("td", {}, money(j.lab_price))))
      : el("tr", {}, el("td", {colspan: 6}, "Nothing queued.")));
    replace(document.getElementById("history"), c.history.length ? c.history.map(j => el("tr", {"data-job": j.id, "data-status": j.status},
      el("td", {}, j.id), el("td", {}, j.design_title), el("td", {}, when(j.completed_at || j.updated_at)),
      el("td", {}, j.status, j.reason ? ` (${j.reason})` : ""), el("td", {}, j.status === "completed" ? money(j.lab_price) : "–")))
      : el("tr", {}, el("td", {colspan: 5}, "Nothing yet.")));
    replace(document.getElementById("earnings"), Object.entries(c.earnings.by_month).map(([m, v]) => el("li", {}, `${m}: ${money(v, c.earnings.currency)}`)));
  }

  render();
  const source = new EventSource(`/api/v1/labs/${encodeURIComponent(node.id)}/console/stream`);
  const note = document.getElementById("live-note");
  source.addEventListener("console", m => { consoleData = JSON.parse(m.data); render(); note.textContent = "live"; });
  source.onerror = () => { note.textContent = "reconnecting…"; };
})();
