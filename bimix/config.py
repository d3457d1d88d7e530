"""Profiles from files: a TOML file names a base profile and overrides any field of its dataclasses.

    profile = "cpu"                      # the base profile (bimix.profiles.PROFILES)
    name = "cpu-d64"                     # optional: the resolved profile's name (default: base + "+" + hash)
    proxy.model.d_model = 64             # dotted keys or [tables], as TOML allows
    proxy.seeds = [0, 1, 2]
    corpus.source = "path/to/my/jsonl"
    [[tokenizers]]                       # a list of tables replaces the whole tuple
    kind = "bpe"
    vocab_size = 1024

TOML because Python 3.11 reads it with the standard library (``tomllib``): no new dependency, and its
types (int, float, string, bool, arrays, tables) map one-to-one onto the dataclasses' fields. Every key
is checked against the dataclass it lands in: an unknown key or a wrong type is refused with the key's
dotted path, and so is a value that parses but cannot train (0 steps, an infinite learning rate, no
seeds, a name that is not one path component: :func:`bimix.profiles.profile_problems`), before any
work starts. The resolved profile is data (:func:`profile_dict`); its hash names the profile when the
file does not, so two different configs never share a run folder name or a notebook result.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from bimix.files import sha256_json
from bimix.profiles import PROFILES, Profile, ProfileError, get_profile, is_safe_name, profile_problems


_BASES: dict[str, str] = {}  # resolved profile name -> its base profile, filled by load_config


def base_profile(name: str) -> str:
    """The built-in profile a resolved profile derives from (itself for a built-in name)."""
    return _BASES.get(name, name)


class ConfigError(ValueError):
    """A config file cannot be read or does not fit the profile's dataclasses; the message names the key."""


def profile_dict(profile: Profile) -> dict:
    """The resolved profile as plain data (tuples become lists), as written beside results."""
    return _plain(dataclasses.asdict(profile))


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def config_hash(profile: Profile) -> str:
    """Eight hex digits of the resolved profile, without its name."""
    data = profile_dict(profile)
    data.pop("name", None)
    return sha256_json(data)[:8]


def load_config(path: str | os.PathLike) -> Profile:
    """The profile a TOML file describes (its base profile with the file's overrides applied)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict, source: str = "config") -> Profile:
    """Apply a parsed config (``profile`` = base name, optional ``name``, then field overrides)."""
    data = dict(data)
    base_name = data.pop("profile", None)
    if not isinstance(base_name, str):
        raise ConfigError(f"{source}: 'profile' must name the base profile ({', '.join(PROFILES)})")
    try:
        base = get_profile(base_name)
    except ProfileError as exc:
        raise ConfigError(f"{source}: profile: {exc.args[0]}") from None
    name = data.pop("name", None)
    if name is not None and not is_safe_name(name):
        raise ConfigError(f"{source}: name: expected a safe single path component (letters, digits, . _ + -; "
                          f"not starting with . or -; at most 100 characters), got {name!r}")
    profile = _apply(base, data, prefix="", source=source)
    if profile == base and name is None:
        return base
    profile = dataclasses.replace(profile, name=name or f"{base.name}+{config_hash(profile)}")
    check_values(profile, source)
    _BASES[profile.name] = base.name
    return profile


def resolve_profile(profile: str, config: str | os.PathLike = "") -> Profile:
    """A notebook's parameter edge: the profile named ``profile``, or with a config file the profile it
    builds (registered in this kernel; ``profile`` may be that profile's name or its base's). Resolved
    once; the notebook passes the returned object down, never the name."""
    from bimix.profiles import register

    if not config:
        return get_profile(profile)
    resolved = register(load_config(config))
    if profile not in (resolved.name, base_profile(resolved.name)):
        raise ConfigError(f"{config}: builds profile {resolved.name!r} on {base_profile(resolved.name)!r}, "
                          f"but the notebook was given profile {profile!r}")
    return resolved


def _apply(obj, overrides: dict, prefix: str, source: str):
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'the file'}: expected a table")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    changes = {}
    for key, value in overrides.items():
        path = prefix + key
        if key not in fields or key == "name" and not prefix:
            known = ", ".join(k for k in fields if not (k == "name" and not prefix))
            raise ConfigError(f"{source}: {path}: unknown key (known here: {known})")
        changes[key] = _coerce(getattr(obj, key), hints[key], value, path, source)
    return dataclasses.replace(obj, **changes) if changes else obj


def _coerce(current, hint, value, path: str, source: str):
    """``value`` (from TOML) as the field's type ``hint``; ``current`` is the field's present value."""
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        return _apply(current, value, path + ".", source)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(current, option, value, path, source)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {path}: expected an array, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            if dataclasses.is_dataclass(item):
                return tuple(_apply(item(), v, f"{path}[{i}].", source) for i, v in enumerate(value))
            return tuple(_coerce(None, item, v, f"{path}[{i}]", source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{source}: {path}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(None, a, v, f"{path}[{i}]", source) for i, (a, v) in enumerate(zip(args, value)))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {path}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if hint in (int, str, bool):
        if type(value) is not hint:
            raise ConfigError(f"{source}: {path}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{source}: {path}: cannot be set from a config file")


def check_values(profile: Profile, source: str = "config") -> None:
    """Refuse, before any work, a profile with a value that cannot train (bimix.profiles.profile_problems):
    one message naming the source and the first key, with a count of the others."""
    problems = profile_problems(profile)
    if problems:
        (key, what), rest = problems[0], problems[1:]
        more = f" (and {len(rest)} more: {', '.join(k for k, _ in rest)})" if rest else ""
        raise ConfigError(f"{source}: {key}: {what}{more}")
