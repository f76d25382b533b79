"""Write docs/api-reference.md from the code: every name `import microdomain as md` exports, with
its signature and docstring, and the public methods and properties of its classes.

    python docs/make_api_reference.py > docs/api-reference.md

tests/docs/test_docs.py fails when the committed page differs from what this prints.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect

HEADER = """# API reference

Every name `import microdomain as md` exports, generated from the code by
`python docs/make_api_reference.py > docs/api-reference.md` (a test checks it is current).
docs/api.md explains how they fit together; docs/run-directory.md describes the records'
fields in the files.
"""


def _doc(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip()


def _signature(obj) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    return text.replace("'", "")


def _members(cls) -> list[str]:
    out = []
    for name, member in cls.__dict__.items():
        if name.startswith("_") or name in ("model_config", "model_fields"):
            continue
        if isinstance(member, property):
            out.append(f"- `.{name}` (property) — {_first(member.fget)}")
        elif isinstance(member, (classmethod, staticmethod)):
            fn = member.__func__
            out.append(f"- `{cls.__name__}.{name}{_signature(fn)}` — {_first(fn)}")
        elif inspect.isfunction(member):
            sig = _signature(member).replace("(self, ", "(").replace("(self)", "()")
            out.append(f"- `.{name}{sig}` — {_first(member)}")
    return out


def _first(obj) -> str:
    doc = _doc(obj)
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def _fields(cls) -> list[str]:
    if hasattr(cls, "model_fields"):
        return [f"- `{k}`: `{_type(f.annotation)}`" for k, f in cls.model_fields.items()]
    if dataclasses.is_dataclass(cls):
        return [f"- `{f.name}`: `{_type(f.type)}`" for f in dataclasses.fields(cls)]
    return []


def _type(annotation) -> str:
    if isinstance(annotation, str):
        text = annotation
    elif getattr(annotation, "__origin__", None) is not None or type(annotation).__name__ == "UnionType":
        text = str(annotation)              # list[str], dict[str, X], X | None
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return text.replace("typing.", "").replace("microdomain.records.", "")


def entry(name: str, obj) -> list[str]:
    lines = []
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        lines += [f"## `md.{name}`", "", _doc(obj), "",
                  "Values: " + ", ".join(f"`{m.name}` = `{m.value!r}`" for m in obj), ""]
        lines += _members(obj)
    elif inspect.isclass(obj):
        # exceptions, records and dataclasses: their fields say more than a long signature
        plain = issubclass(obj, BaseException) or hasattr(obj, "model_fields") or dataclasses.is_dataclass(obj)
        sig = "" if plain else _signature(obj)
        lines += [f"## `md.{name}{sig}`", "", _doc(obj), ""]
        fields = _fields(obj)
        if fields:
            lines += ["Fields:", "", *fields, ""]
        members = _members(obj)
        if members:
            lines += ["Members:", "", *members, ""]
    else:
        lines += [f"## `md.{name}{_signature(obj)}`", "", _doc(obj), ""]
    while lines and not lines[-1]:
        lines.pop()
    return lines + [""]


def reference() -> str:
    import microdomain as md

    lines = [HEADER]
    for name in md.__all__:
        if name == "__version__":
            continue
        lines += entry(name, getattr(md, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
