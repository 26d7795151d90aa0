"""``python -m service``: serve the configured model with uvicorn (settings from ``FER_*``).

Settings and the model are checked before uvicorn starts, so a bad configuration ends with
one line on stderr and exit status 2 instead of a server traceback.
"""

from __future__ import annotations

import logging.config
import signal
import sys

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service.app import create_app
from service.faces.detector import DetectorLoadError
from service.loading import load_model
from service.logs import log_config
from service.metrics import multiprocess_metrics
from service.model_store import ModelLoadError
from service.server import uvicorn_options
from service.settings import Settings

EXIT_CONFIG_ERROR = 2
EXIT_WORKER_DIED = 70  # EX_SOFTWARE: an internal error, worth a restart


def describe_settings_error(exc: ValidationError) -> str:
    """``FER_PORT: Input should be a valid integer; ...`` from pydantic's error list."""
    parts = [f"FER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
    return "invalid settings: " + "; ".join(parts)


def check_startup() -> Settings:
    """Settings and a model that loads; raises SystemExit with a one-line reason otherwise."""
    try:
        settings = Settings()
        load_model(settings)  # the server loads it again in its lifespan; this is the early check
    except ValidationError as exc:
        raise SystemExit(_fail(describe_settings_error(exc))) from None
    except (ModelLoadError, DetectorLoadError) as exc:
        raise SystemExit(_fail(str(exc))) from None
    return settings


def _fail(message: str) -> int:
    print(f"fer-service: cannot start: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_CONFIG_ERROR


def exit_on_sigterm(app: FastAPI | None) -> None:
    """Make a requested stop exit with status 0, and a stop after the inference worker died non-zero.

    On SIGTERM uvicorn stops accepting, finishes the requests in flight and shuts the lifespan
    down, then re-raises the signal to the handler it found; the default one would end the
    process as "killed by SIGTERM" (-15), which supervisors report as a crash. The app sends
    itself SIGTERM when its inference worker dies (``FER_EXIT_ON_WORKER_DEATH``); that stop is
    a failure and exits with :data:`EXIT_WORKER_DIED`. With several workers each is its own
    process: a dead worker ends by the signal and uvicorn starts a new one.
    """

    def handle(_signum: int, _frame: object) -> None:
        failed = app is not None and app.state.fatal_error is not None
        sys.exit(EXIT_WORKER_DIED if failed else 0)

    signal.signal(signal.SIGTERM, handle)


def main() -> None:
    settings = check_startup()
    # Set up before the workers start: they inherit the directory through the environment.
    logging_config = log_config(settings)
    logging.config.dictConfig(logging_config)
    with multiprocess_metrics(settings.workers):
        # Several workers need an import string: each process builds its own app (and model
        # copy) from the same environment.
        app = create_app(settings) if settings.workers == 1 else None
        exit_on_sigterm(app)
        uvicorn.run(
            app or "service.app:create_app",
            factory=app is None,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            **uvicorn_options(settings),
            log_config=logging_config,  # applied again by uvicorn in every worker process
            access_log=False,  # service.middleware writes access lines with duration and request id
        )


if __name__ == "__main__":
    main()
