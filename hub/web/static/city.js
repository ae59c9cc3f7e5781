/* City map: labs sized by parts made, maker-to-lab flows, from the same GeoJSON the city exports. */
"use strict";
(() => {
  const svg = document.getElementById("city-map");
  if (!svg) return;
  cofab.api(svg.dataset.src).then(geo => {
    const labs = [], flows = [];
    const maxParts = Math.max(1, ...geo.features.filter(f => f.properties.kind === "lab").map(f => f.properties.parts));
    for (const f of geo.features) {
      const p = f.properties;
      if (p.kind === "lab") {
        const [lon, lat] = f.geometry.coordinates;
        labs.push({id: p.node_id, lat, lon, label: `${p.name} (${p.parts})`, size: 8 + 14 * p.parts / maxParts,
                   title: `${p.name}: ${p.parts} parts, ${p.mass_kg} kg`});
      } else if (p.kind === "flow") {
        const [[lon1, lat1], [lon2, lat2]] = f.geometry.coordinates;
        flows.push({from: {lat: lat1, lon: lon1}, to: {lat: lat2, lon: lon2}, weight: p.parts,
                    title: `${p.parts} parts, ${p.mass_kg} kg, ${p.distance_km} km to ${p.node_id}`});
      }
    }
    cofabMap(svg).draw({labs, maker: null, flows});
    svg.dataset.state = "drawn";
  }).catch(err => { svg.replaceChildren(); svg.insertAdjacentText("afterend", "Map unavailable: " + err.message); });
})();
