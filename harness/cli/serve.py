"""`vlm2vla serve` (a registry policy over openpi's websocket protocol) and `vlm2vla bench serve` (its overhead)."""

from __future__ import annotations

import threading
from pathlib import Path

import typer

from harness.cli.common import fail


def serve_cmd(
    model: str = typer.Option(..., "--model", help="Model spec (experiments/models/): VLM2VLA, AT, 270M, scripted."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; beyond loopback needs --token."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (openpi's default 8000); 0 = a free "
                             "one, printed and written to --port-file."),
    port_file: Path = typer.Option(None, "--port-file", help="Write the bound port here once the server listens "
                                   "(scripts wait for this file instead of guessing a free port)."),
    token: str = typer.Option(None, "--token", envvar="VLM2VLA_SERVE_TOKEN", help="Clients must send it as "
                              "openpi-client's api_key (`Authorization: Api-Key <token>`); required beyond loopback."),
    device: str = typer.Option(None, "--device", help="Override the spec's device (cpu, cuda)."),
):
    """Serve one policy over openpi's websocket protocol (metadata on connect; infer, reset, advance and text
    requests; GET /healthz). One request at a time; each connection has its own trial. Messages: see
    harness/serve/protocol.py. Stop with Ctrl-C."""
    import logging

    from harness.models import ModelLoadError
    from harness.serve.server import PolicyServer, ServedModel
    from harness.specs import SpecError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = PolicyServer(ServedModel.load(model, device=device), host, port, token)
    except (SpecError, ModelLoadError, ValueError) as e:
        fail(str(e), 2)
    try:
        server.start()  # returns once bound, so the real port (for --port 0) is known before anyone is told
    except (OSError, RuntimeError) as e:
        fail(f"cannot listen on {host}:{port}: {e}", 1)
    typer.echo(f"serving {model} on ws://{host}:{server.port} (health: http://{host}:{server.port}/healthz)"
               f"{'; clients must send the token' if server.token else ''}")
    if port_file is not None:
        from harness.records.atomic import atomic_write_text

        atomic_write_text(port_file, f"{server.port}\n")  # whole or absent: a reader never sees a partial port
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.stop()


def bench_serve_cmd(
    model: str = typer.Option("scripted", "--model", help="Model spec to serve and run in process."),
    cycles: int = typer.Option(5, "--cycles", min=1, help="Measured cycles each way (start + act)."),
    width: int = typer.Option(640, "--width", min=16, help="Camera image width."),
    height: int = typer.Option(480, "--height", min=16, help="Camera image height."),
    device: str = typer.Option(None, "--device", help="Override the spec's device (cpu, cuda)."),
):
    """Serving overhead on loopback: per request (client wall minus the server's policy time) and per cycle,
    against the same policy in process on the same inputs and seeds; prints the ratio to the in-process median
    cycle (target <= 5 %) and whether the served outputs equal the in-process ones."""
    from harness.models import ModelLoadError
    from harness.serve.bench import bench_observation, run_serve_bench
    from harness.serve.server import ServedModel
    from harness.specs import SpecError

    try:
        served = ServedModel.load(model, device=device)
    except (SpecError, ModelLoadError, ValueError) as e:
        fail(str(e), 2)
    result = run_serve_bench(served, cycles, bench_observation(width, height))
    typer.echo(result.report())
