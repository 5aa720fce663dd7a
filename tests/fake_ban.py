"""A local imitation of the BAN geocoder (Géoplateforme /search and /search/csv formats)."""

from __future__ import annotations

import csv
import io
import json
from email.parser import BytesParser
from email.policy import HTTP

from conftest import Reply

# address -> (lon, lat, type, score, label, citycode)
ADDRESSES = {
    "1 rue du quai du commerce saint-omer": (2.26006, 50.75359, "housenumber", 0.93,
                                             "1 Rue du Quai du Commerce 62500 Saint-Omer", "62765"),
    "rue de dunkerque saint-omer": (2.2525, 50.7540, "street", 0.81, "Rue de Dunkerque 62500 Saint-Omer",
                                    "62765"),
    "saint-omer": (2.2531, 50.7500, "municipality", 0.95, "Saint-Omer", "62765"),
    "10 place foch arras": (2.7755, 50.2913, "housenumber", 0.92, "10 Place Foch 62000 Arras", "62041"),
    "3 rue vague": (2.0, 50.6, "housenumber", 0.31, "3 Rue Vague 62000 X", "62000"),
}


def lookup(q: str):
    return ADDRESSES.get(" ".join(q.lower().replace(",", " ").split()))


def search_reply(req) -> Reply:
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(req["path"]).query).get("q", [""])[0]
    hit = lookup(q)
    feats = []
    if hit:
        lon, lat, typ, score, label, city = hit
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                      "properties": {"label": label, "score": score, "type": typ, "citycode": city,
                                     "id": "x", "x": 0, "y": 0}})
    body = json.dumps({"type": "FeatureCollection", "features": feats, "query": q}).encode()
    return Reply(200, body, {"Content-Type": "application/json"})


def parse_multipart(req) -> tuple[dict, bytes]:
    head = f"Content-Type: {req['headers']['Content-Type']}\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + req["body"])
    fields: dict[str, list[str]] = {}
    data = b""
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "data":
            data = part.get_payload(decode=True)
        else:
            fields.setdefault(name, []).append(part.get_content().strip())
    return fields, data


def csv_answer(req, *, drop_every: int | None = None, cut: bool = False) -> Reply:
    fields, data = parse_multipart(req)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    cols = fields.get("columns", [])
    out = io.StringIO()
    names = list(rows[0].keys()) if rows else ["qpvgeo_id"]
    extra = ["latitude", "longitude", "result_label", "result_score", "result_type", "result_citycode",
             "result_status"]
    w = csv.DictWriter(out, fieldnames=names + extra, lineterminator="\n")
    w.writeheader()
    for i, row in enumerate(rows):
        if drop_every and i % drop_every == drop_every - 1:
            continue  # the service silently leaves rows out
        q = " ".join(row[c] for c in cols)
        hit = lookup(q)
        if hit:
            lon, lat, typ, score, label, city = hit
            row.update(latitude=lat, longitude=lon, result_label=label, result_score=score, result_type=typ,
                       result_citycode=city, result_status="ok")
        else:
            row.update(latitude="", longitude="", result_label="", result_score="", result_type="",
                       result_citycode="", result_status="not-found")
        w.writerow(row)
    body = out.getvalue().encode()
    if cut:
        body = body[: int(len(body) * 0.6)]
    return Reply(200, body, {"Content-Type": "text/csv"})
