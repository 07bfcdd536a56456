"""The ``prodemb`` command line: demo-data, check, train, predict, embed, index, evaluate,
neighbours, info."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
import types
import typing
import warnings

from .catalogue import (
    DEFAULT_MAX_DEPTH,
    MAX_DEPTH_LIMIT,
    PRESETS,
    CatalogueError,
    ReaderOptions,
    flat_paths_warning,
)
from .index import KINDS as INDEX_KINDS

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
    from .utils import atomic_output

    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


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


#: Help of the reader flags, one per :class:`ReaderOptions` field (a field without an
#: entry still gets its flag, from its name and type: see :func:`add_reader_args`).
READER_HELP = {
    "format": "default: from the file name",
    "text_columns": "comma-separated text columns, joined in order",
    "id_column": "unique product id column ('' to number rows)",
    "label_column": "column with category path(s)",
    "level_columns": "one column per tree level, top first",
    "level_separator": "separator of levels in a path (default '>')",
    "path_separator": "separator of several paths in a cell ('|'), or 'json'",
    "max_depth": f"cut paths longer than this (1 to {MAX_DEPTH_LIMIT}); unset, a path deeper "
                 f"than {DEFAULT_MAX_DEPTH} levels is an error",
    "min_depth": "drop paths shorter than this",
    "ignore_labels": "cell values meaning 'no label'",
    "ignore_paths": "paths to drop, e.g. 'Sale'",
    "split_column": "column giving each labelled product's split (train / validation / test) "
                    "instead of prodemb's stratified split",
    "allow_multiline": "CSV/TSV cells may hold line breaks (default: such a cell is an error, "
                       "as it is usually an unclosed quote merging rows)",
}

#: The ReaderOptions fields, each with a command-line flag (``--text-columns`` for
#: ``text_columns``).
READER_FIELDS = tuple(f.name for f in dataclasses.fields(ReaderOptions))


def reader_flag(name: str) -> str:
    """The command-line flag of ReaderOptions field ``name``."""
    return "--" + name.replace("_", "-")


def reader_flag_kwargs(annotation) -> dict:
    """``add_argument`` keywords for a ReaderOptions field of this type: a bool is a switch,
    a Literal a choice, a list comma-separated, an int an int, anything else a string. Every
    flag defaults to None, "not given", so that the base options stay."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # X | None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return {"action": "store_true", "default": None}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(annotation))}
    if origin is list:
        return {"type": _csv_list}
    return {"type": int} if annotation is int else {}


def add_reader_args(p: argparse.ArgumentParser, from_bundle: bool = False) -> None:
    """``--preset`` and one flag per :class:`ReaderOptions` field (:data:`READER_FIELDS`)."""
    g = p.add_argument_group(
        "catalogue reader options",
        "default: the options the bundle was trained with (see `prodemb info`); a flag "
        "given here overrides that option" if from_bundle else None)
    g.add_argument("--preset", choices=sorted(PRESETS), help="named reader settings (demo, fashion)")
    hints = typing.get_type_hints(ReaderOptions)
    for name in READER_FIELDS:
        g.add_argument(reader_flag(name), help=READER_HELP.get(name),
                       **reader_flag_kwargs(hints[name]))


def reader_options(args: argparse.Namespace, base: ReaderOptions | None = None) -> ReaderOptions:
    """The reader options of the command line: ``--preset`` (if given) or ``base`` (a
    bundle's own options; default: the defaults), changed by every reader flag given."""
    if getattr(args, "preset", None):
        opts = PRESETS[args.preset]
    else:
        opts = base or ReaderOptions()
    changes = {}
    for field in READER_FIELDS:
        value = getattr(args, field, None)
        if value is not None:
            changes[field] = value
    if changes.get("id_column") == "":
        changes["id_column"] = None
    if "level_columns" in changes:
        changes.setdefault("label_column", None)
    elif changes.get("label_column"):
        changes["level_columns"] = []  # a label column given replaces the base's level columns
    return opts.replace(**changes)


def given_reader_flags(args: argparse.Namespace) -> set[str]:
    """The reader options set on the command line (fields; all of them with ``--preset``)."""
    if getattr(args, "preset", None):
        return set(READER_FIELDS)
    return {f for f in READER_FIELDS if getattr(args, f, None) is not None}


def bundle_reader(args: argparse.Namespace, bundle, command: str, fields: tuple[str, ...],
                  **fixed) -> ReaderOptions:
    """Reader options for reading a file for ``bundle``: the bundle's own, with ``fixed``
    changes (e.g. no label column for predict), then every reader flag given. Prints (to
    stderr) which of the bundle's options among ``fields`` are in use and not the defaults,
    so that a user sees how the file is read."""
    base = bundle.reader_options.replace(**fixed)
    path = getattr(args, "input", None) or args.data
    if other_format(path, reader_options(args, base).format, bundle):
        # The encoding and delimiter describe the bundle's own catalogue file: a file of
        # another format (the JSON Lines copy of a Windows-1252 CSV; JSON Lines is UTF-8)
        # is read with the defaults unless flags say otherwise.
        defaults = ReaderOptions()
        base = base.replace(encoding=defaults.encoding, delimiter=defaults.delimiter)
    elif "encoding" not in given_reader_flags(args) and is_utf8_text(path, base.encoding):
        # A Windows-1252 bundle and a new export saved as UTF-8 (Excel's "CSV UTF-8"):
        # read as Windows-1252 its "für" became "fÃ¼r" without a word said.
        print(f"prodemb {command}: {path} is UTF-8 text: reading it as UTF-8, not in the "
              f"bundle's encoding {base.encoding} (--encoding {base.encoding} reads it so)",
              file=sys.stderr)
        base = base.replace(encoding="utf-8")
    opts = reader_options(args, base)
    from .evaluation import option_flags

    inherited = [f for f in fields if f not in given_reader_flags(args)]
    used = option_flags(base, inherited)
    if used:
        print(f"prodemb {command}: reading {getattr(args, 'input', None) or args.data} with the "
              f"bundle's reader options {used} (flags given here override them)", file=sys.stderr)
    return opts


def is_utf8_text(path: str, encoding: str, sample: int = 1 << 20) -> bool:
    """Whether ``path`` is a file that reads as UTF-8 (its first ``sample`` bytes; a byte
    order mark, or non-ASCII bytes that are valid UTF-8) while ``encoding`` is another one.
    Pure ASCII reads alike in both: False."""
    import codecs

    try:
        if codecs.lookup(encoding).name.startswith("utf"):
            return False
        with open(path, "rb") as f:
            head = f.read(sample)
    except (OSError, LookupError):
        return False  # a glob, a directory, an unknown codec: the reader will say
    if head.startswith(codecs.BOM_UTF8):
        return True
    if head.isascii():
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut character
    except UnicodeDecodeError:
        return False
    return True


def map_methods(value: str) -> list[str]:
    """``--maps``: ``none`` or a comma-separated list of ``tsne`` and ``umap``."""
    if value.strip().lower() == "none":
        return []
    methods = [m.strip().lower() for m in value.split(",") if m.strip()]
    wrong = [m for m in methods if m not in ("tsne", "umap")]
    if wrong or not methods:
        raise argparse.ArgumentTypeError(f"{value!r}: give tsne, umap, tsne,umap or none")
    return list(dict.fromkeys(methods))


def other_format(path: str, fmt: str | None, bundle) -> bool:
    """Whether the file at ``path`` (read as ``fmt``, else by its name) has another format
    than the catalogue the bundle was trained on; False when either cannot be told."""
    from .catalogue import detect_format

    trained = (bundle.manifest.get("data") or {}).get("file")
    try:
        return bool(trained) and (detect_format(path, fmt)
                                  != detect_format(trained, bundle.reader_options.format))
    except CatalogueError:
        return False


#: The bundle's reader options that ``predict`` uses (and names) by default.
PREDICT_READER_FIELDS = ("format", "text_columns", "id_column", "encoding", "delimiter",
                         "allow_multiline")
#: The bundle's reader options that ``evaluate --data`` uses (and names) by default.
EVALUATE_READER_FIELDS = PREDICT_READER_FIELDS + (
    "label_column", "level_columns", "level_separator", "path_separator", "max_depth",
    "min_depth", "ignore_labels", "ignore_paths", "duplicate_ids", "bad_paths")


def cmd_demo_data(args) -> int:
    from .demo import write_demo

    start = time.perf_counter()
    n = write_demo(args.out, n_labelled=args.labelled, n_unlabelled=args.unlabelled, seed=args.seed,
                   progress=not args.quiet, tail_leaves=args.tail_leaves,
                   shallow_share=args.shallow_share, mislabel_share=args.mislabel_share)
    secs = time.perf_counter() - start
    print(f"wrote {n:,} products to {args.out} in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} products/s)")
    return 0


def cmd_train(args) -> int:
    from .config import TrainConfig
    from .pipeline import roll_up_message, train_bundle

    config = TrainConfig.from_json_file(args.config) if args.config else TrainConfig()
    if args.seed is not None:
        config.seed = args.seed
    if args.split_seed is not None:
        config.split.seed = args.split_seed
    if args.epochs is not None:
        # The flag asks for that many epochs: min_steps (which lengthens the training of a
        # small catalogue to 4,000 optimiser steps, up to 34 epochs) would override it.
        config.classifier.epochs = args.epochs
        config.classifier.min_steps = 0
    if args.min_leaf_count is not None:
        config.min_leaf_count = args.min_leaf_count
    if args.maps is not None:
        config.maps.methods = args.maps
    manifest = train_bundle(args.data, args.out, reader_options(args), config,
                            show_progress=not args.quiet, overwrite=args.force,
                            corrections=args.corrections)
    print(f"bundle written to {args.out}")
    applied = manifest.get("labels", {}).get("corrections")
    if applied:
        print(f"corrections applied from {applied['source']}: {applied['relabelled']} "
              f"relabelled product(s), {applied['merges']} merge(s) moving "
              f"{applied['merged_products']} product(s)")
    roll_up = manifest.get("labels", {}).get("roll_up")
    if roll_up:
        print(roll_up_message(roll_up))
    print_training_summary(args.out, manifest)
    for split, m in manifest["metrics"].items():
        print(f"{split:>10}: macro-F1 {m['macro_f1']:.4f}  leaf macro-F1 {m['leaf_macro_f1']:.4f}  "
              f"micro-F1 {m['micro_f1']:.4f}")
    return 0


def print_training_summary(out: str, manifest: dict) -> None:
    """After ``prodemb train``: the table of stage times and what Word2Vec learned (the mean
    cosine of random word pairs and the nearest words of the probe words, from the bundle's
    metrics.json)."""
    from .pipeline import STAGE_LABELS
    from .utils import stage_table

    print("\nStage times:")
    print(stage_table(manifest["stage_seconds"], STAGE_LABELS))
    try:
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        return
    w2v, probes = metrics.get("word2vec") or {}, metrics.get("word2vec_probes") or {}
    if w2v.get("random_pair_cosine") is not None:
        print(f"\nWord2Vec: {w2v['vocabulary']:,} words, {w2v['epochs']} passes; mean cosine of "
              f"random word pairs {w2v['random_pair_cosine']:.2f} (learned vectors: well below "
              "0.8; near 1: nearly all alike). Nearest words:")
        for word, near in probes.items():
            print(f"  {word}: " + ", ".join(n for n, _ in near[:6]))
    print()


def cmd_predict(args) -> int:
    if getattr(args, "engine", "local") == "ray":
        return cmd_ray(args, "predict")
    from .bundle import Bundle, set_inference_threads
    from .catalogue import iter_catalogue
    from .utils import atomic_output, csv_safe_frame, progress

    out = args.out
    check_file_output(out, {"--in": args.input}, bundle=args.bundle)
    bundle = Bundle.load(args.bundle)
    set_inference_threads(args.threads)
    # The bundle's reader options (text and id columns, format, ...), then the flags given.
    opts = bundle_reader(args, bundle, "predict", PREDICT_READER_FIELDS, split_column=None)
    opts = opts.replace(label_column=None, level_columns=[], split_column=None)
    if args.duplicate_ids is None:  # one prediction per input row, a repeated id included
        opts = opts.replace(duplicate_ids="keep")
    bar = progress(desc="predict", unit=" products", disable=args.quiet)
    first = True
    is_parquet = out.endswith(".parquet")
    with atomic_output(out) as tmp:
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
                    csv_safe_frame(table).to_csv(tmp, mode="w" if first else "a",
                                                 header=first, index=False)
                first = False
                bar.update(len(chunk))
        finally:
            if writer is not None:
                writer.close()
    bar.close()
    print(f"predictions written to {out}", file=sys.stderr)
    return 0


def cmd_ray(args, task: str) -> int:
    """``predict`` or ``embed`` with ``--engine ray`` (:mod:`prodemb.ray_engine`): the input
    (a file, a directory of shards or a glob) read by Ray Data, one actor per CPU, Parquet
    shards written into the directory ``--out``."""
    from .bundle import Bundle
    from .ray_engine import RayNotInstalled, import_ray, run

    try:
        import_ray()
    except RayNotInstalled as e:
        print(f"prodemb {args.command}: error: {e}", file=sys.stderr)
        return 2
    if args.duplicate_ids not in (None, "keep"):
        raise ValueError("--engine ray writes one row per input row (duplicate ids kept): "
                         "--duplicate-ids applies to the local engine only")
    bundle = Bundle.load(args.bundle)
    opts = bundle_reader(args, bundle, task, PREDICT_READER_FIELDS, split_column=None)
    del bundle
    summary = run(task, args.bundle, args.input, args.out, options=opts.replace(duplicate_ids="keep"),
                  address=args.address, workers=args.workers or None,
                  # Ray Data's bars on a terminal; elsewhere it logs a progress table every
                  # few seconds instead, which buries the summary line
                  progress=not args.quiet and sys.stderr.isatty())
    what = "predictions" if task == "predict" else "embeddings"
    if summary["rows"] is None:  # written to a URI: not counted here
        print(f"{what} written to {args.out} by {summary['workers']} Ray workers in "
              f"{summary['seconds']:.1f} s", file=sys.stderr)
    else:
        rate = summary["rows"] / max(summary["seconds"], 1e-9)
        print(f"{what} of {summary['rows']:,} products written to {args.out} ({summary['files']} "
              f"Parquet shards) by {summary['workers']} Ray workers in {summary['seconds']:.1f} s "
              f"({rate:,.0f} products/s)", file=sys.stderr)
    return 0


def cmd_embed(args) -> int:
    """Product embeddings of a catalogue: one Parquet file (local engine) or a directory of
    shards (``--engine ray``); columns id, text, embedding (E float32, L2-normalised)."""
    if args.engine == "ray":
        return cmd_ray(args, "embed")
    from .bundle import Bundle, set_inference_threads
    from .scoring import embed_file
    from .utils import progress

    if not args.out.endswith(".parquet"):
        raise ValueError(f"--out {args.out!r}: embeddings are written as Parquet; give a "
                         "file name ending in .parquet")
    check_file_output(args.out, {"--in": args.input}, bundle=args.bundle)
    bundle = Bundle.load(args.bundle)
    set_inference_threads(args.threads)
    opts = bundle_reader(args, bundle, "embed", PREDICT_READER_FIELDS, split_column=None)
    opts = opts.replace(label_column=None, level_columns=[], split_column=None)
    if args.duplicate_ids is None:
        # One vector per id, as train keeps one product per id: a later row with the same
        # id is dropped with the reader's warning (the index finds products by their id).
        opts = opts.replace(duplicate_ids="warn")
    bar = progress(desc="embed", unit=" products", disable=args.quiet)
    rows = embed_file(bundle, args.input, args.out, opts, progress=bar.update)
    bar.close()
    print(f"embeddings of {rows:,} products written to {args.out}", file=sys.stderr)
    return 0


def cmd_index(args) -> int:
    """Build the bundle's ANN index (:func:`prodemb.index.index_bundle`)."""
    from .index import index_bundle

    try:
        entry = index_bundle(args.bundle, args.embeddings, kind=args.kind,
                             threads=args.threads or None,
                             progress=None if args.quiet else
                             (lambda msg: print(f"prodemb index: {msg}", file=sys.stderr)))
    except ImportError as e:
        print(f"prodemb index: error: {e}", file=sys.stderr)
        return 2
    search = ", ".join(f"{k} {v}" for k, v in entry["search"].items())
    print(f"index of {entry['n']:,} products ({entry['kind']}: {entry['factory']}"
          f"{'; ' + search if search else ''}) built in {entry['build_seconds']:.1f} s, "
          f"{entry['bytes'] / 1e6:,.1f} MB, stored in {args.bundle}")
    return 0


def add_engine_args(s: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address``, ``--workers`` of predict and embed."""
    g = s.add_argument_group("engine (issue 15)")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process, the file read chunk by chunk (default); ray: "
                        "Ray Data reads --in (a file, a directory of shards or a glob), one "
                        "worker per CPU each with one torch thread, and writes Parquet "
                        "shards into the directory --out")
    g.add_argument("--address", help="with --engine ray: the Ray cluster to attach to (e.g. "
                   "'auto' or 'ray://head:10001'); default: a local Ray on this machine's "
                   "cores. The cluster's nodes must see the bundle, inputs and --out at the "
                   "same paths")
    g.add_argument("--workers", type=non_negative_int, default=0,
                   help="with --engine ray: Ray workers (default 0: one per CPU of the cluster)")


def cmd_evaluate(args) -> int:
    from .bundle import Bundle
    from .evaluation import evaluate_file, evaluate_split, stored_split_metrics
    from .metrics import summary

    if args.out:  # before the evaluation, which can take a while
        check_file_output(args.out, {"--data": args.data}, bundle=args.bundle)
    bundle = Bundle.load(args.bundle)
    if args.split:
        if given_reader_flags(args):
            raise ValueError("--split scores the products stored in the bundle, which reads no "
                             "file: reader options do not apply (use --data FILE to read a file)")
        result = evaluate_split(bundle, args.split)
        out = summary(result) | {"split": args.split, "most_confused": result["most_confused"][:10]}
        stored = stored_split_metrics(bundle, args.split)
        if stored is not None and stored != summary(result):
            warn(args, f"these numbers differ from the {args.split} metrics stored at training "
                       f"(macro-F1 {stored.get('macro_f1', float('nan')):.4f}, leaf macro-F1 "
                       f"{stored.get('leaf_macro_f1', float('nan')):.4f}): the bundle's files "
                       "are read by other library versions or were changed")
    else:
        # The bundle's reader options (columns, separators, --max-depth, ...), then the flags.
        opts = bundle_reader(args, bundle, "evaluate", EVALUATE_READER_FIELDS, split_column=None)
        result = evaluate_file(bundle, args.data, opts)
        for note in result["warnings"]:
            warn(args, note)
        out = summary(result) | {"rows": result["rows"],
                                 "skipped_unknown_categories": result["skipped_unknown_categories"],
                                 "overlap_with_training": result["overlap_with_training"],
                                 "most_confused": result["most_confused"][:10]}
    print(json.dumps(out, indent=1))
    if args.out:
        write_file_atomically(args.out, json.dumps(result, indent=1))
    return 0


def warn(args, message: str) -> None:
    """A warning line on stderr, ``prodemb CMD: warning: ...``."""
    print(f"prodemb {args.command}: warning: {message}", file=sys.stderr)


def cmd_neighbours(args) -> int:
    from .bundle import Bundle, UnknownWordError

    if not args.word and not args.product:
        raise ValueError("say what to look up: --word WORD (nearest words) or --product "
                         "ID_OR_TEXT (nearest products)")
    bundle = Bundle.load(args.bundle)
    if args.word:
        try:
            for word, sim in bundle.similar_words(args.word, args.k):
                print(f"{word:<24} {sim:.4f}")
        except UnknownWordError as e:
            from .neighbours import suggestable

            hint = ""
            if not e.suggestions:  # no close spelling: some words it does know
                frequent = [w for w in bundle.word_vectors.words[:1000] if suggestable(w)][:8]
                hint = (f" No close word found; some frequent words: {', '.join(frequent)}"
                        if frequent else "")
            print(f"prodemb neighbours: {e}{hint}", file=sys.stderr)
            return 1
    if args.product:
        is_id = bundle.find_product(args.product) is not None
        # By id when one matches, else as a text: a mistyped id would otherwise answer
        # with the neighbours of a text such as '999999999' without a word said.
        print(f"prodemb neighbours: nearest products to the product with id {args.product!r}"
              if is_id else f"prodemb neighbours: no product has the id {args.product!r}: "
              "nearest products to it as a text", file=sys.stderr)
        table = bundle.similar_products(args.product, args.k, by="id" if is_id else "text")
        cols = ["similarity", "id", "text", "true_path", "pred_path"]
        print(table[cols].to_string(index=False, max_colwidth=60))
    return 0


def cmd_what_if(args) -> int:
    from .bundle import Bundle

    bundle = Bundle.load(args.bundle)
    if not args.merge:
        proposals = bundle.merge_proposals()
        if not proposals:
            print("no leaves are confused with each other often enough to propose a merge")
            return 0
        print(f"{len(proposals)} merge proposal(s), the most confused first:")
        for p in proposals[: args.top]:
            print(f"  {p.rate:5.1%} of {p.products} products confused: " + " | ".join(p.leaves))
        print('\nsee one: prodemb what-if --bundle B --merge "P1|P2|..."')
        return 0
    paths = [p.strip() for p in args.merge.split("|")]
    out = bundle.what_if_merge(paths, into=args.into)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"merging {len(out['merged'])} categories into {out['into']!r} (stored predictions, "
          "no retraining):")
    for split, d in out["splits"].items():
        b, a = d["before"], d["after"]
        print(f"{split:>10}: leaf macro-F1 {b['leaf_macro_f1']:.4f} -> {a['leaf_macro_f1']:.4f}"
              f"  macro-F1 {b['macro_f1']:.4f} -> {a['macro_f1']:.4f}"
              f"  merged class F1 {a['class']['f1']:.4f} (was "
              + ", ".join(f"{c['f1']:.2f}" for c in b["classes"]) + ")")
    return 0


def cmd_corrections(args) -> int:
    from .corrections import CorrectionStore

    n = CorrectionStore(args.db).export_csv(args.out)
    print(f"{n} correction(s) from {args.db} written to {args.out}")
    return 0


def cmd_check(args) -> int:
    """Read a catalogue as ``train`` would and say what came out: counts, the tree, what
    the path options changed, the first products."""
    from .evaluation import read_counted
    from .taxonomy import Taxonomy, format_paths

    opts = reader_options(args)
    df, masks = read_counted(args.data, opts, show_progress=not args.quiet)
    paths = df["paths"].tolist()
    labelled = sum(1 for ps in paths if ps)
    name = os.path.basename(args.data)
    print(f"{name}: {len(df):,} products, {labelled:,} labelled, {len(df) - labelled:,} unlabelled")
    n_dup = int(df.attrs.get("duplicate_ids_dropped", 0))
    n_empty = int((df["text"].astype(str).str.strip() == "").sum())
    print(f"rows dropped as a repeated id: {n_dup:,}; products with empty text: {n_empty:,}")
    if labelled:
        tree = Taxonomy.from_paths(p for ps in paths for p in ps)
        depths = {}
        for ps in paths:
            for p in ps:
                depths[len(p)] = depths.get(len(p), 0) + 1
        shown = ", ".join(f"{d} level{'' if d == 1 else 's'}: {n:,}"
                          for d, n in sorted(depths.items()))
        print(f"category tree: {tree.n_nodes:,} nodes, {len(tree.leaves):,} leaves, depth "
              f"{tree.depth} (paths with {shown})")
        multi = sum(1 for ps in paths if len(ps) > 1)
        print(f"products in two or more categories: {multi:,} of {labelled:,} labelled")
        flat = flat_paths_warning(paths, opts)
        if flat:
            warn(args, flat)
    if masks["cut"].any():
        print(f"--max-depth {opts.max_depth}: cut the paths of {int(masks['cut'].sum()):,} products")
    if masks["dropped"].any():
        print(f"--min-depth {opts.min_depth} / --ignore-paths: dropped paths of "
              f"{int(masks['dropped'].sum()):,} products ({int(masks['emptied'].sum()):,} of "
              "them left without a path, so unlabelled)")
    if "split" in df:
        counts = df.loc[df["split"] != "", "split"].value_counts()
        print("split column: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    rows = [i for i, ps in enumerate(paths) if ps][: args.n]
    if rows:
        print(f"first {len(rows)} labelled product{'' if len(rows) == 1 else 's'}:")
    width = max((len(str(df["id"].iat[i])) for i in rows), default=0)
    for i in rows:
        text = df["text"].iat[i]
        text = text if len(text) <= 50 else text[:49] + "…"
        print(f"  {str(df['id'].iat[i]):<{width}}  {text}  ->  {format_paths(paths[i])}")
    return 0


def cmd_info(args) -> int:
    from .bundle import Bundle
    from .evaluation import option_flags

    bundle = Bundle.load(args.bundle)
    # How the bundle reads files (predict and evaluate use it unless flags say otherwise).
    reader = option_flags(bundle.reader_options, [f for f in READER_FIELDS if f != "chunk_size"])
    print(json.dumps(bundle.card() | {"reader_options": reader or "(the defaults)"}, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    # Global flags, accepted before or after the subcommand (`prodemb -v train ...` and
    # `prodemb train ... -v`). The subcommands' copies default to SUPPRESS, so that a
    # subcommand's parser does not reset a flag given before it.
    def global_flags(default) -> argparse.ArgumentParser:
        flags = argparse.ArgumentParser(add_help=False)
        g = flags.add_argument_group("global options (before or after the command)")
        g.add_argument("--version", action="version", version=f"prodemb {__version__}")
        g.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="log details")
        g.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress bars")
        return flags

    p = argparse.ArgumentParser(prog="prodemb", description=__doc__, parents=[global_flags(False)])
    sub = _Subcommands(p.add_subparsers(dest="command", required=True),
                       global_flags(argparse.SUPPRESS))

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
    s.add_argument("--mislabel-share", type=share, default=0.0, metavar="F",
                   help="give this share of the labelled products a wrong category (half of "
                        "them a sibling's), listed in OUT.mislabelled.csv: a test set for the "
                        "label review (0 <= F < 1; default 0)")
    s.set_defaults(func=cmd_demo_data)

    s = sub.add_parser("train", help="train a bundle from a catalogue")
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True,
                   help="bundle directory, e.g. artifacts/mymodel: a new path, an empty "
                        "directory, or an existing bundle with --force; anything else is refused")
    s.add_argument("--force", action="store_true",
                   help="replace the bundle already in --out (the whole directory)")
    s.add_argument("--config", help="JSON file with config overrides, any subset of the "
                   "fields of a bundle's config.json 'train', e.g. {\"classifier\": "
                   "{\"epochs\": 3}}; checked before anything is read (a bad value or "
                   "unknown key is an error naming the field)")
    s.add_argument("--seed", type=non_negative_int,
                   help="random seed of Word2Vec, the classifier and the maps (default: the "
                        "config's, 0); also of the train/validation/test split unless "
                        "--split-seed is given, so a new --seed alone also changes which "
                        "products are test products")
    s.add_argument("--split-seed", type=non_negative_int,
                   help="random seed of the train/validation/test split (default: --seed; "
                        "config field split.seed); fix it to compare models trained with "
                        "other seeds on the same test products")
    s.add_argument("--epochs", type=non_negative_int,
                   help="train the classifier for exactly this many epochs (default: the "
                        "config's classifier.epochs, 12, lengthened for a small catalogue to "
                        "classifier.min_steps optimiser steps, at most max_epochs, 34)")
    s.add_argument("--maps", type=map_methods, metavar="LIST",
                   help="the 2-D maps to make: tsne,umap (default: the config's "
                        "maps.methods, both), umap, tsne, or none (the dashboard's map page "
                        "then says there is none; on a quick try the maps can be most of "
                        "the training time)")
    s.add_argument("--min-leaf-count", type=non_negative_int, metavar="N",
                   help="roll leaves with fewer than N labelled products up into their "
                        "parent before training, repeatedly (default 0: the tree as labelled)")
    s.add_argument("--corrections", metavar="DB",
                   help="apply reviewers' corrections first: relabels and accepted merges from "
                        "the dashboard's database (data/reviews.sqlite) or its CSV export; a "
                        "bad row stops training before anything is applied")
    add_reader_args(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("predict", help="classify a file of products")
    s.add_argument("--bundle", required=True)
    s.add_argument("--in", dest="input", required=True)
    s.add_argument("--out", required=True, help=".csv or .parquet")
    s.add_argument("--threads", type=non_negative_int, default=1,
                   help="torch threads (default 1; 0: all available cores, about 10 %% "
                        "faster on an idle machine but several times slower when another "
                        "process is busy, bench/results/speed.json 'batch_loaded'; to use "
                        "every core, --engine ray runs one single-threaded worker per core)")
    add_engine_args(s)
    add_reader_args(s, from_bundle=True)
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("embed", help="product embeddings of a file of products (Parquet)")
    s.add_argument("--bundle", required=True)
    s.add_argument("--in", dest="input", required=True,
                   help="a catalogue file (with --engine ray also a directory of shards or a glob)")
    s.add_argument("--out", required=True, help="a .parquet file (local engine) or a new "
                   "directory of Parquet shards (--engine ray); columns id, text, embedding "
                   "(a fixed-size list of float32, L2-normalised)")
    s.add_argument("--threads", type=non_negative_int, default=1,
                   help="local engine: torch threads (default 1; 0: all available cores, "
                        "see predict --help)")
    add_engine_args(s)
    add_reader_args(s, from_bundle=True)
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("index", help="build the bundle's ANN index of product embeddings "
                       "(FAISS), used by nearest-product search")
    s.add_argument("--bundle", required=True)
    s.add_argument("--embeddings", help="Parquet file or directory of shards from `prodemb "
                   "embed` (e.g. the whole catalogue); default: the bundle's own products")
    s.add_argument("--kind", choices=list(INDEX_KINDS), default="auto",
                   help="auto (default): exact below 200,000 products, HNSW below 4M, "
                        "IVF with RaBitQ codes (ivfrabitq) above; ivfsq: IVF with 8-bit "
                        "scalar quantisation (smaller, lower recall); ivfpq: IVF-PQ")
    s.add_argument("--threads", type=non_negative_int, default=0,
                   help="threads for building (default 0: all cores)")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("evaluate", help="evaluate a bundle on a labelled catalogue, or on its "
                       "own test split")
    s.add_argument("--bundle", required=True)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", help="a labelled catalogue, read with the bundle's reader "
                      "options unless flags say otherwise")
    what.add_argument("--split", choices=["train", "validation", "test"],
                      help="score the bundle's own products of this split (stored in the "
                           "bundle; no file needed): the numbers stored at training")
    s.add_argument("--out", help="write the full result as JSON (a new file, or one to replace; "
                   "not an input)")
    add_reader_args(s, from_bundle=True)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("neighbours", help="nearest words or products")
    s.add_argument("--bundle", required=True)
    s.add_argument("--word")
    s.add_argument("--product", help="a product id or text")
    s.add_argument("-k", type=int, default=10)
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("what-if", help="merge proposals, and the metrics of the tree with "
                       "confused leaves merged (from the stored predictions, no retraining)")
    s.add_argument("--bundle", required=True)
    s.add_argument("--merge", metavar="P1|P2|...",
                   help="the leaves to merge, display paths joined by '|'; without it, list "
                        "the bundle's merge proposals")
    s.add_argument("--into", help="path of the merged category (default: a new leaf under "
                   "the leaves' deepest common ancestor, named after them)")
    s.add_argument("--top", type=non_negative_int, default=10, help="proposals listed (default 10)")
    s.add_argument("--json", action="store_true", help="the full result as JSON")
    s.set_defaults(func=cmd_what_if)

    s = sub.add_parser("corrections", help="reviewers' corrections (the dashboard's SQLite "
                       "database)")
    s.add_argument("action", choices=["export"], help="export: write every correction to CSV")
    s.add_argument("--db", default=None, help="the database (default: $PRODEMB_REVIEWS_DB or "
                   "data/reviews.sqlite)")
    s.add_argument("--out", required=True, help="CSV file to write")
    s.set_defaults(func=cmd_corrections)

    s = sub.add_parser("check", help="read a catalogue as train would and show what came out "
                       "(products, labels, tree, paths cut or dropped)")
    s.add_argument("--data", required=True)
    s.add_argument("-n", type=non_negative_int, default=3, help="products shown (default 3)")
    add_reader_args(s)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("info", help="print a bundle's model card")
    s.add_argument("--bundle", required=True)
    s.set_defaults(func=cmd_info)
    return p


class _Subcommands:
    """``add_subparsers()`` whose every parser also takes the global flags."""

    def __init__(self, action, common: argparse.ArgumentParser):
        self.action, self.common = action, common

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self.action.add_parser(name, parents=[self.common], **kwargs)


def close_progress_bars() -> None:
    """Close every open progress bar: each is drawn a last time and ends its line."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            bar.close()


def closing_progress_bars(func, args):
    """``func(args)``; on any exception the open progress bars are closed first, so that
    the error message comes after them, on its own line (not before a bar redrawn later)."""
    try:
        return func(args)
    except BaseException:
        close_progress_bars()
        raise


class LineGuard:
    """A text stream (stderr) on which no message shares a line with a progress bar.

    A progress bar redraws its line with writes starting with ``"\r"`` and no newline.
    After such a write, any other write (an error, a warning, a log line) is put on a new
    line first; the bar then redraws below it. Everything else passes through unchanged."""

    def __init__(self, stream):
        self._stream = stream
        self._after_progress = False

    def write(self, text: str) -> int:
        if not text:
            return 0
        if self._after_progress and not text.startswith(("\r", "\n")):
            self._stream.write("\n")
        self._after_progress = text.startswith("\r") and not text.endswith("\n")
        return self._stream.write(text)

    def end_line(self) -> None:
        """End a progress line left open (before the process exits)."""
        if self._after_progress:
            self._stream.write("\n")
            self._after_progress = False
        with contextlib.suppress(Exception):
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    guard = None
    if not isinstance(sys.stderr, LineGuard):
        guard = sys.stderr = LineGuard(sys.stderr)
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader of stdout went away (`prodemb info | head`): stop quietly, as a
        # command killed by SIGPIPE would, with stdout pointed at devnull so that the
        # interpreter's final flush does not complain either.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    finally:
        if guard is not None:
            guard.end_line()
            if sys.stderr is guard:
                sys.stderr = guard._stream


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .bundle import BundleError
    from .pipeline import TrainingError
    from .side_training import SideNetworkError

    # SIGTERM (kill) and SIGHUP (terminal closed) unwind like Ctrl-C, so that temporary
    # files, the Word2Vec corpus and the output lock are removed. A signal the caller
    # ignores (nohup) stays ignored; off the main thread the handlers are left alone.
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            with contextlib.suppress(ValueError):
                previous[sig] = signal.signal(sig, _terminate)
    # A reader's warning (a duplicate id dropped, a malformed path skipped) reads like the
    # command's own warnings, without the source file and line of the code that raised it;
    # another kind (a library's FutureWarning, ...) keeps its name.
    plain_warning = warnings.formatwarning
    warnings.formatwarning = (
        lambda message, category, filename, lineno, line=None: f"prodemb {args.command}: "
        f"warning: {'' if category is UserWarning else category.__name__ + ': '}{message}\n")
    try:
        return closing_progress_bars(args.func, args)
    except BrokenPipeError:
        raise  # stdout closed by its reader: main() exits quietly
    except SideNetworkError as e:
        print(f"prodemb {args.command}: error: {e}", file=sys.stderr)
        if args.verbose and e.details:
            print(e.details, file=sys.stderr)
        return 1
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
        warnings.formatwarning = plain_warning
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
