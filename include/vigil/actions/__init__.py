"""Actions: revocation tickets and alerts, delivered through channels."""

from __future__ import annotations

import sys


class _SkipHttpxCli:
    """A meta-path finder that refuses only ``httpx._main``, httpx's command-line client."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "httpx._main":
            raise ImportError("httpx's command-line client is not used by Vigil")
        return None


def _import_httpx_without_its_cli() -> None:
    """``import httpx`` also imports its command-line client (click, pygments, rich.syntax) when
    they are installed (dbt installs click): about a second of `vigil react` on a loaded 2-core
    machine, whose budget from the event to the SCIM PATCH is 5 s (docs/benchmarks.md). httpx falls
    back to a stub ``main`` when that import fails, as when its ``cli`` extra is not installed; the
    finder is removed right after, so a later ``import httpx._main`` works as usual."""
    if "httpx" in sys.modules:
        return
    finder = _SkipHttpxCli()
    sys.meta_path.insert(0, finder)
    try:
        import httpx  # noqa: F401  the channels' HTTP client, imported once here without its CLI
    finally:
        sys.meta_path.remove(finder)


_import_httpx_without_its_cli()
