"""Dataset validation: files and schemas against the manifest, then value and consistency rules in DuckDB.

Each rule names its table, column and what must hold, and counts the rows that break it, so a
failure reads as e.g. ``transactions.amount: must be > 0 (3 rows)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from loyaltylens.data.io import content_hash, open_duckdb, read_manifest, register_views, table_path
from loyaltylens.data.schema import (
    EVENT_TYPES,
    OFFER_CHANNELS,
    TABLES,
    TRUTH_TABLES,
    schema_of,
    schema_to_dict,
)
from loyaltylens.errors import DataValidationError
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES, SEGMENTS


@dataclass(frozen=True)
class Rule:
    """``sql`` counts the rows of ``table`` that break the rule (``$start``/``$end`` = the period)."""

    table: str
    column: str
    must: str
    sql: str


def _in(vocabulary: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in vocabulary) + ")"


def _unique(table: str, column: str) -> Rule:
    return Rule(table, column, "be unique", f"SELECT count(*) - count(DISTINCT {column}) FROM {table}")


def _one_of(table: str, column: str, vocabulary: tuple[str, ...]) -> Rule:
    return Rule(
        table,
        column,
        f"be one of {', '.join(vocabulary)}",
        f"SELECT count(*) FROM {table} WHERE {column} IS NULL OR {column} NOT IN {_in(vocabulary)}",
    )


def _references(table: str, column: str, parent: str, nullable: bool = False) -> Rule:
    return Rule(
        table,
        column,
        f"reference an existing {parent}.{column}",
        f"SELECT count(*) FROM {table} x ANTI JOIN {parent} p USING ({column})"
        + (f" WHERE x.{column} IS NOT NULL" if nullable else ""),
    )


def _where(table: str, column: str, must: str, violation: str) -> Rule:
    return Rule(table, column, must, f"SELECT count(*) FROM {table} WHERE {violation}")


RULES: tuple[Rule, ...] = (
    _unique("customers", "customer_id"),
    _one_of("customers", "segment", SEGMENTS),
    _one_of("customers", "channel_preference", CHANNELS),
    _where("customers", "signup_date", "be before the end of the period", "signup_date >= $end"),
    _unique("offers", "offer_id"),
    _one_of("offers", "category", PRODUCT_CATEGORIES),
    _one_of("offers", "channel", OFFER_CHANNELS),
    _where("offers", "discount_pct", "be between 1 and 99", "discount_pct NOT BETWEEN 1 AND 99"),
    _where("offers", "min_spend", "be >= 0", "min_spend < 0"),
    _where("offers", "end_date", "be on or after start_date", "end_date < start_date"),
    _where("offers", "text", "be a non-empty sentence", "coalesce(trim(text), '') = ''"),
    _unique("transactions", "txn_id"),
    _references("transactions", "customer_id", "customers"),
    _references("transactions", "offer_id", "offers", nullable=True),
    _where("transactions", "amount", "be > 0", "amount IS NULL OR amount <= 0"),
    _where("transactions", "ts", "be within the period", "ts < $start OR ts >= $end"),
    Rule(
        "transactions",
        "ts",
        "not be before the customer's signup_date",
        "SELECT count(*) FROM transactions t JOIN customers c USING (customer_id) WHERE t.ts < c.signup_date",
    ),
    _one_of("transactions", "category", PRODUCT_CATEGORIES),
    _one_of("transactions", "channel", CHANNELS),
    _unique("campaigns", "assignment_id"),
    _references("campaigns", "customer_id", "customers"),
    _references("campaigns", "offer_id", "offers"),
    _where("campaigns", "sent_ts", "be within the period", "sent_ts < $start OR sent_ts >= $end"),
    _where(
        "campaigns",
        "logging_probability",
        "be in (0, 1]",
        "logging_probability IS NULL OR logging_probability <= 0 OR logging_probability > 1",
    ),
    _one_of("offer_events", "event_type", EVENT_TYPES),
    Rule(
        "offer_events",
        "assignment_id",
        "belong to a treated assignment of the same customer and offer (hold-outs get no events)",
        "SELECT count(*) FROM offer_events e LEFT JOIN campaigns c USING (assignment_id) "
        "WHERE c.treated IS DISTINCT FROM true OR c.customer_id <> e.customer_id OR c.offer_id <> e.offer_id",
    ),
    Rule(
        "offer_events",
        "ts",
        "not be before the assignment's sent_ts",
        "SELECT count(*) FROM offer_events e JOIN campaigns c USING (assignment_id) WHERE e.ts < c.sent_ts",
    ),
    Rule(
        "offer_events",
        "event_type",
        "have exactly one 'sent' per treated assignment",
        "SELECT count(*) FROM campaigns c LEFT JOIN (SELECT assignment_id, count(*) AS n FROM offer_events "
        "WHERE event_type = 'sent' GROUP BY ALL) s USING (assignment_id) "
        "WHERE c.treated AND s.n IS DISTINCT FROM 1",
    ),
    Rule(
        "offer_events",
        "event_type",
        "have an 'opened' at or before every 'redeemed' of the same assignment",
        "SELECT count(*) FROM offer_events r WHERE r.event_type = 'redeemed' AND NOT EXISTS "
        "(SELECT 1 FROM offer_events o "
        "WHERE o.assignment_id = r.assignment_id AND o.event_type = 'opened' AND o.ts <= r.ts)",
    ),
    Rule(
        "offer_events",
        "event_type",
        "have a transaction with the offer's offer_id at the time of every 'redeemed'",
        "SELECT count(*) FROM offer_events r ANTI JOIN transactions t "
        "ON t.customer_id = r.customer_id AND t.offer_id = r.offer_id AND t.ts = r.ts "
        "WHERE r.event_type = 'redeemed'",
    ),
    _unique("assignments_truth", "assignment_id"),
    Rule(
        "assignments_truth",
        "assignment_id",
        "have one row per campaigns assignment",
        "SELECT (SELECT count(*) FROM campaigns c ANTI JOIN assignments_truth t USING (assignment_id)) + "
        "(SELECT count(*) FROM assignments_truth t ANTI JOIN campaigns c USING (assignment_id))",
    ),
    _where(
        "assignments_truth", "p_redeem", "be in (0, 1)", "p_redeem IS NULL OR p_redeem <= 0 OR p_redeem >= 1"
    ),
    Rule(
        "assignments_truth",
        "redeemed_if_treated",
        "equal the realised redemption of treated assignments",
        "SELECT count(*) FROM assignments_truth t WHERE t.treated AND t.redeemed_if_treated <> EXISTS "
        "(SELECT 1 FROM offer_events e "
        "WHERE e.assignment_id = t.assignment_id AND e.event_type = 'redeemed')",
    ),
    _unique("customers_truth", "customer_id"),
    _references("customers_truth", "customer_id", "customers"),
)


@dataclass(frozen=True)
class ValidationReport:
    """A dataset that passed every check: what was checked and how big it is."""

    dataset_dir: Path
    dataset_id: str
    content_hash: str
    row_counts: dict[str, int]
    checks: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [
            f"# Dataset `{self.dataset_id}`: valid",
            "",
            f"Content hash `{self.content_hash}`; {len(self.checks)} checks passed.",
            "",
            "| table | rows |",
            "|---|---|",
            *[f"| {name} | {rows:,} |" for name, rows in self.row_counts.items()],
            "",
            *[f"- {check}" for check in self.checks],
        ]
        return "\n".join(lines) + "\n"


def validate_dataset(dataset_dir: Path) -> ValidationReport:
    """Check a dataset's files, schemas, row counts, content hash and value rules.

    Returns:
        ``ValidationReport`` listing the checks that passed.

    Raises:
        NotFoundError: ``dataset_dir`` has no manifest.
        DataValidationError: listing every violated ``table.column: must ...`` rule.
    """
    dataset_dir = Path(dataset_dir)
    manifest = read_manifest(dataset_dir)
    problems = _check_files(dataset_dir, manifest)
    checks = [
        f"{name}: file present, schema and row count as in the manifest" for name in TABLES + TRUTH_TABLES
    ]
    if not problems:  # value rules need readable tables with the expected columns
        problems += _check_content_hash(dataset_dir, manifest)
        checks.append("content hash matches the manifest")
        problems += _check_rules(dataset_dir, manifest)
        checks += [f"{rule.table}.{rule.column}: must {rule.must}" for rule in RULES]
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DataValidationError(f"dataset {dataset_dir} failed {len(problems)} check(s):\n{listed}")
    return ValidationReport(
        dataset_dir=dataset_dir,
        dataset_id=manifest["dataset_id"],
        content_hash=manifest["content_hash"],
        row_counts=manifest["row_counts"],
        checks=checks,
    )


def _check_files(dataset_dir: Path, manifest: dict) -> list[str]:
    problems = []
    for name in TABLES + TRUTH_TABLES:
        path = table_path(dataset_dir, name)
        if not path.is_file():
            problems.append(f"{name}: file {path.name} is missing")
            continue
        actual = schema_to_dict(pq.read_schema(path))
        for column, expected_type in schema_to_dict(schema_of(name)).items():
            if column not in actual:
                problems.append(f"{name}.{column}: column is missing")
            elif actual[column] != expected_type:
                problems.append(f"{name}.{column}: must have type {expected_type}, found {actual[column]}")
        problems += [
            f"{name}.{column}: unexpected column" for column in actual if column not in schema_of(name).names
        ]
        rows = pq.read_metadata(path).num_rows
        if rows != manifest["row_counts"].get(name):
            problems.append(f"{name}: {rows} rows, manifest says {manifest['row_counts'].get(name)}")
    return problems


def _check_content_hash(dataset_dir: Path, manifest: dict) -> list[str]:
    actual = content_hash(dataset_dir)
    if actual != manifest["content_hash"]:
        return [
            f"manifest.content_hash: files changed after generation ({actual} != {manifest['content_hash']})"
        ]
    return []


def _check_rules(dataset_dir: Path, manifest: dict) -> list[str]:
    con = open_duckdb()
    register_views(con, dataset_dir, TABLES + TRUTH_TABLES)
    period = {name: date.fromisoformat(manifest["period"][f"{name}_date"]) for name in ("start", "end")}
    problems = []
    for rule in RULES:
        params = {k: v for k, v in period.items() if f"${k}" in rule.sql}
        violations = con.execute(rule.sql, params).fetchone()[0]
        if violations:
            problems.append(f"{rule.table}.{rule.column}: must {rule.must} ({violations:,} rows)")
    return problems
