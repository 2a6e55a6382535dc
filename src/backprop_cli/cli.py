"""The `bp` command line: parse, call one core function, render with rich, map errors to exit codes.

matplotlib is imported only inside the commands that draw, so `bp --help` and `bp train` stay quick.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from backprop_cli.config import config_schema, load_config
from backprop_cli.errors import BackpropError

app = typer.Typer(
    name="bp", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="See backpropagation work: train MLPs from YAML configs and look at their gradients.",
)
console = Console()
err_console = Console(stderr=True)

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


@contextmanager
def reporting_errors() -> Iterator[None]:
    """A BackpropError becomes `error: ...` lines on stderr and its exit code; nothing else is caught."""
    try:
        yield
    except BackpropError as err:
        for line in str(err).splitlines():
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(err.exit_code) from None


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML config file, e.g. configs/spiral_clip.yaml."),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", metavar="KEY.PATH=VALUE", help="Override a config field, e.g. --set train.optimizer.lr=0.05."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where run directories are created."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables; print the run directory only."),
) -> None:
    """Train an MLP from a config and write runs/<id>/ (config, data, params, gradient log, summary)."""
    from backprop_cli.trainer import train_to_dir

    with reporting_errors():
        run_config = load_config(config, set_)
    if quiet:
        run_dir, result = train_to_dir(run_config, runs_dir)
    else:
        with _progress_bar() as (bar, task):
            def show(p) -> None:
                bar.update(task, completed=p.epochs_done, total=p.epochs,
                           stats=f"loss {p.loss:.4f}  acc {p.accuracy:6.1%}  |g| {p.grad_norm:.2e}")
            run_dir, result = train_to_dir(run_config, runs_dir, show)
        console.print(_summary_table(result))
        console.print(_summary_line(run_dir, result), highlight=False, soft_wrap=True)
    if result.status != "complete":
        err_console.print(f"{result.status}: {result.summary['message']} ({run_dir})", markup=False)
    else:
        print(run_dir) if quiet else console.print(f"next: [bold]bp plot {run_dir}[/bold]", soft_wrap=True)
    if result.status == "diverged":
        raise typer.Exit(EXIT_DIVERGED)
    if result.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a run config (for editors that complete and check YAML)."""
    print(json.dumps(config_schema(), indent=2))


@contextmanager
def _progress_bar():
    columns = (BarColumn(bar_width=16), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console) as bar:
        yield bar, bar.add_task("train", total=None, stats="")


def _summary_table(result) -> Table:
    summary, log = result.summary, result.log
    table = Table(title="final gradient norms per layer", title_justify="left")
    table.add_column("layer")
    table.add_column("shape")
    table.add_column("‖dL/dW‖", justify="right")
    table.add_column("‖dL/db‖", justify="right")
    table.add_column("dead units", justify="right")
    sizes = log["layer_sizes"]
    if "weight_grad_norm" in log and summary["epochs_run"]:
        for layer in range(len(sizes) - 1):
            table.add_row(str(layer + 1), f"{sizes[layer]}×{sizes[layer + 1]}",
                          f"{log['weight_grad_norm'][-1, layer]:.3e}", f"{log['bias_grad_norm'][-1, layer]:.3e}",
                          f"{log['dead_fraction'][-1, layer]:.0%}")
    return table


def _summary_line(run_dir: Path, result) -> str:
    s = result.summary
    return (f"{s['status']}: {s['epochs_run']}/{s['epochs_requested']} epochs in {s['wall_time_s']:.2f} s, "
            f"final loss {s['final_loss']:.4g}, accuracy {s['final_accuracy']:.1%}\nrun directory: {run_dir}")
