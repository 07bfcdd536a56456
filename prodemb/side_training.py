"""One network of an ensemble trained in a process of its own (``classifier.parallel_members``).

The process is a fresh ``python -m prodemb.side_training DIR PARENT_PID``, not a multiprocessing
child: multiprocessing's spawn re-imports the parent's ``__main__`` (a Streamlit page, a
test runner's bootstrap) in the child, and fork copies torch's thread pools. The job and
the result pass through files in DIR in plain formats (JSON, ``.npy``, safetensors), so
nothing is unpickled.

Files of a job directory:
    job.json         config, seed, tokens, taxonomy, the words of the word vectors
    y_train.npy, y_val.npy                   0/1 labels, shapes (n_train, L), (n_val, L)
    start.npy, vocabulary.npy                float32 word vectors (if any)
    network.safetensors, network.json        the result: weights; config, history, kept epoch
    error.txt                                the traceback, if training failed
    stderr.txt                               the process's own output
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import ClassifierConfig
from .model import ModelConfig, ProductClassifier
from .taxonomy import Taxonomy
from .word2vec import WordVectors


class SideNetworkError(RuntimeError):
    """A side network's training failed or its process died (killed for memory, for
    instance). ``details``: the process's traceback or its last output."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class SideNetwork:
    """Trains one network with ``seed`` in a process of its own, exactly as
    :meth:`prodemb.classifier.Classifier._fit_network` would here (same seed, threads and
    data, so the same weights). :meth:`result` waits for it, :meth:`stop` ends it early
    and removes its files."""

    def __init__(self, config: ClassifierConfig, seed: int, train_tokens, y_train: np.ndarray,
                 val_tokens, y_val: np.ndarray, word_vectors: WordVectors | None,
                 taxonomy: Taxonomy | None, vocabulary: WordVectors | None):
        self.seed = seed
        self.directory = tempfile.mkdtemp(prefix=f"prodemb-network-{seed}-")
        _write_job(self.directory, config, seed, train_tokens, y_train, val_tokens, y_val,
                   word_vectors, taxonomy, vocabulary)
        self._stderr = open(os.path.join(self.directory, "stderr.txt"), "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prodemb.side_training", self.directory, str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=subprocess.STDOUT)

    def result(self, on_wait=None) -> tuple[ProductClassifier, list[dict], int | None]:
        """The trained network, its history and kept epoch; ``on_wait()`` is called once
        if it is not ready yet. Raises :class:`SideNetworkError` if its training failed or
        the process died (for instance killed for memory)."""
        if self.process.poll() is None and on_wait is not None:
            on_wait()
        code = self.process.wait()
        error = os.path.join(self.directory, "error.txt")
        if os.path.exists(error):
            with open(error, encoding="utf-8") as f:
                details = f.read()
            last = details.strip().splitlines()[-1] if details.strip() else "no message"
            raise SideNetworkError(f"training network with seed {self.seed} failed: {last}",
                                   details)
        if code != 0 or not os.path.exists(os.path.join(self.directory, "network.json")):
            how = (f"was ended by signal {-code} ({_signal_name(-code)})" if code < 0
                   else f"stopped without a result (exit code {code})")
            raise SideNetworkError(f"the process training network with seed {self.seed} {how}; "
                                   "to train the networks one after the other in one "
                                   "process, set classifier.parallel_members to false",
                                   self._output_tail())
        return _read_result(self.directory)

    def _output_tail(self, chars: int = 2000) -> str:
        with open(os.path.join(self.directory, "stderr.txt"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()[-chars:].strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self._stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"


def _write_job(directory: str, config: ClassifierConfig, seed: int, train_tokens, y_train,
               val_tokens, y_val, word_vectors, taxonomy, vocabulary) -> None:
    def vectors(wv: WordVectors | None, name: str) -> dict | None:
        if wv is None:
            return None
        np.save(os.path.join(directory, f"{name}.npy"), wv.vectors, allow_pickle=False)
        return {"words": list(wv.words), "counts": wv.counts.tolist()}

    np.save(os.path.join(directory, "y_train.npy"), np.asarray(y_train), allow_pickle=False)
    np.save(os.path.join(directory, "y_val.npy"), np.asarray(y_val), allow_pickle=False)
    job = {"config": dataclasses.asdict(config), "seed": seed,
           "train_tokens": [list(t) for t in train_tokens],
           "val_tokens": [list(t) for t in val_tokens],
           "taxonomy": None if taxonomy is None else taxonomy.to_json(),
           "start": vectors(word_vectors, "start"),
           # One copy when the start vectors are the vocabulary (a shared Word2Vec run).
           "vocabulary": ({"same_as": "start"}
                          if vocabulary is not None and vocabulary is word_vectors
                          else vectors(vocabulary, "vocabulary"))}
    with open(os.path.join(directory, "job.json"), "w", encoding="utf-8") as f:
        json.dump(job, f)


def _read_vectors(directory: str, name: str, meta: dict | None) -> WordVectors | None:
    if meta is None:
        return None
    vectors = np.load(os.path.join(directory, f"{name}.npy"), allow_pickle=False)
    return WordVectors(meta["words"], vectors, np.asarray(meta["counts"]))


def _read_result(directory: str) -> tuple[ProductClassifier, list[dict], int | None]:
    with open(os.path.join(directory, "network.json"), encoding="utf-8") as f:
        meta = json.load(f)
    net = ProductClassifier(ModelConfig(**meta["model"]))
    net.load_state_dict(load_file(os.path.join(directory, "network.safetensors")))
    return net.eval(), meta["history"], meta["kept_epoch"]


def train_job(directory: str) -> None:
    """Train the network of the job in ``directory`` and write its result there."""
    from .classifier import Classifier

    with open(os.path.join(directory, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    config = ClassifierConfig(**job["config"])
    torch.set_num_threads(config.threads)
    taxonomy = None if job["taxonomy"] is None else Taxonomy.from_json(job["taxonomy"])
    y_train = np.load(os.path.join(directory, "y_train.npy"), allow_pickle=False)
    y_val = np.load(os.path.join(directory, "y_val.npy"), allow_pickle=False)
    start = _read_vectors(directory, "start", job["start"])
    vocabulary = (start if job["vocabulary"] == {"same_as": "start"}
                  else _read_vectors(directory, "vocabulary", job["vocabulary"]))
    clf = Classifier(config, seed=job["seed"])
    clf._fit_network(job["seed"], job["train_tokens"], y_train, job["val_tokens"], y_val,
                     start, taxonomy, False, None, vocabulary=vocabulary)
    state = {k: v.detach().clone().contiguous() for k, v in clf.model.state_dict().items()}
    save_file(state, os.path.join(directory, "network.safetensors"))
    # network.json last: its presence says the result is complete.
    with open(os.path.join(directory, "network.json"), "w", encoding="utf-8") as f:
        json.dump({"model": clf.model.config.to_dict(), "history": clf.history,
                   "kept_epoch": clf.kept_epoch}, f, default=float)


def _end_with_parent(directory: str, parent: int) -> None:
    """End this process, and remove its job directory, when the parent process dies (on
    Linux; a ``prodemb train`` killed with SIGKILL must not leave a network training on its
    own). The parent's own :meth:`SideNetwork.stop` ends it with SIGTERM as well."""
    def end(signum, frame):
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)  # and end by the signal, as without this handler
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, end)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the process ends when its training does
        return
    if os.getppid() != parent:  # the parent died before prctl
        end(signal.SIGTERM, None)


if __name__ == "__main__":
    _end_with_parent(sys.argv[1], int(sys.argv[2]))
    try:
        train_job(sys.argv[1])
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        with open(os.path.join(sys.argv[1], "error.txt"), "w", encoding="utf-8") as f:
            f.write(traceback.format_exc())
        sys.exit(1)
