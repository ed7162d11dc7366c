"""ClipCapModel on a tiny real GPT-2 with a tokenizer trained here; run folders and load_run."""

import json

import numpy as np
import pytest
import torch

from gaptools.caption import checkpoint
from gaptools.caption.model import ClipCapConfig, ClipCapModel, init_decoder, load_decoder
from gaptools.caption.tokenizer import encode_captions, load_tokenizer, train_tokenizer
from gaptools.errors import InputError

CAPTIONS = ["a red circle on the left", "a blue square", "two green triangles at the top"]


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    tok = train_tokenizer(CAPTIONS * 3, folder, vocab_size=300)
    torch.manual_seed(0)
    init_decoder(folder, tok, n_layer=2, n_embd=32, n_head=2, n_positions=64)
    return folder


@pytest.mark.parametrize("mapper", ["mlp", "transformer"])
def test_shapes_and_loss_ignores_padding_whatever_its_id(decoder_dir, mapper):
    tok = load_tokenizer(decoder_dir)
    torch.manual_seed(0)
    model = ClipCapModel(ClipCapConfig(clip_dim=6, prefix_length=4, mapper=mapper, mapper_layers=1, mapper_heads=2),
                         load_decoder(decoder_dir)).eval()
    ids, lengths = encode_captions(tok, CAPTIONS, max_tokens=20)
    assert (ids[np.arange(3), lengths - 1] == tok.eos_token_id).all()  # every target ends with EOS
    ids_t = torch.from_numpy(ids)
    mask = (torch.arange(ids.shape[1]) < torch.from_numpy(lengths)[:, None]).long()
    clip = torch.randn(3, 6)
    assert model.embed_prefix(clip).shape == (3, 4, 32)
    logits, loss = model(clip, ids_t, mask)
    assert logits.shape == (3, ids.shape[1] + 1, len(tok))
    other_pad = ids_t.masked_fill(mask == 0, 0)  # padding id 0 instead of EOS: same loss
    assert model(clip, other_pad, mask)[1].item() == pytest.approx(loss.item(), abs=1e-6)
    # the loss is the mean over real tokens of -log p(token | prefix, earlier tokens)
    logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids_t.long()[..., None])[..., 0]
    assert loss.item() == pytest.approx(-(logp * mask).sum().item() / mask.sum().item(), rel=1e-5)
    summed = model(clip, ids_t, mask, reduction="sum")[1]
    assert summed.item() == pytest.approx(loss.item() * mask.sum().item(), rel=1e-5)


def test_freeze_decoder_trains_only_the_mapper(decoder_dir):
    model = ClipCapModel(ClipCapConfig(clip_dim=6, prefix_length=2, freeze_decoder=True), load_decoder(decoder_dir))
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"mapper"}


def test_bad_settings_and_missing_decoder(tmp_path):
    with pytest.raises(InputError, match="unknown mapper 'rnn'.*mlp, transformer"):
        ClipCapConfig(clip_dim=4, mapper="rnn")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="decoder folder .*empty holds no usable decoder"):
        load_decoder(tmp_path / "empty")


def test_load_run_rebuilds_the_final_model_offline(decoder_dir, tmp_path):
    torch.manual_seed(1)
    model = ClipCapModel(ClipCapConfig(clip_dim=6, prefix_length=3), load_decoder(decoder_dir)).eval()
    run = tmp_path / "run"
    with pytest.raises(InputError, match="no run to resume"):
        checkpoint.prepare_run_dir(run, resume=True, overwrite=False)
    checkpoint.prepare_run_dir(run, resume=False, overwrite=False)
    checkpoint.write_config(run, {"source": "text", "clip_dim": 6, "normalize": True})
    load_tokenizer(decoder_dir).save_pretrained(str(run / checkpoint.TOKENIZER))
    with pytest.raises(InputError, match="no finished model"):
        checkpoint.load_run(run)
    checkpoint.save_final(run, model)
    loaded, tok, config = checkpoint.load_run(run)
    assert config == {"source": "text", "clip_dim": 6, "normalize": True}
    assert tok.encode("a blue square") == load_tokenizer(decoder_dir).encode("a blue square")
    clip, ids = torch.randn(2, 6), torch.tensor([[5, 6, 7], [8, 9, 10]])
    mask = torch.ones_like(ids)
    assert torch.equal(loaded(clip, ids, mask)[0], model(clip, ids, mask)[0])
    assert json.loads((run / "final" / "model.json").read_text())["clipcap"]["prefix_length"] == 3
    with pytest.raises(InputError, match="holds another run"):
        checkpoint.prepare_run_dir(run, resume=False, overwrite=False)
    (run / "final" / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="model.pt: changed after it was written"):  # its checksum
        checkpoint.load_run(run)
