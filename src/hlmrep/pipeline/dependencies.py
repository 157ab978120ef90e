"""Which package files a workflow job runs: computed from the imports, never listed by hand.

A rule names the stage module its job runs (``hlmrep.models.fits``); the files it depends on
are that module, everything it imports from ``hlmrep`` (at any depth, inside functions
too; a name a package re-exports lazily counts as its own module), the packages above each
of them, and the data files of every imported package (the reference YAML files of
``hlmrep.replication.reference``, the templates of ``hlmrep.report.templates``).  Every
job also runs ``python -m hlmrep``, so ``hlmrep.__main__`` and ``hlmrep.cli`` count too; of
those dispatchers, and of ``hlmrep`` itself, only module-level imports count: the imports
inside their functions are the other stages, each loaded only by its own subcommand.

The files are the rule's inputs, so an edit to any of them reruns exactly the jobs that run
it (and what depends on their outputs), and an edit elsewhere reruns nothing.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

from hlmrep import user_cache

ROOT_PACKAGE = "hlmrep"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/hlmrep
#: Modules whose function-level imports are dispatch, not dependencies (see above).
DISPATCHERS = frozenset({"hlmrep", "hlmrep.cli", "hlmrep.__main__"})
#: What every job runs before its stage's module.
ENTRY = ("hlmrep.__main__", "hlmrep.cli")


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (a package's ``__init__.py``), if it is ours."""
    if name != ROOT_PACKAGE and not name.startswith(ROOT_PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    source = base.with_suffix(".py")
    return source if source.is_file() else None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.Module, module_level_only: bool) -> list[ast.AST]:
    """The nodes to look for imports in, leaving out ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if module_level_only and isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        ):
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


@functools.cache
def reexports(package: str) -> dict[str, str]:
    """Names a package re-exports lazily (PEP 562), and the module each comes from.

    Such a package declares them in an ``if TYPE_CHECKING:`` block of its ``__init__``
    (``from hlmrep.engine.model import fit``); ``from hlmrep.engine import fit`` then
    depends on ``hlmrep.engine.model``, not on the whole package.
    """
    path = module_file(package)
    if path is None or path.name != "__init__.py":
        return {}
    tree = ast.parse(path.read_text(), filename=str(path))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for statement in node.body:
                if (
                    isinstance(statement, ast.ImportFrom)
                    and statement.module
                    and not (statement.level)
                ):
                    for alias in statement.names:
                        found[alias.asname or alias.name] = statement.module
    return found


@functools.cache
def imported_modules(name: str) -> frozenset[str]:
    """The ``hlmrep`` modules that module ``name`` imports (directly)."""
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _statements(tree, module_level_only=name in DISPATCHERS):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this module
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            lazy = reexports(base)
            for alias in node.names:  # `from hlmrep import kernel` imports a module
                candidate = f"{base}.{alias.name}"
                if module_file(candidate) is not None:
                    found.add(candidate)
                elif alias.name in lazy:  # a lazily re-exported name: its own module
                    found.add(lazy[alias.name])
    if is_package and _discovers_its_modules(tree):
        # a registry that imports every module of its package (pkgutil.iter_modules over
        # __path__, as the readers' registry does): each of them is an import of it
        found.update(
            f"{name}.{child.stem}"
            for child in sorted(path.parent.glob("*.py"))
            if child.name != "__init__.py"
        )
    return frozenset(m for m in found if module_file(m) is not None)


def _discovers_its_modules(tree: ast.Module) -> bool:
    """Whether a package's ``__init__`` calls ``pkgutil.iter_modules(__path__)``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "iter_modules"
            and any(isinstance(arg, ast.Name) and arg.id == "__path__" for arg in node.args)
        ):
            return True
    return False


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def closure(*entries: str) -> set[str]:
    """Every ``hlmrep`` module the entries load, their parent packages included."""
    seen: set[str] = set()
    pending = [m for entry in (*ENTRY, *entries) for m in _with_parents(entry)]
    while pending:
        name = pending.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        for imported in imported_modules(name):
            pending.extend(_with_parents(imported))
    return seen


def _data_files(name: str) -> list[Path]:
    """A package's files that are not Python (reference YAML, templates)."""
    path = module_file(name)
    if path is None or path.name != "__init__.py":
        return []
    return sorted(
        p
        for p in path.parent.iterdir()
        if p.is_file() and p.suffix not in (".py", ".pyc", ".md") and not p.name.startswith(".")
    )


def code_files(*entries: str) -> list[str]:
    """The files a job that runs ``entries`` depends on, sorted, as strings (rule inputs).

    Parsing the package's hundred modules costs every Snakemake invocation about half a
    second, a no-op's included; so the answer is kept in the user's cache folder
    (:func:`_cached`), valid while no file of the package changed (name, size,
    modification time)."""
    return _cached("\0".join(entries), lambda: _code_files(*entries))


def _code_files(*entries: str) -> list[str]:
    files: set[Path] = set()
    for name in closure(*entries):
        source = module_file(name)
        if source is not None:
            files.add(source)
        files.update(_data_files(name))
    return sorted(str(p) for p in files)


def _tree_stamp() -> str:
    """A digest of every file of the package: its path and its bytes (a copy that keeps
    modification times, or an edit within one clock tick, still changes it)."""
    digest = hashlib.sha256(str(PACKAGE_DIR).encode())
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        try:
            content = path.read_bytes() if path.is_file() else None
        except OSError:  # an editor's temporary file, gone
            continue
        if content is not None:
            digest.update(f"{path}\0{len(content)}\0".encode() + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _cache_file() -> Path:
    """One cache file per checkout (named by its package folder), in the user's cache."""
    checkout = hashlib.sha256(str(PACKAGE_DIR).encode()).hexdigest()[:16]
    return user_cache.folder("code_files", f"{checkout}.json")


@functools.cache
def _cache() -> tuple[str, dict[str, list[str]]]:
    """The stamp of the package now and what the cache file holds for it (else nothing)."""
    stamp = _tree_stamp()
    try:
        path = _cache_file()
    except RuntimeError:  # no home folder
        return stamp, {}
    kept = user_cache.read_json(path)
    if not isinstance(kept, dict) or kept.get("stamp") != stamp:
        return stamp, {}
    entries = kept.get("entries")
    return stamp, dict(entries) if isinstance(entries, dict) else {}


def _cached(key: str, compute: Callable[[], list[str]]) -> list[str]:
    stamp, entries = _cache()
    found = entries.get(key)
    if isinstance(found, list) and all(isinstance(f, str) for f in found):
        return list(found)
    files = compute()
    entries[key] = list(files)
    with contextlib.suppress(RuntimeError):  # no home folder: only slower
        user_cache.write_json(_cache_file(), {"stamp": stamp, "entries": entries})
    return files
