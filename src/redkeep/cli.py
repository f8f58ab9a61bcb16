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
    if "--sentinel" in args:   # redis-server sentinel.conf --sentinel
        sentinel_main([a for a in args if a != "--sentinel"])
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


def sentinel_main(argv: list[str] | None = None) -> None:
    """Entry point of `redkeep-sentinel` (and `redkeep sentinel`): like redis-sentinel."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-v", "--version"):
        server_main(args)
    from redkeep.sentinel.node import run_sentinel
    sys.exit(run_sentinel(args))


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


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []})
@click.pass_context
def sentinel(ctx: click.Context) -> None:
    """Run a sentinel (accepts redis-sentinel's command line: sentinel.conf [--opt ...])."""
    sentinel_main(list(ctx.args))


DEFAULT_ROOT = "redkeep-run"


@main.command()
@click.option("--dir", "root", default=DEFAULT_ROOT, show_default=True,
              help="Where node directories and the deployment record live.")
@click.option("--topology", "topology_file", type=click.Path(exists=True, dir_okay=False),
              help="A YAML topology file (port, replicas, requirepass, server, config).")
@click.option("--port", type=int, help="First port to try (default 6379); the next free "
              "ports are used if taken.")
@click.option("--replicas", type=int, help="Number of replicas of the master (default 2).")
@click.option("--requirepass", help="Password for the nodes (requirepass + masterauth).")
@click.option("--server", "server_bin", help="Data node program: redkeep (default) or a "
              "redis-server binary.")
@click.option("--sentinels", type=int, help="Number of sentinels (default 3, quorum 2).")
@click.option("--quorum", type=int, help="Sentinel quorum (default 2).")
def up(root: str, topology_file: str | None, port: int | None, replicas: int | None,
       requirepass: str | None, server_bin: str | None, sentinels: int | None,
       quorum: int | None) -> None:
    """Start a master, its replicas and sentinels locally and print how to reach them."""
    from redkeep.cluster.deployment import Topology
    from redkeep.cluster.deployment import up as deploy_up

    try:
        topo = Topology.from_file(topology_file) if topology_file else Topology()
    except (ValueError, TypeError, OSError) as e:
        raise click.ClickException(str(e)) from e
    for attr, value in (("port", port), ("replicas", replicas), ("requirepass", requirepass),
                        ("server", server_bin), ("sentinels", sentinels), ("quorum", quorum)):
        if value is not None:
            setattr(topo, attr, value)
    try:
        dep = deploy_up(root, topo)
    except (RuntimeError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    auth = f" -a {topo.requirepass}" if topo.requirepass else ""
    master = dep.nodes[0]
    for node in dep.nodes:
        if node.kind == "sentinel":
            click.echo(f"{node.name}: sentinel on 127.0.0.1:{node.port} (pid {node.pid}) "
                       f"monitoring {topo.master_name}, quorum {topo.quorum}")
            click.echo(f"  ask it: redis-cli -p {node.port} sentinel get-master-addr-by-name "
                       f"{topo.master_name}")
            continue
        role = "master" if node is master else f"replica of 127.0.0.1:{master.port}"
        click.echo(f"{node.name}: {role} on 127.0.0.1:{node.port} (pid {node.pid})")
        click.echo(f"  connect: redis-cli -p {node.port}{auth}")
        click.echo(f"  config:  {node.config}")
        click.echo(f"  log:     {node.logfile}")
    click.echo(f"write to the master: redis-cli -p {master.port}{auth} set hello world")
    click.echo(f"show it: redkeep status --dir {root}    stop it: redkeep down --dir {root}")


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
    """Show the nodes of the local deployment: roles, links, offsets, lag."""
    from rich.console import Console
    from rich.table import Table

    from redkeep.cluster.deployment import Deployment, sentinel_status
    from redkeep.cluster.deployment import status as node_status

    try:
        dep = Deployment.load(root)
    except FileNotFoundError as e:
        raise click.ClickException(f"no deployment recorded in {root}") from e
    table = Table(title=f"redkeep deployment in {dep.root}")
    for col in ("node", "address", "pid", "role", "master", "link", "offset", "lag",
                "keys", "clients", "used memory", "state"):
        table.add_column(col)
    for r in node_status(dep):
        table.add_row(r.name, r.address, str(r.pid), r.role, r.master or "-",
                      r.link or "-", str(r.offset) if r.up else "?", r.lag or "-",
                      str(r.keys) if r.up else "?", r.clients, r.memory,
                      "[green]up[/green]" if r.up else "[red]down[/red]")
    console = Console(width=160)
    console.print(table)
    srows = sentinel_status(dep)
    if srows:
        st = Table(title=f"sentinels' view of {dep.master_name}")
        for col in ("sentinel", "address", "pid", "master address", "config epoch",
                    "flags", "replicas", "sentinels", "state"):
            st.add_column(col)
        for r in srows:
            st.add_row(r.name, r.address, str(r.pid), r.master, r.epoch, r.flags,
                       r.replicas, r.sentinels, "[green]up[/green]" if r.up else "[red]down[/red]")
        console.print(st)


if __name__ == "__main__":
    main()
