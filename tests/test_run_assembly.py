"""One run assembly: the resume decision, declared sink capabilities, sink URLs everywhere, layering.

:func:`streamer.assembly.plan_resume` is the only place that decides whether
a run resumes; these tests pin its table and check that ``run``, ``run_sync``,
``stream`` and the CLI all go through it (a sink URL works in each).
"""

from __future__ import annotations

import ast
import signal
from collections.abc import Mapping
from pathlib import Path

import anyio
import pytest

import streamer
from streamer.assembly import ExportMemory, RunPlan, plan_resume
from streamer.records import Batch, Checkpoint
from streamer.simulator import Simulator
from streamer.sinks.base import (
    PLAIN,
    ROLLS_BACK,
    STORING,
    TRANSACTIONAL,
    SinkCapabilities,
    capabilities_of,
)
from streamer.sinks.callback import CallbackSink
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.singer import SingerSink
from streamer.sinks.sqlite import SqliteSink
from streamer.state import JsonFileStateStore
from streamer.workers import ShieldedWrites
from tests.support.sinks import duplicates, sqlite_rows

CLI_PACKAGE = Path(streamer.__file__).parent / "cli"


class PlainSink:
    """A sink that declares nothing, but happens to have a ``load_checkpoints`` method."""

    def __init__(self) -> None:
        self.loaded = False

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        return None

    async def close(self, error: BaseException | None) -> None:
        return None

    async def load_checkpoints(self) -> Mapping[str, Checkpoint]:
        self.loaded = True  # must never be called: the capability is declared, not guessed
        return {}


# ------------------------------------------------------------------ capabilities


def test_transactional_sinks_declare_it_and_others_do_not(tmp_path: Path) -> None:
    for sink in (SqliteSink(tmp_path / "x.db"), DuckDBSink(tmp_path / "x.duckdb"), DirSink(tmp_path / "d"),
                 PostgresSink("postgresql://u@127.0.0.1/db")):
        assert capabilities_of(sink) == STORING, sink
        assert capabilities_of(sink).commits_checkpoints and STORING.commits_checkpoints == TRANSACTIONAL.commits_checkpoints
    assert capabilities_of(JsonlSink(None)) == ROLLS_BACK
    assert capabilities_of(SingerSink()) == SinkCapabilities(emits_bookmarks=True)
    for sink in (CallbackSink(lambda batch: None), PlainSink()):
        assert capabilities_of(sink) == PLAIN, sink


CAPABILITY_METHODS: dict[str, tuple[str, ...]] = {
    "commits_checkpoints": ("load_checkpoints",),
    "stores_bookmarks": ("load_bookmarks",),
    "rolls_back_to_mark": ("commit_mark", "sync", "restore"),
}
"""The methods each declared capability promises."""

SINK_CLASSES = (SqliteSink, DuckDBSink, DirSink, PostgresSink, JsonlSink, SingerSink, CallbackSink)


@pytest.mark.parametrize("sink_class", SINK_CLASSES, ids=lambda c: c.__name__)
def test_a_declared_capability_cannot_lie(sink_class: type) -> None:
    """Every capability a sink declares has its methods, and every such method set is declared.

    (The second half keeps a sink from quietly growing e.g. ``load_bookmarks``
    that no run would ever call, because nothing probes for it.)
    """
    declared = capabilities_of(sink_class)
    for capability, methods in CAPABILITY_METHODS.items():
        has_them = all(callable(getattr(sink_class, name, None)) for name in methods)
        assert getattr(declared, capability) == has_them, (sink_class.__name__, capability)


def test_capability_methods_name_real_fields() -> None:
    fields = set(SinkCapabilities.__dataclass_fields__)
    assert set(CAPABILITY_METHODS) <= fields and "emits_bookmarks" in fields


def test_a_wrapped_sink_keeps_its_capabilities(tmp_path: Path) -> None:
    assert capabilities_of(ShieldedWrites(SqliteSink(tmp_path / "x.db"))).commits_checkpoints
    assert not capabilities_of(ShieldedWrites(PlainSink())).commits_checkpoints


def test_a_malformed_capabilities_value_is_refused() -> None:
    sink = PlainSink()
    sink.capabilities = {"commits_checkpoints": True}  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="must be a SinkCapabilities"):
        capabilities_of(sink)


async def test_a_method_named_load_checkpoints_is_not_a_capability(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=50, parts=1)
    sink = PlainSink()
    await streamer.run(streamer.UrlSource(sim.file_urls(export)), sink, checkpoints={})
    assert sink.loaded is False


# ------------------------------------------------------------------ the resume decision


def test_plan_resume_table(tmp_path: Path) -> None:
    db, plain = SqliteSink(tmp_path / "x.db"), PlainSink()
    given = {"urls/-/0": Checkpoint(part_key="urls/-/0", offset=10, line=1)}

    assert plan_resume(plain, state=None, resume=None).checkpoints is None  # library default: fresh
    assert plan_resume(db, state=None, resume=None).checkpoints is None
    assert plan_resume(db, state=None, resume=True).checkpoints == {}  # from the sink's own
    assert plan_resume(db, state=None, resume="auto").checkpoints == {}  # the CLI's default
    assert plan_resume(plain, state=None, resume="auto").checkpoints is None
    assert plan_resume(db, state=None, resume=False).checkpoints is None
    assert plan_resume(plain, state=None, resume=None, checkpoints=given).checkpoints == given
    with pytest.raises(TypeError, match="needs state"):
        plan_resume(plain, state=None, resume=True)

    with_state = plan_resume(plain, state=tmp_path / "s.json", resume=None)
    assert isinstance(with_state.store, JsonFileStateStore) and with_state.from_store
    assert not plan_resume(db, state=tmp_path / "s.json", resume=False).from_store
    assert plan_resume(db, state=tmp_path / "s.json", resume="auto").from_store
    with pytest.raises(TypeError, match="not both"):
        plan_resume(plain, state=tmp_path / "s.json", resume=None, checkpoints=given)


def test_export_memory_is_the_state_stores(tmp_path: Path) -> None:
    assert not ExportMemory(None).persistent and ExportMemory(None).known("mews") == {}
    ExportMemory(None).remember("mews", "OrderItem", "x")  # remembers nothing, fails nothing
    plan = RunPlan("-", state=tmp_path / "s.json")
    assert plan.exports.persistent
    plan.exports.remember("mews", "OrderItem", "e-1")
    assert plan.exports.known("mews") == {"OrderItem": "e-1"}
    assert b"e-1" in (tmp_path / "s.json").read_bytes()  # saved at once, before any run


# ------------------------------------------------------------------ sink URLs everywhere


async def test_run_sync_takes_a_sink_url_and_resumes_from_it(sim: Simulator, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    export = sim.add_export("OrderItem", records=400, parts=2)
    urls = sim.file_urls(export)
    monkeypatch.chdir(tmp_path)

    def go() -> streamer.RunStats:
        return streamer.run_sync(streamer.UrlSource(urls, entity_type="OrderItem"), "sqlite:///x.db?layout=json",
                                 resume=True, batch_size=100)

    first = await anyio.to_thread.run_sync(go)
    again = await anyio.to_thread.run_sync(go)
    assert first.records == 400 and again.records == 0  # the second run resumed from the database
    ids = [row[0] for row in sqlite_rows(tmp_path / "x.db")["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())


async def test_run_takes_a_sink_url(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=120, parts=1)
    out = tmp_path / "out.jsonl"
    stats = await streamer.run(streamer.UrlSource(sim.file_urls(export)), f"jsonl:///{out}")
    assert stats.records == 120 and len(out.read_bytes().splitlines()) == 120


async def test_a_bad_sink_url_fails_before_the_run(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=10, parts=1)
    with pytest.raises(streamer.ConfigError, match="unknown scheme"):
        await streamer.run(streamer.UrlSource(sim.file_urls(export)), "nosuch:///x")
    assert sim.requests == []


async def test_workers_take_a_sink_url(sim: Simulator, tmp_path: Path) -> None:
    """A partitioned worker with a graceful stop (the worker set-up) into a sink URL."""
    export = sim.add_export("OrderItem", records=300, parts=4)
    source = streamer.PartitionedSource(streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem"), 0, 2)
    stats = await streamer.run(source, f"sqlite:///{tmp_path / 'w0.db'}?layout=json", stop_on=(signal.SIGTERM,), resume=True)
    assert stats.stopped_by is None and len(stats.parts) == 2
    assert len(sqlite_rows(tmp_path / "w0.db")["order_item"]) == stats.records > 0


async def test_stream_with_a_state_resumes_through_the_same_plan(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=300, parts=1)
    state = tmp_path / "s.json"
    seen = [r.data["Id"] async for r in streamer.stream(streamer.UrlSource(sim.file_urls(export)), state=state,
                                                        batch_size=100)]
    again = [r async for r in streamer.stream(streamer.UrlSource(sim.file_urls(export)), state=state)]
    assert sorted(seen) == sorted(export.ids()) and again == []


def test_stream_without_a_state_cannot_resume() -> None:
    with pytest.raises(TypeError, match="needs state"):
        streamer.stream(streamer.UrlSource(["http://127.0.0.1:1/x.jsonl"]), resume=True)


# ------------------------------------------------------------------ layering


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_cli_never_imports_the_engine() -> None:
    """The CLI parses options and builds a RunPlan; the engine is the plan's business."""
    offenders = {
        path.name: sorted(name for name in _imports(path) if name == "streamer.engine" or name.startswith("streamer.engine."))
        for path in sorted(CLI_PACKAGE.glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}
    assert any("streamer.assembly" in _imports(path) for path in CLI_PACKAGE.glob("*.py"))  # the check sees imports


def test_sink_capabilities_are_read_nowhere_else() -> None:
    """No ``getattr``/``hasattr`` probing for ``load_checkpoints`` anywhere in the package."""
    package = Path(streamer.__file__).parent
    probing = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(probe in path.read_text() for probe in (
            '"load_checkpoints"', '"load_bookmarks"', '"emits_bookmarks"', '"commit_mark"',
            "isinstance(sink, BookmarkSink)", "isinstance(sink, CommittableSink)"))
    ]
    assert probing == []


def test_capabilities_is_a_frozen_value() -> None:
    with pytest.raises(AttributeError):
        TRANSACTIONAL.commits_checkpoints = False  # type: ignore[misc]
    assert SinkCapabilities() == PLAIN


PACKAGE = Path(streamer.__file__).parent

FORBIDDEN = {
    # package (or module) → what it must never import (docs/architecture.md: nothing imports upwards)
    "engine": ("streamer.incremental", "streamer.assembly", "streamer.api", "streamer.cli", "streamer.distributed",
               "streamer.providers.mews", "streamer.providers.rebilly", "streamer.providers.logisense",
               "streamer.sinks.sqlite", "streamer.sinks.duckdb", "streamer.sinks.postgres", "streamer.simulator"),
    "incremental": ("streamer.engine", "streamer.assembly", "streamer.api", "streamer.distributed", "streamer.simulator"),
    "schemas": ("streamer.engine", "streamer.assembly", "streamer.incremental", "streamer.providers",
                "streamer.sinks", "streamer.state", "streamer.distributed", "streamer.cli"),
    "decoding": ("streamer.engine", "streamer.assembly", "streamer.incremental", "streamer.providers",
                 "streamer.sinks", "streamer.state", "streamer.distributed", "streamer.cli"),
    "http": ("streamer.engine", "streamer.assembly", "streamer.incremental", "streamer.providers",
             "streamer.sinks", "streamer.state", "streamer.distributed", "streamer.cli"),
    "providers": ("streamer.engine", "streamer.assembly", "streamer.api", "streamer.distributed", "streamer.cli"),
    "sinks": ("streamer.engine", "streamer.assembly", "streamer.api", "streamer.distributed", "streamer.cli"),
    "state": ("streamer.engine", "streamer.assembly", "streamer.api", "streamer.distributed", "streamer.cli"),
    "distributed": ("streamer.assembly", "streamer.api", "streamer.cli", "streamer.simulator"),
    "assembly.py": ("streamer.cli", "streamer.api"),
}


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_floor_imports_upwards(floor: str) -> None:
    paths = [PACKAGE / floor] if floor.endswith(".py") else sorted((PACKAGE / floor).rglob("*.py"))
    assert paths and all(path.exists() for path in paths)
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in _imports(path)
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[floor])
        )
        for path in paths
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_layering_check_sees_an_upward_import() -> None:
    assert "streamer.providers.base" in _imports(PACKAGE / "engine" / "runner.py")
    assert "streamer.engine.runner" in _imports(PACKAGE / "distributed" / "worker.py")
