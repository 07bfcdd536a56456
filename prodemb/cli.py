"""The ``prodemb`` command line: demo-data, train, predict, evaluate, neighbours, info."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time

from .catalogue import PRESETS, CatalogueError, ReaderOptions

log = logging.getLogger("prodemb")


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised in the main thread so that every ``finally`` and
    cleanup runs (temporary files and directories removed, locks released) before exit."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, _frame):
    raise Terminated(signum)


def check_file_output(out: str, inputs: dict[str, str | None], bundle: str | None = None) -> None:
    """Refuse (:class:`prodemb.bundle.OutputError`) an output file that would clobber an
    input or a bundle: ``out`` must not be a directory, must not be the same file as any
    of ``inputs`` (``{flag: path}``; also through links), must not lie inside ``bundle``,
    and its folder must exist."""
    from .bundle import OutputError

    where = f"cannot write to {out!r}"
    if os.path.isdir(out):
        raise OutputError(f"{where}: it is a directory. Nothing was changed: give a file name")
    real = os.path.realpath(out)
    for flag, path in inputs.items():
        if not path or not os.path.exists(path):
            continue
        if os.path.realpath(path) == real or (os.path.exists(out) and os.path.samefile(path, out)):
            raise OutputError(f"{where}: it is the input file ({flag} {path!r}), which would be "
                              "overwritten. Nothing was changed: choose another output file")
    if bundle and os.path.isdir(bundle):
        rb = os.path.realpath(bundle)
        if real.startswith(rb.rstrip(os.sep) + os.sep):
            raise OutputError(f"{where}: it is inside the bundle (--bundle {bundle!r}), which "
                              "holds only what training wrote. Nothing was changed: choose a "
                              "file outside it")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise OutputError(f"{where}: the folder {folder!r} does not exist")


def write_file_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a hidden temporary file in the same folder, moved
    into place only once fully written and flushed: on any error (a full disk) or
    interruption the temporary file is removed and ``path`` is untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def disk_full_message(args: argparse.Namespace, exc: BaseException) -> str | None:
    """What to tell the user when ``exc`` means the disk is full (None otherwise). Every
    command writes through temporary files removed on error, so nothing partial is left."""
    from .utils import is_disk_full

    if not is_disk_full(exc):
        return None
    target = getattr(args, "out", None)
    where = f" while writing {target!r}" if target else ""
    return (f"no space left on device{where}. Nothing was written there and temporary files "
            "were removed: free some space (or choose another --out) and run again")


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def non_negative_int(value: str) -> int:
    """argparse type: an integer >= 0 (a clear usage error otherwise)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def share(value: str) -> float:
    """argparse type: a fraction at least 0 and below 1 (a clear usage error otherwise)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= x < 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return x


def add_reader_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("catalogue reader options")
    g.add_argument("--preset", choices=sorted(PRESETS), help="named reader settings (demo, fashion)")
    g.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"], help="default: from the file name")
    g.add_argument("--text-columns", type=_csv_list, help="comma-separated text columns, joined in order")
    g.add_argument("--id-column", help="unique product id column ('' to number rows)")
    g.add_argument("--label-column", help="column with category path(s)")
    g.add_argument("--level-columns", type=_csv_list, help="one column per tree level, top first")
    g.add_argument("--level-separator", help="separator of levels in a path (default '>')")
    g.add_argument("--path-separator", help="separator of several paths in a cell ('|'), or 'json'")
    g.add_argument("--max-depth", type=int, help="cut paths longer than this (1 to 100); unset, a "
                   "path deeper than 12 levels is an error")
    g.add_argument("--min-depth", type=int, help="drop paths shorter than this")
    g.add_argument("--ignore-labels", type=_csv_list, help="cell values meaning 'no label'")
    g.add_argument("--ignore-paths", type=_csv_list, help="paths to drop, e.g. 'Sale'")
    g.add_argument("--duplicate-ids", choices=["error", "warn", "keep"])
    g.add_argument("--bad-paths", choices=["error", "skip"])
    g.add_argument("--encoding")
    g.add_argument("--delimiter")
    g.add_argument("--chunk-size", type=int)
    g.add_argument("--split-column", help="column giving each labelled product's split "
                   "(train / validation / test) instead of prodemb's stratified split")
    g.add_argument("--allow-multiline", action="store_true", default=None,
                   help="CSV/TSV cells may hold line breaks (default: such a cell is an error, "
                        "as it is usually an unclosed quote merging rows)")


def reader_options(args: argparse.Namespace) -> ReaderOptions:
    opts = PRESETS[args.preset] if getattr(args, "preset", None) else ReaderOptions()
    changes = {}
    for field in ("format", "text_columns", "id_column", "label_column", "level_columns",
                  "level_separator", "path_separator", "max_depth", "min_depth", "ignore_labels",
                  "ignore_paths", "duplicate_ids", "bad_paths", "encoding", "delimiter", "chunk_size",
                  "split_column", "allow_multiline"):
        value = getattr(args, field, None)
        if value is not None:
            changes[field] = value
    if changes.get("id_column") == "":
        changes["id_column"] = None
    if "level_columns" in changes:
        changes.setdefault("label_column", None)
    return opts.replace(**changes)


def cmd_demo_data(args) -> int:
    from .demo import write_demo

    start = time.perf_counter()
    n = write_demo(args.out, n_labelled=args.labelled, n_unlabelled=args.unlabelled, seed=args.seed,
                   progress=not args.quiet, tail_leaves=args.tail_leaves,
                   shallow_share=args.shallow_share)
    secs = time.perf_counter() - start
    print(f"wrote {n:,} products to {args.out} in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} products/s)")
    return 0


def cmd_train(args) -> int:
    from .config import TrainConfig
    from .pipeline import roll_up_message, train_bundle

    config = TrainConfig.from_json_file(args.config) if args.config else TrainConfig()
    if args.seed is not None:
        config.seed = args.seed
    if args.epochs is not None:
        config.classifier.epochs = args.epochs
    if args.min_leaf_count is not None:
        config.min_leaf_count = args.min_leaf_count
    manifest = train_bundle(args.data, args.out, reader_options(args), config,
                            show_progress=not args.quiet, overwrite=args.force)
    print(f"bundle written to {args.out}")
    roll_up = manifest.get("labels", {}).get("roll_up")
    if roll_up:
        print(roll_up_message(roll_up))
    print("stage seconds:", json.dumps(manifest["stage_seconds"]))
    for split, m in manifest["metrics"].items():
        print(f"{split:>10}: macro-F1 {m['macro_f1']:.4f}  leaf macro-F1 {m['leaf_macro_f1']:.4f}  "
              f"micro-F1 {m['micro_f1']:.4f}")
    return 0


def cmd_predict(args) -> int:
    from .bundle import Bundle, set_inference_threads
    from .catalogue import iter_catalogue
    from .utils import csv_safe_frame, progress

    out = args.out
    check_file_output(out, {"--in": args.input}, bundle=args.bundle)
    bundle = Bundle.load(args.bundle)
    set_inference_threads(args.threads)
    opts = reader_options(args).replace(label_column=None, level_columns=[], split_column=None)
    if args.duplicate_ids is None:  # one prediction per input row, a repeated id included
        opts = opts.replace(duplicate_ids="keep")
    tmp = f"{out}.tmp-{os.getpid()}"
    bar = progress(desc="predict", unit=" products", disable=args.quiet)
    first = True
    is_parquet = out.endswith(".parquet")
    writer = None
    try:
        for chunk in iter_catalogue(args.input, opts):
            table = bundle.classify_frame(chunk["text"].tolist())
            table.insert(0, "id", chunk["id"].to_numpy())
            if is_parquet:
                import pyarrow as pa
                import pyarrow.parquet as pq

                t = pa.Table.from_pandas(table, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, t.schema)
                writer.write_table(t)
            else:
                # Opened in a spreadsheet, a text such as "=HYPERLINK(...)" must stay text.
                csv_safe_frame(table).to_csv(tmp, mode="w" if first else "a", header=first,
                                             index=False)
            first = False
            bar.update(len(chunk))
        if writer is not None:
            writer.close()
            writer = None
        with open(tmp, "rb") as f:  # on disk before it takes the name
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    bar.close()
    print(f"predictions written to {out}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from .bundle import Bundle
    from .metrics import summary
    from .pipeline import evaluate_bundle

    if args.out:  # before the evaluation, which can take a while
        check_file_output(args.out, {"--data": args.data}, bundle=args.bundle)
    bundle = Bundle.load(args.bundle)
    result = evaluate_bundle(bundle, args.data, reader_options(args))
    out = summary(result) | {"skipped_unknown_categories": result["skipped_unknown_categories"],
                             "most_confused": result["most_confused"][:10]}
    print(json.dumps(out, indent=1))
    if args.out:
        write_file_atomically(args.out, json.dumps(result, indent=1))
    return 0


def cmd_neighbours(args) -> int:
    from .bundle import Bundle, UnknownWordError

    bundle = Bundle.load(args.bundle)
    if args.word:
        try:
            for word, sim in bundle.similar_words(args.word, args.k):
                print(f"{word:<24} {sim:.4f}")
        except UnknownWordError as e:
            print(str(e), file=sys.stderr)
            return 1
    if args.product:
        table = bundle.similar_products(args.product, args.k)
        cols = ["similarity", "id", "text", "true_path", "pred_path"]
        print(table[cols].to_string(index=False, max_colwidth=60))
    return 0


def cmd_info(args) -> int:
    from .bundle import Bundle

    bundle = Bundle.load(args.bundle)
    print(json.dumps(bundle.card(), indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="prodemb", description=__doc__)
    p.add_argument("--version", action="version", version=f"prodemb {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo-data", help="generate the demo catalogue")
    s.add_argument("--out", required=True, help="output .csv or .parquet")
    s.add_argument("--labelled", type=non_negative_int, default=50_000)
    s.add_argument("--unlabelled", type=non_negative_int, default=250_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tail-leaves", type=non_negative_int, default=0, metavar="N",
                   help="add N rare leaves (product lines under the existing categories, "
                        "most with 1-5 labelled products at 30,000 labelled; at most "
                        "2000; default 0)")
    s.add_argument("--shallow-share", type=share, default=0.0, metavar="F",
                   help="categorise this share of the labelled products only by their "
                        "first level, e.g. 'Bags' (0 <= F < 1; default 0)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_demo_data)

    s = sub.add_parser("train", help="train a bundle from a catalogue")
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True,
                   help="bundle directory, e.g. artifacts/mymodel: a new path, an empty "
                        "directory, or an existing bundle with --force; anything else is refused")
    s.add_argument("--force", action="store_true",
                   help="replace the bundle already in --out (the whole directory)")
    s.add_argument("--config", help="JSON file with config overrides")
    s.add_argument("--seed", type=int)
    s.add_argument("--epochs", type=int)
    s.add_argument("--min-leaf-count", type=non_negative_int, metavar="N",
                   help="roll leaves with fewer than N labelled products up into their "
                        "parent before training, repeatedly (default 0: the tree as labelled)")
    s.add_argument("-q", "--quiet", action="store_true")
    add_reader_args(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("predict", help="classify a file of products")
    s.add_argument("--bundle", required=True)
    s.add_argument("--in", dest="input", required=True)
    s.add_argument("--out", required=True, help=".csv or .parquet")
    s.add_argument("--threads", type=non_negative_int, default=0,
                   help="torch threads (default 0: all available cores)")
    s.add_argument("-q", "--quiet", action="store_true")
    add_reader_args(s)
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("evaluate", help="evaluate a bundle on a labelled catalogue")
    s.add_argument("--bundle", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--out", help="write the full result as JSON (a new file, or one to replace; "
                   "not an input)")
    add_reader_args(s)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("neighbours", help="nearest words or products")
    s.add_argument("--bundle", required=True)
    s.add_argument("--word")
    s.add_argument("--product", help="a product id or text")
    s.add_argument("-k", type=int, default=10)
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("info", help="print a bundle's model card")
    s.add_argument("--bundle", required=True)
    s.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .bundle import BundleError
    from .pipeline import TrainingError

    # SIGTERM (kill) and SIGHUP (terminal closed) unwind like Ctrl-C, so that temporary
    # files, the Word2Vec corpus and the output lock are removed. A signal the caller
    # ignores (nohup) stays ignored; off the main thread the handlers are left alone.
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            with contextlib.suppress(ValueError):
                previous[sig] = signal.signal(sig, _terminate)
    try:
        return args.func(args)
    except (CatalogueError, BundleError, TrainingError, ValueError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"prodemb {args.command}: error: {disk_full_message(args, e) or msg}", file=sys.stderr)
        return 2
    except Exception as e:  # a writer's own error type for a full disk (safetensors)
        msg = disk_full_message(args, e)
        if msg is None:
            raise
        print(f"prodemb {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"prodemb {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated as e:
        print(f"prodemb {args.command}: stopped by {signal.Signals(e.signum).name}; temporary "
              "files removed, nothing half-written left", file=sys.stderr)
        return 128 + e.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
