"""Request and response bodies of the explorer's JSON API (they make FastAPI's OpenAPI schema).

Every number a client sends must be finite: ``allow_inf_nan=False`` turns a NaN or an infinity in
the JSON (Python's parser accepts ``NaN``) into a 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Finite = Annotated[float, Field(allow_inf_nan=False)]
Code = Annotated[list[Finite], Field(min_length=1, max_length=4096, description="a latent code z (L numbers)")]
RunKey = Annotated[Union[int, Annotated[str, Field(max_length=200)]], Field(description="run id (index) or name from /api/runs")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSummary(BaseModel):
    id: str
    name: str
    kind: Literal["image", "vector", "table"]
    shape: list[int]
    latent_dim: int
    conditional: bool
    classes: list[str]
    dataset: str


class Dim(BaseModel):
    index: int = Field(description="latent dimension d")
    activity: float = Field(description="Var over the test split of the posterior means (active units: > 0.01)")
    active: bool
    mean: float = Field(description="mean of the aggregate posterior in dimension d")
    sd: float = Field(description="sd of the aggregate posterior in dimension d (see spread_rule)")
    low: float = Field(description="slider minimum: mean - 3 sd")
    high: float = Field(description="slider maximum: mean + 3 sd")


class RunInfo(RunSummary):
    dims: list[Dim] = Field(description="every latent dimension, most active first")
    active_dims: int
    spread_rule: str
    columns: list[str] | None = Field(description="table/vector runs: the column names of a row")
    start: list[float] = Field(description="a code to start the sliders at: the first test example's posterior mean")
    start_label: int | None
    n_examples: int = Field(description="test examples behind the latent map")
    features: dict[str, bool] = Field(description="which optional features this server offers for the run")


class DecodeRequest(_Strict):
    run: RunKey = "0"
    z: Code
    label: int | None = Field(default=None, description="conditional runs: the class to decode under")
    format: Literal["png", "json"] = Field(
        default="png", description="png: the image itself (image runs); json: {png: data URL} or {row: [...]}")


class Item(BaseModel):
    png: str | None = Field(default=None, description="image runs: a data:image/png URL at the model's resolution")
    row: list[Any] | None = Field(default=None, description="table/vector runs: one row in the original units")
    z: list[float] | None = None
    label: int | None = None


class Items(BaseModel):
    items: list[Item]
    columns: list[str] | None = None


class SampleRequest(_Strict):
    run: RunKey = "0"
    n: int = Field(default=16, ge=1, le=64)
    temperature: Finite = Field(default=1.0, gt=0, le=5)
    seed: int = Field(default=0, ge=0, le=2**62)
    label: int | None = Field(default=None, description="conditional runs: condition every sample on this class "
                                                        "(without it the samples cycle through the classes)")


class InterpolateRequest(_Strict):
    run: RunKey = "0"
    z_from: Code
    z_to: Code
    steps: int = Field(default=10, ge=2, le=64)
    path: Literal["slerp", "lerp"] = "slerp"
    label_from: int | None = None
    label_to: int | None = None
    format: Literal["json", "gif"] = "json"


class RestyleRequest(_Strict):
    run: RunKey = "0"
    z: Code


class MapResponse(BaseModel):
    points: list[list[float]] = Field(description="(N, 2) positions of the test examples")
    labels: list[int] | None
    classes: list[str]
    axes: str


class Example(Item):
    index: int
    map: list[float]


class Encoded(Item):
    input: Item
    recon: Item
    map: list[float]
    anomaly: float | None = Field(default=None, description="anomaly score (higher = more anomalous), nats")
    percentile: float | None = Field(default=None, description="share of the first 500 test examples scoring lower, in %")


class EncodeResponse(BaseModel):
    items: list[Encoded]
    columns: list[str] | None = None
    score: str | None = Field(default=None, description="what the anomaly score is")


class Problem(BaseModel):
    detail: str
