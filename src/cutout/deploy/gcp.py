"""Google's clients for the live tooling, created in one place: the live boundary.

:class:`GcpClients` holds a Run v2 ``ServicesClient`` and ``RevisionsClient`` (and
``JobsClient``, ``ExecutionsClient``, ``TasksClient`` for jobs) and a Cloud Quotas
``CloudQuotasClient``. In production they use Application Default Credentials
over REST; tests pass ``endpoint="http://127.0.0.1:PORT"`` (a local fake) and get
anonymous credentials. :func:`alert_policy_client` is Cloud Monitoring's (gRPC only).
:func:`call` runs one API call and translates Google's exceptions into
:mod:`cutout.deploy.errors` (the only place they are caught), and :meth:`GcpClients.wait`
waits for a long-running operation the same way. :class:`Gcloud` runs the ``gcloud``
command line, for what has no client here (the multi-region load balancer).

The ``google-cloud-run``, ``google-cloud-quotas`` and ``google-cloud-monitoring``
packages are the ``deploy`` extra: they are imported when clients are created, never at
module import.
"""

from __future__ import annotations

import importlib
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cutout.deploy.errors import DeployTimeoutError, translate
from cutout.errors import BackendUnavailableError, DeployError

__all__ = [
    "Gcloud",
    "GcloudResult",
    "GcpClients",
    "alert_policy_client",
    "call",
    "location_name",
    "revision_short",
    "service_name",
]

T = TypeVar("T")


def location_name(project: str, region: str) -> str:
    return f"projects/{project}/locations/{region}"


def service_name(project: str, region: str, service: str) -> str:
    return f"{location_name(project, region)}/services/{service}"


def revision_short(name: str) -> str:
    """``projects/P/locations/R/services/S/revisions/S-00001-abc`` -> ``S-00001-abc``."""
    return name.rsplit("/", 1)[-1]


def call(action: str, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``; a Google error becomes a DeployError naming ``action``.

    Pagers fetch lazily: wrap ``list(pager)`` in a call too.
    """
    try:
        return function(*args, **kwargs)
    except TimeoutError as exc:  # concurrent.futures.TimeoutError from a polled operation
        raise DeployTimeoutError(f"{action}: no result within the time allowed") from exc
    except Exception as exc:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        if isinstance(exc, gexc.GoogleAPIError | auth_exc.GoogleAuthError | OSError):
            raise translate(exc, action) from exc
        raise


def alert_policy_client(endpoint: str | None = None) -> Any:
    """Cloud Monitoring's ``AlertPolicyServiceClient``, which speaks gRPC only.

    ``endpoint`` (``host:port``, tests and emulators) switches to an insecure local
    channel without credentials. Run it through :func:`call`: without credentials the
    constructor raises Google's auth error. (The package is there: the policies to send
    are its messages, and :func:`cutout.deploy.alerts.alert_policies` says when it is not.)
    """
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.alert_policy_service.transports import (
        AlertPolicyServiceGrpcTransport,
    )

    if endpoint is None:
        return monitoring_v3.AlertPolicyServiceClient()
    # grpc ships no type stubs; it is a dependency of google-api-core[grpc]
    grpc = importlib.import_module("grpc")
    channel = grpc.insecure_channel(endpoint.removeprefix("http://"))
    return monitoring_v3.AlertPolicyServiceClient(
        transport=AlertPolicyServiceGrpcTransport(channel=channel)
    )


@dataclass
class GcpClients:
    services: Any  # run_v2.ServicesClient
    revisions: Any  # run_v2.RevisionsClient
    quotas: Any  # cloudquotas_v1.CloudQuotasClient
    # seconds between polls of a long-running operation (api_core's default starts at 1 s)
    poll_initial_s: float = 1.0
    # Cloud Run Jobs (cutout deploy job): run_v2 JobsClient, ExecutionsClient, TasksClient
    jobs: Any = None
    executions: Any = None
    tasks: Any = None

    @classmethod
    def create(cls, endpoint: str | None = None) -> GcpClients:
        """Real clients; ``endpoint`` (e.g. a local fake) switches to anonymous credentials."""
        try:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import cloudquotas_v1, run_v2
        except ImportError as exc:
            raise BackendUnavailableError(
                "cutout deploy needs the deploy extra: pip install 'cutout[deploy]'"
            ) from exc
        kwargs: dict[str, Any] = {"transport": "rest"}
        if endpoint is not None:
            kwargs["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs["client_options"] = {"api_endpoint": endpoint}
        try:
            return cls(
                services=run_v2.ServicesClient(**kwargs),
                revisions=run_v2.RevisionsClient(**kwargs),
                quotas=cloudquotas_v1.CloudQuotasClient(**kwargs),
                poll_initial_s=0.05 if endpoint is not None else 1.0,
                jobs=run_v2.JobsClient(**kwargs),
                executions=run_v2.ExecutionsClient(**kwargs),
                tasks=run_v2.TasksClient(**kwargs),
            )
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
            raise translate(exc, "create Google Cloud clients") from exc

    def call(self, action: str, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """:func:`call`, for the code that holds the clients."""
        return call(action, function, *args, **kwargs)

    def wait(self, action: str, operation: Any, timeout_s: float) -> Any:
        """The result of a long-running operation; its error is translated like a call's."""
        from google.api_core.future.polling import DEFAULT_POLLING

        # DEFAULT_POLLING carries the predicate that retries "not done yet"; only its
        # pace and deadline change here
        polling = DEFAULT_POLLING.with_delay(
            initial=self.poll_initial_s,
            maximum=max(self.poll_initial_s * 10, 0.5),
            multiplier=1.5,
        ).with_timeout(timeout_s)
        return self.call(action, operation.result, timeout=timeout_s, polling=polling)


@dataclass(frozen=True)
class GcloudResult:
    returncode: int
    stdout: str = ""  # only when captured


def _execute(argv: Sequence[str], capture: bool) -> GcloudResult:
    try:
        done = subprocess.run(list(argv), capture_output=capture, text=True, check=False)
    except OSError as exc:
        raise DeployError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    return GcloudResult(done.returncode, done.stdout or "")


def _echo(line: str) -> None:
    print(line, flush=True)


@dataclass
class Gcloud:
    """The ``gcloud`` command line. ``execute(argv, capture)`` runs one command (tests
    pass a fake); ``echo`` shows each command that changes something before it runs."""

    execute: Callable[[Sequence[str], bool], GcloudResult] = _execute
    echo: Callable[[str], None] = _echo

    @classmethod
    def create(cls) -> Gcloud:
        if shutil.which("gcloud") is None:
            raise DeployError(
                "gcloud is not on PATH: run with --dry-run and run the printed commands elsewhere"
            )
        return cls()

    def run(self, argv: Sequence[str]) -> None:
        """Run a command, its output going to the terminal; a non-zero exit is an error."""
        self.echo(f"$ {shlex.join(argv)}")
        done = self.execute(argv, False)
        if done.returncode != 0:
            raise DeployError(f"exit {done.returncode}: {shlex.join(argv)}")

    def describe(self, argv: Sequence[str]) -> str | None:
        """The output of a describe command, quietly; None when it fails (not found, or
        any other reason: what runs next tells)."""
        done = self.execute(argv, True)
        return done.stdout if done.returncode == 0 else None
