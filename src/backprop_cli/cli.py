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


@app.command()
def sweep(
    config: Optional[Path] = typer.Argument(None, help="A run config or a sweep file (configs/sweeps/*.yaml)."),
    grid: Optional[List[str]] = typer.Option(
        None, "--grid", metavar="KEY.PATH=VALUES",
        help="A grid axis: V1,V2,... (YAML values), A:B (integers A..B-1) or log:LO:HI:N. Repeatable."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Run every point with seeds 0..N-1."),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", metavar="KEY.PATH=VALUE", help="Override a field of the base config."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local worker processes [default: cores]."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", metavar="tcp://HOST:PORT",
        help="Run on this Dask cluster instead (needs the dask extra)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Run the missing or failed points of this sweep."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where the sweep directory is created."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bar or table; print the sweep directory only."),
) -> None:
    """Run a grid of runs (config fields × seeds) and write runs/<sweep-id>/ with sweep.json."""
    from backprop_cli.sweep import load_sweep, open_executor, prepare_sweep, run_sweep

    with reporting_errors(), open_executor(workers, scheduler) as executors:
        sweep_dir, todo = prepare_sweep(config, grid, seeds, set_, resume, runs_dir)
        with _sweep_progress(quiet, len(todo)) as show:
            try:
                counts = run_sweep(sweep_dir, executors, todo, show)
            except KeyboardInterrupt:
                err_console.print(f"interrupted: finish it with bp sweep --resume {sweep_dir}", markup=False)
                raise typer.Exit(EXIT_INTERRUPTED) from None
    unfinished = counts.get("failed", 0) + counts.get("interrupted", 0)
    if quiet:
        print(sweep_dir)
    else:
        done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        with reporting_errors():
            console.print(_sweep_table(load_sweep(sweep_dir)))
        console.print(f"ran {len(todo)} points; the sweep's points: {done}\nsweep directory: {sweep_dir}",
                      highlight=False)
        if not unfinished:
            console.print(f"next: [bold]bp plot {sweep_dir}[/bold]")
    if unfinished:
        err_console.print(f"{unfinished} points did not finish: bp sweep --resume {sweep_dir}", markup=False)
        raise typer.Exit(EXIT_DIVERGED)


@contextmanager
def _sweep_progress(quiet: bool, total: int):
    """A progress callback drawing a bar over the sweep's runs (None when quiet)."""
    if quiet:
        yield None
        return
    with _progress_bar() as (bar, task):
        bar.update(task, total=total)

        def show(p) -> None:
            bar.update(task, completed=p.done, stats=f"diverged {p.counts.get('diverged', 0)}  "
                       f"failed {p.counts.get('failed', 0)}")
        yield show


def _sweep_table(summary) -> Table:
    from rich import box

    from backprop_cli.sweep import REPORT_COLUMNS, report_cells, report_rows

    title = "final accuracy and loss: mean ± std over seeds; peak ‖g‖, g₁/g_L (first/last layer): medians"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(" / ".join(key.rsplit(".", 1)[-1] for key in summary.group_keys) or "group", min_width=10,
                     overflow="fold")
    for column in REPORT_COLUMNS:
        table.add_column(column, justify="right", no_wrap=column != "loss")
    for row in report_rows(summary):
        table.add_row(" / ".join(row["values"].values()) or row["group"], *report_cells(row))
    return table


def _is_sweep(paths: List[Path]) -> bool:
    from backprop_cli.sweep import is_sweep_dir

    return len(paths) == 1 and is_sweep_dir(paths[0])


def _plot_sweep(sweep_dir: Path, out_dir: Optional[Path], format_: str) -> None:
    """`bp plot runs/<sweep-id>`: the aggregated figures (--out is then a folder)."""
    from backprop_cli.plotting.sweep import plot_sweep

    with reporting_errors():
        written = plot_sweep(sweep_dir, out_dir, format_)
    for path in written:
        print(path)


def _report_sweep(sweep_dir: Path, out: Optional[Path]) -> None:
    """`bp report runs/<sweep-id>`: the table over seeds, printed and written as Markdown and JSON."""
    from backprop_cli.sweep import load_sweep, write_report

    with reporting_errors():
        summary = load_sweep(sweep_dir)
        _, written = write_report(summary, out)
    console.print(_sweep_table(summary))
    console.print("written: " + ", ".join(str(path) for path in written), highlight=False)


@app.command()
def plot(
    paths: List[Path] = typer.Argument(..., help="One run directory (dashboard + boundary) or several (one comparison)."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Figure file. Default: RUN/dashboard.png (boundary: RUN/boundary.png); for several runs, "
        "compare_<ids>.png in the first run. With one run the boundary goes beside it as <stem>_boundary; "
        "an existing folder gets the default names inside it."),
    format_: str = typer.Option("png", "--format", metavar="png|svg|pdf", help="Image format."),
) -> None:
    """Draw a run's nine-panel gradient-flow dashboard and decision boundary, or compare several runs."""
    if _is_sweep(paths):
        return _plot_sweep(paths[0], out, format_)
    from backprop_cli.plotting.compare import plot_comparison
    from backprop_cli.plotting.dashboard import plot_run

    with reporting_errors():
        written = plot_run(paths[0], out, format_) if len(paths) == 1 else [plot_comparison(paths, out, format_)]
    for path in written:
        print(path)


@app.command()
def report(
    paths: List[Path] = typer.Argument(..., help="Run directories, one table row each."),
    out: Optional[Path] = typer.Option(None, "--out", help="Markdown file. Default: results.md in the first run directory."),
) -> None:
    """Print the results table (vanishing risk and stability computed from each log) and write it as Markdown."""
    if _is_sweep(paths):
        return _report_sweep(paths[0], out)
    from rich import box

    from backprop_cli.analysis import RESULTS_COLUMNS, brief_row, write_results

    with reporting_errors():
        rows, written = write_results(paths, out)
    short = {"architecture": "layers", "final gradient norm": "final ‖g‖", "vanishing risk": "vanishing",
             "training stability": "stability", "final accuracy": "accuracy"}
    table = Table(title="results", title_justify="left", box=box.SIMPLE_HEAD)
    for column in RESULTS_COLUMNS:
        table.add_column(short.get(column, column), overflow="ellipsis", no_wrap=True)
    for row in rows:
        table.add_row(*brief_row(row).values())
    console.print(table)
    console.print(f"the measured numbers behind each verdict, and the rules: {written}", highlight=False)


@app.command()
def gradcheck(
    config: Optional[Path] = typer.Argument(
        None, help="YAML config whose network and data are checked. Default: a built-in [2, 16, 16, 1] tanh spiral net."),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", metavar="KEY.PATH=VALUE", help="Override a config field, e.g. --set gradcheck.directions=8."),
    method: str = typer.Option("central", "--method", metavar="central|complex",
                               help="central differences, or the complex step Im f(x + ih) / h (smooth nets)."),
    fast: bool = typer.Option(False, "--fast", help="Check the whole MLP along a few random directions only."),
    eps: Optional[float] = typer.Option(None, "--eps", help="Central-difference step (gradcheck.eps, default 1e-5)."),
    eps_sweep: bool = typer.Option(False, "--eps-sweep", help="Errors over a log grid of ε: table, .npz and figure."),
    eps_max: Optional[float] = typer.Option(None, "--eps-max", help="--eps-sweep: largest ε (gradcheck.sweep_max)."),
    eps_min: Optional[float] = typer.Option(None, "--eps-min", help="--eps-sweep: smallest ε (gradcheck.sweep_min)."),
    out_dir: Path = typer.Option(Path("runs/gradcheck"), "--out-dir",
                                 help="--eps-sweep: where epsilon_sweep.npz and epsilon_sensitivity.png go."),
) -> None:
    """Check every analytic gradient (activations, linear layer, losses, whole MLP) against numerical ones.

    Exit code 1 when any component fails its tolerance, 0 when all pass."""
    from backprop_cli import gradcheck as gc

    options = {"eps": eps, "sweep_max": eps_max, "sweep_min": eps_min}
    overrides = [*(set_ or []), *(f"gradcheck.{key}={value!r}" for key, value in options.items() if value is not None)]
    with reporting_errors():
        run_config = gc.gradcheck_config(config, overrides)
        if eps_sweep:
            if fast or method != "central":
                raise BackpropError("--eps-sweep runs every method itself; drop --fast / --method")
            if out_dir.exists() and not out_dir.is_dir():
                raise BackpropError(f"--out-dir {out_dir}: is a file, not a folder")
            _gradcheck_sweep(run_config, out_dir)
            return
        results = gc.check_all(run_config, method=method, fast=fast)
    console.print(_gradcheck_table(results, gc.describe_problem(run_config)))
    for note in _gradcheck_notes(results):
        console.print(note, highlight=False)
    failed = sum(not result.passed for result in results)
    console.print(f"{len(results) - failed}/{len(results)} components pass; tolerance: element-wise, norm-wise",
                  highlight=False)
    raise typer.Exit(1 if failed else 0)


def _gradcheck_sweep(run_config, out_dir: Path) -> None:
    from rich import box

    from backprop_cli import gradcheck as gc
    from backprop_cli.plotting.epsilon import plot_epsilon_sweep
    from backprop_cli.recorder import write_npz_atomic

    settings = run_config.gradcheck
    sweep = gc.eps_sweep(run_config, gc.eps_grid(settings.sweep_max, settings.sweep_min, settings.sweep_points))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_npz_atomic(out_dir / "epsilon_sweep.npz", sweep.arrays())
    figure = plot_epsilon_sweep(out_dir / "epsilon_sweep.npz", out_dir / "epsilon_sensitivity.png")
    table = Table(title=f"best ε per component, by element-wise error: {sweep.network}", title_justify="left",
                  box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for column in ("component", "method", "best ε", "elem err", "norm err"):
        table.add_column(column, justify="left" if column in ("component", "method") else "right")
    for (name, best_eps, elementwise, normwise), method in zip(sweep.best(), sweep.methods):
        table.add_row(name, method, f"{best_eps:.1e}", f"{elementwise:.2e}", f"{normwise:.2e}")
    console.print(table)
    console.print(f"overall best ε (smallest worst error over the U-shaped curves): element-wise "
                  f"{sweep.overall_best('elementwise'):.1e}, norm-wise {sweep.overall_best('normwise'):.1e}\n"
                  f"sweep: {out_dir / 'epsilon_sweep.npz'}\nfigure: {figure}", highlight=False)


def _gradcheck_table(results, problem: str) -> Table:
    from rich import box

    table = Table(title=f"gradient check: {problem}", title_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    for column in ("component", "method", "elem err", "norm err", "tolerance", "result", "worst entry"):
        table.add_column(column, no_wrap=True, justify="right" if "err" in column or column == "tolerance" else "left")
    colors = {"PASS": "green", "FAIL": "bold red", "SKIP": "bold red"}
    for r in results:
        table.add_row(r.component, r.method, f"{r.judged:.1e}", f"{r.normwise:.1e}",
                      f"{r.elementwise_tolerance:.0e} {r.normwise_tolerance:.0e}".replace("e-0", "e-"),
                      f"[{colors[r.verdict]}]{r.verdict}[/]", r.worst)
    return table


def _gradcheck_notes(results) -> list[str]:
    notes = []
    for r in results:
        if r.kinks:
            notes.append(f"{r.component}: {r.kinks} entries within ε of a ReLU kink checked one-sided, "
                         f"max error {r.kink_error:.1e}")
        if r.skipped:
            notes.append(f"{r.component}: {len(r.skipped)} entries skipped (a kink on both sides), e.g. {r.skipped[0]}")
        if r.round_off:
            with_them = f" (with them: {r.elementwise:.1e})" if r.elementwise > r.judged else ""
            notes.append(f"{r.component}: {r.round_off} tiny entries or exact zeros are within the round-off of their "
                         f"difference quotient (|a−n| ≤ 10 ε_mach |f| / ε = {r.round_off_atol:.1e}) and left out of "
                         f"elem err{with_them}")
        if r.verdict == "SKIP":
            notes.append(f"[red]SKIP[/red] {r.component}: every entry skipped, nothing compared; this does not "
                         "pass (run without --fast)")
        elif not r.passed:
            notes.append(f"[red]FAIL[/red] {r.component}: worst {r.worst_entry()}")
    return notes


explain_app = typer.Typer(
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="Worked examples: every forward and backward value, checked against SymPy and a numerical gradient.",
)
app.add_typer(explain_app, name="explain")


@explain_app.command("neuron")
def explain_neuron(
    x: str = typer.Option("0.5,-1.0", "--x", metavar="X1,X2,...", help="Inputs, comma-separated (any length)."),
    w: str = typer.Option("0.8,0.3", "--w", metavar="W1,W2,...", help="Weights, one per input."),
    b: float = typer.Option(0.1, "--b", help="Bias."),
    y: float = typer.Option(1.0, "--y", help="Target."),
    activation: str = typer.Option("sigmoid", "--activation", metavar="sigmoid|tanh|relu|leaky_relu"),
    loss: str = typer.Option("mse", "--loss", metavar="mse|bce", help="mse: ½(y − a)²; bce: cross-entropy (sigmoid)."),
    leaky_slope: float = typer.Option(0.01, "--leaky-slope", help="leaky_relu's slope for z < 0."),
) -> None:
    """One neuron a = f(wᵀx + b), forward and backward, each value checked against SymPy and a central difference.

    Exit code 1 when a value disagrees with SymPy or the numerical gradient."""
    from backprop_cli import explain

    with reporting_errors():
        result = explain.neuron_steps(explain.parse_values(x, "--x"), explain.parse_values(w, "--w"),
                                      b, y, activation, loss, leaky_slope)
    _print_explanation(result, _explain_values_table(result))


@explain_app.command("two-layer")
def explain_two_layer(
    layers: str = typer.Option("2,3,1", "--layers", metavar="IN,HIDDEN,OUT", help="Layer sizes, each 1 to 4."),
    x: str = typer.Option("0.5,-1.0", "--x", metavar="X1,X2,...", help="Input, one value per input unit."),
    y: str = typer.Option("1.0", "--y", metavar="Y1,...", help="Target, one value per output unit."),
    activation: str = typer.Option("sigmoid", "--activation", metavar="sigmoid|tanh|relu|leaky_relu",
                                   help="Hidden activation (the output is a sigmoid)."),
    loss: str = typer.Option("mse", "--loss", metavar="mse|bce"),
    seed: int = typer.Option(0, "--seed", help="Seed of the xavier weights."),
    leaky_slope: float = typer.Option(0.01, "--leaky-slope", help="leaky_relu's slope for z < 0."),
) -> None:
    """A small network through network.MLP: δ, ∂L/∂W and ∂L/∂b per layer, and the layers' gradient ratio.

    Exit code 1 when a value disagrees with SymPy or the numerical gradient."""
    from backprop_cli import explain

    with reporting_errors():
        result = explain.network_steps(explain.parse_sizes(layers), explain.parse_values(x, "--x"),
                                       explain.parse_values(y, "--y"), activation, loss, seed, leaky_slope)
    _print_explanation(result, _explain_errors_table(result))


@explain_app.command("activations")
def explain_activations(
    leaky_slope: float = typer.Option(0.01, "--leaky-slope", help="leaky_relu's slope for z < 0."),
    depth: int = typer.Option(10, "--depth", min=1, max=50, help="Table rows: n = 1 … depth sigmoid layers."),
) -> None:
    """Derivative bounds of each activation, and what is left of a gradient after n sigmoid layers."""
    from rich import box

    from backprop_cli import explain

    bounds, factors = explain.activation_bounds(leaky_slope, depth)
    console.print("activation derivatives, as the code computes them on z ∈ [−10, 10] (step 0.001):",
                  highlight=False)
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("activation", "f'(z)", "max f' (code)", "max f' (SymPy)", "values of f' (code)"):
        table.add_column(column, justify="right" if "max" in column else "left")
    for bound in bounds:
        values = "–" if bound.code_values is None else "{" + ", ".join(f"{v:g}" for v in bound.code_values) + "}"
        table.add_row(bound.name, bound.formula, f"{bound.code_max:g}", bound.exact_max or "–", values)
    console.print(table)
    console.print("the best case left of a gradient after n sigmoid layers, (max σ')ⁿ:", highlight=False)
    depth_table = Table(box=box.SIMPLE_HEAD)
    for column in ("n", "(max σ')ⁿ", "shrunk by"):
        depth_table.add_column(column, justify="right")
    for n, factor in enumerate(factors, start=1):
        depth_table.add_row(str(n), f"{factor:.4g}", f"{1 / factor:,.0f}×")
    console.print(depth_table)
    console.print(f"Each sigmoid layer multiplies the backward signal by σ'(z) ≤ {bounds[0].code_max:g} (and by "
                  f"its weights): even with every z at 0, after {depth} layers at most {factors[-1]:.3g} of it is "
                  "left. tanh' ≤ 1 and ReLU' ∈ {0, 1} do not shrink it by themselves.", highlight=False)
    if bounds[0].exact_max is None:
        console.print(f"SymPy is not installed, so there is no symbolic column: {explain.INSTALL_HINT}",
                      markup=False, highlight=False)


def _explain_values_table(result) -> Table:
    from rich import box

    table = Table(title=result.title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("step", "formula", "bp code", "SymPy", "numerical", ""):
        table.add_column(column, justify="right" if column in ("bp code", "SymPy", "numerical") else "left")
    for step in result.steps:
        table.add_row(step.label, step.formula, _column(step.value), _column(step.symbolic), _column(step.numerical),
                      _mark(step.passed))
    return table


def _explain_errors_table(result) -> Table:
    from rich import box

    table = Table(title=result.title, title_justify="left", box=box.SIMPLE_HEAD,
                  caption="Δ: the largest |code − reference| over the entries", caption_justify="left")
    for column in ("step", "formula", "bp code", "Δ SymPy", "Δ num.", ""):
        table.add_column(column, justify="left" if column in ("step", "formula") else "right",
                         no_wrap=column == "bp code")
    for step in result.steps:
        table.add_row(step.label, step.formula, _matrix(step.value), _error(step.symbolic_error),
                      _error(step.numerical_error), _mark(step.passed))
    return table


def _print_explanation(result, table: Table) -> None:
    from backprop_cli import explain

    console.print("given:", highlight=False)
    width = max(len(name) for name, _ in result.given)
    for name, value in result.given:
        lines = _matrix(value).splitlines()
        console.print(f"  {name:>{width}} = {lines[0]}", highlight=False)
        for line in lines[1:]:
            console.print(" " * (width + 5) + line, highlight=False)
    console.print(table)
    for note in result.notes:
        console.print(note, highlight=False)
    failed = sum(step.passed is False for step in result.steps)
    checked = sum(step.passed is not None for step in result.steps)
    references = "SymPy's exact value and " if result.symbolic_available else ""
    console.print(f"{checked - failed}/{checked} steps agree with {references}a central difference "
                  f"(ε = {explain.DEFAULT_EPS:g}).", highlight=False)
    console.print(f"✓ when |code − SymPy| ≤ {explain.SYMPY_ATOL:g} + {explain.SYMPY_RTOL:g}·|SymPy| and "
                  f"|code − numerical| ≤ {explain.NUMERICAL_ATOL:g} + {explain.NUMERICAL_RTOL:g}·|numerical|",
                  highlight=False)
    if not result.symbolic_available:
        console.print(f"SymPy is not installed, so there is no symbolic check: {explain.INSTALL_HINT}",
                      markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


def _column(value) -> str:
    """One entry per line, 6 significant digits; '–' when there is no value."""
    return "–" if value is None else "\n".join(f"{v + 0.0:.6g}" for v in value.ravel())  # + 0.0: no '-0'


def _matrix(value) -> str:
    """A vector on one line, a matrix one row per line, 4 significant digits, right-aligned."""
    rows = value.reshape(1, -1) if value.ndim < 2 else value
    rows = rows + 0.0  # no '-0'
    width = max(len(f"{v:.4g}") for v in rows.ravel())
    return "\n".join("  ".join(f"{v:>{width}.4g}" for v in row) for row in rows)


def _error(error) -> str:
    return "–" if error is None else f"{error:.1e}"


def _mark(passed) -> str:
    return {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "–"}[passed]


@app.command()
def graph(
    config: Optional[Path] = typer.Argument(None, help="YAML config whose network is drawn, e.g. configs/xor.yaml."),
    layers: Optional[str] = typer.Option(None, "--layers", metavar="2,3,1",
                                         help="Layer sizes instead of a config (every other field: its default)."),
    input_: Optional[str] = typer.Option(None, "--input", metavar="X1,X2",
                                         help="A sample: annotate forward values and gradients (needs --target)."),
    target: Optional[str] = typer.Option(None, "--target", metavar="Y", help="The sample's target."),
    out: Path = typer.Option(Path("computational_graph.png"), "--out", help="Figure file (png, svg or pdf)."),
) -> None:
    """Draw the network's computational graph: inputs, pre-activations, activations, loss."""
    from backprop_cli import explain
    from backprop_cli.plotting.graph import plot_graph

    with reporting_errors():
        run_config = explain.graph_config(config, layers)
        sample = explain.parse_sample(input_, target)
        values = None if sample is None else explain.graph_values(run_config, *sample)
        path = plot_graph(run_config, values, out, None if config is None else str(config))
    print(path)
