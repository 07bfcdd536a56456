"""Reviewers' corrections, kept in one SQLite file, and applied to a catalogue at training.

A reviewer can *accept* a prediction, *relabel* a product (give it the right path) or
accept a *merge* of confused leaves (:mod:`prodemb.review`). Every action is one row with
its time (UTC, ISO 8601), an optional reviewer name, and the bundle it was made on.

Concurrency: the database is in WAL mode and every action is one short transaction on its
own connection with a busy timeout, so two browser sessions (two threads of the app's
server) or two processes that write at once both get their row; nothing is kept open
between actions. Default file: ``data/reviews.sqlite`` (``PRODEMB_REVIEWS_DB`` or the
``path`` argument moves it).

Training with corrections (``prodemb train --corrections DB``, :func:`apply_corrections`):
the latest relabel of a product replaces its paths, then every accepted merge moves paths
that end in a merged leaf to the merged path. Everything is checked before anything is
applied (an unknown product id, a path that is not a path, a merge of fewer than two
categories): a bad row is a :class:`CorrectionsError` naming the row, and the catalogue is
left as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from .taxonomy import LEVEL_SEPARATOR, format_path, parse_path

DEFAULT_DB = os.path.join("data", "reviews.sqlite")
KINDS = ("accept", "relabel", "merge")
#: ``PRAGMA user_version`` of the schema below; a file with another version is refused.
SCHEMA_VERSION = 1
COLUMNS = ("id", "created", "reviewer", "bundle", "kind", "product_id", "path", "merge_paths", "into_path", "note")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    reviewer TEXT,
    bundle TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('accept', 'relabel', 'merge')),
    product_id TEXT,
    path TEXT,
    merge_paths TEXT,
    into_path TEXT,
    note TEXT
)
"""
#: A busy database (another session writing) is waited for this long, in seconds.
BUSY_TIMEOUT = 30.0


def _write_ahead_log(con: sqlite3.Connection) -> None:
    """Switch ``con``'s database to WAL. The switch takes the whole file: when sessions
    open a new database at the same moment SQLite answers "database is locked" at once,
    without waiting, so this waits and tries again, up to :data:`BUSY_TIMEOUT`."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class CorrectionsError(ValueError):
    """A corrections database or file that cannot be used, or a bad correction."""


def default_db() -> str:
    return os.environ.get("PRODEMB_REVIEWS_DB", DEFAULT_DB)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clean_path(path: str, what: str = "path") -> str:
    names = [n.strip() for n in str(path).split(LEVEL_SEPARATOR)]
    if not path or any(not n for n in names):
        raise CorrectionsError(f"{what} {path!r} is not a category path (levels joined by "
                               f"'{LEVEL_SEPARATOR}', none empty)")
    return format_path(names)


@dataclass
class CorrectionStore:
    """The corrections database at ``path`` (created with its parent folder on first write).

    Methods add one action each and return its row id; :meth:`frame` reads them all."""

    path: str = ""

    def __post_init__(self) -> None:
        self.path = self.path or default_db()

    # ------------------------------------------------------------------ connection
    def _connect(self, create: bool) -> sqlite3.Connection:
        if not create and not os.path.exists(self.path):
            raise CorrectionsError(f"no corrections database at {self.path!r}")
        if create:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            _write_ahead_log(con)
            # A writer checks and creates the schema in one transaction: two sessions saving
            # their first correction at once would otherwise see each other's table before
            # its version was set, and refuse the database.
            if create:
                con.execute("BEGIN IMMEDIATE")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if create and not tables:
                con.execute(_SCHEMA)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if con.in_transaction:
                con.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise CorrectionsError(f"{self.path!r} is not a corrections database ({e})") from None
        if tables and ("corrections" not in tables or version != SCHEMA_VERSION):
            con.close()
            raise CorrectionsError(f"{self.path!r} is not a prodemb corrections database (schema "
                                   f"version {version}, tables {sorted(tables)}; expected version "
                                   f"{SCHEMA_VERSION} with a 'corrections' table)")
        cols = [r[1] for r in con.execute("PRAGMA table_info(corrections)")]
        if tuple(cols) != COLUMNS:
            con.close()
            raise CorrectionsError(f"{self.path!r}: the corrections table has the columns {cols}, "
                                   f"expected {list(COLUMNS)}")
        return con

    def _insert(self, **row) -> int:
        row = {"created": _now(), **row}
        with closing(self._connect(create=True)) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(f"INSERT INTO corrections ({', '.join(row)}) VALUES "
                                  f"({', '.join('?' * len(row))})", list(row.values()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return int(cur.lastrowid)

    # ------------------------------------------------------------------ actions
    def relabel(self, product_id: str, path: str, reviewer: str | None = None,
                bundle: str | None = None, note: str | None = None) -> int:
        """Record that ``product_id`` belongs in ``path`` (a display path ``"A > B"``)."""
        if not str(product_id).strip():
            raise CorrectionsError("a relabel needs a product id")
        return self._insert(kind="relabel", product_id=str(product_id).strip(),
                            path=_clean_path(path), reviewer=reviewer or None, bundle=bundle,
                            note=note)

    def accept(self, product_id: str, path: str, reviewer: str | None = None,
               bundle: str | None = None, note: str | None = None) -> int:
        """Record that the predicted ``path`` of ``product_id`` is right."""
        if not str(product_id).strip():
            raise CorrectionsError("an accepted prediction needs a product id")
        return self._insert(kind="accept", product_id=str(product_id).strip(),
                            path=_clean_path(path), reviewer=reviewer or None, bundle=bundle,
                            note=note)

    def accept_merge(self, paths: Sequence[str], into: str, reviewer: str | None = None,
                     bundle: str | None = None, note: str | None = None) -> int:
        """Record that the categories ``paths`` are to be one category, ``into``."""
        names = list(dict.fromkeys(_clean_path(p, "merged category") for p in paths))
        if len(names) < 2:
            raise CorrectionsError(f"a merge needs at least two categories, got {len(names)}")
        return self._insert(kind="merge", merge_paths=json.dumps(names),
                            into_path=_clean_path(into, "merged into"), reviewer=reviewer or None,
                            bundle=bundle, note=note)

    # ------------------------------------------------------------------ reading
    def frame(self) -> pd.DataFrame:
        """Every action, oldest first: one row each, :data:`COLUMNS`."""
        with closing(self._connect(create=False)) as con:
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM corrections ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def export_csv(self, out: str) -> int:
        """Write every action to the CSV file ``out`` (UTF-8); the number of rows."""
        frame = self.frame()
        frame.to_csv(out, index=False)
        return len(frame)


# ---------------------------------------------------------------------- applying
@dataclass
class Applied:
    """What :func:`apply_corrections` changed: counts for the manifest."""

    relabelled: int = 0
    merges: int = 0
    merged_products: int = 0
    accepted: int = 0

    def to_dict(self) -> dict:
        return {"relabelled": self.relabelled, "merges": self.merges,
                "merged_products": self.merged_products, "accepted": self.accepted}


def read_corrections(source: str) -> pd.DataFrame:
    """The actions of a corrections database (``.sqlite``/``.db``) or of a CSV file written
    by ``prodemb corrections export``; :class:`CorrectionsError` for anything else."""
    if not os.path.exists(source):
        raise CorrectionsError(f"no corrections file at {source!r}")
    with open(source, "rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3"):
        return CorrectionStore(source).frame()
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorrectionsError(f"{source!r} is neither a corrections database nor a CSV file "
                               f"written by `prodemb corrections export` ({e})") from None
    missing = [c for c in ("kind", "product_id", "path", "merge_paths", "into_path") if c not in frame]
    if missing:
        raise CorrectionsError(f"{source!r}: missing column(s) {', '.join(missing)}; expected the "
                               f"columns of `prodemb corrections export`: {', '.join(COLUMNS)}")
    # The dashboard's downloads put a ' before a cell starting with = + - @ (so that a
    # spreadsheet shows it as text): take it off again.
    frame = frame.map(lambda v: v[1:] if isinstance(v, str) and len(v) > 1 and v[0] == "'"
                      and v[1] in "=+-@\t\r" else v)
    return frame.replace({"": None})


def apply_corrections(ids: Sequence[str], paths_per_item: Sequence[Sequence[Sequence[str]]],
                      corrections: pd.DataFrame) -> tuple[list[list[tuple]], Applied]:
    """Paths per product after the corrections: relabels (the latest per product), then
    accepted merges in their order. ``ids``: product ids ``(n,)``; ``paths_per_item``: the
    paths of each product (tuples of names). Returns the new paths and the counts.

    Every row is checked first; a bad one raises :class:`CorrectionsError` naming its id and
    nothing is applied."""
    index = {str(i): k for k, i in enumerate(ids)}
    relabels: dict[int, tuple] = {}
    merges: list[tuple[set[tuple], tuple]] = []
    accepted = 0
    for row in corrections.to_dict("records"):
        where = f"correction {row.get('id') or '?'} ({row.get('kind')!r})"
        kind = row.get("kind")
        if kind not in KINDS:
            raise CorrectionsError(f"{where}: unknown kind; expected one of {', '.join(KINDS)}")
        try:
            if kind in ("relabel", "accept"):
                pid = str(row.get("product_id") or "").strip()
                if pid not in index:
                    raise CorrectionsError(f"the product id {pid!r} is not in the catalogue")
                path = parse_path(_clean_path(row.get("path") or ""))
                if kind == "relabel":
                    relabels[index[pid]] = path
                else:
                    accepted += 1
            else:
                try:
                    names = json.loads(row.get("merge_paths") or "")
                except (TypeError, ValueError):
                    raise CorrectionsError("merge_paths is not a JSON list of paths") from None
                if not isinstance(names, list) or len(set(map(str, names))) < 2:
                    raise CorrectionsError("a merge needs a JSON list of at least two paths")
                group = {parse_path(_clean_path(str(n), "merged category")) for n in names}
                merges.append((group, parse_path(_clean_path(row.get("into_path") or "", "merged into"))))
        except CorrectionsError as e:
            raise CorrectionsError(f"{where}: {e}") from None
    out = [[tuple(p) for p in paths] for paths in paths_per_item]
    for k, path in relabels.items():
        out[k] = [path]
    merged_products = 0
    for group, into in merges:
        for k, paths in enumerate(out):
            if any(p in group for p in paths):
                merged_products += 1
                out[k] = list(dict.fromkeys(into if p in group else p for p in paths))
    return out, Applied(len(relabels), len(merges), merged_products, accepted)


__all__ = ["CorrectionStore", "CorrectionsError", "Applied", "apply_corrections",
           "read_corrections", "default_db", "DEFAULT_DB"]
