from nas import connectivity as c


def test_full_reads_every_predecessor():
    assert c.layer_inputs("full", 4) == ((0,), (0, 1), (0, 1, 2), (0, 1, 2, 3))


def test_nearest_reads_m_nearest_with_block_input_as_a_predecessor():
    assert c.layer_inputs("nearest", 6, m=2) == ((0,), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5))
    assert c.layer_inputs("nearest", 4, m=3) == ((0,), (0, 1), (0, 1, 2), (1, 2, 3))
    assert c.layer_inputs("nearest", 5, m=1) == ((0,), (1,), (2,), (3,), (4,))
    assert c.layer_inputs("nearest", 4, m=4) == c.layer_inputs("full", 4)


def test_odd_even_reads_other_parity_and_block_input():
    assert c.layer_inputs("odd_even", 6) == (
        (0,),            # layer 1
        (0, 1),          # layer 2: odd 1
        (0, 2),          # layer 3: even 2
        (0, 1, 3),       # layer 4: odd 1, 3
        (0, 2, 4),       # layer 5: even 2, 4
        (0, 1, 3, 5),    # layer 6
    )


def test_clique_stage_one_is_dense_and_stage_two_reads_all_other_layers():
    assert c.layer_inputs("clique", 3) == ((0,), (0, 1), (0, 1, 2))
    assert c.clique_stage2_inputs(5)[0] == (2, 3, 4, 5)
    assert c.clique_stage2_inputs(5)[2] == (1, 2, 4, 5)
    assert c.transit_sources("clique", 3) == (1, 2, 3)
    assert c.block_outputs("clique", 3) == (0, 1, 2, 3)


def test_explicit_inputs_and_outputs_pass_through():
    inputs = ((0,), (1,), (0, 2))
    assert c.layer_inputs("explicit", 3, inputs=inputs) == inputs
    assert c.block_outputs("explicit", 3, (0, 3)) == (0, 3)
    assert c.block_outputs("explicit", 3) == (0, 1, 2, 3)


def test_connection_counts():
    assert c.connection_count("full", 12) == 78
    assert c.connection_count("nearest", 6, m=2) == 11
    assert c.connection_count("clique", 4) == 10 + 12
