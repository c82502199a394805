"""A small Sphinx extension for the book: pages that load cleanly in a browser, offline.

sphinx-thebe registers its inline configuration script on every build environment read, so an
incremental build can list it twice, and the second copy raises "Identifier 'THEBE_JS_URL' has
already been declared" in the browser. This keeps one copy of each script per page.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
