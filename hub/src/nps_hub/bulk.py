"""The few statements a report costs, per database, through the driver itself.

SQLAlchemy's Core builds a dictionary of parameters per row and compiles an IN list
per execution: for a report of 2,000 assets and 10,000 flows that costs more than the
database's own work. Here each statement is written once per dialect: a list of keys is
one parameter (an array on PostgreSQL, JSON that `json_each` reads on SQLite) instead of
thousands, and rows go in bulk (binary COPY on PostgreSQL; on SQLite, `executemany`
over tuples, and multi-row INSERTs for the traffic records).

Every function runs inside the caller's transaction (ingest.writing), which holds the
Network's lock. On PostgreSQL, COPY goes straight into assets and flows, and into
temporary tables of the connection for the update of known assets and the upsert of
sightings.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection

# What discovery predicted (merge.predictions), after the columns every asset had before.
PREDICTION_COLUMNS = ("vendor", "os", "os_family", "os_confidence", "device_type", "model", "device_confidence")
PREDICTION_TYPES = ("varchar", "varchar", "varchar", "float8", "varchar", "varchar", "float8")
ASSET_COLUMNS = ("id", "network", "mac", "ip", "ips", "macs", "hostname", "class", "group", "first_seen",
                 "last_seen", "raw", "packets", "bytes_in", "bytes_out", *PREDICTION_COLUMNS)  # fmt: skip
ASSET_TYPES = ("int4", "varchar", "varchar", "varchar", "json", "json", "varchar", "varchar", "varchar", "varchar",
               "varchar", "json", "int8", "int8", "int8", *PREDICTION_TYPES)  # fmt: skip
# What an update sets on SQLite when the indexed columns keep their values.
ASSET_KEPT = tuple(c for c in ASSET_COLUMNS[2:] if c not in ("mac", "ip", "hostname"))
# What COPY is told: JSON goes as the text it is (json's binary form is its text).
ASSET_COPY = tuple("text" if t == "json" else t for t in ASSET_TYPES)
SIGHTING_COLUMNS = ("asset_id", "sensor_id", "first_seen", "last_seen", "packets", "bytes_in", "bytes_out")
SIGHTING_TYPES = ("int4", "int4", "varchar", "varchar", "int8", "int8", "int8")
FLOW_COLUMNS = ("sensor_id", "report_id", "network", "client", "server", "port", "proto", "client_bytes",
                "server_bytes", "client_packets", "server_packets", "first_seen", "last_seen", "client_asset",
                "server_asset")  # fmt: skip
# Rows per multi-row INSERT on SQLite (at most 32,766 parameters a statement): from 500
# rows on, more rows a statement took no less CPU.
SQLITE_ROWS = 512
FLOW_TYPES = ("int4", "int4", "varchar", "varchar", "varchar", "int4", "varchar", "int8", "int8", "int8", "int8",
              "varchar", "varchar", "int4", "int4")  # fmt: skip


def dumps(value: Any) -> str:
    """Compact JSON, by pydantic's serializer (a third of the standard library's time)."""
    return to_json(value).decode()


def quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


class Bulk:
    """Statements on one connection; `pg` picks PostgreSQL's forms, else SQLite's."""

    def __init__(self, conn: Connection) -> None:
        self.raw: Any = conn.connection.driver_connection
        self.pg = conn.dialect.name == "postgresql"

    def _all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query. On PostgreSQL never a prepared statement: psycopg prepares a
        query from its fifth run on, and the server then falls back to a generic plan for
        `network = $1 AND mac = ANY($2)` that compares each key list with every asset of
        the Network (2.4 CPU-s of PostgreSQL per 10,000 assets updated, against 0.02 s
        planned with the actual lists)."""
        cur = self.raw.cursor()
        try:
            if self.pg:
                cur.execute(self._sql(sql), params, prepare=False)
            else:
                cur.execute(sql, params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def _sql(self, sql: str) -> str:
        """psycopg's placeholders, binary: arrays of text then need no escaping (in the
        text format psycopg escapes each element with a regular expression)."""
        return sql.replace("?", "%b") if self.pg else sql

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        cur = self.raw.cursor()
        try:
            cur.execute(self._sql(sql), params)
        finally:
            cur.close()

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cur = self.raw.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def _values(self, head: str, width: int, rows: list[tuple[Any, ...]]) -> None:
        """SQLite: `head` followed by VALUES of SQLITE_ROWS rows a statement, each `width`
        wide, the rest by executemany: 22 % less CPU for the traffic records than
        executemany's statement per row (3.7 µs a row instead of 4.8). One statement text
        per table, whatever the number of rows: every connection keeps its prepared
        statements, and a text per chunk length tripled the hub's memory (186 -> 524 MiB
        in the fleet run of 100 sensors)."""
        marks = "(" + ", ".join("?" * width) + ")"
        whole = len(rows) - len(rows) % SQLITE_ROWS
        cur = self.raw.cursor()
        try:
            if whole:
                sql = f"{head} VALUES {', '.join([marks] * SQLITE_ROWS)}"
                for i in range(0, whole, SQLITE_ROWS):
                    cur.execute(sql, list(itertools.chain.from_iterable(rows[i : i + SQLITE_ROWS])))
            if whole < len(rows):
                cur.executemany(f"{head} VALUES {marks}", rows[whole:])
        finally:
            cur.close()

    def _among(self, column: str) -> str:
        """`column` is one of a list given as one parameter."""
        return f"{column} = ANY(?)" if self.pg else f"{column} IN (SELECT value FROM json_each(?))"

    def _list(self, values: Sequence[Any]) -> Any:
        return list(values) if self.pg else dumps(list(values))

    # --- reading -----------------------------------------------------------------------

    def assets_matching(self, network: str, keys: Mapping[str, Sequence[str]]) -> list[tuple[Any, ...]]:
        """(id, mac, ip, ips, macs, hostname, class, group, first_seen, last_seen, then
        PREDICTION_COLUMNS) of the Network's assets whose column (mac, ip, hostname) is
        one of its list in `keys`; ips and macs as JSON text. On PostgreSQL one query
        for every key, each asset once (a query per key sent most assets back two or
        three times: found by MAC, again by address, again by name); SQLite's plan for
        the OR of three `json_each` lists was slower than three queries, so there each
        query leaves out the assets the ones before it found (an update pass's rows were
        made in Python three times over: 0.085 CPU-s per 10,000 assets, now 0.055)."""
        keys = {column: values for column, values in keys.items() if values}
        if not keys:
            return []
        head = (
            f'SELECT id, mac, ip, {"ips::text, macs::text" if self.pg else "ips, macs"}, hostname, "class", "group", '
            f"first_seen, last_seen, {quoted(PREDICTION_COLUMNS)} FROM assets WHERE network = ? AND "
        )
        if self.pg:
            sql = head + f"({' OR '.join(self._among(column) for column in keys)})"
            return self._all(sql, (network, *(self._list(values) for values in keys.values())))
        rows: list[tuple[Any, ...]] = []
        for column, values in keys.items():  # not the assets an earlier query sent: each row made once
            sql = f"{head}{self._among(column)} AND NOT {self._among('id')}"
            rows += self._all(sql, (network, self._list(values), self._list([r[0] for r in rows])))
        return rows

    def sightings_of(self, asset_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """(asset_id, sensor_id, first_seen, last_seen, packets, bytes_in, bytes_out)."""
        if not asset_ids:
            return []
        sql = f"SELECT {quoted(SIGHTING_COLUMNS)} FROM sightings WHERE {self._among('asset_id')}"
        return self._all(sql, (self._list(asset_ids),))

    def ids_at(self, network: str, ips: Sequence[str]) -> list[tuple[int, str]]:
        """(id, ip) of the Network's assets whose main address is one of `ips`."""
        if not ips:
            return []
        return [(r[0], r[1]) for r in self._all(
            f"SELECT id, ip FROM assets WHERE network = ? AND {self._among('ip')}", (network, self._list(ips))
        )]  # fmt: skip

    # --- writing -----------------------------------------------------------------------

    def new_ids(self, n: int) -> list[int]:
        """Identifiers for n new assets: from the sequence on PostgreSQL; on SQLite, after
        the largest, which is safe under the write lock the transaction holds."""
        if n == 0:
            return []
        if self.pg:
            return [r[0] for r in self._all("SELECT nextval('assets_id_seq') FROM generate_series(1, ?)", (n,))]
        top = self._all("SELECT coalesce(max(id), 0) FROM assets", ())[0][0]
        return list(range(top + 1, top + 1 + n))

    def _copy(self, table: str, columns: Sequence[str], types: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL's binary COPY: rows go as they are, without a parameter or an array
        to build per value (psycopg's array dumping cost more than the merge itself)."""
        cur = self.raw.cursor()
        try:
            with cur.copy(f"COPY {table} ({quoted(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for r in rows:
                    copy.write_row(r)
        finally:
            cur.close()

    def _staging(self, name: str, columns: Sequence[str], types: Sequence[str]) -> None:
        """A temporary table of this connection, emptied at every commit, for rows that
        a statement then merges."""
        defs = ", ".join(f'"{c}" {t}' for c, t in zip(columns, types, strict=True))
        self._run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({defs}) ON COMMIT DELETE ROWS", ())

    def insert_assets(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in ASSET_COLUMNS' order, JSON columns as text."""
        if not rows:
            return
        if self.pg:
            self._copy("assets", ASSET_COLUMNS, ASSET_COPY, rows)
        else:
            marks = ", ".join("?" * len(ASSET_COLUMNS))
            self._many(f"INSERT INTO assets ({quoted(ASSET_COLUMNS)}) VALUES ({marks})", rows)

    def update_assets(self, rows: list[tuple[Any, ...]], moved: Sequence[bool]) -> None:
        """Rows in ASSET_COLUMNS' order (the id first; the network is left as it is);
        `moved[i]`: whether row i's mac, ip or hostname differs from the stored one. SQLite
        rewrites an index's entry for every row whose UPDATE sets the index's column, to the
        same value or not: rows that keep theirs leave those columns out (4.5 µs a row
        instead of 8.6; PostgreSQL compares the values itself)."""
        if not rows:
            return
        if self.pg:
            self._staging("nps_assets_in", ASSET_COLUMNS, ASSET_TYPES)
            self._copy("nps_assets_in", ASSET_COLUMNS, ASSET_COPY, rows)
            sets = ", ".join(f'"{c}" = v."{c}"' for c in ASSET_COLUMNS[2:])
            self._run(f"UPDATE assets AS a SET {sets} FROM nps_assets_in AS v WHERE a.id = v.id", ())
            return
        for columns, chosen in (
            (ASSET_COLUMNS[2:], [r for r, m in zip(rows, moved, strict=True) if m]),
            (ASSET_KEPT, [r for r, m in zip(rows, moved, strict=True) if not m]),
        ):
            if chosen:
                pick = operator.itemgetter(*(ASSET_COLUMNS.index(c) for c in columns), 0)  # the id last
                sets = ", ".join(f'"{c}" = ?' for c in columns)
                self._many(f"UPDATE assets SET {sets} WHERE id = ?", list(map(pick, chosen)))

    def _insert(self, table: str, columns: Sequence[str], types: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Rows straight in: PostgreSQL's COPY, SQLite's multi-row INSERT."""
        if not rows:
            return
        if self.pg:
            self._copy(table, columns, types, rows)
        else:
            self._values(f"INSERT INTO {table} ({quoted(columns)})", len(columns), rows)

    def insert_sightings(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in SIGHTING_COLUMNS' order, of new assets (none can be there already):
        without upsert_sightings' staging table and conflict check."""
        self._insert("sightings", SIGHTING_COLUMNS, SIGHTING_TYPES, rows)

    def upsert_sightings(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in SIGHTING_COLUMNS' order: a sensor's counts replace its old ones, its
        last_seen moves on, its first_seen stays."""
        if not rows:
            return
        conflict = (
            "ON CONFLICT (asset_id, sensor_id) DO UPDATE SET last_seen = excluded.last_seen, "
            "packets = excluded.packets, bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out"
        )
        if self.pg:
            self._staging("nps_sightings_in", SIGHTING_COLUMNS, SIGHTING_TYPES)
            self._copy("nps_sightings_in", SIGHTING_COLUMNS, SIGHTING_TYPES, rows)
            columns = quoted(SIGHTING_COLUMNS)
            self._run(f"INSERT INTO sightings ({columns}) SELECT {columns} FROM nps_sightings_in {conflict}", ())
        else:
            marks = ", ".join("?" * len(SIGHTING_COLUMNS))
            self._many(f"INSERT INTO sightings ({quoted(SIGHTING_COLUMNS)}) VALUES ({marks}) {conflict}", rows)

    def insert_flows(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in FLOW_COLUMNS' order."""
        self._insert("flows", FLOW_COLUMNS, FLOW_TYPES, rows)

    def add_totals(self, table: str, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Rows (*keys, bytes, records) added to a table of totals (traffic_minutes,
        service_totals): one statement, written once, instead of SQLAlchemy compiling an
        upsert per report."""
        if not rows:
            return
        columns = (*keys, "bytes", "records")
        marks = ", ".join(["%s" if self.pg else "?"] * len(columns))
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({', '.join(keys)}) DO UPDATE "
            f"SET bytes = {table}.bytes + excluded.bytes, records = {table}.records + excluded.records"
        )
        self._many(sql, rows)
