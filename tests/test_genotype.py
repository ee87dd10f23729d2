import dataclasses
import json

import pytest
from conftest import small_genotype

from nas.genotype import Block, Genotype, GenotypeError, Head, Stem, Transition
from nas.genotype.presets import PRESETS


def test_yaml_and_json_round_trips_keep_equality_and_id():
    for g in list(PRESETS.values()) + [small_genotype("explicit"), small_genotype("nearest", "separable", 4, attention=True)]:
        assert Genotype.from_yaml(g.to_yaml()) == g
        assert Genotype.from_json(g.to_json()) == g
        assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))).id == g.id


def test_files_round_trip(tmp_path):
    g = small_genotype("odd_even", bottleneck=2)
    for name in ("g.yaml", "g.json"):
        assert Genotype.load(g.save(tmp_path / name)) == g


def test_id_is_content_hash():
    a, b = small_genotype(), small_genotype()
    assert a is not b and a.id == b.id and hash(a) == hash(b)
    assert small_genotype(theta=0.75).id != a.id
    assert small_genotype(growth=6).id != a.id
    # ints and floats for θ hash alike; defaults written out or not hash alike
    d = a.to_dict()
    d["transitions"][0]["compression"] = 1
    d["blocks"][0].pop("conv")
    e = a.to_dict()
    e["transitions"][0]["compression"] = 1.0
    assert Genotype.from_dict(d).id == Genotype.from_dict(e).id
    assert len(a.id) == 12 and int(a.id, 16) >= 0


def test_id_is_stable_across_releases():
    # A saved study refers to genotypes by id: changing the hash breaks every study.
    assert PRESETS["densenet_bc100_k12"].id == "7b041111710e"


def test_short_names():
    assert PRESETS["densenet_bc100_k12"].name == "c24-3xF16k12b4-t0.5"
    assert PRESETS["densenet40_k12"].name == "c16-3xF12k12"
    assert PRESETS["cliquenet_k36_t12"].name == "c64-3xQ4k36-M"
    assert small_genotype("nearest", "separable", 4, attention=True).name == "c8-2xN2:4k4b4s-t0.5-A"


def test_frozen():
    g = small_genotype()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.dropout = 0.1


def _with(g: Genotype, **block_changes) -> dict:
    d = g.to_dict()
    d["blocks"][1].update(block_changes)
    return d


@pytest.mark.parametrize(
    "change, field, phrase",
    [
        (dict(pattern="nearest", m=5), "blocks[1].m", "larger than the block"),
        (dict(pattern="nearest", m=None), "blocks[1].m", "needs m"),
        (dict(pattern="full", m=2), "blocks[1].m", "only pattern 'nearest'"),
        (dict(pattern="spiral"), "blocks[1].pattern", "unknown value 'spiral'"),
        (dict(growth=0), "blocks[1].growth", "must be ≥ 1"),
        (dict(growth=-3), "blocks[1].growth", "must be ≥ 1"),
        (dict(growth=2.5), "blocks[1].growth", "not an integer"),
        (dict(layers=True), "blocks[1].layers", "not an integer"),
        (dict(conv="dilated"), "blocks[1].conv", "unknown value"),
        (dict(bottleneck=0), "blocks[1].bottleneck", "must be ≥ 1"),
        (dict(pattern="clique", layers=1), "blocks[1].layers", "at least 2"),
        (dict(pattern="explicit"), "blocks[1].inputs", "needs inputs"),
        (dict(pattern="explicit", inputs=[[0], [0, 1]]), "blocks[1].inputs", "has 2 entries for 4 layers"),
        (dict(pattern="explicit", inputs=[[0], [0, 1], [0, 3], [0, 3]]), "blocks[1].inputs[2]", "input index 3 does not exist"),
        (dict(pattern="explicit", inputs=[[0], [0, 1], [], [0, 3]]), "blocks[1].inputs[2]", "reads nothing"),
        (dict(pattern="explicit", inputs=[[0], [1, 0], [2], [3]]), "blocks[1].inputs[1]", "increasing"),
        (dict(pattern="explicit", inputs=[[0], [1], [2], [3]], outputs=[0, 5]), "blocks[1].outputs", "output index 5"),
        (dict(pattern="explicit", inputs=[[0], [0], [2], [3]], outputs=[4]), "blocks[1].inputs", "layer 1's output is never used"),
        (dict(pattern="full", inputs=[[0], [1], [2], [3]]), "blocks[1].inputs", "only pattern 'explicit'"),
        (dict(colour="red"), "blocks[1].colour", "unknown field"),
    ],
)
def test_block_validation_names_field_and_value(change, field, phrase):
    with pytest.raises(GenotypeError) as e:
        Genotype.from_dict(_with(small_genotype(), **change))
    assert str(e.value).startswith(field + ":")
    assert phrase in str(e.value)


@pytest.mark.parametrize(
    "mutate, field, phrase",
    [
        (lambda d: d["transitions"][0].update(compression=0.0), "transitions[0].compression", "outside (0, 1]"),
        (lambda d: d["transitions"][0].update(compression=1.5), "transitions[0].compression", "θ=1.5"),
        (lambda d: d["transitions"][0].update(compression=float("nan")), "transitions[0].compression", "outside"),
        (lambda d: d["transitions"][0].update(compression=0.001), "transitions[0].compression", "leaves no channels"),
        (lambda d: d["transitions"].append({"compression": 0.5}), "transitions", "give exactly 1"),
        (lambda d: d.update(blocks=[]), "blocks", "at least one block"),
        (lambda d: d["stem"].update(kind="mobile"), "stem.kind", "unknown value 'mobile'"),
        (lambda d: d["stem"].update(channels=0), "stem.channels", "must be ≥ 1"),
        (lambda d: d["head"].update(kind="deep"), "head.kind", "unknown value"),
        (lambda d: d["head"].update(compress=True), "head.compress", "needs head.kind 'multiscale'"),
        (lambda d: d.update(dropout=1.0), "dropout", "must be in [0, 1)"),
        (lambda d: d.pop("stem"), "genotype.stem", "missing required field"),
        (lambda d: d["blocks"][0].pop("growth"), "blocks[0].growth", "missing required field"),
        (lambda d: d.update(blocks="dense"), "blocks", "expected a list"),
        (lambda d: d.update(depth=3), "genotype.depth", "unknown field"),
    ],
)
def test_genotype_validation_names_field_and_value(mutate, field, phrase):
    d = small_genotype().to_dict()
    mutate(d)
    with pytest.raises(GenotypeError) as e:
        Genotype.from_dict(d)
    assert str(e.value).startswith(field + ":"), str(e.value)
    assert phrase in str(e.value)


def test_malformed_files_raise_genotype_errors(tmp_path):
    with pytest.raises(GenotypeError, match="not valid YAML"):
        Genotype.from_yaml("blocks: [unclosed")
    with pytest.raises(GenotypeError, match="not valid JSON"):
        Genotype.from_json("{")
    with pytest.raises(GenotypeError, match="expected a mapping"):
        Genotype.from_yaml("- 1\n- 2\n")
    with pytest.raises(GenotypeError, match="does not exist"):
        Genotype.load(tmp_path / "missing.yaml")


def test_yaml_is_parsed_safely(tmp_path):
    evil = "!!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(GenotypeError, match="not valid YAML"):
        Genotype.from_yaml(evil)


def test_direct_construction_validates_too():
    with pytest.raises(GenotypeError, match=r"blocks\[0\].m"):
        Genotype(Stem(), (Block(3, 12, pattern="nearest", m=4),))
    g = Genotype(Stem(), (Block(3, 4, pattern="explicit", inputs=[[0], [1], [0, 2]]),))
    assert g.blocks[0].inputs == ((0,), (1,), (0, 2))
    assert Genotype(Stem(), (Block(2, 4),), head=Head("multiscale", True)).head.compress
    assert Transition().compression == 1.0
