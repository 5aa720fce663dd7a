"""The API's documentation page, rendered on the server from its OpenAPI description (no CDN, no
inline script: it works offline and under the page's Content-Security-Policy)."""

from __future__ import annotations

import html

from fastapi import Request
from fastapi.responses import HTMLResponse


def docs_page(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code> ({html.escape(p.get('in', ''))})"
                + (f": {html.escape(p.get('description', ''))}" if p.get("description") else "") + "</li>"
                for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {})
            form = ""
            for kind, content in body.items():
                ref = content.get("schema", {}).get("$ref", "")
                schema = spec.get("components", {}).get("schemas", {}).get(ref.split("/")[-1], {})
                fields = ", ".join(f"<code>{html.escape(k)}</code>" for k in schema.get("properties", {}))
                form += f"<li>body ({html.escape(kind)}){': ' + fields if fields else ''}</li>"
            rows.append(f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                        f"<p>{html.escape(op.get('summary', ''))}</p><ul>{params}{form}</ul></section>")
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(spec['info']['title'])} API</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
        "</head><body class=\"docs\"><main>"
        f"<h1>{html.escape(spec['info']['title'])} {html.escape(spec['info']['version'])}: HTTP API</h1>"
        f"<p>{html.escape(spec['info'].get('description', ''))}</p>"
        "<p>The machine-readable description is <a href=\"/openapi.json\">/openapi.json</a>. Errors are JSON "
        "<code>{\"error\": message, \"status\": code}</code>: 4xx for bad input, 413 over the limits, 503 when "
        "geocoding is impossible (offline); the errors a person meets on the page also carry "
        "<code>error_fr</code>, their French words.</p>" + "".join(rows) + "</main></body></html>")
    return HTMLResponse(page)
