"""The ``fercore`` command: materialize data, run chapters, report status, build the book."""

import argparse
import sys
from pathlib import Path

from fercore import runner


def _cmd_data(args) -> int:
    from fercore.synth.world import materialize

    root = Path(args.root or runner.get_profile(args.profile)["common"]["data_root"])
    materialize(root, args.profile, seed=args.seed, workers=args.workers)
    print(f"synthetic world for profile {args.profile!r} is in {root}")
    return 0


def _report(outcomes) -> int:
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        print(f"FAILED {o.message}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_run(args) -> int:
    overrides = runner.parse_overrides(args.param)
    outcomes = runner.run_chapters(args.chapters, args.profile, overrides, args.device, force=args.force,
                                   cluster=args.cluster)
    return _report(outcomes)


def _cmd_book(args) -> int:
    outcomes = runner.run_chapters(None, args.profile, None, args.device, force=args.force, cluster=args.cluster)
    runner.stage_book(args.profile)
    index = runner.build_book(strict=not args.no_strict)
    print(f"book built: {index}")
    return _report(outcomes)


def _cmd_status(args) -> int:
    from fercore.cluster import unit_counts

    rows = runner.chapter_status(args.profile, device=args.device)
    device = runner.resolve_device(args.device)
    print(f"{'chapter':<18} {'status':<10} {'started (UTC)':<26} {'seconds':>8}  units: done running failed stale")
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else ""
        params = runner.chapter_parameters(r["chapter"], args.profile, None, device)
        counts = unit_counts(r["chapter"], args.profile, params, chapter_fresh=r["status"] == "fresh")
        units = " ".join(f"{n:>{len(k)}}" for k, n in counts.items())
        print(f"{r['chapter']:<18} {r['status']:<10} {r['when']:<26} {seconds:>8}         {units}")
        if r["error"]:
            print(f"{'':<18} {r['error']}")
    return 0


def _cmd_labs(args) -> int:
    from fercore.labs import export_labs

    written = export_labs(args.out)
    print(f"{len(written['student'])} labs written to {args.out}/student and {args.out}/instructor")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fercore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_profile(p):
        p.add_argument("--profile", default="default", help="smoke, default or full (fercore/profiles.yaml)")
        return p

    def with_device(p):
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        return p

    def with_cluster(p):
        p.add_argument("--cluster", metavar="ADDRESS",
                       help="run the chapters side by side, their units on a Dask cluster: local:N "
                            "(N worker processes here) or a scheduler address (tcp://host:8786)")
        return p

    p = with_profile(sub.add_parser("data", help="materialize the embedded synthetic datasets"))
    p.add_argument("--root", help="where to write (default: the profile's data_root)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="cores to render on (default: $FERCORE_WORKERS, else all)")
    p.set_defaults(func=_cmd_data)

    p = with_device(with_profile(sub.add_parser("run", help="execute chapters with papermill")))
    p.add_argument("chapters", nargs="+", choices=list(runner.CHAPTERS), metavar="CHAPTER")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
    p.add_argument("--force", action="store_true", help="re-run even when fresh")
    with_cluster(p)
    p.set_defaults(func=_cmd_run)

    p = with_device(with_profile(sub.add_parser("book", help="run stale chapters, then build the HTML book")))
    p.add_argument("--force", action="store_true", help="re-run every chapter")
    p.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    with_cluster(p)
    p.set_defaults(func=_cmd_book)

    p = with_device(with_profile(sub.add_parser("status", help="each chapter: fresh, stale, failed")))
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("labs", help="write the course labs: student and instructor versions")
    p.add_argument("--out", default="labs-out", help="folder to write (default: labs-out)")
    p.set_defaults(func=_cmd_labs)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"fercore: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
