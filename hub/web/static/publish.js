/* Publish: the file goes up first (XHR, so the upload's progress shows), the hub's analysis and
   warnings come back, then the design (or new version) is published naming that upload. */
"use strict";
(() => {
  const {api, el, replace, csrf} = cofab;
  const fileInput = document.getElementById("file");
  const progress = document.getElementById("upload-progress"), status = document.getElementById("upload-status");
  const form = document.getElementById("publish-form"), button = document.getElementById("publish-button");
  const publishStatus = document.getElementById("publish-status");
  let upload = null;

  function upload_(file) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/uploads?filename=" + encodeURIComponent(file.name));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.addEventListener("progress", e => {
        if (e.lengthComputable) {
          progress.value = Math.round(100 * e.loaded / e.total);
          status.textContent = `Uploading: ${progress.value} % of ${(e.total / 1048576).toFixed(1)} MiB`;
        }
      });
      xhr.upload.addEventListener("load", () => { status.textContent = "Uploaded; the hub is checking the file…"; });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 201) resolve(body);
        else reject(new Error(body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : `upload failed (${xhr.status})`));
      });
      xhr.addEventListener("error", () => reject(new Error("the connection broke during the upload")));
      xhr.send(file);
    });
  }

  function showAnalysis(u) {
    const a = u.analysis || {};
    const box = document.getElementById("analysis");
    box.hidden = false;
    const verdict = document.getElementById("verdict");
    verdict.textContent = a.verdict || u.kind;
    verdict.className = "pill " + (a.verdict === "printable" || (!a.verdict && u.kind === "outline") ? "ok" : "warn");
    const facts = [];
    const fact = (k, v) => { if (v !== undefined && v !== null) facts.push(el("dt", {}, k), el("dd", {}, v)); };
    fact("Format", u.format);
    fact("Size", a.bbox_extents ? a.bbox_extents.map(v => v.toFixed(1)).join(" × ") + " mm" : null);
    fact("Volume", a.volume ? (a.volume / 1000).toFixed(2) + " cm³" : "not closed, no volume");
    fact("Triangles", a.faces);
    fact("Watertight", a.watertight === undefined ? null : (a.watertight ? "yes" : "no"));
    fact("Separate bodies", a.bodies);
    fact("Overhang", a.overhang_fraction === undefined ? null : Math.round(a.overhang_fraction * 100) + " % of the surface");
    replace(document.getElementById("analysis-facts"), facts);
    const warnings = (a.reasons || []).map(r => el("li", {}, r));
    if (a.units_hint) warnings.push(el("li", {}, `units: ${a.units_hint}`));
    for (const d of u.derived || []) {
      if (d.kind === "repaired") warnings.push(el("li", {}, "A repaired copy was made: ", (d.detail.actions || []).join(", "),
        d.detail.analysis ? ` (it is ${d.detail.analysis.verdict})` : ""));
    }
    if (!warnings.length) warnings.push(el("li", {class: "ok"}, "No warnings."));
    replace(document.getElementById("warnings"), warnings);
  }

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    upload = null; button.disabled = true;
    progress.hidden = false; progress.value = 0;
    document.getElementById("analysis").hidden = true;
    status.classList.remove("error");
    try {
      upload = await upload_(file);
      progress.value = 100;
      status.textContent = `Checked: ${upload.filename} (${upload.size_bytes.toLocaleString()} bytes).`;
      showAnalysis(upload);
      button.disabled = false;
    } catch (err) {
      status.textContent = err.message; status.classList.add("error");
    }
  });

  const list = v => (v || "").split(",").map(s => s.trim()).filter(Boolean);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    if (!upload) return;
    button.disabled = true;
    publishStatus.textContent = "Publishing…";
    publishStatus.classList.remove("error");
    try {
      const target = form.dataset.design;
      let designId = target;
      if (target) {
        await api(`/api/v1/designs/${encodeURIComponent(target)}/versions`, {method: "POST",
          body: {parts: [{upload_id: upload.id}], note: form.note.value}});
      } else {
        const design = await api("/api/v1/designs", {method: "POST", body: {
          title: form.title.value, description: form.description.value, licence: form.licence.value,
          process: form.process.value, materials: list(form.materials.value), tags: list(form.tags.value),
          remix_of: form.remix_of.value ? [form.remix_of.value] : [], parts: [{upload_id: upload.id}]}});
        designId = design.id;
      }
      window.location.assign(`/designs/${encodeURIComponent(designId)}`);
    } catch (err) {
      publishStatus.textContent = err.message; publishStatus.classList.add("error");
      button.disabled = false;
    }
  });
})();
