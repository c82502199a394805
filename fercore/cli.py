"""The ``fercore`` command: materialize data, run chapters, report status, build the book."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from fercore import book, parameters, run_state, runner


def _cmd_data(args) -> int:
    from fercore.synth.world import materialize

    root = Path(args.root or parameters.get_profile(args.profile)["common"]["data_root"])
    if not args.root and not runner.is_project_data(root):
        raise ValueError(f"profile {args.profile!r}: data_root {str(root)!r} is not under data/; pass --root")
    world = materialize(root, args.profile, seed=args.seed, workers=args.workers, verify=args.verify)
    for unit, reason in world.get("repaired", {}).items():
        print(f"{unit}: {reason}; generated again")
    print(f"synthetic world for profile {args.profile!r} is in {root}")
    return 0


def _report(outcomes) -> int:
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        print(f"FAILED {o.message}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_run(args) -> int:
    overrides = parameters.parse_overrides(args.param)
    outcomes = runner.run_chapters(args.chapters, args.profile, overrides, args.device, force=args.force,
                                   allow_missing=args.allow_missing, verify=args.verify, cluster=args.cluster)
    return _report(outcomes)


def _cmd_book(args) -> int:
    outcomes = runner.run_chapters(None, args.profile, None, args.device, force=args.force,
                                   allow_missing=args.allow_missing, verify=args.verify, cluster=args.cluster)
    book.stage_book(args.profile)
    index = book.build_book(strict=not args.no_strict)
    print(f"book built: {index}")
    return _report(outcomes)


def _cmd_status(args) -> int:
    from fercore.cluster import unit_counts

    rows = run_state.chapter_status(args.profile, device=args.device, verify=args.verify)
    device = parameters.device_name(args.device)
    print(f"{'chapter':<18} {'status':<10} {'started (UTC)':<26} {'seconds':>8}  units: done running failed stale")
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else ""
        params = parameters.chapter_parameters(r["chapter"], args.profile, None, device)
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


def _cmd_predict(args) -> int:
    from fercore.detect import FaceDetector
    from fercore.predict import choose_model, draw_faces, predict_photos, prediction_table, write_predictions
    from tqdm import tqdm

    parameters.get_profile(args.profile)
    net, info = choose_model(args.model, run_state.profile_dir(args.profile), parameters.device_name(args.device))
    classes = info["class_names"]
    print(f"model {info['chapter']}/{info['method']} seed {info['seed']} ({info['path']})")
    print("\t".join(["file", "face", "prediction", *classes]))
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(keep="all" if args.all_faces else "largest", device=args.device)
    predictions, failed = [], 0
    for p in predict_photos(args.photos, net, detector, keep_photo=out is not None):
        if p.error:
            failed += 1
            tqdm.write(f"skipped: {p.error}", file=sys.stderr)
            continue
        predictions.append(p)
        for i, probs in enumerate(p.probabilities):
            cells = [str(p.path), str(i), classes[int(probs.argmax())], *(f"{v:.3f}" for v in probs)]
            tqdm.write("\t".join(cells))
        if out:
            draw_faces(p, classes).save(out / f"{p.path.stem}_faces.png")
            p.photo = None
    if out:
        write_predictions(out / "predictions.csv", prediction_table(predictions, classes))
        print(f"drawings and predictions.csv written to {out}")
    print(f"{sum(len(p.faces) for p in predictions)} face(s) in {len(predictions)} photo(s); "
          f"{failed} file(s) skipped")
    return 1 if failed else 0


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

    def with_checks(p, run=True):
        p.add_argument("--verify", action="store_true",
                       help="hash the data's content to tell fresh from stale (default: file sizes and times)")
        if run:
            p.add_argument("--allow-missing", action="store_true",
                           help="let a chapter that skipped a dataset or simulated votes end as a success")
        return p

    p = with_checks(with_profile(sub.add_parser("data", help="materialize the embedded synthetic datasets")), run=False)
    p.add_argument("--root", help="where to write (default: the profile's data_root)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="cores to render on (default: $FERCORE_WORKERS, else all)")
    p.set_defaults(func=_cmd_data)

    p = with_checks(with_device(with_profile(sub.add_parser("run", help="execute chapters with papermill"))))
    p.add_argument("chapters", nargs="+", choices=list(parameters.CHAPTERS), metavar="CHAPTER")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
    p.add_argument("--force", action="store_true", help="re-run even when fresh")
    with_cluster(p)
    p.set_defaults(func=_cmd_run)

    p = with_checks(with_device(with_profile(sub.add_parser("book", help="run stale chapters, then build the HTML book"))))
    p.add_argument("--force", action="store_true", help="re-run every chapter")
    p.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    with_cluster(p)
    p.set_defaults(func=_cmd_book)

    p = with_checks(with_device(with_profile(sub.add_parser("status", help="each chapter: fresh, stale, failed"))),
                    run=False)
    p.set_defaults(func=_cmd_status)

    p = with_device(with_profile(sub.add_parser(
        "predict", help="detect, align and classify the faces in photos with a kept model")))
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image files or folders of them")
    p.add_argument("--model", help="CHAPTER/METHOD[-seedK] under results/<profile>/models, or a .pt file "
                                   " (default: the first kept of fercore.predict.DEFAULT_MODELS)")
    p.add_argument("--out", help="folder for the photos with faces drawn and predictions.csv")
    p.add_argument("--all-faces", action="store_true", help="every face of a photo, not only the largest")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("labs", help="write the course labs: student and instructor versions")
    p.add_argument("--out", default="labs-out", help="folder to write (default: labs-out)")
    p.set_defaults(func=_cmd_labs)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None  # `kill` cleans up as Ctrl-C does
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"fercore: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"fercore: interrupted ({e or 'SIGINT'}); temporary files removed, earlier results kept", file=sys.stderr)
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
