import json
import subprocess
import sys

import pytest

from nas.genotype.presets import PRESETS
from nas.show import main


def test_cli_last_line_is_json(capsys):
    assert main(["densenet_bc100_k12"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["params"] == 769_162 and isinstance(result["params"], int)
    assert result["macs"] > 0 and result["flops_2x"] == 2 * result["macs"]
    assert result["input_size"] == [32, 32] and result["id"] == PRESETS["densenet_bc100_k12"].id
    assert any("block 1" in line and "16 layers" in line for line in out)


def test_cli_imagenet_defaults_and_input_size(capsys):
    assert main(["densenet121"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["params"] == 7_978_856 and result["input_size"] == [224, 224]
    assert main(["densenet121", "--input-size", "112", "112"]) == 0
    smaller = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert smaller["params"] == result["params"] and smaller["macs"] < result["macs"] / 3


def test_cli_reads_genotype_files(tmp_path, capsys):
    path = PRESETS["cliquenet_k36_t12"].save(tmp_path / "clique.json")
    assert main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["params"] == 935_994


@pytest.mark.parametrize(
    "argv, message",
    [
        (["densenet_bc"], "neither a preset nor a file"),
        (["missing.yaml"], "does not exist"),
        (["densenet121", "--input-size", "8", "8"], "too small for this layout; use at least 29 29"),
        (["densenet_bc40_k12", "--in-channels", "0"], "--in-channels 0: must be at least 1"),
        (["densenet_bc40_k12", "--num-classes", "0"], "--num-classes 0: must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_reports_invalid_genotype_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stem: {kind: cifar, channels: 16}\nblocks: [{layers: 3, growth: 12, pattern: nearest, m: 9}]\n")
    assert main([str(bad)]) == 2
    assert "blocks[0].m: 9 is larger than the block" in capsys.readouterr().err


def test_module_entry_point():
    run = subprocess.run([sys.executable, "-m", "nas.show", "densenet40_k12"], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout.strip().splitlines()[-1])["params"] == 1_019_722


def test_a_giant_genotype_is_counted_and_an_absurd_one_refused(tmp_path, capsys):
    giant = tmp_path / "giant.yaml"
    giant.write_text("stem: {kind: cifar, channels: 16}\nblocks: [{layers: 12, growth: 60000}]\n")
    assert main([str(giant)]) == 0  # terabytes of weights: counted on shapes, never allocated
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["params"] > 10**11
    for field, value, limit in (("layers", 100_000_000, "1,000"), ("growth", 100_000, "65,536")):
        absurd = tmp_path / f"{field}.yaml"
        absurd.write_text("stem: {kind: cifar, channels: 16}\nblocks: [{layers: 12, growth: 12, " + f"{field}: {value}" + "}]\n")
        assert main([str(absurd)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"blocks[0].{field}: {value:,} must be ≤ {limit}" in err


def test_the_old_command_name_still_works():
    run = subprocess.run([sys.executable, "-m", "nas.inspect", "densenet_bc40_k12"], capture_output=True, text=True)
    assert run.returncode == 0 and json.loads(run.stdout.strip().splitlines()[-1])["params"] == 176_122
