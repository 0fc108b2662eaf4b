"""Where a replication's record chunks go: kept in memory as tables, or written to Parquet.

A sink receives the same chunks the running aggregates consume (records first, metrics after):
:class:`~dronesim.engine.records.IncidentChunk` and
:class:`~dronesim.engine.records.MissionChunk`, in incident order and in landing order
respectively, then ``close()`` once. The columns and dtypes are those of ``incidents.parquet`` /
``missions.parquet``.

* :class:`MemorySink` keeps the chunks and gives today's DataFrames (tests, notebooks, small
  runs).
* :class:`ParquetSink` writes each chunk as a row group with
  :class:`pyarrow.parquet.ParquetWriter`, so memory does not grow with the run; reading the files
  back with :func:`pandas.read_parquet` gives the same tables as :class:`MemorySink`. Chunks after
  the first go to pyarrow straight from their numpy columns (no pandas round trip).
* :class:`NullSink` drops them (when only the KPIs are wanted).

Observers (:class:`Observer`) receive the same chunks to count figures from them: the runner
creates them and hands them to the replication
(:func:`dronesim.engine.replication.run_replication`), whose KPIs are what its observers count.
:class:`dronesim.engine.aggregates.Aggregates` is the one that counts every engine KPI.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import named_os_error
from .records import IncidentChunk, MissionChunk, incident_frame, mission_frame

__all__ = ["Sink", "MemorySink", "ParquetSink", "NullSink", "Observer", "RunShape"]


@dataclass(frozen=True)
class RunShape:
    """What a replication has built before its first event: the denominators of utilisation."""

    fleet_size: int
    pilots: int
    ground_units: dict[str, int]


class Observer(Protocol):
    """Counts figures from the record chunks of one replication (the chunks a sink receives, in
    the same order), then gives them as a dict of plain values."""

    def start(self, shape: RunShape) -> None: ...

    def add_incidents(self, chunk: IncidentChunk) -> None: ...

    def add_missions(self, chunk: MissionChunk) -> None: ...

    def kpis(self) -> dict[str, Any]: ...


class Sink(Protocol):
    """Receives record chunks of one replication."""

    def write_incidents(self, chunk: IncidentChunk) -> None: ...

    def write_missions(self, chunk: MissionChunk) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every chunk; :meth:`incidents` / :meth:`missions` join them into tables."""

    def __init__(self) -> None:
        self._incidents: list[IncidentChunk] = []
        self._missions: list[MissionChunk] = []

    def write_incidents(self, chunk: IncidentChunk) -> None:
        self._incidents.append(chunk)

    def write_missions(self, chunk: MissionChunk) -> None:
        self._missions.append(chunk)

    def close(self) -> None:
        pass

    def incidents(self, empty: IncidentChunk) -> pd.DataFrame:
        """The incident table (``empty`` types the columns when there was no incident)."""
        return incident_frame(self._incidents, empty)

    def missions(self, empty: MissionChunk) -> pd.DataFrame:
        return mission_frame(self._missions, empty)


class NullSink:
    """Drops every chunk."""

    def write_incidents(self, chunk: IncidentChunk) -> None:
        pass

    def write_missions(self, chunk: MissionChunk) -> None:
        pass

    def close(self) -> None:
        pass


class ParquetSink:
    """Streams the incident and mission records of one replication to two Parquet files.

    Parameters
    ----------
    incidents_path, missions_path
        Files to write (replaced if present). Each chunk becomes one row group; the model
        writes a typed, empty chunk when a replication has no row, so both files always exist.
        With ``missions_path`` omitted, ``incidents_path`` names a folder (no ``.parquet``
        suffix: ``incidents.parquet`` and ``missions.parquet`` inside it, made if missing) or
        the incident file (missions beside it, ``<stem>_missions.parquet``).
    """

    def __init__(self, incidents_path: str | Path, missions_path: str | Path | None = None
                 ) -> None:
        inc = Path(incidents_path)
        if missions_path is None:
            if inc.suffix != ".parquet":
                inc.mkdir(parents=True, exist_ok=True)
                inc, missions_path = inc / "incidents.parquet", inc / "missions.parquet"
            else:
                missions_path = inc.with_name(f"{inc.stem}_missions.parquet")
        self.paths = (inc, Path(missions_path))
        self._writers: list = [None, None]
        self._schemas: list = [None, None]

    def _table(self, which: int, chunk: MissionChunk) -> Any:
        """The chunk as a pyarrow table. The first goes through pandas (its schema, pandas'
        metadata included, is the files'); later ones are built from the numpy columns in that
        schema (no DataFrame, no copy of a numeric column), the same table as pandas gives:
        NaN as null, categorical codes as dictionary indices (-1: null)."""
        import pyarrow as pa

        schema = self._schemas[which]
        if schema is None:
            table = pa.Table.from_pandas(chunk.to_pandas(copy=False), preserve_index=False)
            self._schemas[which] = table.schema
            return table
        arrays = []
        for f in schema:
            col = chunk.columns[f.name]
            cats = chunk.categories.get(f.name)
            if cats is not None:
                codes = np.asarray(col)
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array(codes, type=f.type.index_type, mask=codes < 0),
                    pa.array(list(cats), f.type.value_type)))
            elif f.name in chunk.coded:
                codes, labels = chunk.coded[f.name]
                codes = np.asarray(codes, np.int64) % max(len(labels), 1)  # as to_pandas
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array(codes.astype(np.int32)), pa.array(list(labels), pa.string())
                ).dictionary_decode().cast(f.type))
            else:
                arrays.append(pa.array(col, type=f.type, from_pandas=True))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _write(self, which: int, chunk: MissionChunk) -> None:
        import pyarrow.parquet as pq

        table = self._table(which, chunk)
        try:
            w = self._writers[which]
            if w is None:
                w = self._writers[which] = pq.ParquetWriter(self.paths[which], table.schema)
            w.write_table(table)
        except OSError as exc:  # a full disk: both files dropped, the error names the file
            self.abort()
            raise named_os_error(exc, self.paths[which]) from None

    def write_incidents(self, chunk: IncidentChunk) -> None:
        self._write(0, chunk)

    def write_missions(self, chunk: MissionChunk) -> None:
        self._write(1, chunk)

    def close(self) -> None:
        """Finish both files."""
        for k, w in enumerate(self._writers):
            if w is not None:
                try:
                    w.close()
                except OSError as exc:
                    self.abort()
                    raise named_os_error(exc, self.paths[k]) from None
            self._writers[k] = None

    def abort(self) -> None:
        """Drop the files' writers after an error, quietly: each is closed if it can be, and
        left with nothing to do when it is garbage-collected (a writer that could not write
        its footer would otherwise try again in ``__del__``, printing its traceback). The files
        themselves are left to the caller (a task's partial files are removed with the
        run's)."""
        for k, w in enumerate(self._writers):
            self._writers[k] = None
            if w is None:
                continue
            with contextlib.suppress(Exception):  # the first error is the one reported
                w.close()
            w.is_open = False
            handle = getattr(w, "file_handle", None)
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()

