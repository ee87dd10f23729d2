import json

import torch
from conftest import small_genotype

from nas import build_model
from nas.analyze import main
from nas.genotype.presets import PRESETS
from nas.training import checkpoint
from nas.training.heatmap import connection_strengths


def _checkpoint(tmp_path, genotype, with_genotype=True):
    model = build_model(genotype, num_classes=3)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # weights no fresh initialisation would give: uneven strengths across sources
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) ** 4)
    state = {"state_dict": model.state_dict(), "num_classes": 3}
    if with_genotype:
        state["genotype"] = genotype.to_dict()
    torch.save(state, tmp_path / "model.pt")
    return tmp_path / "model.pt"


def test_a_checkpoint_gets_its_heat_maps(tmp_path, capsys):
    g = small_genotype(pattern="clique")
    path = _checkpoint(tmp_path, g)
    assert main([str(path)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["maps"] == 4 and (tmp_path / "model-heatmap.png").is_file()
    maps = json.loads((tmp_path / "model-heatmap.json").read_text())
    assert [(m["block"], m["stage"]) for m in maps] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    trained = checkpoint.load(path).model()  # the maps are those of the saved weights, not of a fresh model
    assert maps == [m.to_dict() for m in connection_strengths(trained)]
    assert maps != [m.to_dict() for m in connection_strengths(build_model(g, num_classes=3))]


def test_a_genotype_with_its_weights(tmp_path, capsys):
    g = small_genotype()
    path = _checkpoint(tmp_path, g, with_genotype=False)
    g.save(tmp_path / "g.yaml")
    assert main([str(tmp_path / "g.yaml"), "--checkpoint", str(path), "--out", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").is_file()


def test_errors_say_what_to_do(tmp_path, capsys):
    assert main(["densenet_bc40_k12"]) == 2
    assert "python -m nas.train genotype=densenet_bc40_k12" in capsys.readouterr().err
    path = _checkpoint(tmp_path, small_genotype())
    assert main(["densenet_bc40_k12", "--checkpoint", str(path)]) == 2
    assert f"not {PRESETS['densenet_bc40_k12'].name}" in capsys.readouterr().err
    (tmp_path / "picture.png").write_bytes(bytes(range(256)))  # neither a checkpoint nor a text genotype
    assert main([str(tmp_path / "picture.png")]) == 2
    assert "is not a text file; a genotype is a YAML or JSON file" in capsys.readouterr().err
    (tmp_path / "evil.pt").write_bytes(b"not a checkpoint")
    assert main([str(tmp_path / "evil.pt")]) == 2
    assert "not a weights-only PyTorch checkpoint" in capsys.readouterr().err
