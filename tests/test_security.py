"""Security and crash-safety: no pickle/eval/raw HTML in the code, safe server settings,
and training that is killed part-way never loses or half-writes a bundle.

1. A static scan (AST) of ``prodemb/``, ``app.py``, ``pages/`` and ``bench/`` for calls that
   load pickles or run code: ``pickle.load(s)``, ``allow_pickle=True``, ``torch.load``
   without ``weights_only=True``, gensim ``.load(`` of pickled models
   (``Word2Vec.load``, ``KeyedVectors.load``...), ``joblib.load``, ``pd.read_pickle``,
   ``unsafe_allow_html=True``, ``components.html``, ``eval(``/``exec(``, ``yaml.load``
   without a safe loader. The scanner is itself tested on synthetic snippets, so the test
   would fail if such a line were added.
2. ``.streamlit/config.toml``: XSRF protection on, upload size limited, no error details
   (tracebacks) in the browser.
3. Kill tests on a real ``prodemb train`` subprocess (``configs/tiny.json`` on a small
   generated catalogue) writing over an existing bundle: SIGINT during training, SIGKILL
   and SIGINT in the middle of writing the bundle, and SIGKILL just before and just after
   the new bundle replaces the old one. Each time the previous bundle stays intact (byte for byte)
   and loadable, and :func:`prodemb.bundle.find_bundles` (what the app lists) never shows
   a half-written bundle. To hit the writing stage deterministically the subprocess gets a
   ``sitecustomize`` with an audit hook that pauses it at a chosen file operation; the
   writing runs use ``configs/tiny.json`` with maps switched off (the maps stage is the
   slowest and irrelevant to writing).
"""

from __future__ import annotations

import ast
import hashlib
import os
import signal
import subprocess
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
from reliability_helpers import (
    PRODEMB,
    ROOT,
    TINY_CONFIG,
    cli_env,
    copy_bundle,
    fast_config,
    hostile_bundle,
)

SCANNED = [ROOT / "prodemb", ROOT / "app.py", ROOT / "pages", ROOT / "bench"]

# ====================================================================== code scan
#: Calls that unpickle (by dotted-name suffix).
UNPICKLING_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
    "cPickle.load", "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load",
    "cloudpickle.loads", "joblib.load", "read_pickle", "shelve.open", "marshal.load",
    "marshal.loads", "jsonpickle.decode", "gensim.utils.unpickle", "utils.unpickle",
    "numpy.lib.format.read_array", "yaml.unsafe_load", "yaml.full_load",
}
#: Names that must not be imported from these modules (``from pickle import load``).
UNPICKLING_IMPORTS = {"pickle": {"load", "loads", "Unpickler"}, "_pickle": {"load", "loads"},
                      "dill": {"load", "loads"}, "cloudpickle": {"load", "loads"},
                      "joblib": {"load"}, "marshal": {"load", "loads"}, "shelve": {"open"},
                      "pandas": {"read_pickle"}, "torch": {"load"}}
#: gensim classes whose ``.load()`` unpickles a saved model.
GENSIM_CLASSES = {"Word2Vec", "KeyedVectors", "FastText", "Doc2Vec", "Word2VecKeyedVectors",
                  "FastTextKeyedVectors", "LdaModel", "LdaMulticore", "LsiModel", "TfidfModel",
                  "Phrases", "FrozenPhrases", "Dictionary", "SaveLoad", "Similarity",
                  "MatrixSimilarity", "SparseMatrixSimilarity", "WordEmbeddingSimilarityIndex"}
#: Calls that render raw HTML (which may contain catalogue text) or run code.
RAW_HTML_CALLS = {"components.html", "components.v1.html", "components.iframe"}
CODE_CALLS = {"eval", "exec", "builtins.eval", "builtins.exec"}


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain (``?`` for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return dotted(node.func) + "()"
    return "?"


def _is_const(node: ast.AST | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _matches(name: str, patterns: set[str]) -> bool:
    return any(name == p or name.endswith("." + p) for p in patterns)


def scan_source(source: str, filename: str = "<snippet>") -> list[str]:
    """Findings ``file:line: what`` for one Python source."""
    tree = ast.parse(source, filename)
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            banned = UNPICKLING_IMPORTS.get(node.module.split(".")[0], set())
            for alias in node.names:
                if alias.name in banned:
                    flag(node, f"imports {node.module}.{alias.name} (loads pickles)")
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if _matches(name, UNPICKLING_CALLS):
            flag(node, f"{name}() loads pickled data")
        if "allow_pickle" in kw and not _is_const(kw["allow_pickle"], False):
            flag(node, f"{name}(allow_pickle=...) may load pickled objects; pass allow_pickle=False")
        if name == "torch.load" or name.endswith(".torch.load"):
            if not _is_const(kw.get("weights_only"), True):
                flag(node, "torch.load() without weights_only=True unpickles arbitrary objects")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            base = dotted(node.func.value)
            if base.split(".")[-1] in GENSIM_CLASSES or base.startswith("gensim."):
                flag(node, f"{name}() loads a pickled gensim model; use the .npy + JSON format")
        if name in ("yaml.load", "load_yaml") and not (
                "Loader" in kw and dotted(kw["Loader"]).split(".")[-1] in ("SafeLoader", "CSafeLoader")):
            flag(node, "yaml.load() without Loader=SafeLoader can construct arbitrary objects")
        if "unsafe_allow_html" in kw and not _is_const(kw["unsafe_allow_html"], False):
            flag(node, f"{name}(unsafe_allow_html=...) renders raw HTML (catalogue text could run script)")
        if _matches(name, RAW_HTML_CALLS):
            flag(node, f"{name}() renders raw HTML in the browser")
        if name in CODE_CALLS:
            flag(node, f"{name}() runs code built from strings")
    return found


def python_files(roots: list[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts)
    return files


def scan_paths(roots: list[Path]) -> list[str]:
    out = []
    for path in python_files(roots):
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        out += scan_source(path.read_text(encoding="utf-8"), str(rel))
    return out


BAD_SNIPPETS = {
    "pickle_load": "import pickle\nobj = pickle.load(open('m.pkl', 'rb'))",
    "pickle_loads": "import pickle\nobj = pickle.loads(data)",
    "pickle_unpickler": "import pickle\nobj = pickle.Unpickler(f).load()",
    "from_pickle_import": "from pickle import loads\nobj = loads(data)",
    "np_allow_pickle": "import numpy as np\nx = np.load('x.npy', allow_pickle=True)",
    "np_allow_pickle_variable": "import numpy as np\nx = np.load('x.npy', allow_pickle=flag)",
    "torch_load_plain": "import torch\nsd = torch.load('model.pt')",
    "torch_load_weights_false": "import torch\nsd = torch.load('model.pt', weights_only=False)",
    "torch_load_multiline": "import torch\nsd = torch.load(\n    path,\n    map_location='cpu',\n)",
    "gensim_word2vec_load": "from gensim.models import Word2Vec\nm = Word2Vec.load('w2v.model')",
    "gensim_keyedvectors_load": "from gensim.models import KeyedVectors\nkv = KeyedVectors.load('kv')",
    "gensim_module_path": "import gensim\nm = gensim.models.Word2Vec.load('w2v')",
    "gensim_fasttext": "from gensim.models.fasttext import FastText\nm = FastText.load(p)",
    "joblib_load": "import joblib\nclf = joblib.load('clf.joblib')",
    "from_joblib_import": "from joblib import load\nclf = load('clf.joblib')",
    "pandas_read_pickle": "import pandas as pd\ndf = pd.read_pickle('df.pkl')",
    "dill": "import dill\nf = dill.loads(b)",
    "shelve": "import shelve\ndb = shelve.open('db')",
    "yaml_unsafe": "import yaml\ncfg = yaml.load(text)",
    "yaml_full_loader_missing": "import yaml\ncfg = yaml.load(text, Loader=yaml.Loader)",
    "unsafe_html": "import streamlit as st\nst.markdown(text, unsafe_allow_html=True)",
    "unsafe_html_write": "import streamlit as st\nst.write(text, unsafe_allow_html=flag)",
    "components_html": "import streamlit.components.v1 as components\ncomponents.html(text)",
    "eval": "value = eval(user_text)",
    "exec": "exec(code, {})",
    "builtins_eval": "import builtins\nbuiltins.eval('1+1')",
}

GOOD_SNIPPETS = {
    "np_load_safe": "import numpy as np\nx = np.load('x.npy', allow_pickle=False)",
    "np_save": "import numpy as np\nnp.save('x.npy', x, allow_pickle=False)",
    "torch_load_weights_only": "import torch\nsd = torch.load('model.pt', weights_only=True)",
    "torch_eval_mode": "model.eval()\nself.model.eval()",
    "keyed_vectors_text_format": "from gensim.models import KeyedVectors\n"
                                 "kv = KeyedVectors.load_word2vec_format('v.txt')",
    "json_load": "import json\nd = json.load(f)",
    "bundle_load": "b = Bundle.load(path)\nwv = WordVectors.load(d)\nc = Classifier.load(d)",
    "safetensors": "from safetensors.torch import load_file\nsd = load_file('m.safetensors')",
    "markdown_escaped": "import streamlit as st\nst.markdown(md_escape(text))\n"
                        "st.markdown(t, unsafe_allow_html=False)",
    "yaml_safe": "import yaml\ncfg = yaml.load(text, Loader=yaml.SafeLoader)\ncfg = yaml.safe_load(t)",
    "joblib_parallel": "from joblib import Parallel, delayed",
    "strings_mentioning_pickle": "'''never pickle.load or eval( anything'''\nx = 'allow_pickle=True'",
    "literal_eval": "import ast\nv = ast.literal_eval(s)",
}


@pytest.mark.parametrize("name", sorted(BAD_SNIPPETS))
def test_scanner_flags_dangerous_snippet(name):
    assert scan_source(BAD_SNIPPETS[name], name), f"the scanner missed {name!r}"


@pytest.mark.parametrize("name", sorted(GOOD_SNIPPETS))
def test_scanner_accepts_safe_snippet(name):
    assert scan_source(GOOD_SNIPPETS[name], name) == []


def test_scanner_finds_a_line_added_to_a_scanned_tree(tmp_path):
    """The directory scan (what the real test runs) catches a dangerous line in any file."""
    pkg = tmp_path / "prodemb"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "ok.py").write_text("import json\nx = json.loads('{}')\n")
    (pkg / "sub" / "bad.py").write_text(textwrap.dedent("""
        import numpy as np

        def read(p):
            return np.load(p,
                           allow_pickle=True)
        """))
    found = scan_paths([pkg])
    assert len(found) == 1 and "bad.py:5" in found[0] and "allow_pickle" in found[0], found


def test_code_never_loads_pickles_runs_strings_or_renders_raw_html():
    files = python_files(SCANNED)
    assert any(p.name == "bundle.py" for p in files) and any(p.name == "app.py" for p in files)
    assert scan_paths(SCANNED) == []


# ====================================================================== server settings
def test_streamlit_config_keeps_xsrf_on_and_limits_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config.get("server", {})
    assert server.get("enableXsrfProtection") is True, "XSRF protection must stay on"
    assert server.get("enableCORS", True) is not False, "CORS protection must stay on"
    upload = server.get("maxUploadSize")
    assert isinstance(upload, int) and 1 <= upload <= 200, f"upload limit (MB) must be set: {upload}"
    assert isinstance(server.get("maxMessageSize", 200), int)
    assert server.get("runOnSave", False) is False
    client = config.get("client", {})
    assert client.get("showErrorDetails") in ("none", False), "no tracebacks in the browser"
    assert config.get("global", {}).get("developmentMode", False) is False
    assert config.get("browser", {}).get("gatherUsageStats") is False


# ====================================================================== kill tests
SITECUSTOMIZE = '''
"""Test hook: pause this process at a file operation of the bundle writer (audit hook)."""
import os, sys, time

_POINT = os.environ.get("PRODEMB_TEST_PAUSE_AT")
_MARKER = os.environ.get("PRODEMB_TEST_MARKER")


def _pause(what):
    with open(_MARKER, "w") as f:
        f.write(what)
    for _ in range(1200):  # at most 2 minutes; SIGINT/SIGKILL arrive meanwhile
        time.sleep(0.1)


def _hook(event, args):
    global _POINT
    if not _POINT:
        return
    if _POINT == "write" and event == "open" and isinstance(args[0], str) \\
            and ".tmp-" in args[0] and args[0].endswith("metrics.json"):
        _POINT = None
        _pause("write " + args[0])
    elif _POINT == "swap" and event in ("os.rename", "os.replace") and ".tmp-" in str(args[0]):
        _POINT = None  # two renames: the old bundle has just been moved aside
        _pause("swap " + str(args[0]) + " -> " + str(args[1]))
    elif _POINT == "swap" and event == "ctypes.dlsym" and args[1] == "renameat2":
        _POINT = None  # the atomic exchange is about to happen
        _pause("exchange")
    elif _POINT == "swapped" and event == "shutil.rmtree" \
            and str(args[0]).endswith(f".tmp-{os.getpid()}") \
            and os.path.exists(os.path.join(str(args[0]), "manifest.json")):
        _POINT = None  # the new bundle is in place; the old one is about to be deleted
        _pause("swapped " + str(args[0]))


if _POINT and _MARKER:
    sys.addaudithook(_hook)
'''


def tree_digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """An artifacts directory with one complete bundle ``shop``, its digest and a small
    catalogue to retrain it from."""
    from prodemb.demo import write_demo

    tmp = tmp_path_factory.mktemp("kill")
    artifacts = tmp / "artifacts"
    artifacts.mkdir()
    bundle = copy_bundle(hostile_bundle(tmp_path_factory), artifacts / "shop")
    data = tmp / "catalogue.csv"
    write_demo(data, n_labelled=500, n_unlabelled=100, seed=11, progress=False)
    hook = tmp / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"artifacts": artifacts, "bundle": bundle, "digest": tree_digest(bundle), "data": data,
            "hook": hook, "fast": fast_config(tmp / "tiny_no_maps.json"), "tmp": tmp}


def start_training(previous, config: Path, pause_at: str | None = None,
                   verbose: bool = False) -> tuple[subprocess.Popen, Path]:
    marker = previous["tmp"] / f"paused-{time.monotonic_ns()}"
    env = cli_env()
    if pause_at:
        env.update(PYTHONPATH=os.pathsep.join([str(previous["hook"]), env.get("PYTHONPATH", "")]),
                   PRODEMB_TEST_PAUSE_AT=pause_at, PRODEMB_TEST_MARKER=str(marker))
    cmd = [PRODEMB] + (["-v"] if verbose else []) + [
        "train", "--data", str(previous["data"]), "--out", str(previous["bundle"]),
        "--config", str(config), "-q", "--force"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=previous["tmp"])
    return proc, marker


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"training ended (code {proc.returncode}) before the kill point:\n{err[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    pytest.fail("the kill point was not reached in time")


def finish(proc: subprocess.Popen, sig: int | None = None) -> tuple[int, str]:
    """Send ``sig`` (if any) and wait for the run to end: 60 s after a signal, or a whole
    training run without one (240 s, as :func:`wait_for`: a loaded test machine)."""
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        _out, err = proc.communicate(timeout=60 if sig is not None else 240)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"training did not {'stop after signal ' + str(sig) if sig else 'finish'}"
                    f":\n{err[-2000:]}")
    return proc.returncode, err


def assert_previous_intact(previous) -> None:
    """The old bundle is byte for byte what it was, loads with full verification, and is the
    only bundle the app lists."""
    from prodemb.bundle import Bundle, find_bundles

    bundle: Path = previous["bundle"]
    assert bundle.is_dir(), "the previous bundle disappeared"
    assert tree_digest(bundle) == previous["digest"], "the previous bundle was modified"
    assert find_bundles(str(previous["artifacts"])) == [str(bundle)]
    loaded = Bundle.load(str(bundle))
    assert loaded.classify(["wool scarf"])[0].paths


def hidden_dirs(previous) -> list[str]:
    """Hidden directories beside the bundle (not the ``.shop.lock`` file a running training holds)."""
    return sorted(p.name for p in previous["artifacts"].iterdir()
                  if p.name.startswith(".") and p.is_dir())


@pytest.mark.slow
def test_sigint_during_training_keeps_previous_bundle(previous):
    """Ctrl-C while the classifier trains (configs/tiny.json as shipped): a clear message,
    exit code 130, no traceback, nothing written."""
    proc, _ = start_training(previous, TINY_CONFIG, verbose=True)
    seen: list[str] = []

    def training_started() -> bool:
        line = proc.stderr.readline()
        seen.append(line)
        return "stage classifier" in line

    wait_for(training_started, proc)
    time.sleep(0.5)
    code, err = finish(proc, signal.SIGINT)
    err = "".join(seen) + err
    assert code == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err, err[-2000:]
    assert_previous_intact(previous)
    assert hidden_dirs(previous) == []


@pytest.mark.slow
def test_sigkill_while_writing_keeps_previous_bundle(previous, monkeypatch):
    """SIGKILL with the new bundle half-written (no manifest yet): the old one is untouched,
    the app lists only it, and the next run removes the leftover."""
    proc, marker = start_training(previous, previous["fast"], pause_at="write")
    wait_for(marker.exists, proc)
    leftovers = hidden_dirs(previous)
    assert len(leftovers) == 1 and leftovers[0].startswith(".shop.tmp-"), leftovers
    half = previous["artifacts"] / leftovers[0]
    assert not (half / "manifest.json").exists() and (half / "products.parquet").exists()
    finish(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert_previous_intact(previous)

    from prodemb import ui

    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(previous["artifacts"]))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    assert ui.available_bundles() == [str(previous["bundle"])], "the app would list a half bundle"
    assert (previous["artifacts"] / leftovers[0]).exists()  # until the next run cleans it


@pytest.mark.slow
def test_sigint_while_writing_cleans_up(previous):
    proc, marker = start_training(previous, previous["fast"], pause_at="write")
    wait_for(marker.exists, proc)
    code, err = finish(proc, signal.SIGINT)
    assert code == 130 and "interrupted" in err and "Traceback" not in err, err[-2000:]
    assert_previous_intact(previous)
    # its own temporary directory is removed (a SIGKILLed run's leftover may remain)
    assert not any(name.endswith(f"-{proc.pid}") for name in hidden_dirs(previous))


@pytest.mark.slow
def test_sigkill_while_replacing_never_loses_the_bundle(previous):
    """SIGKILL just before and just after the new bundle takes the old one's place: the name
    always holds one complete, loadable bundle (the old one, then the new one), and the
    next run removes whatever was left over."""
    from prodemb.bundle import Bundle, find_bundles

    bundle = previous["bundle"]
    for point in ("swap", "swapped"):
        proc, marker = start_training(previous, previous["fast"], pause_at=point)
        wait_for(marker.exists, proc)
        code, err = finish(proc, signal.SIGKILL)
        assert code == -signal.SIGKILL, err[-2000:]
        assert find_bundles(str(previous["artifacts"])) == [str(bundle)], \
            f"{point}: {hidden_dirs(previous)}: the bundle is missing after a kill while it was replaced"
        loaded = Bundle.load(str(bundle))
        assert loaded.classify(["wool scarf"])[0].paths
        replaced = tree_digest(bundle) != previous["digest"]
        assert replaced == (point == "swapped"), f"{point}: {marker.read_text()}"
        if replaced:
            assert loaded.manifest["data"]["file"] == previous["data"].name
            previous["digest"] = tree_digest(bundle)

    # A normal run afterwards cleans every leftover and installs its bundle.
    proc, _ = start_training(previous, previous["fast"])
    code, err = finish(proc)
    assert code == 0, err[-3000:]
    assert hidden_dirs(previous) == []
    assert find_bundles(str(previous["artifacts"])) == [str(bundle)]
    assert Bundle.load(str(bundle)).manifest["data"]["file"] == previous["data"].name
    previous["digest"] = tree_digest(bundle)


def test_replacing_without_atomic_exchange_restores_the_previous_bundle(tmp_path, monkeypatch):
    """Where the file system cannot exchange two directories, the bundle is replaced by two
    renames; a run dying between them leaves the previous bundle aside, and the next run
    puts it back instead of deleting it."""
    from prodemb import bundle_format as bundle_mod
    from prodemb.bundle_format import find_bundles, write_atomically

    target = tmp_path / "artifacts" / "m"
    write_atomically(str(target), lambda d: (Path(d) / "manifest.json").write_text("old"))
    monkeypatch.setattr(bundle_mod, "_exchange", lambda a, b: False)
    real_rename = os.rename
    calls = []

    def dying_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # after moving the old bundle aside, before the new one is in place
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(bundle_mod.os, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(target), lambda d: (Path(d) / "manifest.json").write_text("new"))
    monkeypatch.setattr(bundle_mod.os, "rename", real_rename)
    assert not target.exists()
    aside = [p for p in target.parent.iterdir() if p.name.startswith(".m.old-")]
    assert len(aside) == 1 and (aside[0] / "manifest.json").read_text() == "old"

    def crash(d):
        raise RuntimeError("the next run fails too")

    with pytest.raises(RuntimeError):
        write_atomically(str(target), crash)
    assert (target / "manifest.json").read_text() == "old", "the previous bundle was restored"
    assert find_bundles(str(target.parent)) == [str(target)]
    assert [p.name for p in target.parent.iterdir()] == ["m"]


# ====================================================================== manifest coverage
def test_a_file_left_out_of_the_manifest_is_not_trusted(tiny_bundle, tmp_path):
    """Every file the loader reads must be hashed in the manifest: dropping a file's entry
    (and then altering the file) must not let it through unverified."""
    import json
    import shutil

    from prodemb.bundle import BUNDLE_FILES, Bundle, BundleError

    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    assert set(BUNDLE_FILES) <= set(json.loads((bundle / "manifest.json").read_text())["files"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"]["classifier.safetensors"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    weights = bundle / "classifier.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not list classifier.safetensors"):
        Bundle.load(str(bundle))
