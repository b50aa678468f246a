"""learngraph serve | demo | sandbox | export-schema (docs/contract.md §3)."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import math
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from gateway.log_redaction import configure_logging
from gateway.server.app import create_app
from gateway.server.console import SERVER, Labelled, label_log_lines, open_browser
from gateway.server.telemetry import serve_metrics
from gateway.settings import ConfigError, Settings, load_settings
from gateway.sources import Source
from resolvers.schema import sdl

if TYPE_CHECKING:
    from sandbox.oidc import DemoCaller
    from sandbox.server import Sandbox


def _add_sandbox_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument(
        "--sandbox-port", type=int, default=default_port, help="port of the sandbox upstreams"
    )
    parser.add_argument("--people", type=int, default=50, help="size of the seeded data (default 50)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated data")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed latency each upstream adds")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of upstream requests that fail")
    parser.add_argument(
        "--timeout-rate", type=float, default=0.0, help="share of upstream requests that hang"
    )
    parser.add_argument(
        "--iscout-request-limit",
        type=float,
        default=0.0,
        help="ISCOUT answers rate_limit_exceeded past this many calls a second (default 0: no limit)",
    )


def _build_sandbox(args: argparse.Namespace) -> Sandbox:
    # Only `demo` and `sandbox` load the sandbox: the product itself never imports it.
    from sandbox.server import Sandbox

    sandbox = Sandbox.build(people=args.people, seed=args.seed)
    for controls in sandbox.controls.values():
        controls.faults.latency_ms = args.latency_ms
        controls.faults.error_rate = args.error_rate
        controls.faults.timeout_rate = args.timeout_rate
    # Where a document is silent, the sandbox takes the form the environment tells the gateway to send.
    forms = _document_forms(os.environ)
    sandbox.controls[Source.DAMSTRA].update_user_method = forms.damstra_update_user_method
    sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form = forms.learninglogin_unassign_ids_form
    sandbox.controls[Source.ISCOUT].rate_limit_per_second = args.iscout_request_limit
    return sandbox


def _document_forms(environ: Mapping[str, str]) -> Settings:
    """The settings naming the forms a vendor document leaves open, alone (nothing else is needed)."""
    names = ("damstra_update_user_method", "learninglogin_unassign_ids_form")
    given = {
        name: environ[f"LEARNGRAPH_{name.upper()}"]
        for name in names
        if environ.get(f"LEARNGRAPH_{name.upper()}")
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SystemExit(f"learngraph: {exc}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


async def _serve(*servers: uvicorn.Server, ready: Callable[[], None] | None = None) -> None:
    """Serves until stopped; calls `ready` once every server listens (not if one could not start)."""
    tasks = []
    for server in servers:
        # A Labelled app's server runs under its label: uvicorn's own lines about it carry it too.
        context = contextvars.copy_context()
        if isinstance(server.config.app, Labelled):
            context.run(SERVER.set, server.config.app.label)
        tasks.append(asyncio.create_task(server.serve(), context=context))
    if ready is not None:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                break  # it said why; gather raises it
            await asyncio.sleep(0.02)
        else:
            ready()
    await asyncio.gather(*tasks)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"learngraph: {exc}", file=sys.stderr)
        return 2
    workers = args.workers or settings.workers
    if workers > 1 and settings.redis_url is None:
        print(
            f"learngraph: {workers} workers need LEARNGRAPH_REDIS_URL. Without Redis each worker keeps its own "
            "idempotency keys, events and caches: a repeated idempotencyKey could write twice, a subscriber "
            "would miss events another worker received, and a write would leave the others serving stale "
            "data. Set LEARNGRAPH_REDIS_URL, or run one worker.",
            file=sys.stderr,
        )
        return 2
    configure_logging(args.log_level, settings.secrets(), settings.log_format)
    try:
        app = create_app(settings)  # in the workers too; here it checks what would stop them all
    except ConfigError as exc:
        print(f"learngraph: {exc}", file=sys.stderr)
        return 2
    if not settings.enabled_sources():
        # A gateway over nothing would start, say it is ready and answer empty lists.
        names = ", ".join(f"LEARNGRAPH_{source.slug.upper()}_URL" for source in Source)
        print(f"learngraph: no upstream is configured: set at least one of {names}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        # In JSON the gateway writes its own line per operation (gateway.server.telemetry).
        "access_log": settings.access_log and settings.log_format == "text",
        "ws_max_size": settings.max_body_bytes,  # a WebSocket message is held to the body's limit
        # SIGTERM: stop accepting, then let what is in flight finish, up to the request deadline.
        "timeout_graceful_shutdown": math.ceil(settings.request_deadline_seconds),
    }
    if workers == 1:
        if settings.metrics_port is not None:
            serve_metrics(settings.host, settings.metrics_port)
        uvicorn.run(app, **options)
        return 0
    # Every worker's metrics in files of a fresh, empty directory (read by prometheus-client when a
    # worker first imports it: set before they start); /metrics in any worker, or the metrics port
    # here, reads them all.
    metrics_dir = tempfile.mkdtemp(prefix="learngraph-metrics-")
    for stale in Path(metrics_dir).iterdir():
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if settings.metrics_port is not None:
        serve_metrics(settings.host, settings.metrics_port)
    # Each worker builds its own app (a process of its own, started afresh); all share one socket.
    config = uvicorn.Config(
        functools.partial(worker_app, args.log_level), factory=True, workers=workers, **options
    )
    MetricsAwareMultiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


class MetricsAwareMultiprocess(Multiprocess):
    """uvicorn's supervisor, telling prometheus-client when a worker is gone (its live gauges then stop
    counting). uvicorn gives no hook for a worker's exit: the supervisor's checks are wrapped instead."""

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        _mark_dead(before - self._pids())

    def restart_all(self) -> None:
        before = self._pids()
        super().restart_all()
        _mark_dead(before - self._pids())

    def run(self) -> None:
        try:
            super().run()
        finally:
            _mark_dead(self._pids())

    def _pids(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}


def _mark_dead(pids: set[int]) -> None:
    from prometheus_client import multiprocess

    for pid in pids:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def worker_app(log_level: str) -> Starlette:
    """The app of one `serve --workers N` worker, built in that worker from the same environment."""
    settings: Settings = load_settings()
    configure_logging(log_level, settings.secrets(), settings.log_format)
    return create_app(settings)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import CREDENTIALS, settle

    sandbox = _build_sandbox(args)
    address = f"http://{args.host}:{args.sandbox_port}"
    identity = sandbox.write_identity_file(Path(args.identity_file))
    damstra = sandbox.controls[Source.DAMSTRA]
    damstra.webhook_url = args.webhook_url or None
    damstra.webhook_secret = args.webhook_secret or None
    configure_logging(args.log_level, [*CREDENTIALS.values(), args.webhook_secret or ""])
    print(f"Sandbox upstreams on {address} ({args.people} people). Point a gateway at them with:")
    env = {**sandbox.gateway_env(address, identity.resolve()), **sandbox.issuer.gateway_env(address)}
    for name, value in env.items():
        print(f"  export {name}={value}")
    print("\n".join(_token_lines(sandbox.issuer.demo_tokens(address, sandbox.world))))
    server = uvicorn.Server(
        uvicorn.Config(sandbox.asgi_app(), host=args.host, port=args.sandbox_port, log_config=None)
    )
    settle()  # the seeded world lives as long as the process: out of every collection
    asyncio.run(_serve(server))
    return 0


# A developer at a browser: GraphiQL and introspection, unless the environment says otherwise.
DEMO_BROWSER_DEFAULTS = {"LEARNGRAPH_GRAPHIQL": "true", "LEARNGRAPH_INTROSPECTION": "true"}
DEMO_BROWSER_SETTINGS = (*DEMO_BROWSER_DEFAULTS, "LEARNGRAPH_CORS_ORIGINS", "LEARNGRAPH_FAST_PATHS")


def _demo_browser_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The demo's browser-facing settings: the environment's where set, else the demo's defaults
    (the rest of the demo's configuration is its own, whatever the environment holds)."""
    env = {}
    for name in DEMO_BROWSER_SETTINGS:
        value = environ.get(name) or DEMO_BROWSER_DEFAULTS.get(name)
        if value:
            env[name] = value
    return env


def cmd_demo(args: argparse.Namespace) -> int:
    from sandbox.server import settle

    sandbox = _build_sandbox(args)
    host = "127.0.0.1"
    sandbox_address = f"http://{host}:{args.sandbox_port}"
    gateway_address = f"http://{host}:{args.port}"
    workdir = Path(tempfile.mkdtemp(prefix="learngraph-demo-"))
    identity = sandbox.write_identity_file(workdir / "identity.yaml")
    env = sandbox.gateway_env(sandbox_address, identity)
    # The training index: a SQLite file of its own, new each run (nothing to configure).
    env["LEARNGRAPH_INDEX_PATH"] = str(workdir / "index.db")
    # The gateway trusts the sandbox's token issuer, as it would a company's OIDC provider.
    env.update(sandbox.issuer.gateway_env(sandbox_address))
    env["LEARNGRAPH_PORT"] = str(args.port)
    env["LEARNGRAPH_ACCESS_LOG"] = "true"  # a developer watching the demo wants to see each request
    env.update(_demo_browser_env(os.environ))
    # One secret for both ends, new each run: the gateway refuses webhooks that lack it.
    webhook_secret = secrets.token_urlsafe(24)
    env["LEARNGRAPH_WEBHOOK_SECRET"] = webhook_secret
    settings = load_settings(env)
    damstra = sandbox.controls[Source.DAMSTRA]
    damstra.webhook_url = f"{gateway_address}/webhooks/damstra"
    damstra.webhook_secret = webhook_secret
    configure_logging(args.log_level, settings.secrets())
    label_log_lines()  # two servers in one terminal: `[sandbox] ...`, `[gateway] ...`
    tokens = sandbox.issuer.demo_tokens(sandbox_address, sandbox.world)
    # GraphiQL sends the admin's token with every request, so the page works as it opens.
    admin = next((token for caller, token in tokens if caller.role == "ADMIN"), None)
    graphiql_headers = {"Authorization": f"Bearer {admin}"} if admin else None
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                Labelled(sandbox.asgi_app(), "sandbox"), host=host, port=args.sandbox_port, log_config=None
            )
        ),
        uvicorn.Server(
            uvicorn.Config(
                Labelled(create_app(settings, graphiql_headers=graphiql_headers), "gateway"),
                host=host,
                port=args.port,
                log_config=None,
                access_log=settings.access_log,
                ws_max_size=settings.max_body_bytes,
            )
        ),
    ]
    graphql_url = f"{gateway_address}/graphql"

    def ready() -> None:
        print(_demo_banner(args, settings.graphiql, graphql_url, sandbox_address, tokens), flush=True)
        if args.open_browser:
            reason = open_browser(graphql_url)
            if reason is not None:
                print(f"Could not open a browser: {reason}. Open {graphql_url} in one yourself.", flush=True)

    settle()  # the seeded world and the gateway live as long as the process
    asyncio.run(_serve(*servers, ready=ready))
    return 0


def _demo_banner(
    args: argparse.Namespace,
    graphiql: bool,
    graphql_url: str,
    sandbox_address: str,
    tokens: list[tuple[DemoCaller, str]],
) -> str:
    """What the demo prints once both servers listen: where each is, and who can call."""
    sources = ", ".join(source.name for source in Source)
    front = (
        f"GraphiQL   {graphql_url}  (sends the ADMIN's token below)"
        if graphiql
        else f"GraphQL    {graphql_url}"
    )
    lines = [
        "",
        "LearnGraph demo is ready. Ctrl-C stops it.",
        f"  {front}",
        f"  Sandbox    {sandbox_address}  ({sources}, {args.people} people; its token issuer at /oidc)",
        *_token_lines(tokens),
        "",
    ]
    return "\n".join(lines)


def _token_lines(tokens: list[tuple[DemoCaller, str]]) -> list[str]:
    from sandbox.oidc import DEMO_TOKEN_LIFETIME_SECONDS

    days = DEMO_TOKEN_LIFETIME_SECONDS // 86_400
    lines = [
        f"  Tokens from the sandbox issuer (send as `Authorization: Bearer <token>`; valid {days} days):"
    ]
    for caller, token in tokens:
        lines += [f"    {caller.role:<10} {caller.email} ({caller.about}):", f"      {token}"]
    return lines


def cmd_export_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(sdl())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="learngraph", description="One GraphQL API over workplace-training systems."
    )
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="the gateway, configured from the environment")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="worker processes sharing the port (default: $LEARNGRAPH_WORKERS, else 1); more than one "
        "needs LEARNGRAPH_REDIS_URL",
    )
    serve.set_defaults(run=cmd_serve)

    demo = commands.add_parser("demo", help="the gateway over the built-in sandbox upstreams")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--open-browser", action="store_true", help="open GraphiQL in a browser")
    _add_sandbox_options(demo, 8100)
    demo.set_defaults(run=cmd_demo)

    sandbox = commands.add_parser("sandbox", help="the four sandbox upstreams alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument(
        "--identity-file", default="sandbox-identity.yaml", help="where to write the identity file"
    )
    sandbox.add_argument("--webhook-url", help="where the sandbox DAMSTRA posts its webhooks")
    sandbox.add_argument(
        "--webhook-secret",
        default=os.environ.get("LEARNGRAPH_WEBHOOK_SECRET"),
        help="the secret its webhooks carry (default: $LEARNGRAPH_WEBHOOK_SECRET, as the gateway reads it)",
    )
    _add_sandbox_options(sandbox, 8100)
    sandbox.set_defaults(run=cmd_sandbox)

    commands.add_parser("export-schema", help="print the SDL").set_defaults(run=cmd_export_schema)

    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
