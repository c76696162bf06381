"""Griffe extension for the documentation site (loaded by mkdocstrings, see mkdocs.yml).

The docstrings are written for ``help()`` in numpy style with a little reST; once
the whole ``proxydata`` package is loaded, this extension makes them read well as
Markdown and checks their references. It changes only what the site shows.

1. **Attribute comments.** A module constant documented by ``#:`` comment lines
   above it (Sphinx's convention) gets them as its docstring.
2. **reST constructs.** Simple tables (``===  ===``) become Markdown tables; a
   paragraph ending in ``::`` ends in ``:`` (the literal block after it is
   indented, so Markdown shows it as code).
3. **Defaults from the signature.** Every parameter of a Parameters section
   shows the default of its own name in the signature. Griffe gives every name
   of a combined entry (``train_criterion, val_criterion : {"low", "high"}``)
   the first name's default, and a ``{...}`` type its first choice as the
   default (numpy's convention, which these docstrings do not follow): the
   docstring of every documented object parses into sections whose defaults are
   then replaced by the signature's. An untyped ``seed, shuffle, rank`` entry
   also becomes one entry per name, so that each shows its own type from the
   signature (griffe would give all of them the first name's).
4. **Sphinx roles become links.** ``:class:`~proxydata.BiLevelPruner```,
   ``:func:`search```, ``:mod:`.history```, ``:meth:`set_epoch```,
   ``:data:`NB201_OPS```, ... are resolved the way Sphinx would (a leading ``.``
   is relative to the current module, a bare name is looked up in the scope of
   the documented object — a class's inherited members included — then its
   parents; ``~`` shows the last component only; ``title <target>`` sets the
   text) and rewritten to Markdown cross-references ``[`text`][full.path]`` that
   mkdocs-autorefs turns into links. A target inside ``proxydata`` that does not
   exist is logged as a warning, which fails the strict build; so does one that
   no page renders (mkdocs-autorefs warns). Private objects have no page and
   other projects' objects (``torch``, ``numpy``, builtins) no inventory to link
   to offline: both are shown as code.
5. **Plain types.** The type of an entry (``features : "pixels", a ``.npy``
   path, ...``) is shown as code, where no markup renders: its reST literals
   and Sphinx roles become their plain text (``"pixels", a .npy path``).
6. **Public bases.** A class whose base is private (``KMeansOutlierProxy`` of
   ``_FeatureProxy``) shows that base's own bases instead, in
   ``extra["proxydata"]["bases"]``, which the site's class template
   (``docs/_ext/templates/python/material/class.html.jinja``) reads.
7. **Each object is documented once.** A package page shows the package's
   public names (its ``__all__``) and then its submodules. An object re-exported
   by its package is shown at the package (``proxydata.pruning.BiLevelPruner``)
   and hidden in the submodule that defines it; an object re-exported by a module
   from another documented module is hidden where it is re-exported. Every other
   path of it still links to the one place (mkdocstrings registers all aliases of
   a rendered object). The root package ``proxydata`` renders no members: its
   page points to where each of its names is documented.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")

_logger = griffe.get_logger("griffe_proxydata")


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object defined under it (aliases are not followed)."""
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)


def _lookup(pkg: griffe.Module, path: str) -> griffe.Object | griffe.Alias | None:
    """The object at dotted ``path`` inside ``pkg``, following aliases; ``None`` if absent."""
    if path == pkg.path:
        return pkg
    if not path.startswith(pkg.path + "."):
        return None
    try:
        return pkg[path[len(pkg.path) + 1 :]]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _scoped(obj: griffe.Object, name: str) -> str | None:
    """Resolve a dotted ``name`` as written in ``obj``'s docstring to a full path.

    The first component is looked up among ``obj``'s members (a class's inherited
    ones included), then its parents' (a class's docstring names its own methods,
    a module's its imports).
    """
    first, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None and not scope.is_module:
        if scope.is_class:
            try:
                member = scope.all_members.get(first)
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                member = None
            if member is not None:
                found = _target_path(member) or member.path
                return f"{found}.{rest}" if rest else found
        scope = scope.parent
    try:
        found = obj.resolve(first)
    except griffe.NameResolutionError:
        return None
    return f"{found}.{rest}" if rest else found


def resolve_target(pkg: griffe.Module, obj: griffe.Object, target: str) -> str | None:
    """The full dotted path a Sphinx role's ``target`` names from ``obj``'s docstring.

    Returns ``None`` when the name resolves nowhere.
    """
    target = target.lstrip("~!")
    if target.startswith("."):
        module = obj.module
        bases = [module.path]
        if module.parent is not None:
            bases.append(module.parent.path)
        for base in bases:
            candidate = base + target
            if _lookup(pkg, candidate) is not None:
                return candidate
        return None
    if target == pkg.path or target.startswith(pkg.path + "."):
        return target
    found = _scoped(obj, target)
    if found is None and "." in target:
        return target  # another project's dotted name (``torch.utils.data.Subset``)
    return found


def _is_private(path: str) -> bool:
    return any(part.startswith("_") and not part.endswith("__") for part in path.split("."))


def _documented_attribute(pkg: griffe.Module, path: str) -> str | None:
    """The class documenting attribute ``path`` in its docstring's Attributes section, if one does.

    (An attribute set outside ``__init__`` is not a member griffe can see.)
    """
    owner_path, _, name = path.rpartition(".")
    owner = _lookup(pkg, owner_path)
    if owner is None or not owner.is_class or owner.docstring is None:
        return None
    for section in owner.docstring.parse("numpy", warnings=False):  # not .parsed: it is cached
        if section.kind is griffe.DocstringSectionKind.attributes:
            if any(item.name == name for item in section.value):
                return _target_path(owner) or owner.path
    return None


def rewrite_roles(pkg: griffe.Module, obj: griffe.Object, text: str) -> str:
    """``text`` with every Sphinx role replaced by a Markdown cross-reference or code."""

    def replace(match: re.Match[str]) -> str:
        body = match.group("body").strip()
        explicit = EXPLICIT_TITLE.match(body)
        if explicit:
            title, target = explicit.group("title"), explicit.group("target").strip()
        else:
            target = body
            title = body.lstrip("~!").rpartition(".")[2] if body.startswith("~") else body.lstrip("!")
        path = resolve_target(pkg, obj, target)
        if path is None:
            name = target.lstrip("~!.")
            if hasattr(builtins, name):
                return f"`{title}`"
            _logger.warning(
                "%s: %s does not resolve to an object (in the scope of %s)",
                obj.path,
                match.group(0),
                obj.path,
            )
            return f"`{title}`"
        if not (path == pkg.path or path.startswith(pkg.path + ".")):
            return f"`{title}`"  # another project's object: no inventory to link to offline
        if _lookup(pkg, path) is None:
            owner = _documented_attribute(pkg, path) if match.group("role") == "attr" else None
            if owner is None:
                _logger.warning("%s: %s names %s, which does not exist", obj.path, match.group(0), path)
                return f"`{title}`"
            path = owner
        if _is_private(path):
            return f"`{title}`"  # private objects have no page; the name is all a reader gets
        return f"[`{title}`][{path}]"

    return ROLE.sub(replace, text)


def _target_path(obj: griffe.Object | griffe.Alias) -> str | None:
    if not obj.is_alias:
        return obj.path
    try:
        return obj.final_target.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _documented_elsewhere(pkg: griffe.Module, path: str) -> bool:
    """Whether the object at ``path`` is rendered where it is defined."""
    if not path.startswith(pkg.path + "."):
        return False  # another project's object, re-exported: document it here
    if any(part.startswith("_") for part in path.split(".")):
        return False  # defined in a private module: this re-export is its documentation
    target = _lookup(pkg, path)
    return target is not None and not target.is_alias and target.parent is not None and target.is_public


def document_once(pkg: griffe.Module) -> None:
    """Hide the duplicates of every object re-exported inside ``pkg`` (see the module docstring)."""
    modules = [obj for obj in _walk(pkg) if obj.is_module]
    # 1. A package's own exports of objects defined in its submodules: documented at the package.
    at_package: dict[str, griffe.Alias] = {}
    packages = sorted((m for m in modules if m.is_subpackage), key=lambda m: m.path.count("."))
    for package in packages:
        for name in package.exports or ():
            member = package.members.get(name)
            if member is None or not member.is_alias:
                continue
            path = _target_path(member)
            if path is not None and path.startswith(package.path + ".") and path not in at_package:
                at_package[path] = member
    for module in modules:
        if module is pkg:
            continue
        for member in module.members.values():
            path = _target_path(member)
            if path is None:
                continue
            keeper = at_package.get(path)
            if keeper is not None:
                if member is not keeper:
                    member.public = False
            elif member.is_alias and member.is_public and _documented_elsewhere(pkg, path):
                # 2. A re-export of an object documented where it is defined.
                member.public = False


def comment_docstring(obj: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above attribute ``obj`` (Sphinx's attribute docs), if any."""
    if obj.lineno is None or obj.filepath is None:
        return None
    try:
        lines = obj.lines_collection[obj.filepath]
    except KeyError:
        return None
    found: list[str] = []
    row = obj.lineno - 2  # the line above, 0-based
    while row >= 0 and lines[row].strip().startswith("#:"):
        found.append(lines[row].strip()[2:].strip())
        row -= 1
    return "\n".join(reversed(found)) or None


RST_BORDER = re.compile(r"^(?P<indent>\s*)={2,}(?: +={2,})+\s*$")
LITERAL_MARKER = re.compile(r"(?<=\S)::$")


def _rst_table(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """The reST simple table starting at ``lines[start]`` as Markdown rows, and the index after it.

    Cells are separated by two or more spaces (the tables of this package overflow
    their ``=`` columns, so the columns are not read from the borders).
    """
    border = RST_BORDER.match(lines[start])
    if border is None:
        return None
    columns = len(lines[start].split())
    borders = [start]
    row = start + 1
    while row < len(lines) and len(borders) < 3:
        if RST_BORDER.match(lines[row]):
            borders.append(row)
        elif not lines[row].strip():
            return None
        row += 1
    if len(borders) < 3:
        return None

    def cells(line: str) -> str:
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=columns - 1)
        parts += [""] * (columns - len(parts))
        return "| " + " | ".join(part.replace("|", "\\|") for part in parts) + " |"

    indent = border.group("indent")
    header = [cells(line) for line in lines[borders[0] + 1 : borders[1]]]
    body = [cells(line) for line in lines[borders[1] + 1 : borders[2]]]
    rule = "| " + " | ".join("---" for _ in range(columns)) + " |"
    return [indent + line for line in [*header[:1], rule, *body]], borders[2] + 1


def rst_to_markdown(text: str) -> str:
    """The two reST constructs the docstrings use, in Markdown.

    Simple tables (``===  ===`` borders) become pipe tables; a paragraph ending in
    ``::`` (a literal block follows, already indented as Markdown code) ends in ``:``.
    """
    lines = text.split("\n")
    out: list[str] = []
    row = 0
    while row < len(lines):
        table = _rst_table(lines, row) if RST_BORDER.match(lines[row]) else None
        if table is not None:
            converted, row = table
            out += converted
            continue
        line = lines[row]
        if line.strip() == "::":
            row += 1
            continue
        out.append(LITERAL_MARKER.sub(":", line))
        row += 1
    return "\n".join(out)


SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")
NAMES_ONLY = re.compile(r"^(?P<indent>\s*)(?P<names>\*{0,2}\w+(?:,\s*\*{0,2}\w+)+)\s*$")


def split_combined_parameters(text: str) -> str:
    """``a, b, c`` entries without a type, in numpy sections, as one entry per name.

    Griffe gives every name of such an entry the first name's annotation and default
    (``shuffle: int = 0`` beside ``seed: int = 0``); one entry each, with the shared
    description repeated, takes each name's own from the signature.
    """
    lines = text.split("\n")
    out: list[str] = []
    row = 0
    in_section = False
    while row < len(lines):
        line = lines[row]
        if row + 1 < len(lines) and SECTION_RULE.match(lines[row + 1]) and line.strip():
            in_section = line.strip() in ("Parameters", "Other Parameters")
            out += [line, lines[row + 1]]
            row += 2
            continue
        names = NAMES_ONLY.match(line) if in_section else None
        if names is None:
            out.append(line)
            row += 1
            continue
        indent = names.group("indent")
        end = row + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(indent)
        ):
            end += 1
        while end > row + 1 and not lines[end - 1].strip():
            end -= 1
        description = lines[row + 1 : end]
        for name in re.split(r",\s*", names.group("names")):
            out += [indent + name, *description]
        row = end
    return "\n".join(out)


PARAMETER_SECTIONS = (griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.other_parameters)


def signature_defaults(parent: griffe.Object | None, sections: list[Any]) -> list[Any]:
    """``sections`` with each documented parameter's default taken from ``parent``'s signature.

    A name the signature does not have keeps what the docstring gave it; a
    parameter without a default in the signature shows none, and neither does
    ``*args`` or ``**kwargs`` (griffe gives them ``()`` and ``{}``).
    """
    try:
        parameters = parent.parameters if parent is not None else None  # type: ignore[union-attr]
    except (AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        parameters = None
    if not parameters:
        return sections
    for section in sections:
        if section.kind not in PARAMETER_SECTIONS:
            continue
        for item in section.value:
            name = item.name.lstrip("*")
            if name in parameters:
                parameter = parameters[name]
                variadic = parameter.kind in (
                    griffe.ParameterKind.var_positional,
                    griffe.ParameterKind.var_keyword,
                )
                item.value = None if variadic else parameter.default
    return sections


class SignatureDefaultsDocstring(griffe.Docstring):
    """A docstring whose parsed Parameters sections show the signature's defaults (item 3 above)."""

    def parse(self, parser: Any = None, **options: Any) -> list[Any]:
        return signature_defaults(self.parent, super().parse(parser, **options))


TYPED_SECTIONS = ("Parameters", "Other Parameters", "Attributes", "Returns", "Yields", "Receives")
TYPED_ENTRY = re.compile(r"^(?P<head>\s*\*{0,2}\w+(?:,\s*\*{0,2}\w+)*\s:\s)(?P<type>.+)$")
RST_LITERAL = re.compile(r"``(?P<text>[^`]+)``")


def _plain_role(match: re.Match[str]) -> str:
    body = match.group("body").strip()
    explicit = EXPLICIT_TITLE.match(body)
    if explicit:
        return explicit.group("title")
    return body.lstrip("~!").rpartition(".")[2] if body.startswith("~") else body.lstrip("!")


def plain_types(text: str) -> str:
    """The types of typed entries (``name : type``) of numpy sections without reST markup.

    mkdocstrings shows a type as code, where ````x```` and ``:class:`~a.B``` would
    read as written; they become ``x`` and ``B``.
    """
    lines = text.split("\n")
    in_section = False
    for row, line in enumerate(lines):
        if row + 1 < len(lines) and SECTION_RULE.match(lines[row + 1]) and line.strip():
            in_section = line.strip() in TYPED_SECTIONS
            continue
        entry = TYPED_ENTRY.match(line) if in_section else None
        if entry is not None:
            plain = RST_LITERAL.sub(lambda m: m.group("text"), ROLE.sub(_plain_role, entry.group("type")))
            lines[row] = entry.group("head") + plain
    return "\n".join(lines)


def _public_bases(pkg: griffe.Module, cls: griffe.Class, seen: frozenset[str] = frozenset()) -> list[Any]:
    """``cls``'s bases, each private one replaced by its own public bases (recursively)."""
    shown: list[Any] = []
    for base in cls.bases:
        name = str(base).rpartition(".")[2]
        if not name.startswith("_"):
            shown.append(base)
            continue
        path = getattr(base, "canonical_path", None)
        target = _lookup(pkg, path) if isinstance(path, str) else None
        if target is not None and target.is_alias:
            try:
                target = target.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                target = None
        if target is not None and target.is_class and target.path not in seen:
            inherited = _public_bases(pkg, target, seen | {target.path})
            shown += [b for b in inherited if str(b) not in map(str, shown)]
    return shown


class ProxydataDocs(griffe.Extension):
    """Read ``#:`` attribute comments, rewrite Sphinx roles, document each object once."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != "proxydata":
            return
        for obj in _walk(pkg):
            if obj.is_attribute and obj.docstring is None:
                comment = comment_docstring(obj)
                if comment is not None:
                    obj.docstring = griffe.Docstring(comment, lineno=obj.lineno, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = rewrite_roles(
                    pkg, obj, split_combined_parameters(plain_types(rst_to_markdown(obj.docstring.value)))
                )
                if obj.is_function or obj.is_class:
                    obj.docstring.__class__ = SignatureDefaultsDocstring
        for obj in _walk(pkg):
            if obj.is_class and any(str(b).rpartition(".")[2].startswith("_") for b in obj.bases):
                obj.extra["proxydata"]["bases"] = _public_bases(pkg, obj)
        document_once(pkg)
