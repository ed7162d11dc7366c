"""The torchrun path: two CPU processes (gloo) each embed their shards; rank 0 assembles."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gaptools.datasets import read_table, resolve_images
from gaptools.embed import embed_dataset, load_encoder
from gaptools.embed.shards import parts_dir
from gaptools.embed.tiny import write_tiny_openclip
from gaptools.io import load_set

RANK_SCRIPT = """
import sys
from pathlib import Path
from gaptools.datasets import read_table, resolve_images
from gaptools.embed import embed_dataset, load_encoder
folder = Path(sys.argv[1])
records, _ = resolve_images(read_table(folder / "pairs.csv"), None)
encoder = load_encoder("tiny", str(folder / "checkpoint.pt"), model_config=folder / "model.json", device="cpu")
embed_dataset(records, encoder, folder / "two.npz", num_workers=0, shard_size=2, progress=False)
"""


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_gives_the_one_process_set(tmp_path):
    write_tiny_openclip(tmp_path)
    rows = ["image,caption"]
    for i in range(7):
        Image.new("RGB", (24, 20 + i), (30 * i, 255 - 30 * i, 90)).save(tmp_path / f"{i}.png")
        rows += [f"{i}.png,shape {i} caption {j}" for j in range(1 + i % 2)]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "rank.py").write_text(RANK_SCRIPT)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run([*torchrun, str(tmp_path / "rank.py"), str(tmp_path)], capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    two = load_set(tmp_path / "two.npz")
    assert not parts_dir(tmp_path / "two.npz").exists()

    records, _ = resolve_images(read_table(tmp_path / "pairs.csv"), None)
    encoder = load_encoder("tiny", str(tmp_path / "checkpoint.pt"), model_config=tmp_path / "model.json", device="cpu")
    one = load_set(embed_dataset(records, encoder, tmp_path / "one.npz", num_workers=0, shard_size=2, progress=False))
    assert two.n_image == 7 and two.n_text == records.n_text == 10
    np.testing.assert_allclose(two.image, one.image, atol=1e-6)
    np.testing.assert_allclose(two.text, one.text, atol=1e-6)
    assert two.text_image.tolist() == one.text_image.tolist() and two.caption.tolist() == one.caption.tolist()
