/* qpvgeo, the eligibility desk. Every answer comes from the server's API, the same decider as the
   command line. No framework, no CDN; all text from the server is inserted as text, never HTML. */
"use strict";

(function () {
  const COLOURS = {QPV: "#c0392b", QIC: "#8e44ad", fragile: "#2471a3", band: "#f39c12"};
  const STATUS_COLOURS = {in_qpv: "#c0392b", in_band: "#e67e22", in_qic: "#8e44ad", in_fragile: "#2471a3",
                          outside: "#2c3e50"};
  const $ = (id) => document.getElementById(id);
  let meta = null, map = null, marker = null, sitePoly = null, drawing = null;

  function token() { return sessionStorage.getItem("qpvgeo-token") || ""; }

  async function api(path, options) {
    const opts = Object.assign({headers: {}}, options || {});
    if (token()) opts.headers.Authorization = "Bearer " + token();
    const resp = await fetch(path, opts);
    if (resp.status === 401) { $("token-box").hidden = false; }
    let body = null;
    const type = resp.headers.get("Content-Type") || "";
    if (type.includes("json")) body = await resp.json();
    if (!resp.ok) throw new Error((body && (body.error_fr || body.error)) || ("erreur " + resp.status));
    return body;
  }

  function fr(n, digits) {
    return Number(n).toLocaleString("fr-FR", {maximumFractionDigits: digits === undefined ? 1 : digits});
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function label(status) {
    const band = meta ? fr(meta.rule.band_m, 0) : "300";
    return ((meta && meta.labels_fr[status]) || status).replace("{band}", band);
  }

  function showAnswer(ans, what) {
    const box = $("answer");
    box.replaceChildren();
    box.dataset.status = ans.status;
    const head = el("p", label(ans.status), "status status-" + ans.status);
    box.append(el("p", what, "place"), head);
    if (ans.read_as) box.append(el("p", "Lu comme : " + (ans.read_as_fr || ans.read_as), "hint"));
    if (ans.geocode && ans.geocode.label) {
      box.append(el("p", "Adresse trouvée : " + ans.geocode.label + " (précision " + ans.geocode.type + ", score " +
                         fr(ans.geocode.score, 2) + ")", "hint"));
    }
    if (ans.indicative_status) box.append(el("p", "Adresse trop imprécise pour décider ; le point approché serait : " +
                                              label(ans.indicative_status), "hint"));
    if (ans.code_qp) {
      const q = el("p");
      q.append(el("span", (ans.status === "outside" ? "Quartier le plus proche : " : "Quartier : ")));
      const a = el("a", ans.nom_qp + " (" + ans.code_qp + ")");
      a.href = "https://sig.ville.gouv.fr/territoire/" + encodeURIComponent(ans.code_qp);
      a.rel = "noopener"; a.target = "_blank";
      q.append(a);
      box.append(q, el("p", "Distance au sol : " + fr(ans.distance_m) + " m"));
    }
    if (ans.in_qpv && ans.area_m2 !== null && ans.in_qpv.any_part !== null) {
      const yes = (v) => (v === null ? "n/c" : (v ? "oui" : "non"));
      box.append(el("p", "Site de " + fr(ans.area_m2, 0) + " m² : en QPV une partie " + yes(ans.in_qpv.any_part) +
                         ", le centre " + yes(ans.in_qpv.centroid) + ", en entier " + yes(ans.in_qpv.whole) +
                         " ; en zone éligible " + fr(ans.in_eligible_zone.area_m2, 0) + " m²"));
    }
    const r = ans.rule;
    box.append(el("p", "Règle : bande " + r.comparison + " " + fr(r.band_m, 0) + " m autour des " +
                       r.band_classes.join(", ") + ", distances au sol ; périmètres " + r.vintage + ".", "rule"));
    box.append(el("p", "Réponse indicative, établie le " + new Date().toLocaleString("fr-FR") +
                       " avec qpvgeo ; elle ne vaut pas attestation.", "hint"));
    $("print-row").hidden = false;
    box.focus();
  }

  function showError(message, box) {
    const target = box || $("answer");
    target.replaceChildren(el("p", "Erreur : " + message, "error"));
    target.dataset.status = "error";
  }

  function place(lon, lat) {
    if (marker) marker.remove();
    marker = L.circleMarker([lat, lon], {radius: 8, color: "#000", weight: 2, fillColor: "#fff", fillOpacity: 1})
      .addTo(map);
  }

  async function checkText(q) {
    try {
      const ans = await api("/api/check?q=" + encodeURIComponent(q));
      if (ans.lon !== null && ans.lon !== undefined) { place(ans.lon, ans.lat); map.setView([ans.lat, ans.lon], 15); }
      showAnswer(ans, q);
    } catch (e) { showError(e.message); }
  }

  async function checkPoint(lon, lat) {
    place(lon, lat);
    try {
      const ans = await api("/api/check?lon=" + lon + "&lat=" + lat);
      showAnswer(ans, fr(lon, 5) + ", " + fr(lat, 5));
    } catch (e) { showError(e.message); }
  }

  async function checkSite(geometry) {
    try {
      const ans = await api("/api/site", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(geometry)});
      showAnswer(ans, "Site dessiné ou déposé");
    } catch (e) { showError(e.message); }
  }

  function drawSite(geometry) {
    if (sitePoly) sitePoly.remove();
    sitePoly = L.geoJSON(geometry, {style: {color: "#000", weight: 2, fillOpacity: 0.3}}).addTo(map);
    map.fitBounds(sitePoly.getBounds(), {maxZoom: 17});
  }

  function startDrawing() {
    drawing = [];
    $("draw").hidden = true; $("finish").hidden = false; $("cancel").hidden = false; $("draw-help").hidden = false;
  }

  function stopDrawing() {
    drawing = null;
    $("draw").hidden = false; $("finish").hidden = true; $("cancel").hidden = true; $("draw-help").hidden = true;
  }

  function finishDrawing() {
    if (!drawing || drawing.length < 3) { showError("un site a au moins trois sommets"); return; }
    const ring = drawing.map((p) => [p.lng, p.lat]);
    ring.push(ring[0]);
    const geometry = {type: "Polygon", coordinates: [ring]};
    stopDrawing();
    drawSite(geometry);
    checkSite(geometry);
  }

  async function siteFile(file) {
    const form = new FormData();
    form.append("file", file);
    try {
      const ans = await api("/api/site-file", {method: "POST", body: form});
      showAnswer(ans, "Site du fichier " + file.name);
      if (ans.centroid) map.setView([ans.centroid.lat, ans.centroid.lon], 16);
    } catch (e) { showError(e.message); }
  }

  async function tableFile(event) {
    event.preventDefault();
    const out = $("file-result");
    const form = new FormData($("file-form"));
    form.append("async", "true");
    form.append("lang", "fr");
    if (form.get("output_format") === "csv") form.append("excel", "true");
    for (const k of ["lon_col", "lat_col", "crs", "address_cols", "geometry_col"]) { if (!form.get(k)) form.delete(k); }
    if (form.get("address_cols")) { form.delete("lon_col"); form.delete("lat_col"); }
    out.replaceChildren(el("p", "Envoi du fichier…"));
    try {
      let job = await api("/api/check-file", {method: "POST", body: form});
      while (job.state === "queued" || job.state === "running") {
        out.replaceChildren(el("p", "Vérification en cours : " + fr(job.rows_done, 0) + " lignes…"));
        await new Promise((r) => setTimeout(r, 400));
        job = await api("/api/jobs/" + job.job);
      }
      if (job.state !== "done") throw new Error(job.error_fr || job.error || "échec");
      const s = job.summary;
      out.replaceChildren(el("p", fr(s.rows, 0) + " lignes vérifiées, chacune avec son statut :"));
      const ul = el("ul");
      for (const [k, v] of Object.entries(s.statuses)) ul.append(el("li", label(k) + " : " + fr(v, 0)));
      const a = el("a", "Télécharger le résultat");
      a.href = job.download; a.id = "download"; a.setAttribute("download", "");
      out.append(ul, a);
      out.dataset.rows = String(s.rows);
    } catch (e) { showError(e.message, out); }
  }

  function tooltip(f) {
    const p = f.properties;
    return p.nom_qp ? p.nom_qp + " (" + p.code_qp + ")" : (p.nom || "");
  }

  async function layers() {
    const [communes, band, quartiers] = await Promise.all([
      api("/api/communes").catch(() => null), api("/api/band"), api("/api/quartiers?format=geojson")]);
    if (communes) {
      L.geoJSON(communes, {style: {color: "#7f8c8d", weight: 0.8, fill: false}, interactive: false}).addTo(map);
    }
    L.geoJSON(band, {style: {color: COLOURS.band, weight: 1, fillColor: COLOURS.band, fillOpacity: 0.25},
                     interactive: false}).addTo(map);
    const q = L.geoJSON(quartiers, {
      style: (f) => ({color: COLOURS[f.properties.classe] || "#000", weight: 2.5, fillOpacity: 0.15,
                      fillColor: COLOURS[f.properties.classe] || "#000"}),
      onEachFeature: (f, layer) => layer.bindTooltip(tooltip(f)),
    }).addTo(map);
    // a click on a quartier checks that point too
    q.on("click", (e) => { if (!drawing) checkPoint(e.latlng.lng, e.latlng.lat); });
    map.fitBounds(q.getBounds());
    document.body.dataset.ready = "1";
  }

  async function start() {
    map = L.map("map", {zoomSnap: 0.25, keyboard: true});
    window.qpvgeo = {map: map};  // for scripts and tests that drive the page
    L.control.scale({imperial: false}).addTo(map);
    map.on("click", (e) => {
      if (drawing) {
        drawing.push(e.latlng);
        if (sitePoly) sitePoly.remove();
        sitePoly = L.polyline(drawing, {color: "#000"}).addTo(map);
        return;
      }
      checkPoint(e.latlng.lng, e.latlng.lat);
    });
    $("search-form").addEventListener("submit", (e) => { e.preventDefault(); checkText($("q").value); });
    $("draw").addEventListener("click", startDrawing);
    $("finish").addEventListener("click", finishDrawing);
    $("cancel").addEventListener("click", () => { stopDrawing(); if (sitePoly) sitePoly.remove(); });
    $("site-file").addEventListener("change", (e) => { if (e.target.files[0]) siteFile(e.target.files[0]); });
    $("file-form").addEventListener("submit", tableFile);
    $("print").addEventListener("click", () => window.print());
    window.addEventListener("beforeprint", () => {
      map.invalidateSize();
      const shown = sitePoly || marker;
      if (sitePoly) map.fitBounds(sitePoly.getBounds(), {maxZoom: 17}); else if (marker) map.setView(marker.getLatLng());
      return shown;
    });
    $("token-save").addEventListener("click", () => {
      sessionStorage.setItem("qpvgeo-token", $("token").value); $("token-box").hidden = true; location.reload();
    });
    $("made").textContent = "Page ouverte le " + new Date().toLocaleDateString("fr-FR") + ".";
    try {
      meta = await api("/api/meta");
      document.querySelectorAll("[data-rule=band]").forEach((n) => { n.textContent = fr(meta.rule.band_m, 0); });
      $("sources").firstChild.textContent = "Sources : " + meta.sources.join(" ; ") + ". Réponse indicative, " +
        "qui ne vaut pas attestation. ";
      await layers();
    } catch (e) { showError(e.message); }
  }

  window.addEventListener("DOMContentLoaded", start);
})();
