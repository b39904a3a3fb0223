"""Turn config + dataset + flags into a checked plan, before any call is made.

Every usage error a run can meet is found here: unknown judges, missing
columns, missing API keys, unknown prices under a budget.  ``validate`` and
``score --dry-run`` use the same plan, so what they accept ``score`` accepts.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from judgekit.citations import citation_schema
from judgekit.config import Config
from judgekit.config_connections import ConnectionConfig, resolve_connection
from judgekit.config_errors import did_you_mean
from judgekit.config_judges import FewShotExample, JudgeConfig
from judgekit.continuation import schema_with_continuation
from judgekit.datasets import DatasetInfo
from judgekit.engine.network import ProxyChoice, choose_proxy, needs_tls, tls_context
from judgekit.engine.rule_plan import rule_fields, validator_spec
from judgekit.envvars import expand_env
from judgekit.errors import ConfigError, CredentialsError, DatasetError
from judgekit.output import output_schema
from judgekit.pairwise import check_pairwise, pairwise_schema
from judgekit.presets import PRESETS
from judgekit.pricing import Price, lookup_price
from judgekit.prompts import verdict_schema
from judgekit.providers import PROTOCOLS, ProtocolAdapter
from judgekit.providers.wire import with_params
from judgekit.records import Endpoint, OutputMode, Scale
from judgekit.templates import TEMPLATES, UNIT_SCALE, Template, custom_template
from judgekit.validators import VALIDATOR_KINDS, ValidatorSpec


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """A connection ready to use: where, as whom, in which wire format."""

    name: str
    config: ConnectionConfig
    endpoint: Endpoint
    adapter: ProtocolAdapter
    proxy: ProxyChoice | None = None
    """The proxy its requests go through (None: direct)."""


@dataclass(frozen=True, slots=True)
class JudgePlan:
    """One judge with everything resolved: columns, template, model, price."""

    name: str
    type: str
    threshold: float
    fields: Mapping[str, str]
    """Template field -> dataset column, only the fields this judge uses."""
    required: frozenset[str]
    criteria: tuple[str, ...]
    weights: Mapping[str, float] | None
    template: Template | None = None
    scale: Scale = UNIT_SCALE
    schema: Mapping[str, Any] | None = None
    connection: ConnectionPlan | None = None
    model: str | None = None
    price: Price | None = None
    output_mode: OutputMode = "json_schema"
    max_cost_usd_per_call: float | None = None
    max_input_tokens: int | None = None
    pattern: str | None = None
    ignore_case: bool = True
    params: Mapping[str, Any] | None = None
    """Body members of every call: the connection's ``params``, then the judge's."""
    texts: tuple[str, ...] | None = None
    """``contains`` / ``not_contains``: the config's ``text``, used instead of ``expected``."""
    validator: ValidatorSpec | None = None
    """Structure validators (``judgekit.validators``): their checked settings."""
    continuation: bool = False
    """``continue_conversation``: also ask whether the conversation goes on."""
    max_turns: int | None = None
    next_schema: Mapping[str, Any] | None = None
    """``schema`` plus the continuation keys, for rows still under ``max_turns``."""
    samples: int = 1
    """Answers asked per row (``engine.sampling``); 1: one call, no sampling columns."""

    @property
    def is_pairwise(self) -> bool:
        """Whether this judge compares two outputs (``engine.pairwise``)."""
        return self.template is not None and self.template.kind == "pairwise"

    examples: tuple[FewShotExample, ...] = ()
    """Graded few-shot examples the prompt shows before the row (``judgekit align``)."""

    @property
    def is_llm(self) -> bool:
        """Whether this judge calls a model."""
        return self.type == "llm"


@dataclass(frozen=True, slots=True)
class SkippedJudge:
    """A judge left out of a ``--local-only`` run, and why it could cost money."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The checked plan of a run."""

    judges: tuple[JudgePlan, ...]
    connections: Mapping[str, ConnectionPlan]
    concurrency: int
    budget_usd: float | None
    max_error_rate: float
    skipped: tuple[SkippedJudge, ...] = ()
    """Judges ``--local-only`` left out: no call, no columns."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line flags that override ``[run]``."""

    judges: Sequence[str] = ()
    concurrency: int | None = None
    budget_usd: float | None = None
    max_error_rate: float | None = None
    local_only: bool | None = None


def make_plan(
    config: Config,
    source: str,
    dataset: DatasetInfo | None,
    overrides: Overrides | None = None,
    *,
    require_keys: bool = True,
    environ: Mapping[str, str] = os.environ,
) -> RunPlan:
    """Check everything checkable without a model call; ConfigError & co. when wrong."""
    overrides = overrides or Overrides()
    budget = overrides.budget_usd if overrides.budget_usd is not None else config.run.budget_usd
    selected = _select_judges(config, overrides.judges)
    local_only = config.run.local_only if overrides.local_only is None else overrides.local_only
    connections: dict[str, ConnectionPlan] = {}
    judges = []
    skipped: list[SkippedJudge] = []
    for index, judge in selected:
        where = f"{source}: judges[{index}]"
        if local_only and judge.type == "llm":
            reason = paid_reason(config, judge, where)
            if reason is not None:
                skipped.append(SkippedJudge(judge.name, reason))
                continue
        if judge.type == "llm":
            plan = _llm_judge(config, judge, where, connections, require_keys, environ)
            if budget is not None and plan.price is None:
                raise ConfigError(
                    f"{where}: no known price for model '{plan.model}' and a budget is set; "
                    f"set input_usd_per_mtok and output_usd_per_mtok on connections."
                    f"{plan.connection.name if plan.connection else ''}"
                )
        else:
            plan = _rule_judge(judge, where, source)
        if dataset is not None:
            plan = _bind_columns(plan, judge, where, dataset)
        judges.append(plan)
    if not judges:
        names = ", ".join(f"{s.name} ({s.reason})" for s in skipped)
        raise ConfigError(f"{source}: local only: every judge can cost money: {names}")
    if dataset is not None:  # a J_* column the dataset already has: refused before any call
        output_schema(
            dataset.schema,
            [(j.name, j.criteria) for j in judges],
            continuing=[j.name for j in judges if j.continuation],
            sampling=[j.name for j in judges if j.samples > 1],
            pairwise=[j.name for j in judges if j.is_pairwise],
        )
    urls = [c.endpoint.base_url for c in connections.values()]
    urls += [c.proxy.url for c in connections.values() if c.proxy is not None]
    custom_ca = environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR")
    if connections and (custom_ca or needs_tls(urls)):
        tls_context(environ)  # a CA bundle that cannot be loaded: refused before any call
    return RunPlan(
        judges=tuple(judges),
        connections=connections,
        concurrency=overrides.concurrency or config.run.concurrency,
        budget_usd=budget,
        max_error_rate=(
            overrides.max_error_rate
            if overrides.max_error_rate is not None
            else config.run.max_error_rate
        ),
        skipped=tuple(skipped),
    )


def paid_reason(config: Config, judge: JudgeConfig, where: str) -> str | None:
    """Why an llm judge can cost money, or None when it cannot: its price is 0, or it
    has no price and its server is on this machine (loopback).  A local server with a
    non-zero price (a gateway to a paid API, say) counts as paid."""
    name, conn, model = resolve_connection(config, judge, f"{where}.model")
    price = connection_price(conn, model)
    host = urlsplit(conn.base_url).hostname or ""
    if price is not None:
        rates = (price.input_usd_per_mtok, price.output_usd_per_mtok)
        if not any(rates) and not price.cached_input_usd_per_mtok:
            return None
        return f"connection '{name}': {model} costs ${rates[0]:g}/${rates[1]:g} per Mtok"
    if _is_loopback(host):
        return None
    return f"connection '{name}' at {host} is not on this machine and has no price of 0"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_price(conn: ConnectionConfig, model: str) -> Price | None:
    """The price of ``model`` on ``conn``: the config's, else the built-in table's when
    the connection's provider is priced there (Azure deployments, Bedrock ... are not)."""
    preset = PRESETS.get(conn.provider) if conn.provider else None
    return lookup_price(
        model,
        input_usd_per_mtok=conn.input_usd_per_mtok,
        output_usd_per_mtok=conn.output_usd_per_mtok,
        cached_input_usd_per_mtok=conn.cached_input_usd_per_mtok,
        table=preset is None or preset.priced_by is not None,
    )


def _select_judges(config: Config, names: Sequence[str]) -> list[tuple[int, JudgeConfig]]:
    indexed = list(enumerate(config.judges))
    if not names:
        return indexed
    known = {judge.name for judge in config.judges}
    unknown = [name for name in names if name not in known]
    if unknown:
        guess = did_you_mean(unknown[0], known)
        raise ConfigError(
            f"--judge {unknown[0]}: no such judge{guess} (judges: {', '.join(sorted(known))})"
        )
    return [(i, judge) for i, judge in indexed if judge.name in names]


def _llm_judge(
    config: Config,
    judge: JudgeConfig,
    where: str,
    connections: dict[str, ConnectionPlan],
    require_keys: bool,
    environ: Mapping[str, str],
) -> JudgePlan:
    template = _template(judge, where)
    name, conn, model = resolve_connection(config, judge, f"{where}.model")
    if name not in connections:
        connections[name] = _connection(name, conn, require_keys, environ)
    if judge.criteria is not None and template.kind == "citations":
        raise ConfigError(
            f"{where}.criteria: template 'citations' takes no criteria weights "
            "(its score is the share of supported citations)"
        )
    check_pairwise(judge, template, where)
    weights = judge.criteria or template.default_criteria
    criteria = tuple(weights) if weights else template.dimensions
    schema = (
        citation_schema()
        if template.kind == "citations"
        else pairwise_schema()
        if template.kind == "pairwise"
        else verdict_schema(template.scale, criteria)
    )
    fields = {field: judge.column_for(field) for field in template.required + template.optional}
    if judge.continue_conversation:  # the turn count reads them, the prompt shows them
        for field in ("input", "history"):
            fields.setdefault(field, judge.column_for(field))
    price = connection_price(conn, model)
    params = with_params(dict(conn.params), judge.params) or None
    mode: OutputMode = "json_schema" if conn.output_mode == "auto" else conn.output_mode
    return JudgePlan(
        name=judge.name,
        type="llm",
        threshold=judge.threshold,
        fields=fields,
        required=frozenset(template.required),
        criteria=criteria,
        weights=dict(weights) if weights else None,
        template=template,
        scale=template.scale,
        schema=schema,
        connection=connections[name],
        model=model,
        price=price,
        output_mode=mode,
        max_cost_usd_per_call=judge.max_cost_usd_per_call or conn.max_cost_usd_per_call,
        max_input_tokens=judge.max_input_tokens or conn.max_input_tokens,
        params=params,
        continuation=judge.continue_conversation,
        max_turns=judge.max_turns,
        next_schema=schema_with_continuation(schema) if judge.continue_conversation else None,
        samples=judge.samples,
        examples=tuple(judge.examples or ()),
    )


def _template(judge: JudgeConfig, where: str) -> Template:
    if judge.prompt is not None:
        try:
            return custom_template(judge.prompt, judge.system, judge.scale)
        except ValueError as exc:
            raise ConfigError(f"{where}.prompt: {exc}") from None
    assert judge.template is not None  # JudgeConfig._consistent guarantees one of them
    if judge.template not in TEMPLATES:
        raise ConfigError(
            f"{where}.template: unknown template '{judge.template}'"
            f"{did_you_mean(judge.template, TEMPLATES)} "
            f"(built-in: {', '.join(TEMPLATES)}; `judgekit templates` lists them)"
        )
    return TEMPLATES[judge.template]


def _connection(
    name: str, conn: ConnectionConfig, require_keys: bool, environ: Mapping[str, str]
) -> ConnectionPlan:
    key: str | None = None
    if conn.api_key_env is not None:
        key = _read_key(name, conn.api_key_env, environ)
        if key is None and require_keys and conn.api_key_required:
            raise CredentialsError(
                f"connection '{name}': environment variable {conn.api_key_env} is not set "
                f"(export {conn.api_key_env}=... before running)"
            )
    headers: dict[str, str] = {}
    for header, value in conn.headers.items():
        try:
            headers[header] = expand_env(value, f"connection '{name}': headers.{header}")
        except ConfigError:
            if require_keys:
                raise
    return ConnectionPlan(
        name=name,
        config=conn,
        endpoint=Endpoint(
            base_url=conn.base_url, api_key=key, key_header=conn.api_key_header, headers=headers
        ),
        adapter=PROTOCOLS[conn.protocol],
        proxy=choose_proxy(name, conn.base_url, conn.proxy, environ),
    )


def _read_key(connection: str, variable: str, environ: Mapping[str, str]) -> str | None:
    """The key in ``variable`` without the whitespace around it (a key pasted from a file
    ends in a line break); None when unset or blank.  CredentialsError when whitespace or a
    control character is inside it: it cannot travel in a header, and guessing is unsafe."""
    key = environ.get(variable, "").strip() or None
    if key is not None and any(c.isspace() or not c.isprintable() for c in key):
        raise CredentialsError(
            f"connection '{connection}': environment variable {variable} holds a space, line "
            "break or control character inside the key; set it to the key alone"
        )
    return key


def _rule_judge(judge: JudgeConfig, where: str, source: str) -> JudgePlan:
    fields = rule_fields(judge)
    texts = None
    if judge.text is not None:
        texts = (judge.text,) if isinstance(judge.text, str) else tuple(judge.text)
    return JudgePlan(
        name=judge.name,
        type=judge.type,
        threshold=judge.threshold,
        fields={field: judge.column_for(field) for field in fields},
        required=frozenset(fields),
        criteria=(),
        weights=None,
        pattern=judge.pattern,
        ignore_case=judge.ignore_case,
        texts=texts,
        validator=validator_spec(judge, where, source) if judge.type in VALIDATOR_KINDS else None,
    )


def _bind_columns(
    plan: JudgePlan, judge: JudgeConfig, where: str, dataset: DatasetInfo
) -> JudgePlan:
    """Keep the fields whose column exists; a missing required or mapped column is an error."""
    present = set(dataset.columns)
    bound = {}
    for field, column in plan.fields.items():
        if column in present:
            bound[field] = column
        elif field in plan.required or field in judge.columns:
            raise DatasetError(
                f"{where}.columns.{field}: judge '{plan.name}' needs column '{column}', "
                f"which {dataset.path} lacks{did_you_mean(column, dataset.columns)} "
                f"(columns: {', '.join(dataset.columns)})"
            )
    return replace(plan, fields=bound)
