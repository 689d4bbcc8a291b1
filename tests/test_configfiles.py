"""The generic configuration machinery (m3lrn_lib.train.configfiles) on a small stand-alone dataclass tree:
closest-key errors, coercion of command-line text, extends chains with cycle detection, TOML round trip."""
from dataclasses import dataclass, field

import pytest

from m3lrn_lib.train import configfiles


class MyError(ValueError):
    pass


@dataclass
class Optim:
    lr: float = 0.1
    epochs: int = 10
    nesterov: bool = False
    milestones: list = field(default_factory=lambda: [5, 8])
    name: str = "sgd"


@dataclass
class Run:
    seed: int = 0
    tag: str = "x"


@dataclass
class Cfg:
    run: Run = field(default_factory=Run)
    optim: Optim = field(default_factory=Optim)

    def validate(self):
        if self.optim.epochs < 1:
            raise MyError("optim.epochs must be >= 1")
        return self


def _set(cfg, key, value):
    configfiles.set_key(cfg, key, value, candidates=configfiles.section_keys(cfg), error=MyError)


def _build(data, base, source):
    cfg = base if base is not None else Cfg()
    return configfiles.overlay(cfg, data, _set, candidates=configfiles.section_keys(cfg), error=MyError, source=source)


def _apply(cfg, overrides):
    return configfiles.apply_overrides(cfg, overrides, _set, error=MyError)


def _load(name, folder, overrides=()):
    return configfiles.load_preset(name, overrides, folder=folder, build=_build, apply=_apply, error=MyError)


def test_keys_and_closest_key_error():
    assert configfiles.section_keys(Cfg()) == ["run.seed", "run.tag", "optim.lr", "optim.epochs", "optim.nesterov",
                                      "optim.milestones", "optim.name"]
    keys = configfiles.section_keys(Cfg())
    for key, near in [("optim.lrr", "optim.lr"), ("optm.lr", "optim.lr"), ("epoch", "optim.epochs")]:
        err = configfiles.closest_key_error(key, keys, error=MyError)
        assert isinstance(err, MyError) and str(err) == f"unknown config key {key!r}; did you mean {near!r}?"
    assert str(configfiles.closest_key_error("zzzzzz", keys, what="thing")) == "unknown thing 'zzzzzz'"
    with pytest.raises(MyError, match="did you mean 'run.seed'"):
        _apply(Cfg(), ["run.sed=3"])
    with pytest.raises(MyError, match="section.key=value"):
        _apply(Cfg(), ["run.seed"])


@pytest.mark.parametrize("text, default, expected", [
    ("true", False, True), ("Off", True, False), ("1", False, True), ("yes", False, True),
    ("12", 0, 12), ("1e3", 0, 1000), ("5.0", 0, 5), ("5e-4", 0.1, 5e-4), ("3", 0.1, 3.0),
    ("9,12", [1], [9, 12]), ("[4, 7]", [1], [4, 7]), ("[]", [1], []), ("a, 2.5, true", [1], ["a", 2.5, True]),
    ("/x/y", "s", "/x/y")])
def test_coercion_from_command_line(text, default, expected):
    value = configfiles.coerce("k", text, default, error=MyError)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text, default", [("maybe", False), ("1.5", 0), ("abc", 0), ("abc", 0.5), (3, "s"),
                                           (True, 0), (True, 0.5), (7, [1])])
def test_coercion_errors(text, default):
    with pytest.raises(MyError, match="cannot use"):
        configfiles.coerce("k", text, default, error=MyError)


def test_coercion_options():
    assert configfiles.coerce("k", " 'abc' ", "s", loose_str=True) == "abc"
    assert configfiles.coerce("k", 3, "s", loose_str=True) == "3"
    assert configfiles.coerce("k", 1.0, False) is True
    with pytest.raises(ValueError, match="^k: cannot use 1.0 as a bool$"):
        configfiles.coerce("k", 1.0, False, bool_from_float=False, message="{key}: cannot use {value!r} as a {kind}")
    with pytest.raises(ValueError):
        configfiles.coerce("k", "5.0", 0, int_text_as_float=False)
    assert configfiles.coerce("k", " 5 ", 0, int_text_as_float=False) == 5


def test_extends_chain_and_cycle(tmp_path):
    (tmp_path / "base.toml").write_text("[optim]\nlr = 0.5\nepochs = 20\n")
    (tmp_path / "mid.toml").write_text('extends = "base"\n[run]\nseed = 3\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "leaf.toml").write_text('extends = "../mid.toml"\n[optim]\nepochs = 4\n')
    assert configfiles.list_presets(tmp_path) == ["base", "mid"]
    cfg = _load(sub / "leaf.toml", tmp_path, ["optim.nesterov=on"])
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.run.seed, cfg.optim.nesterov) == (0.5, 4, 3, True)
    assert _load("mid", tmp_path) == _load(tmp_path / "mid.toml", tmp_path)
    (tmp_path / "a.toml").write_text('extends = "b"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(MyError, match="'extends' makes a cycle"):
        _load("a", tmp_path)
    with pytest.raises(MyError, match="unknown preset 'mdi'.*did you mean 'mid'"):
        _load("mdi", tmp_path)
    (tmp_path / "bad.toml").write_text("[optim]\nepochs = 0\n")
    with pytest.raises(MyError, match="epochs must be >= 1"):
        _load("bad", tmp_path)
    (tmp_path / "typo.toml").write_text("[optim]\nlearning_rate = 1\n")
    with pytest.raises(MyError, match="unknown config key 'optim.learning_rate'"):
        _load("typo", tmp_path)


def test_to_toml_round_trip(tmp_path):
    cfg = _apply(Cfg(), ["optim.lr=0.025", "optim.milestones=2,3", "run.tag=a \"q\" b", "optim.nesterov=true"])
    text = configfiles.to_toml(cfg, header="two\nlines", derived={"steps": 12, "none": None, "big": float("inf")})
    assert text.startswith("# two\n# lines\n") and "[derived]" in text and "none" not in text
    f = tmp_path / "saved.toml"
    f.write_text(text)
    assert _load(f, tmp_path) == cfg
    assert configfiles.to_dict(cfg)["optim"]["milestones"] == [2, 3]
    assert configfiles.toml_value(float("nan")) == "nan" and configfiles.toml_value([1, "a", False]) == '[1, "a", false]'
    with pytest.raises(MyError, match="cannot write"):
        configfiles.toml_value({1, 2}, error=MyError)
