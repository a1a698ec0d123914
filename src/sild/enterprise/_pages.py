"""The company portal's Jinja2 templates (autoescaped) and style sheet.

Kept in the package as strings so the portal needs no package-data entry; small on
purpose. No inline script or style: the Content-Security-Policy forbids both.
"""

from __future__ import annotations

import jinja2

__all__ = ["CSS", "PAGES"]

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} · Kask &amp; Partners</title>
<link rel="stylesheet" href="/static/portal.css"></head>
<body><header><strong>Kask &amp; Partners</strong> · employee portal
<span class="demo" role="note">DEMO — generated people, no real login</span></header>
<main>{% block main %}{% endblock %}</main></body></html>
"""

_LOGIN = """{% extends "base.html" %}{% block title %}Demo login{% endblock %}
{% block main %}
<h1>Demo login</h1>
<p class="demo">This is a demonstration: pick an employee to see the portal as them.
A real company logs its employees in through its identity provider.</p>
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="code">Employee</label>
<select id="code" name="code">
{% for e in employees %}<option value="{{ e.code }}">
{{- e.name }} — {{ e.title }}, {{ e.department }}</option>
{% endfor %}</select>
<button type="submit">Log in (demo)</button>
</form>
{% endblock %}
"""

_ME = """{% extends "base.html" %}{% block title %}Who used my data{% endblock %}
{% block main %}
<h1>Who used my data</h1>
<p>Logged in as <strong id="me">{{ employee.name }}</strong> ({{ employee.code }}),
{{ employee.title }}, {{ employee.department }}.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Log out</button></form>
<p>Every read of your data by a company system or a partner, as recorded by the
gateway in front of the system that holds it — not reported by the reader
(findUsage through the company's gateway).</p>
<nav aria-label="Filter by system"><a href="/me">all</a>{% for s in systems %}
· <a href="/me?system={{ s }}">{{ labels[s] }}</a>{% endfor %}</nav>
{% for s, error in errors %}
<p class="error" role="alert">{{ labels[s] }}: {{ error }}</p>{% endfor %}
<table id="usages"><caption>{{ rows|length }} reads, newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Data held by</th>
<th scope="col">Read by</th><th scope="col">Why</th></tr></thead>
<tbody>{% for r in rows %}<tr><td>{{ r.when }}</td><td>{{ labels[r.system] }}</td>
<td>{{ r.reader }}</td><td>{{ r.purpose }}</td></tr>
{% else %}<tr><td colspan="4">No reads recorded yet.</td></tr>{% endfor %}</tbody></table>
{% endblock %}
"""

_ERROR = """{% extends "base.html" %}{% block title %}Error{% endblock %}
{% block main %}<h1>{{ code }}</h1><p role="alert">{{ message }}</p>
<p><a href="/">Back to the demo login</a></p>{% endblock %}
"""

CSS = b"""body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fff}
header{background:#1d4d2b;color:#fff;padding:.6em 1em}
.demo{background:#ffd54a;color:#111;padding:.1em .4em;margin-left:1em;font-weight:bold}
main{padding:1em;max-width:60em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ccc;padding:.3em;text-align:left}
.error{color:#a00000}
"""

PAGES = jinja2.Environment(
    loader=jinja2.DictLoader({"base.html": _BASE, "login.html": _LOGIN, "me.html": _ME,
                              "error.html": _ERROR}),
    autoescape=True, undefined=jinja2.StrictUndefined)
