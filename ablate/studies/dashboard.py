"""`ablate study dashboard`: optuna-dashboard on a study's storage."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from ablate.errors import UsageError
from ablate.studies.storage import _load, resolve_storage
from ablate.ui_server import free_port


def serve_dashboard(name: str, storage: str | None, port: int | None, on_ready: Callable[[str], None]) -> None:
    """Serve optuna-dashboard (the optional extra `dashboard`) on the study's storage at 127.0.0.1 until Ctrl-C."""
    try:
        from optuna_dashboard import run_server  # optional: only this command needs it
    except ImportError:
        raise UsageError(
            "optuna-dashboard is not installed; install it with: pip install 'ablate[dashboard]' "
            "(or pip install optuna-dashboard)"
        ) from None
    url = resolve_storage(storage)
    study, rdb = _load(name, url)
    port = port or free_port()
    on_ready(f"http://127.0.0.1:{port}/dashboard/studies/{rdb.get_study_id_from_name(study.study_name)}")
    with suppress(KeyboardInterrupt):  # Ctrl-C is how the dashboard is closed
        run_server(rdb, host="127.0.0.1", port=port)
