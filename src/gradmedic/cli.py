"""The command line: ``gradmedic run``, ``check``, ``demo`` and ``report``."""

from __future__ import annotations

import argparse
import sys

from ._version import __version__


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradmedic", description="Catch vanishing and exploding gradients and dead layers while you train."
    )
    parser.add_argument("--version", action="version", version=f"gradmedic {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run an unmodified training script and diagnose it",
        description="Run SCRIPT as `python SCRIPT ARGS` would, and watch every model it trains.",
    )
    run.add_argument("--json", metavar="PATH", help="write the report JSON here")
    run.add_argument("--logdir", metavar="DIR", help="write TensorBoard event files and the JSONL log here")
    run.add_argument(
        "--html", metavar="PATH", help="write the HTML report here (with no --logdir, logs go to a temp DIR)"
    )
    run.add_argument("--every", metavar="N", type=_positive, help="gather full statistics every N steps")
    run.add_argument("--quiet", action="store_true", help="no console output from gradmedic")
    run.add_argument(
        "--treat", action="store_true", help="apply remedies in flight (each one is logged in the report's treatments)"
    )
    run.add_argument("script", metavar="SCRIPT", help="the training script")
    run.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="arguments for the script")

    check = commands.add_parser(
        "check",
        help="run a training script up to its first optimizer step and check the model before it trains",
        description="Run SCRIPT as `python SCRIPT ARGS` would, stop it at its first optimizer step (which is not "
        "taken; in a script that updates its weights by hand, at the end of its first backward pass), and diagnose "
        "the model and batch it was about to train on. Exit code: 0 healthy, 1 problems found, 2 no checkup "
        "could be made.",
    )
    check.add_argument("--json", metavar="PATH", help="write the report JSON here")
    check.add_argument("--quiet", action="store_true", help="no console output from gradmedic (the exit code tells)")
    check.add_argument("script", metavar="SCRIPT", help="the training script")
    check.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="arguments for the script")

    demo = commands.add_parser("demo", help="show the three classic failures being caught, next to their healthy twins")
    demo.add_argument("--out", metavar="DIR", default="gradmedic-demo", help="where logs and reports go")
    demo.add_argument("--only", metavar="NAME", action="append", help="run only these scenario pairs")

    report = commands.add_parser(
        "report",
        help="build the HTML report from a JSONL log",
        description="Build one self-contained HTML page from the gradmedic.jsonl log(s) under LOGDIR. Exit code: "
        "0 page written, 2 no page (one line on stderr says why).",
    )
    report.add_argument("logdir", metavar="LOGDIR", help="a --logdir folder (or one of its gradmedic*.jsonl logs)")
    report.add_argument("--html", metavar="OUT", help="where to write the page (default: LOGDIR/report.html)")
    report.add_argument(
        "--run",
        metavar="N",
        type=_positive,
        help="the run to show when LOGDIR holds several (gradmedic.N.jsonl; default: the newest, gradmedic.jsonl)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from .run import RunOptions, run
        from .run_signals import die_by_signal_at_exit

        die_by = die_by_signal_at_exit()  # registered before the script's own exit handlers: runs after them
        options = RunOptions(
            json_path=args.json,
            logdir=args.logdir,
            every=args.every,
            quiet=args.quiet,
            treat=args.treat,
            html_path=args.html,
        )
        code = run(args.script, args.args, options)
        if code < 0:  # python would have died by this signal: so does gradmedic, once the exit handlers ran
            die_by(-code)
            return 128 - code
        return code
    if args.command == "check":
        from .check_script import CheckOptions, check
        from .run_signals import die_by_signal_at_exit

        die_by = die_by_signal_at_exit()
        code = check(args.script, args.args, CheckOptions(json_path=args.json, quiet=args.quiet))
        if code < 0:
            die_by(-code)
            return 128 - code
        return code
    if args.command == "demo":
        from .demo.show import main as demo_main

        return demo_main(args.out, args.only)
    if args.command == "report":
        from .report.cli import report_main

        return report_main(args.logdir, args.html, args.run)
    parser.print_help(sys.stderr)
    return 2
