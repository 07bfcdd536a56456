"""The training config is validated before any work starts (prodemb/config.py), and the
CLI's reader flags are generated from ReaderOptions (prodemb/cli.py). Fast: no training."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess

import pytest
from reliability_helpers import PRODEMB, ROOT, assert_refused, cli_env
from reliability_helpers import run_cli as run

from prodemb.catalogue import PRESETS, ReaderOptions
from prodemb.cli import READER_FIELDS, build_parser, reader_flag, reader_options
from prodemb.config import ClassifierConfig, ConfigError, SplitConfig, TrainConfig

# ---------------------------------------------------------------------- config values
#: (config, the field named in the message, a pattern of what it says)
BAD_CONFIGS = {
    "string for int": ({"classifier": {"epochs": "12"}}, "classifier.epochs",
                       r"valid integer, got '12'"),
    "float for int": ({"classifier": {"epochs": 12.5}}, "classifier.epochs", r"valid integer"),
    "bool for int": ({"word2vec": {"vector_size": True}}, "word2vec.vector_size",
                     r"valid integer"),
    "int for bool": ({"word2vec": {"sg": 1}}, "word2vec.sg", r"valid boolean, got 1"),
    "string for float": ({"classifier": {"learning_rate": "0.01"}}, "classifier.learning_rate",
                         r"valid number"),
    "below range": ({"classifier": {"batch_size": 0}}, "classifier.batch_size",
                    r"greater than or equal to 1, got 0"),
    "share above 1": ({"classifier": {"dropout": 1.5}}, "classifier.dropout", r"less than 1"),
    "negative seed": ({"seed": -1}, "seed", r"greater than or equal to 0"),
    "unknown scheme": ({"classifier": {"pos_weight": "sqrt-inverse"}}, "classifier.pos_weight",
                       r"'sqrt_inverse', 'inverse' or 'none', got 'sqrt-inverse'"),
    "unknown keep": ({"classifier": {"keep": "first"}}, "classifier.keep", r"'best' or 'last'"),
    "unknown map": ({"maps": {"methods": ["tsne", "pca"]}}, "maps.methods[1]",
                    r"'tsne' or 'umap', got 'pca'"),
    "one n-gram length": ({"classifier": {"subword_ngrams": [3]}}, "classifier.subword_ngrams",
                          r"\[lo, hi\].*got \[3\]"),
    "n-grams reversed": ({"classifier": {"wide_char_ngrams": [5, 3]}},
                         "classifier.wide_char_ngrams", r"1 <= lo <= hi"),
    "split sum": ({"split": {"train": 0.7, "validation": 0.1, "test": 0.1}}, "split",
                  r"must sum to 1, got 0.7 \+ 0.1 \+ 0.1 = 0.9"),
    "not an object": ({"classifier": 3}, "classifier", r"dictionary"),
    "not finite": ({"classifier": {"max_train_minutes": float("nan")}},
                   "classifier.max_train_minutes", r"finite"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_value_is_refused_naming_the_field(name):
    data, field, pattern = BAD_CONFIGS[name]
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(data)
    message = str(e.value)
    assert f"{field}: " in message, message
    assert re.search(pattern, message), message
    assert "\n" not in message and "pydantic" not in message, message


def test_unknown_keys_are_refused_with_the_known_ones():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"classifer": {}, "classifier": {"epoch": 3, "epochs": 3}})
    message = str(e.value)
    assert "unknown key(s) 'epoch' in classifier; known: lstm_hidden," in message
    assert "unknown key(s) 'classifer' in the config; known: seed, min_leaf_count, text" in message


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"seed": "0", "classifier": {"batch_size": 0, "pos_weight": "x"}})
    message = str(e.value)
    assert all(f in message for f in ("seed: ", "classifier.batch_size: ", "classifier.pos_weight: "))


def test_not_an_object():
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        TrainConfig.from_dict([])


def test_valid_configs_are_unchanged():
    """Defaults, the shipped configs and a round trip through JSON keep every value (the
    same metrics for the same seed); ints are fine where floats are expected."""
    default = TrainConfig()
    assert TrainConfig.from_dict({}) == default
    assert TrainConfig.from_dict(json.loads(json.dumps(default.to_dict()))) == default
    assert TrainConfig.from_dict(default.to_dict()).to_dict() == default.to_dict()
    for name in ("tiny.json", "demo.json"):
        path = ROOT / "configs" / name
        config = TrainConfig.from_json_file(str(path))
        raw = json.loads(path.read_text())
        for part, values in raw.items():
            if isinstance(values, dict):
                for key, value in values.items():
                    assert getattr(getattr(config, part), key) == value
    config = TrainConfig.from_dict({"classifier": {"learning_rate": 1, "wide_char_ngrams": [0, 0],
                                                   "sigmoid_weight": None}})
    assert config.classifier.learning_rate == 1.0
    assert config.classifier.wide_char_ngrams == (0, 0)  # a tuple, as the default
    assert config.classifier.sigmoid_weight is None
    assert default.classifier.subword_ngrams == (3, 5)


def test_config_is_validated_in_code_too():
    """Made in code, replaced or assigned: a bad value fails there, not after Word2Vec."""
    with pytest.raises(ValueError, match="pos_weight"):
        ClassifierConfig(pos_weight="sqrt-inverse")
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(TrainConfig().classifier, epochs="12")
    config = TrainConfig()
    with pytest.raises(ValueError, match="epochs"):
        config.classifier.epochs = "12"
    with pytest.raises(ValueError, match="must sum to 1"):
        SplitConfig(train=0.5)
    config.split.train = 0.7  # one of several assignments: the sum is checked when made
    config.split.validation = 0.2
    assert TrainConfig.from_dict(config.to_dict()).split.validation == 0.2


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"classifier": {"epochs": 3,}}')
    with pytest.raises(ConfigError, match=r"broken.json: not valid JSON"):
        TrainConfig.from_json_file(str(path))


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def no_training(monkeypatch):
    """train_bundle replaced: a call would mean work started despite a bad config."""
    import prodemb.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(prodemb.pipeline, "train_bundle", refuse)


@pytest.mark.parametrize("name", ["unknown scheme", "one n-gram length", "split sum"])
def test_train_refuses_a_bad_config_before_reading(capsys, tmp_path, no_training, name):
    data, field, _ = BAD_CONFIGS[name]
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(data))
    out = tmp_path / "model"
    code, _, err = run(capsys, ["train", "--data", str(tmp_path / "missing.csv"), "--out",
                                str(out), "--config", str(config), "-q"])
    line = assert_refused(code, err, "train", re.escape(f"{field}: "))
    assert "bad.json" in line
    assert not out.exists()


def test_train_refuses_unknown_config_keys(capsys, tmp_path, no_training):
    config = tmp_path / "typo.json"
    config.write_text('{"clasifier": {"epochs": 3}}')
    code, _, err = run(capsys, ["train", "--data", "x.csv", "--out", str(tmp_path / "m"),
                                "--config", str(config)])
    assert_refused(code, err, "train", r"typo.json: unknown key\(s\) 'clasifier'.*known: .*classifier")


def test_train_refuses_a_bad_config_from_the_command(tmp_path):
    """The installed command: exit 2, one error line, no traceback."""
    config = tmp_path / "bad.json"
    config.write_text('{"classifier": {"epochs": "12"}}')
    proc = subprocess.run([PRODEMB, "train", "--data", str(tmp_path / "missing.csv"), "--out",
                           str(tmp_path / "model"), "--config", str(config)],
                          capture_output=True, text=True, env=cli_env(), timeout=120)
    assert_refused(proc.returncode, proc.stderr, "train", r"classifier\.epochs: input should be "
                   r"a valid integer, got '12'")


@pytest.mark.parametrize("flag", [["--epochs", "-1"], ["--seed", "-1"], ["--split-seed", "x"]])
def test_train_flags_are_checked_like_the_config(capsys, tmp_path, flag):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--data", "x.csv", "--out", str(tmp_path / "m"),
                                   *flag])
    assert e.value.code == 2
    assert flag[0] in capsys.readouterr().err


def test_epochs_flag_trains_that_many_epochs(monkeypatch, tmp_path):
    """`prodemb train --epochs 3` means 3 epochs: without it the config's min_steps turned
    3 into 34 epochs on a 15,000-product catalogue. The config file's epochs keep min_steps."""
    import prodemb.pipeline
    from prodemb.cli import main

    seen = []

    def fake_train(data, out, options, config, **kwargs):
        seen.append(config.classifier)
        raise ValueError("stop here")

    monkeypatch.setattr(prodemb.pipeline, "train_bundle", fake_train)
    out = str(tmp_path / "m")
    assert main(["train", "--data", "x.csv", "--out", out, "--epochs", "3", "-q"]) == 2
    assert (seen[-1].epochs, seen[-1].min_steps) == (3, 0)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"classifier": {"epochs": 3}}))
    assert main(["train", "--data", "x.csv", "--out", out, "--config", str(config), "-q"]) == 2
    assert (seen[-1].epochs, seen[-1].min_steps) == (3, ClassifierConfig().min_steps)


def test_maps_flag_chooses_the_maps(monkeypatch, tmp_path, capsys):
    """`prodemb train --maps umap` / `--maps none`: the maps can be most of a quick
    training's time, and only a config file could turn them off."""
    import prodemb.pipeline
    from prodemb.cli import main

    seen = []

    def fake_train(data, out, options, config, **kwargs):
        seen.append(list(config.maps.methods))
        raise ValueError("stop here")

    monkeypatch.setattr(prodemb.pipeline, "train_bundle", fake_train)
    out = str(tmp_path / "m")
    for flag, want in (("umap", ["umap"]), ("none", []), ("UMAP, tsne", ["umap", "tsne"])):
        assert main(["train", "--data", "x.csv", "--out", out, "--maps", flag, "-q"]) == 2
        assert seen[-1] == want
    assert main(["train", "--data", "x.csv", "--out", out, "-q"]) == 2
    assert seen[-1] == ["tsne", "umap"]
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "x.csv", "--out", out, "--maps", "pca"])
    assert e.value.code == 2 and "give tsne, umap" in capsys.readouterr().err


# ---------------------------------------------------------------------- reader flags
def subcommand(name: str):
    return build_parser()._subparsers._group_actions[0].choices[name]


def reader_actions(command: str) -> dict[str, object]:
    return {a.dest: a for a in subcommand(command)._actions if a.dest in READER_FIELDS}


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "check"])
def test_every_reader_option_has_a_flag(command):
    fields = [f.name for f in dataclasses.fields(ReaderOptions)]
    assert list(READER_FIELDS) == fields
    actions = reader_actions(command)
    assert set(actions) == set(fields)
    for name, action in actions.items():
        assert action.option_strings == [reader_flag(name)]
        assert action.default is None  # not given: the base options stay
    assert actions["duplicate_ids"].choices == ["error", "warn", "keep"]
    assert actions["bad_paths"].choices == ["error", "skip"]
    assert actions["format"].choices == ["csv", "tsv", "jsonl", "parquet"]
    assert actions["max_depth"].type is int and actions["chunk_size"].type is int
    assert actions["allow_multiline"].nargs == 0  # a switch


def test_flags_of_each_type_reach_the_options():
    args = build_parser().parse_args([
        "check", "--data", "x.csv", "--text-columns", "name, brand", "--id-column", "",
        "--level-columns", "a,b", "--max-depth", "3", "--duplicate-ids", "keep",
        "--format", "tsv", "--allow-multiline", "--encoding", "cp1250"])
    opts = reader_options(args)
    assert opts == ReaderOptions(text_columns=["name", "brand"], id_column=None,
                                 label_column=None, level_columns=["a", "b"], max_depth=3,
                                 duplicate_ids="keep", format="tsv", allow_multiline=True,
                                 encoding="cp1250")
    # No flag given: the base (a preset here) as it is.
    args = build_parser().parse_args(["check", "--data", "x.csv", "--preset", "fashion"])
    assert reader_options(args) == PRESETS["fashion"]


def test_a_new_reader_option_gets_a_flag(monkeypatch):
    """A field added to ReaderOptions needs no CLI edit: its flag comes from its type."""
    import prodemb.cli as cli

    @dataclasses.dataclass
    class WithSheet(ReaderOptions):
        sheet: int | None = None

    monkeypatch.setattr(cli, "ReaderOptions", WithSheet)
    monkeypatch.setattr(cli, "READER_FIELDS", tuple(f.name for f in dataclasses.fields(WithSheet)))
    args = build_parser().parse_args(["check", "--data", "x.xlsx", "--sheet", "2"])
    assert args.sheet == 2


@pytest.mark.parametrize(("flag", "value"), [("--max-depth", "two"),
                                             ("--duplicate-ids", "drop")])
def test_bad_reader_flag_is_a_usage_error(capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["check", "--data", "x.csv", flag, value])
    assert e.value.code == 2
    assert flag in capsys.readouterr().err



def test_bundle_encoding_and_delimiter_apply_to_files_of_its_format_only(capsys):
    """A bundle trained on a Windows-1252, semicolon CSV reads another CSV that way, but the
    JSON Lines copy of that catalogue as UTF-8 (it read "für" as "fÃ¼r" before, silently
    changing the texts and the scores); a flag given still wins."""
    import types

    from prodemb.cli import bundle_reader

    trained = ReaderOptions(text_columns=["Bezeichnung"], id_column="Artikelnummer",
                            encoding="cp1252", delimiter=";")
    bundle = types.SimpleNamespace(reader_options=trained,
                                   manifest={"data": {"file": "feed.csv"}})

    def read(*argv):
        args = build_parser().parse_args(["predict", "--bundle", "b", "--out", "o.csv", *argv])
        return bundle_reader(args, bundle, "predict", ("text_columns", "encoding", "delimiter"))

    csv_opts = read("--in", "holdout.csv")
    assert (csv_opts.encoding, csv_opts.delimiter) == ("cp1252", ";")
    assert "--encoding cp1252 --delimiter ';'" in capsys.readouterr().err
    jsonl = read("--in", "holdout.jsonl")
    assert (jsonl.encoding, jsonl.delimiter, jsonl.text_columns) == ("utf-8", ",", ["Bezeichnung"])
    assert "cp1252" not in capsys.readouterr().err
    assert read("--in", "holdout.jsonl", "--encoding", "latin-1").encoding == "latin-1"
    assert read("--in", "holdout.txt", "--format", "csv").encoding == "cp1252"


def test_a_utf8_file_is_read_as_utf8_by_a_windows_1252_bundle(tmp_path, capsys):
    """The shop's next export saved as UTF-8 (with or without Excel's byte order mark) is
    read as UTF-8, not in the bundle's cp1252 ("für" became "fÃ¼r" silently, and a mark
    made the id column 'ï»¿Artikelnummer'); a Windows-1252 or ASCII file keeps the bundle's
    encoding, and --encoding still decides."""
    import codecs
    import types

    from prodemb.cli import bundle_reader

    trained = ReaderOptions(text_columns=["Bezeichnung"], id_column="Artikelnummer",
                            encoding="cp1252", delimiter=";")
    bundle = types.SimpleNamespace(reader_options=trained, manifest={"data": {"file": "feed.csv"}})
    text = "Artikelnummer;Bezeichnung\r\nA-1;T-Shirt für Herren – Größe M\r\n"
    files = {"utf8": text.encode("utf-8"), "bom": codecs.BOM_UTF8 + text.encode("utf-8"),
             "cp1252": text.encode("cp1252"), "ascii": b"Artikelnummer;Bezeichnung\r\nA-1;Shirt\r\n"}

    def encoding(name, *flags):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(files[name])
        args = build_parser().parse_args(["predict", "--bundle", "b", "--in", str(path), "--out",
                                          str(tmp_path / "o.csv"), *flags])
        return bundle_reader(args, bundle, "predict", ("encoding",)).encoding

    assert encoding("utf8") == "utf-8"
    assert "utf8.csv is UTF-8 text" in capsys.readouterr().err
    assert encoding("bom") == "utf-8"
    assert encoding("cp1252") == "cp1252"
    assert encoding("ascii") == "cp1252"
    assert encoding("utf8", "--encoding", "cp1252") == "cp1252"
