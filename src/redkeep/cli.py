"""The `redkeep` command line and the `redkeep-server` script.

`redkeep server [redis-server arguments]` and `redkeep-server` accept exactly
redis-server's command line: an optional config file (or `-` for stdin), then
`--directive value ...` overrides, `--version`, `-v`, `--help`.
"""

from __future__ import annotations

import sys

import click

from redkeep import REDIS_VERSION, __version__


def server_main(argv: list[str] | None = None) -> None:
    """Entry point of `redkeep-server` (and `redkeep server`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-v", "--version"):
        print(f"Redis server v={REDIS_VERSION} sha=00000000:0 malloc=libc bits=64 "
              f"build=redkeep-{__version__}")
        sys.exit(0)
    if args and args[0] in ("-h", "--help"):
        print("Usage: redkeep-server [/path/to/redis.conf] [options] [-]\n"
              "       redkeep-server - (read config from stdin)\n"
              "       redkeep-server -v or --version\n"
              "       redkeep-server -h or --help\n\n"
              "Examples:\n"
              "       redkeep-server (run the server with default conf)\n"
              "       redkeep-server /etc/redis/6379.conf\n"
              "       redkeep-server --port 7777\n"
              "       redkeep-server /etc/myredis.conf --loglevel verbose -")
        sys.exit(0)
    from redkeep.log import Logger
    from redkeep.server.config import ConfigFatalLogError, ConfigFileError, ServerConfig
    from redkeep.server.node import run_server

    try:
        config = ServerConfig.from_argv(args, sys.stdin)
    except ConfigFatalLogError as e:  # Redis logs these instead of printing a FATAL block
        Logger("", "notice", role="C").warning(str(e))
        sys.exit(1)
    except ConfigFileError as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"Fatal error, can't open config file '{e.filename}': {e.strerror}",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(run_server(config))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redkeep")
def main() -> None:
    """redkeep: Redis-compatible high availability in one Python project."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []})
@click.pass_context
def server(ctx: click.Context) -> None:
    """Run a data node (accepts redis-server's command line)."""
    server_main(list(ctx.args))


DEFAULT_ROOT = "redkeep-run"


@main.command()
@click.option("--dir", "root", default=DEFAULT_ROOT, show_default=True,
              help="Where node directories and the deployment record live.")
@click.option("--port", default=6379, show_default=True,
              help="First port to try; the next free port is used if it is taken.")
@click.option("--requirepass", default="", help="Password for the nodes (requirepass).")
def up(root: str, port: int, requirepass: str) -> None:
    """Start a local deployment and print how to reach it."""
    from redkeep.cluster.deployment import up as deploy_up

    extra = [f'requirepass "{requirepass}"'] if requirepass else []
    try:
        dep = deploy_up(root, port, extra)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from e
    for node in dep.nodes:
        auth = f" -a {requirepass}" if requirepass else ""
        click.echo(f"{node.name}: {node.role} on 127.0.0.1:{node.port} (pid {node.pid})")
        click.echo(f"  connect: redis-cli -p {node.port}{auth}")
        click.echo(f"  config:  {node.config}")
        click.echo(f"  log:     {node.logfile}")
    click.echo(f"stop it with: redkeep down --dir {root}")


@main.command()
@click.option("--dir", "root", default=DEFAULT_ROOT, show_default=True)
def down(root: str) -> None:
    """Stop what `redkeep up` started."""
    from redkeep.cluster.deployment import down as deploy_down

    try:
        stopped = deploy_down(root)
    except FileNotFoundError as e:
        raise click.ClickException(f"no deployment recorded in {root}") from e
    for line in stopped:
        click.echo(f"stopped {line}")


@main.command()
@click.option("--dir", "root", default=DEFAULT_ROOT, show_default=True)
def status(root: str) -> None:
    """Show the nodes of the local deployment."""
    from rich.console import Console
    from rich.table import Table

    from redkeep.cluster.deployment import Deployment, info

    try:
        dep = Deployment.load(root)
    except FileNotFoundError as e:
        raise click.ClickException(f"no deployment recorded in {root}") from e
    table = Table(title=f"redkeep deployment in {dep.root}")
    for col in ("node", "address", "pid", "role", "keys", "clients", "used memory", "state"):
        table.add_column(col)
    for node in dep.nodes:
        fields = info(node.port)
        keys = sum(int(v.split(",")[0].split("=")[1]) for k, v in fields.items()
                   if k.startswith("db") and "keys=" in v)
        table.add_row(node.name, f"127.0.0.1:{node.port}", str(node.pid),
                      fields.get("role", "?"), str(keys) if fields else "?",
                      fields.get("connected_clients", "?"),
                      fields.get("used_memory_human", "?"),
                      "[green]up[/green]" if fields else "[red]down[/red]")
    Console().print(table)


if __name__ == "__main__":
    main()
