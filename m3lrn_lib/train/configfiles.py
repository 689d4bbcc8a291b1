"""Dataclass configurations stored as TOML (or YAML) preset files: the one dialect of both trainers.

A configuration here is a dataclass whose fields are *sections*, each itself a dataclass of
plain values (``cfg.optim.lr``). This module holds everything that does not depend on which
configuration class it serves: dotted keys (``section.key``), the closest-key error for a
misspelt key (difflib), coercion of command-line text (or parsed file values) to a field's type,
overlaying a parsed file on a configuration, ``section.key=value`` overrides, preset folders
with ``extends = "NAME"`` chains (with cycle detection), and a TOML writer.

:class:`ConfigFiles` binds these to one configuration class and its presets folder (see
:func:`m3lrn_lib.paths.presets_dir`); :mod:`m3lrn_lib.train.config` (landmark trainer) and
:mod:`m3lrn_lib.texture.config` (texture GAN) each make one and only declare their sections,
validation and options. The plain functions take the configuration, the folder and the error
class as parameters; every error of the two trainers' configurations is a :class:`ConfigError`.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path

from .. import paths
from ..errors import UserError

__all__ = ["ConfigError", "ConfigFiles", "sections", "section_keys", "closest_key_error", "TRUE_WORDS", "FALSE_WORDS",
           "parse_scalar", "coerce", "find_field", "field_default", "assign", "set_key", "overlay", "apply_overrides",
           "list_presets", "resolve_preset", "read_table", "read_text_file", "load_preset", "to_dict", "toml_value", "to_toml"]


class ConfigError(UserError):
    """A configuration file or override is invalid (the message names the key)."""


# ----------------------------------------------------------------------------- keys
def sections(cfg) -> dict:
    """The sections of a configuration dataclass: ``{name: section instance}`` in field order."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def section_keys(cfg) -> list[str]:
    """Every dotted ``section.key`` of ``cfg`` (sections and their fields in declaration order)."""
    return [f"{s}.{f.name}" for s, sec in sections(cfg).items() for f in dataclasses.fields(sec)]


def closest_key_error(key: str, candidates, *, error: type[Exception] = ValueError,
                      what: str = "config key") -> Exception:
    """The exception (not raised) for an unknown ``key``, naming the closest of ``candidates``.

    The whole key is matched first (difflib, cutoff 0.5); failing that its last component alone
    (``"lrr"`` finds ``"optim.lr"``, cutoff 0.6). The message reads
    ``unknown {what} 'KEY'; did you mean 'NEAR'?`` (the hint only when something is close).
    """
    near = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.5)
    if not near:  # also try the last component alone ("lrr" -> "optim.lr")
        tail = {c.rsplit(".", 1)[-1]: c for c in candidates}
        hit = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(tail), n=1, cutoff=0.6)
        near = [tail[hit[0]]] if hit else []
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return error(f"unknown {what} {key!r}{hint}")


# ----------------------------------------------------------------------------- values
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")

COERCE_MESSAGE = "config key {key!r}: cannot use {value!r} as a {kind} (default {default!r})"


def parse_scalar(s: str):
    """Parse a command-line scalar like TOML would: true/false, int, float, else a string
    (surrounding quotes removed)."""
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s.strip("'\"")


def coerce(key: str, value, default, *, error: type[Exception] = ValueError, message: str = COERCE_MESSAGE,
           int_text_as_float: bool = True, bool_from_float: bool = True, loose_str: bool = False):
    """Coerce ``value`` (a string from the command line, or a parsed file value) to the type of ``default``.

    * bool: ``True``/``False``; the words true/1/yes/on and false/0/no/off (any case); the
      numbers 0 and 1 (floats 0.0 / 1.0 too unless ``bool_from_float=False``).
    * int: ints (not bools), whole floats; text parsed as a float that must be whole (``"5e3"``),
      or with ``int_text_as_float=False`` as an int literal only.
    * float: any number but a bool, or numeric text.
    * str: text unchanged; with ``loose_str=True`` numbers are accepted too and the text is
      stripped of spaces and surrounding quotes.
    * list: lists/tuples, or text ``9,12`` / ``[9, 12]`` (items via :func:`parse_scalar`).
    * dict: a dict (copied).

    Anything else raises ``error(message)``; ``message`` is a :meth:`str.format` template with
    ``key``, ``value``, ``kind`` (the type's name) and ``default``.
    """
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if (isinstance(value, (int, float)) and value in (0, 1)
                    and (bool_from_float or not isinstance(value, float))):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
                return value.strip().lower() in TRUE_WORDS
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                if not int_text_as_float:
                    return int(value.strip())
                f = float(value)
                if not f.is_integer():
                    raise ValueError
                return int(f)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError
            return value
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(default, str):
            if loose_str:
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise ValueError
                return str(value).strip().strip("'\"")
            if not isinstance(value, str):
                raise ValueError
            return value
        if isinstance(default, list):
            if isinstance(value, str):
                s = value.strip().strip("[]").strip()
                value = [] if not s else [parse_scalar(x.strip()) for x in s.split(",")]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return list(value)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        pass
    raise error(message.format(key=key, value=value, kind=type(default).__name__, default=default))


# ----------------------------------------------------------------------------- setting keys
def find_field(cfg, key: str, candidates, *, error: type[Exception] = ValueError, what: str = "config key"):
    """``(section instance, field name)`` for a dotted ``key`` whose first two parts name a section
    of ``cfg`` and one of its fields (further parts are the caller's business); otherwise raise
    :func:`closest_key_error` over ``candidates``."""
    parts = key.split(".")
    secs = sections(cfg)
    if len(parts) < 2 or parts[0] not in secs or parts[1] not in {f.name for f in dataclasses.fields(secs[parts[0]])}:
        raise closest_key_error(key, candidates, error=error, what=what)
    return secs[parts[0]], parts[1]


def field_default(section, name: str):
    """The default value of field ``name`` of a section (from a fresh instance of its class)."""
    return getattr(type(section)(), name)


def assign(section, name: str, value) -> None:
    """Set a section's field, frozen dataclasses included."""
    if getattr(getattr(type(section), "__dataclass_params__", None), "frozen", False):
        object.__setattr__(section, name, value)
    else:
        setattr(section, name, value)


def set_key(cfg, key: str, value, *, candidates, error: type[Exception] = ValueError, what: str = "config key",
            coerce_value: Callable | None = None) -> None:
    """Set the two-part dotted ``key`` of ``cfg`` to ``value`` coerced to the field's type.

    ``candidates``: the valid keys (for the closest-key error); ``coerce_value(key, value,
    default)``: the coercion (default :func:`coerce` raising ``error``).
    """
    section, name = find_field(cfg, key, candidates, error=error, what=what)
    if len(key.split(".")) != 2:
        raise closest_key_error(key, candidates, error=error, what=what)
    conv = coerce_value or (lambda k, v, d: coerce(k, v, d, error=error))
    assign(section, name, conv(key, value, field_default(section, name)))


def overlay(cfg, data: dict, set_one: Callable, *, candidates, error: type[Exception] = ValueError,
            what: str = "config key", source: str = "config", skip=("extends",)):
    """Overlay a parsed file's nested dict ``{section: {key: value}}`` on ``cfg`` in place and return it.

    Top-level names in ``skip`` are ignored; an unknown section raises the closest-key error over
    the section names and ``candidates``; a section that is not a table raises ``error``.
    ``set_one(cfg, "section.key", value)`` sets each value.
    """
    secs = list(sections(cfg))
    for section, values in data.items():
        if section in skip:
            continue
        if section not in secs:
            raise closest_key_error(section, secs + list(candidates), error=error, what=what)
        if not isinstance(values, dict):
            raise error(f"{source}: [{section}] must be a table, got {values!r}")
        for key, value in values.items():
            set_one(cfg, f"{section}.{key}", value)
    return cfg


def apply_overrides(cfg, overrides, set_one: Callable, *, error: type[Exception] = ValueError,
                    example: str = "optim.lr=0.01"):
    """Apply ``["section.key=value", ...]`` to a deep copy of ``cfg`` with ``set_one(cfg, key, text)``
    (key and value stripped); an item without ``=`` raises ``error`` quoting ``example``."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or ():
        if "=" not in item:
            raise error(f"override {item!r} must look like section.key=value (e.g. {example})")
        key, value = item.split("=", 1)
        set_one(cfg, key.strip(), value.strip())
    return cfg


# ----------------------------------------------------------------------------- preset files
def list_presets(folder: Path, suffixes=(".toml",)) -> list[str]:
    """Sorted names of the preset files in ``folder`` with one of ``suffixes``."""
    return sorted({p.stem for p in Path(folder).glob("*") if p.suffix in suffixes})


def resolve_preset(name_or_path, folder: Path, *, suffixes=(".toml",), error: type[Exception] = ValueError,
                   what: str = "preset", kinds: str = ".toml") -> Path:
    """The file for a preset name (``folder/NAME.toml``, suffixes tried in order) or a file path.

    A path with one of ``suffixes``, or any existing path, must be a file. An unknown name raises
    ``error`` listing the presets (``what`` names them, ``kinds`` the accepted file types) and
    the closest name.
    """
    folder = Path(folder)
    p = Path(name_or_path)
    if p.suffix in suffixes or p.exists():
        if p.is_dir():
            raise error(f"{p}: is a folder, not a configuration file (give a {kinds} file)")
        if not p.is_file():
            raise error(f"config file not found: {p}")
        return p
    for ext in suffixes:
        if (folder / f"{name_or_path}{ext}").is_file():
            return folder / f"{name_or_path}{ext}"
    names = list_presets(folder, suffixes)
    near = difflib.get_close_matches(str(name_or_path), names, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise error(f"unknown {what} {str(name_or_path)!r} (presets: {names}, or give a {kinds} file){hint}")


def read_table(path: Path, *, error: type[Exception] = ValueError, yaml_ok: bool = True) -> dict:
    """Parse a TOML file (YAML for ``.yaml``/``.yml`` when ``yaml_ok``; needs PyYAML) into a dict;
    the informational ``[derived]`` table written by :func:`to_toml` is dropped."""
    path = Path(path)
    text = read_text_file(path, error=error)
    if yaml_ok and path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise error(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use TOML") from None
        try:
            data = yaml.safe_load(text) or {}
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise error(f"{path}: invalid YAML ({detail})") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise error(f"{path}: invalid TOML ({' '.join(str(exc).split())[:300]})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a table of sections ([run], [optim], ...), got {type(data).__name__}")
    data.pop("derived", None)  # informational numbers written by to_toml
    return data


def read_text_file(path: Path, *, error: type[Exception] = ValueError, limit: int = 1 << 20) -> str:
    """The UTF-8 text of a configuration file; ``error`` naming the file for a folder, an unreadable
    file, binary data (a NUL byte or invalid UTF-8: e.g. an image given as ``--config``) or a file
    over ``limit`` bytes."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a configuration file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the configuration file ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise error(f"{path}: too large for a configuration file (over {limit // 1024} KiB); give a .toml/.yaml file")
    nul = raw.find(bytes(1))
    if nul >= 0:
        raise error(f"{path}: binary data (NUL byte at offset {nul}), not a TOML/YAML text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: binary data (not UTF-8 text at byte {exc.start}), not a TOML/YAML text file") from None


def load_preset(name_or_path, overrides=(), *, folder: Path, build: Callable, apply: Callable,
                error: type[Exception] = ValueError, suffixes=(".toml",), what: str = "preset", kinds: str = ".toml",
                relative_suffixes=None, _seen=None):
    """Load a preset name or file, follow ``extends = "NAME"`` chains, apply overrides, validate.

    The file is found with :func:`resolve_preset` and read with :func:`read_table` (YAML only
    when ``suffixes`` include it). ``extends`` names a preset, or a file that is taken relative
    to the extending file when its suffix is in ``relative_suffixes`` (``None``: any suffix). The
    parent is loaded (and validated) the same way first; a chain that comes back to a file
    already in it raises ``error("PATH: 'extends' makes a cycle")``. Then
    ``build(data, base, source)`` overlays the file on the parent (``None`` at the root),
    ``apply(cfg, overrides)`` applies the overrides and the result's ``validate()`` is returned.
    """
    def resolve(p):
        return resolve_preset(p, folder, suffixes=suffixes, error=error, what=what, kinds=kinds)

    path = resolve(name_or_path)
    seen = set(_seen or ()) | {path.resolve()}
    data = read_table(path, error=error, yaml_ok=any(s in (".yaml", ".yml") for s in suffixes))
    base = None
    if "extends" in data:
        parent = data["extends"]
        ppath = parent
        suffix = Path(parent).suffix
        if (suffix if relative_suffixes is None else suffix in relative_suffixes) and not Path(parent).is_absolute():
            ppath = path.parent / parent
        elif suffix and relative_suffixes is None:
            ppath = Path(parent)
        if resolve(ppath).resolve() in seen:
            raise error(f"{path}: 'extends' makes a cycle")
        base = load_preset(ppath, (), folder=folder, build=build, apply=apply, error=error, suffixes=suffixes,
                           what=what, kinds=kinds, relative_suffixes=relative_suffixes, _seen=seen)
    cfg = build(data, base, str(path))
    return apply(cfg, overrides).validate()


# ----------------------------------------------------------------------------- writing
def to_dict(cfg) -> dict:
    """Plain nested dict of a configuration (JSON / checkpoint friendly)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def toml_value(v, *, error: type[Exception] = ValueError) -> str:
    """A TOML literal for a bool, int, float (nan / inf too), string or list of these."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if not isinstance(v, float) or math.isfinite(v) else ("nan" if v != v else
                                                                             ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x, error=error) for x in v) + "]"
    raise error(f"cannot write {v!r} ({type(v).__name__}) to TOML")


def to_toml(cfg, header: str = "", derived: dict | None = None, *, value: Callable | None = None,
            error: type[Exception] = ValueError,
            derived_note: str = "computed at start-up; ignored when this file is loaded") -> str:
    """A configuration as TOML text: ``# header`` lines, one table per section, a nested table per
    dict-valued field (``[model.options]``); ``None`` values are left out (TOML has no null).

    ``derived``: informational numbers written to a ``[derived]`` table (``# derived_note``) that
    :func:`read_table` drops. ``value``: the literal writer (default :func:`toml_value` raising ``error``).
    """
    val = value or (lambda v: toml_value(v, error=error))
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    for section, values in to_dict(cfg).items():
        lines.append(f"\n[{section}]")
        nested = {}
        for k, v in values.items():
            if isinstance(v, dict):
                nested[k] = v
            elif v is not None:
                lines.append(f"{k} = {val(v)}")
        for k, v in nested.items():
            lines.append(f"\n[{section}.{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items() if vv is not None]
    if derived:
        lines.append(f"\n[derived]  # {derived_note}")
        lines += [f"{k} = {val(v)}" for k, v in derived.items() if v is not None]
    return "\n".join(lines).lstrip("\n") + "\n"


# ----------------------------------------------------------------------------- one configuration class
class ConfigFiles:
    """Presets, overrides and TOML files of one configuration class.

    Args:
        config_class: the dataclass of sections (instantiable without arguments; its instances
            have ``validate()``, which returns the instance).
        presets: the presets folder's kind for :func:`m3lrn_lib.paths.presets_dir`
            (``"landmarks"`` or ``"texture"``), resolved at each use.
        error: the exception raised for any bad file, key or value.
        what: how an unknown key is called in messages (``config key``); preset: how a preset is.
        suffixes: preset file types, tried in this order; relative_suffixes: an ``extends`` file
            with one of these suffixes is taken relative to the extending file (None: any).
        coerce_options: keyword arguments of :func:`coerce` (strictness, message).
        example: an override quoted in the error for an item without ``=``.
        skip: top-level tables of a file that are not sections.
        scalars_only: :meth:`to_toml` refuses lists (the configuration has none).
        derived_note: the comment of the ``[derived]`` table :meth:`to_toml` writes.

    Subclasses extend :meth:`valid_keys` and :meth:`set` for keys deeper than ``section.key``.
    """

    def __init__(self, config_class, presets: str, *, error: type[Exception] = ConfigError,
                 what: str = "config key", preset: str = "preset", suffixes=(".toml",), relative_suffixes=None,
                 coerce_options: dict | None = None, example: str = "optim.lr=0.01", skip=("extends",),
                 scalars_only: bool = False, derived_note: str = "computed at start-up; ignored when this file is loaded"):
        self.config_class, self.presets, self.error = config_class, presets, error
        self.what, self.preset, self.suffixes, self.relative_suffixes = what, preset, tuple(suffixes), relative_suffixes
        self.coerce_options, self.example, self.skip = dict(coerce_options or {}), example, tuple(skip)
        self.scalars_only, self.derived_note = scalars_only, derived_note
        self.kinds = "/".join(dict.fromkeys(".yaml" if s == ".yml" else s for s in self.suffixes))

    @property
    def folder(self) -> Path:
        """The presets folder (inside the package)."""
        return paths.presets_dir(self.presets)

    # ------------------------------------------------------------------ keys and values
    def valid_keys(self, cfg=None) -> list[str]:
        """Every dotted ``section.key`` of ``cfg`` (default: a fresh configuration)."""
        return section_keys(cfg if cfg is not None else self.config_class())

    def unknown(self, key: str, candidates) -> Exception:
        """The closest-key error (not raised) for ``key``."""
        return closest_key_error(key, candidates, error=self.error, what=self.what)

    def coerce(self, key: str, value, default):
        """``value`` (command-line text or a parsed file value) as the type of ``default``."""
        return coerce(key, value, default, error=self.error, **self.coerce_options)

    def set(self, cfg, key: str, value, from_file: bool = False) -> None:
        """Set the dotted ``key`` of ``cfg`` in place (``from_file``: the value was parsed from a file)."""
        set_key(cfg, key, value, candidates=self.valid_keys(cfg), error=self.error, what=self.what,
                coerce_value=self.coerce)

    # ------------------------------------------------------------------ building
    def config_from_dict(self, data: dict, base=None, source: str = "config"):
        """Overlay a nested dict (a parsed TOML/YAML file) on a copy of ``base`` (default: a fresh configuration)."""
        cfg = copy.deepcopy(base) if base is not None else self.config_class()
        if not isinstance(data, dict):
            raise self.error(f"{source}: expected a table of sections, got {type(data).__name__}")
        return overlay(cfg, data, lambda c, k, v: self.set(c, k, v, from_file=True), candidates=self.valid_keys(cfg),
                       error=self.error, what=self.what, source=source, skip=self.skip)

    def apply_overrides(self, cfg, overrides):
        """Apply ``["section.key=value", ...]`` to a copy of ``cfg``."""
        return apply_overrides(cfg, overrides, self.set, error=self.error, example=self.example)

    # ------------------------------------------------------------------ preset files
    def list_presets(self) -> list[str]:
        """Names of the shipped preset files."""
        return list_presets(self.folder, self.suffixes)

    def resolve(self, name_or_path) -> Path:
        """The file of a preset name or a path (see :func:`resolve_preset`)."""
        return resolve_preset(name_or_path, self.folder, suffixes=self.suffixes, error=self.error, what=self.preset,
                              kinds=self.kinds)

    def load(self, name_or_path="cpu", overrides=(), _seen=None):
        """Load a preset name or a file, follow ``extends``, apply the dotted ``overrides``, validate."""
        return load_preset(name_or_path, overrides, folder=self.folder, build=self.config_from_dict,
                           apply=self.apply_overrides, error=self.error, suffixes=self.suffixes, what=self.preset,
                           kinds=self.kinds, relative_suffixes=self.relative_suffixes, _seen=_seen)

    # ------------------------------------------------------------------ writing
    def to_dict(self, cfg) -> dict:
        """Plain nested dict of a configuration (JSON / checkpoint friendly)."""
        return to_dict(cfg)

    def toml_value(self, v) -> str:
        """A TOML literal (only bools, numbers and strings with ``scalars_only``)."""
        if self.scalars_only and not isinstance(v, (bool, int, float, str)):
            raise self.error(f"cannot write {v!r} to TOML")
        return toml_value(v, error=self.error)

    def to_toml(self, cfg, header: str = "", derived: dict | None = None) -> str:
        """The configuration as TOML text (``None`` values are left out: TOML has no null).

        ``derived``: informational numbers written to a ``[derived]`` table that loading ignores.
        """
        return to_toml(cfg, header, derived, value=self.toml_value, derived_note=self.derived_note)
