"""MkDocs hook: the reference pages' tables, generated at build time from the code itself.

A page asks for a table with a marker line: `<!-- generated: cli -->` (every command and flag, from the
argparse parser), `<!-- generated: config -->` (every config key, from the schema) or
`<!-- generated: http -->` (the HTTP API, from the server's OpenAPI schema). Nothing here is copied by
hand, so the reference cannot drift from the program.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- generated: (\w+) -->$", re.M)
ROOT = Path(__file__).resolve().parents[1]
# The repository's tiny saved run (format 1): enough for the server to build its app and schema.
TINY_RUN = ROOT / "tests" / "fixtures" / "v1" / "tokens"


def _cell(text: Any) -> str:
    """Text made safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _code(text: Any) -> str:
    """Inline code for a table cell (pipes escaped)."""
    return "`" + str(text).replace("|", "\\|") + "`"


# ---- command line --------------------------------------------------------------------------------------

def _flag_default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if isinstance(action, (argparse._StoreTrueAction, argparse._AppendAction)) or action.default in (None, False):
        return ""
    if action.default is argparse.SUPPRESS:
        return ""
    return _code(action.default)


def _flag_name(action: argparse.Action) -> str:
    names = ", ".join(action.option_strings) if action.option_strings else (action.metavar or action.dest)
    if action.option_strings and action.nargs != 0:
        metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                     else action.dest.upper())
        names += f" {metavar}"
    if action.nargs in ("+", "*") and not action.option_strings:
        names += " ..."
    return _code(names)


def _command(name: str, parser: argparse.ArgumentParser, summary: str, out: list[str]) -> None:
    out.append(f"### `{name}`\n")
    if summary:
        out.append(summary[0].upper() + summary[1:] + ".\n")
    usage = " ".join(parser.format_usage().split())
    out.append(f"```text\n{usage.removeprefix('usage: ')}\n```\n")
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        choices = ", ".join(map(str, action.choices)) if action.choices and not action.option_strings else ""
        help_text = (action.help or "") + (f" (one of: {choices})" if choices else "")
        rows.append(f"| {_flag_name(action)} | {_flag_default(action)} | {_cell(help_text)} |")
    if rows:
        out.append("| argument | default | meaning |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                _command(f"{name} {sub_name}", sub, helps.get(sub_name, ""), out)


def cli_reference() -> str:
    """Every `seq2seq` command with its usage line and a table of its arguments."""
    from seq2seq.cli.parser import build_parser

    parser = build_parser()
    out: list[str] = []
    top = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    helps = {a.dest: a.help or "" for a in top._choices_actions}
    out.append("| command | what it does |\n| --- | --- |\n" + "\n".join(
        f"| [`seq2seq {n}`](#seq2seq-{n}) | {_cell(helps.get(n, ''))} |" for n in top.choices) + "\n")
    for name, sub in top.choices.items():
        _command(f"seq2seq {name}", sub, helps.get(name, ""), out)
    return "\n".join(out)


# ---- config --------------------------------------------------------------------------------------------

def _type_name(cls: type, name: str) -> str:
    from seq2seq.config.fields import field_type

    base, optional = field_type(cls, name)
    return base.__name__ + (" or null" if optional else "")


def _allowed(f: dataclasses.Field) -> str:
    meta = f.metadata
    if meta.get("choices"):
        text = ", ".join(_code(c) for c in meta["choices"])
        if meta.get("aliases"):
            text += " (aliases: " + ", ".join(f"{_code(a)} → {_code(b)}" for a, b in meta["aliases"].items()) + ")"
        return text
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        return f"{low} – {high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def config_reference() -> str:
    """Every config key of every section: type, default, allowed values or bounds, meaning."""
    from seq2seq.config.schema import SECTIONS

    out = []
    for section, cls in SECTIONS.items():
        doc = " ".join((cls.__doc__ or "").split())
        out.append(f"### `{section}`\n\n{doc}\n")
        out.append("| key | type | default | allowed | meaning |\n| --- | --- | --- | --- | --- |")
        for f in dataclasses.fields(cls):
            default = "null" if f.default is None else json.dumps(f.default, ensure_ascii=False)
            out.append(f"| `{section}.{f.name}` | {_type_name(cls, f.name)} | {_code(default)} | {_allowed(f)} | "
                       f"{_cell(f.metadata.get('help', ''))} |")
        out.append("")
    return "\n".join(out)


# ---- HTTP API ------------------------------------------------------------------------------------------

def openapi_schema() -> dict[str, Any]:
    """The OpenAPI schema of the app `seq2seq serve` runs, with its default limits."""
    import seq2seq
    from seq2seq.serve import create_app

    return create_app(seq2seq.load(TINY_RUN), run_dir=TINY_RUN).openapi()


def _schema_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        return " or ".join(_schema_type(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"array of {_schema_type(prop.get('items', {}))}"
    if "const" in prop:
        return _code(json.dumps(prop["const"]))
    return prop.get("type", "any")


def _constraints(prop: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "minLength",
            "maxLength", "enum")
    found = {k: prop[k] for k in keys if k in prop}
    for p in prop.get("anyOf", []):
        found.update({k: p[k] for k in keys if k in p})
    return ", ".join(f"{k} {json.dumps(_number(v))}" for k, v in found.items())


def _number(v: Any) -> Any:
    """1.0 as 1 (JSON Schema bounds come as floats from pydantic)."""
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 else v


def http_reference() -> str:
    """Each endpoint with its summary, body and answers, then each schema's fields."""
    api = openapi_schema()
    out = []
    for path, methods in api["paths"].items():
        for method, op in methods.items():
            out.append(f"### `{method.upper()} {path}`\n")
            if op.get("summary"):
                out.append(f"**{op['summary']}.** " + " ".join((op.get("description") or "").split()) + "\n")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                out.append(f"Request body: {_schema_type(body)}.\n")
            rows = []
            for status, answer in op.get("responses", {}).items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                rows.append(f"| {status} | {_cell(answer.get('description', ''))} | "
                            f"{_schema_type(schema) if schema else ''} |")
            out.append("| status | meaning | body |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")
    out.append("### Schemas\n")
    for name, schema in api.get("components", {}).get("schemas", {}).items():
        out.append(f"#### {name}\n")
        if schema.get("description"):
            out.append(" ".join(schema["description"].split()) + "\n")
        props = schema.get("properties", {})
        if not props:
            continue
        required = set(schema.get("required", []))
        rows = [f"| `{p}` | {_schema_type(s)} | {'yes' if p in required else ''} | "
                f"{_code(json.dumps(s['default'])) if 'default' in s else ''} | {_constraints(s)} | "
                f"{_cell(s.get('description', ''))} |" for p, s in props.items()]
        out.append("| field | type | required | default | bounds | meaning |\n| --- | --- | --- | --- | --- | --- |\n"
                   + "\n".join(rows) + "\n")
    return "\n".join(out)


GENERATORS = {"cli": cli_reference, "config": config_reference, "http": http_reference}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: replace each marker with its generated Markdown."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)
