import pytest

from nas.genotype import Block, GenotypeError, patterns


def inputs(pattern: str, layers: int, **fields):
    return Block(layers, 4, pattern, **fields).layer_inputs()


def test_full_reads_every_predecessor():
    assert inputs("full", 4) == ((0,), (0, 1), (0, 1, 2), (0, 1, 2, 3))


def test_nearest_reads_m_nearest_with_block_input_as_a_predecessor():
    assert inputs("nearest", 6, m=2) == ((0,), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5))
    assert inputs("nearest", 4, m=3) == ((0,), (0, 1), (0, 1, 2), (1, 2, 3))
    assert inputs("nearest", 5, m=1) == ((0,), (1,), (2,), (3,), (4,))
    assert inputs("nearest", 4, m=4) == inputs("full", 4)


def test_odd_even_reads_other_parity_and_block_input():
    assert inputs("odd_even", 6) == (
        (0,),            # layer 1
        (0, 1),          # layer 2: odd 1
        (0, 2),          # layer 3: even 2
        (0, 1, 3),       # layer 4: odd 1, 3
        (0, 2, 4),       # layer 5: even 2, 4
        (0, 1, 3, 5),    # layer 6
    )


def test_clique_stage_one_is_dense_and_stage_two_reads_all_other_layers():
    block = Block(3, 4, "clique")
    assert block.layer_inputs() == ((0,), (0, 1), (0, 1, 2))
    assert patterns.Clique.stage2_inputs(5)[0] == (2, 3, 4, 5)
    assert patterns.Clique.stage2_inputs(5)[2] == (1, 2, 4, 5)
    assert block.transit_sources() == (1, 2, 3)
    assert block.block_outputs() == (0, 1, 2, 3)


def test_explicit_inputs_and_outputs_pass_through():
    ins = ((0,), (1,), (0, 2))
    assert inputs("explicit", 3, inputs=ins) == ins
    assert Block(3, 4, "explicit", inputs=ins, outputs=(0, 3)).block_outputs() == (0, 3)
    assert Block(3, 4, "explicit", inputs=ins).block_outputs() == (0, 1, 2, 3)


def test_connection_counts():
    assert Block(12, 4).connections() == 78
    assert Block(6, 4, "nearest", m=2).connections() == 11
    assert Block(4, 4, "clique").connections() == 10 + 12


def test_every_pattern_has_a_distinct_code_and_only_drawn_patterns_are_searchable():
    codes = [p.code for p in patterns.PATTERNS.values()]
    assert len(set(codes)) == len(codes)
    assert patterns.searchable() == ("full", "nearest", "odd_even", "clique")
    assert patterns.get("nearest").short_code(Block(6, 12, "nearest", m=3)) == "N3:"


def test_a_pattern_refuses_the_fields_of_another():
    with pytest.raises(GenotypeError, match="only pattern 'nearest' takes m"):
        patterns.get("odd_even").check("blocks[0]", Block(4, 4, "nearest", m=2))
    with pytest.raises(GenotypeError, match="unknown pattern 'spiral'"):
        patterns.get("spiral")


class _Trial:
    """Answers suggest_int with the upper bound, recording the names asked for."""

    def __init__(self):
        self.asked = []

    def suggest_int(self, name, low, high):
        self.asked.append(name)
        return high


def test_a_patterns_search_parameters_round_trip_through_encode():
    class Cfg:
        m = (1, 8)

    trial = _Trial()
    own = patterns.get("nearest").suggest(trial, "block2.", Cfg, layers=5)
    assert own == {"m": 5} and trial.asked == ["block2.m"]  # clipped to the block's length
    assert patterns.get("nearest").encode(Block(5, 4, "nearest", **own), "block2.") == {"block2.m": 5}
    assert patterns.get("full").suggest(trial, "block1.", Cfg, layers=5) == {}
