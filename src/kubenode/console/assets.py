"""The console's only front-end assets, shipped in the package (nothing is fetched at run time)."""

from __future__ import annotations

STYLE_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2733; }
nav { background: #1d2733; padding: .6em 1em; } nav a { color: #fff; margin-right: 1em; text-decoration: none; }
nav form.inline { display: inline; float: right; } main { padding: 1em 2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; } th, td { border: 1px solid #ccd; padding: .3em .6em; }
th { background: #eef; text-align: left; } label { display: block; margin: .4em 0; }
.error { background: #fde8e8; border: 1px solid #c33; padding: .5em 1em; } .ok { background: #e8fde9; padding: .5em; }
form#filters label { display: inline-block; margin-right: 1em; }
"""

#: Live views: an element with data-stream is replaced by each Server-Sent Event's HTML.
CONSOLE_JS = """
document.querySelectorAll('[data-stream]').forEach(function (el) {
  var source = new EventSource(el.dataset.stream);
  source.onmessage = function (ev) {
    el.innerHTML = JSON.parse(ev.data);
    el.dataset.updates = (+(el.dataset.updates || 0) + 1);
  };
});
"""
