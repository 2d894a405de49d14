"""Implementation of the config loader (see :mod:`motion4d.config`)."""
from __future__ import annotations

import dataclasses
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the key and what is allowed."""


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``.

    Call it from a dataclass ``__post_init__`` for string options with a fixed set of values.
    """
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, choices))}")


def preset_path(group: str, name: str) -> Path:
    """Path of the shipped preset ``presets/<group>/<name>.yaml``; errors list the available names."""
    root = resources.files("motion4d") / "presets" / group
    path = Path(str(root / f"{name}.yaml"))
    if not path.is_file():
        available = list_presets(group)
        raise ConfigError(f"unknown {group} preset {name!r}; available presets: {', '.join(available) or '(none)'}")
    return path


def list_presets(group: str) -> list[str]:
    """Names of the shipped presets in ``group``, sorted."""
    root = Path(str(resources.files("motion4d") / "presets" / group))
    return sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []


def load_config(schema: type[C], *, preset: tuple[str, str] | Sequence[tuple[str, str]] | None = None,
                file: str | Path | None = None, overrides: Sequence[str] = (), data: dict | None = None) -> C:
    """Build a ``schema`` dataclass from defaults, then presets, a YAML file, a dict and overrides.

    Later sources win. ``preset`` is one ``(group, name)`` pair or a list of them (applied in order).
    ``overrides`` are ``"a.b=value"`` strings; values are parsed as YAML scalars/lists
    (``lr=1e-3``, ``views=[0,90]``, ``name=null``).
    """
    merged: dict = {}
    presets = [] if not preset else [preset] if isinstance(preset[0], str) else list(preset)
    for group, name in presets:
        _deep_update(merged, _read_yaml(preset_path(group, name)), schema, "")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        _deep_update(merged, _read_yaml(path), schema, "")
    if data:
        _deep_update(merged, data, schema, "")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (for example iters=100)")
        nested: dict = {}
        cursor = nested
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cursor = cursor.setdefault(p, {})
        try:
            cursor[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            reason = " ".join(str(e).split())[:160]
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({reason}); put a string value "
                              f"in quotes") from None
        _deep_update(merged, nested, schema, "")
    return _build(schema, merged, "")


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (Paths become strings)."""
    def convert(v):
        if dataclasses.is_dataclass(v):
            return {f.name: convert(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v
    return convert(cfg)


def config_to_yaml(cfg: Any) -> str:
    """YAML text of a config that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


# ---------------------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not a text (UTF-8) file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, got {type(data).__name__}")
    return data


def _fields(schema: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(schema)}


def _hints(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def _deep_update(dst: dict, src: dict, schema: type, prefix: str) -> None:
    """Merge ``src`` into ``dst`` after checking every key against ``schema``."""
    fields = _fields(schema)
    hints = _hints(schema)
    for key, value in src.items():
        full = f"{prefix}{key}"
        if key not in fields:
            removed = getattr(schema, "_removed_keys", {}).get(key)   # {old key: what replaced it}
            if removed:
                raise ConfigError(f"config key {full!r} was removed: {removed}")
            raise ConfigError(f"unknown config key {full!r}; valid keys{' under ' + repr(prefix[:-1]) if prefix else ''}: "
                              f"{', '.join(fields)}")
        sub = _dataclass_type(hints[key])
        if sub is not None:
            if value is None:
                dst[key] = None
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{full!r} is a section ({', '.join(_fields(sub))}); give it a mapping, "
                                  f"not {value!r}")
            _deep_update(dst.setdefault(key, {}) if isinstance(dst.get(key), dict) else dst.setdefault(key, {}),
                         value, sub, f"{full}.")
        else:
            dst[key] = value


def _dataclass_type(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _dataclass_type(args[0])
    return None


def _build(schema: type[C], values: dict, prefix: str) -> C:
    hints = _hints(schema)
    kwargs = {}
    for name, field in _fields(schema).items():
        if name not in values:
            continue
        full = f"{prefix}{name}"
        tp = hints[name]
        sub = _dataclass_type(tp)
        if sub is not None and isinstance(values[name], dict):
            base = _default_of(field)
            merged = config_to_dict(base) if base is not None else {}
            _merge_plain(merged, values[name])
            kwargs[name] = _build(sub, merged, f"{full}.")
        else:
            kwargs[name] = _coerce(full, values[name], tp)
    try:
        return schema(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid config for {prefix[:-1] or schema.__name__}: {e}") from None


def _default_of(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _merge_plain(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge_plain(dst[k], v)
        else:
            dst[k] = v


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``, converting int->float and str->Path."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Literal:
        check_choice(key, value, args)
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(key, value, a)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}={value!r} matches none of {tp}")
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        inner = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key} must have {len(args)} items, got {len(value)}")
            return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
        out = [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-3" as a string
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{key} must be a path, got {value!r}")
    return value


#: Seeds accepted everywhere (numpy, torch and Python's random all take 0 <= seed < 2**32).
MAX_SEED = 2**32 - 1


def check_range(key: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number in the range (bounds inclusive unless
    ``low_open``/``high_open``). The message names the key, the value and the allowed range.

    Call it from a dataclass ``__post_init__`` so that a bad value fails when the config is loaded,
    before any training, rather than at the export step.
    """
    import math

    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        def fmt(x: float) -> str:
            return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"

        lo = "" if low is None else f"{'(' if low_open else '['}{fmt(low)}"
        hi = "" if high is None else f"{fmt(high)}{')' if high_open else ']'}"
        allowed = (f"{lo}, {hi}" if lo and hi else f"{'>' if low_open else '>='} {fmt(low)}" if lo
                   else f"{'<' if high_open else '<='} {fmt(high)}")
        raise ConfigError(f"{key}={value!r} is out of range; allowed: {allowed}")
