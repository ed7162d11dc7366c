"""Bad input on the newer paths (issue 22): one line and exit code 2, never exit 1 or a hang.

Before: Dask addresses ended in ValueError/TypeError, a port answering HTTP in ``MemoryError:
Unable to allocate 3.07 EiB``, a silent server hung; a FIFO named like a shard hung the
streaming reader and a structured ``.npy`` ended in TypeError; 1- and 2-pair folders ended in
scikit-learn's ``n_splits=5`` error; ``realign`` on identical vectors in ZeroDivisionError; an
aligner header nested 100,000 deep in RecursionError.

Servers here listen on 127.0.0.1 only and stop by themselves; FIFOs get a writer that shows up
after a few seconds and closes at once, so a reader that opens one ends instead of hanging.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("distributed")

from gaptools.align import METHODS, fit_on_set, save_aligner  # noqa: E402
from gaptools.cli.main import app  # noqa: E402
from gaptools.errors import InputError  # noqa: E402
from gaptools.io import EmbeddingSet, save_set  # noqa: E402
from gaptools.metrics import l2_normalize  # noqa: E402
from gaptools.stream import engine  # noqa: E402
from gaptools.stream.shards import write_clip_shard  # noqa: E402
from gaptools.synthetic import planted_gap  # noqa: E402

FAST = ["--bootstrap", "10", "--max-points", "20", "--max-gallery", "20"]
SERVER_LIFETIME = 20.0  # seconds a test server lives at most


def clip_folder(root: Path, n_pairs: int = 6, shards: int = 2) -> Path:
    s = planted_gap(n_pairs * shards, 8, seed=3)
    for k in range(shards):
        part = slice(n_pairs * k, n_pairs * (k + 1))
        write_clip_shard(root, str(k), s.image[part], s.text[part], metadata={"caption": ["c"] * n_pairs})
    return root


# --- item 5: Dask addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("address, needle", [
    ("foo://bar:1", "unknown address scheme 'foo'"),
    ("ucx://head:8786", "unknown address scheme 'ucx'"),
    ("inproc://x", "inproc:// address names a scheduler inside one Python process"),
    ("inproc://192.0.2.2/123/1", "inproc://"),
    ("tls://127.0.0.1:8786", "tls:// needs certificates"),
    ("nonsense", "no port number"),
    ("tcp://head", "no port number"),
    ("tcp://head:", "no port number"),
    ("", "the address is empty"),
    ("   ", "the address is empty"),
    ("tcp://head:99999", "port '99999' is not a number from 1 to 65535"),
    ("tcp://head:0", "port '0'"),
    ("tcp://head:http", "port 'http'"),
    ("tcp://:8786", "'' is not a host name"),
    ("tcp://a b:8786", "'a b' is not a host name"),
    ("tcp://::1:8786", "'::1' is not a host name"),
])
def test_a_malformed_scheduler_address_is_one_line_before_any_work(sweep, tmp_path, address, needle):
    folder = clip_folder(tmp_path / "laion")
    result = sweep.invoke(app, "measure", folder, "--scheduler", address, *FAST)
    sweep.refused(result, "--scheduler", needle)
    assert "measuring" not in result.output


@pytest.mark.parametrize("command", [["align", "fit", "{folder}", "-o", "{tmp}/m.aligner"],
                                     ["align", "apply", "{tmp}/m.aligner", "{folder}", "-o", "{tmp}/out"]])
def test_every_streaming_command_checks_the_address(sweep, tmp_path, command):
    folder = clip_folder(tmp_path / "laion")
    assert sweep.invoke(app, "align", "fit", folder, "-o", tmp_path / "m.aligner").exit_code == 0
    args = [a.format(folder=folder, tmp=tmp_path) for a in command]
    sweep.refused(sweep.invoke(app, *args, "--scheduler", "nonsense"), "no port number")
    assert not (tmp_path / "out").exists()


@contextlib.contextmanager
def tcp_server(on_accept):
    """A server on 127.0.0.1 that calls ``on_accept(connection)`` per connection; it stops by itself."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held, stop, deadline = [], threading.Event(), time.monotonic() + SERVER_LIFETIME

    def serve():
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            with contextlib.suppress(OSError):
                on_accept(conn)
        listener.close()
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def http_server():
    """Python's own HTTP server on 127.0.0.1 (it waits for a request, as a dashboard does)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    timer = threading.Timer(SERVER_LIFETIME, server.shutdown)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


def _http_400(conn):
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")  # a proxy answering at once


def _short_then_close(conn):
    conn.sendall(struct.pack("Q", 40) + b"\x01" * 10)
    conn.close()


def _garbage(conn):
    conn.sendall(struct.pack("Q", 16) + b"\xff" * 16)


@pytest.mark.parametrize("server, needle", [
    (lambda: tcp_server(lambda conn: None), "did not answer as a Dask scheduler within 1 s"),
    (http_server, "did not answer as a Dask scheduler within 1 s"),
    (lambda: tcp_server(_http_400), "answered, but not as a Dask scheduler (its first bytes are b'HTTP/1.1')"),
    (lambda: tcp_server(_short_then_close), "closed the connection without a Dask scheduler's handshake"),
    (lambda: tcp_server(_garbage), "answered, but not with a Dask scheduler's handshake"),
])
def test_what_answers_at_the_address_must_be_a_dask_scheduler_within_the_time(sweep, tmp_path, monkeypatch,
                                                                               server, needle):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 1.0)  # the bound itself, shortened for the test
    folder = clip_folder(tmp_path / "laion")
    with server() as address:
        result = sweep.invoke(app, "measure", folder, "--scheduler", address, *FAST)
    sweep.refused(result, needle)


def test_a_closed_port_is_refused_at_once(sweep, tmp_path):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    result = sweep.invoke(app, "measure", clip_folder(tmp_path / "laion"), "--scheduler", f"127.0.0.1:{port}", *FAST)
    sweep.refused(result, f"cannot reach the Dask scheduler at 127.0.0.1:{port}", "refused")


def test_probe_scheduler_is_bounded_by_its_timeout():
    with tcp_server(lambda conn: None) as address, pytest.raises(InputError, match="within 0.5 s"):
        engine.probe_scheduler(address, timeout=0.5)


# --- item 6: FIFOs and structured dtypes ---------------------------------------------------------------------------


def fifo(path: Path) -> Path:
    """Replace ``path`` by a FIFO; a writer opens it within 10 s once a reader waits, then closes it (EOF)."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)

    def unblock():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    return
                time.sleep(0.2)
                continue
            time.sleep(3)  # long enough to see the hang, short enough to end it
            os.close(fd)
            return

    threading.Thread(target=unblock, daemon=True).start()
    return path


@pytest.mark.parametrize("member", ["img_emb/img_emb_0.npy", "text_emb/text_emb_1.npy", "metadata/metadata_0.parquet"])
def test_a_fifo_named_like_a_shard_is_named_not_opened(sweep, tmp_path, member):
    folder = clip_folder(tmp_path / "laion")
    fifo(folder / member)
    sweep.refused(sweep.invoke(app, "measure", folder, *FAST), f"{folder / member} is a FIFO (named pipe)",
                  "nothing was read")


def test_a_fifo_set_in_an_npz_folder_or_given_alone_is_named(sweep, tmp_path):
    folder = tmp_path / "sets"
    folder.mkdir()
    save_set(planted_gap(6, 8), folder / "a.npz")
    fifo(folder / "b.npz")
    sweep.refused(sweep.invoke(app, "measure", folder, *FAST), "b.npz is a FIFO (named pipe)")
    sweep.refused(sweep.invoke(app, "measure", folder / "b.npz", "--stream", *FAST), "b.npz is a FIFO")


def test_a_fifo_on_the_in_memory_and_world_paths_is_named(sweep, tmp_path):
    np.save(tmp_path / "text.npy", np.ones((3, 4), np.float32))
    sweep.refused(sweep.invoke(app, "measure", "--image", fifo(tmp_path / "image.npy"), "--text", tmp_path / "text.npy"),
                  "image.npy: is not a regular file")
    world = tmp_path / "w"
    assert sweep.invoke(app, "world", "generate", "-o", world, "--images", 6, "--image-size", 32).exit_code == 0
    sweep.refused(sweep.invoke(app, "world", "score", world, fifo(tmp_path / "preds.json")),
                  "preds.json: is not a regular file")


def test_a_folder_named_like_a_shard_is_named(sweep, tmp_path):
    folder = clip_folder(tmp_path / "laion")
    (folder / "img_emb" / "img_emb_1.npy").unlink()
    (folder / "img_emb" / "img_emb_1.npy").mkdir()
    sweep.refused(sweep.invoke(app, "measure", folder, *FAST), "img_emb_1.npy is a folder, not a regular file")


def test_a_structured_npy_shard_is_one_line(sweep, tmp_path):
    folder = clip_folder(tmp_path / "laion")
    np.save(folder / "img_emb" / "img_emb_0.npy", np.zeros(6, dtype=[("a", "<f4", (8,))]))
    sweep.refused(sweep.invoke(app, "measure", folder, *FAST), "img_emb_0.npy: has the structured dtype")


@pytest.mark.parametrize("member", ["image", "text", "text_image"])
def test_a_structured_member_of_an_npz_shard_is_one_line(sweep, tmp_path, member):
    s = planted_gap(4, 8)
    arrays = {"image": s.image, "text": s.text, "text_image": s.text_image}
    arrays[member] = np.zeros(len(arrays[member]), dtype=[("x", "<f4"), ("y", "<i8")])
    (tmp_path / "sets").mkdir()
    np.savez(tmp_path / "sets" / "a.npz", **arrays)
    sweep.refused(sweep.invoke(app, "measure", tmp_path / "sets", *FAST), f"a.npz:{member}.npy: has the structured dtype")


def test_a_structured_stack_in_memory_is_one_line(sweep, tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((2, 3, 4), dtype=[("x", "<f4")]))
    sweep.refused(sweep.invoke(app, "measure", tmp_path / "s.npy"), "s.npy", "'image' has dtype")


# --- item 7: tiny sets on every path --------------------------------------------------------------------------------


def _tiny_inputs(tmp_path: Path, n: int) -> dict:
    s = planted_gap(n, 4, seed=n)
    np.save(tmp_path / "stack.npy", np.stack([s.image, s.text]))
    write_clip_shard(tmp_path / "clip", "0", s.image.astype(np.float32), s.text.astype(np.float32))
    (tmp_path / "sets").mkdir()
    save_set(s, tmp_path / "sets" / "a.npz")
    return {"stack": [tmp_path / "stack.npy"], "clip folder": [tmp_path / "clip"],
            "npz folder": [tmp_path / "sets"], "--stream": [tmp_path / "sets" / "a.npz", "--stream"]}


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("path", ["stack", "clip folder", "npz folder", "--stream"])
def test_tiny_sets_report_unavailable_metrics_on_every_path(sweep, tmp_path, n, path):
    args = _tiny_inputs(tmp_path, n)[path]
    result = sweep.invoke(app, "measure", *args, "--json", tmp_path / "m.json", *FAST)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())["sets"][0]["metrics"]
    assert metrics["linear_separability"]["value"] is None
    assert metrics["linear_separability"]["unavailable"] == "n too small (5-fold CV needs 5 images)"
    for key, entry in metrics.items():
        assert entry["value"] is not None or entry.get("unavailable"), key
        assert not isinstance(entry["value"], float) or np.isfinite(entry["value"]), key


def test_linear_separability_is_nan_below_its_folds_and_defined_at_them():
    from gaptools.metrics import linear_separability

    rng = np.random.default_rng(0)
    assert np.isnan(linear_separability(rng.normal(size=(4, 3)), rng.normal(size=(9, 3))))
    image, text = rng.normal(size=(5, 3)) + 10.0, rng.normal(size=(5, 3)) - 10.0  # separated by a plane
    assert linear_separability(image, text) == 1.0


# --- item 8: degenerate fits ----------------------------------------------------------------------------------------


def _degenerate(case: str) -> EmbeddingSet:
    rng = np.random.default_rng(4)
    a, b = l2_normalize(rng.normal(size=(1, 6))), l2_normalize(rng.normal(size=(1, 6)))
    varied = l2_normalize(rng.normal(size=(5, 6)))
    image, text = {"one pair": (a, b), "identical rows": (np.repeat(a, 5, 0), np.repeat(b, 5, 0)),
                   "images identical": (np.repeat(a, 5, 0), varied),
                   "captions identical": (varied, np.repeat(b, 5, 0))}[case]
    return EmbeddingSet(image=image.astype(np.float32), text=text.astype(np.float32), text_image=np.arange(len(image)))


#: Methods that only translate or rotate, or transport: defined on one pair, where they map the
#: image onto its caption and back (a rotation of one direction onto the other, or a shift).
ONTO_CAPTION = ("mean", "pca-rotation", "pca-rotation-paper", "procrustes", "coral", "ot-exact", "ot-paper",
                "ot-sinkhorn", "memory-projection")
#: Methods that divide by a spread: not defined without one.
SPREAD = ("standardize", "moment", "realign")


@pytest.mark.parametrize("case", ["one pair", "identical rows", "images identical", "captions identical"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_aligner_refuses_in_one_line_or_fits_finite_on_zero_variance(method, case):
    eset = _degenerate(case)
    new = l2_normalize(np.random.default_rng(5).normal(size=(3, 6))).astype(np.float32)
    try:
        aligner = fit_on_set(method, eset)
    except InputError as exc:
        assert method in exc.message and "\n" not in exc.message, exc.message
        return
    assert method not in SPREAD, "a spread of zero was divided by"
    for mapped in (aligner.transform(new), aligner.inverse_transform(new)):
        assert np.isfinite(mapped).all()


@pytest.mark.parametrize("method", SPREAD)
def test_methods_that_divide_by_a_spread_name_the_side_without_one(method):
    with pytest.raises(InputError, match=f"{method}: the fit set's image embeddings have no spread \\(its only row\\)"):
        fit_on_set(method, _degenerate("one pair"))
    with pytest.raises(InputError, match="caption|text embeddings have no spread \\(all 5 rows are the same vector"):
        fit_on_set(method, _degenerate("captions identical"))


@pytest.mark.parametrize("method", [m for m in ONTO_CAPTION if m in METHODS])
def test_on_one_pair_the_defined_methods_map_the_image_onto_its_caption(method):
    eset = _degenerate("one pair")
    aligner = fit_on_set(method, eset)
    np.testing.assert_allclose(aligner.transform(eset.image), eset.text, atol=1e-5)
    np.testing.assert_allclose(aligner.inverse_transform(eset.text), eset.image, atol=1e-5)


def test_realign_on_identical_vectors_is_one_line_in_memory_and_streamed(sweep, tmp_path):
    eset = _degenerate("identical rows")
    path = save_set(eset, tmp_path / "same.npz")
    sweep.refused(sweep.invoke(app, "align", "fit", path, "--method", "realign", "-o", tmp_path / "r.aligner"),
                  "realign: the fit set's image embeddings have no spread")
    write_clip_shard(tmp_path / "clip", "0", eset.image, eset.text)
    sweep.refused(sweep.invoke(app, "align", "fit", tmp_path / "clip", "--method", "realign", "-o",
                               tmp_path / "r.aligner"), "realign: the fit set's image embeddings have no spread")
    assert not (tmp_path / "r.aligner").exists()


# --- item 9: JSON nested too deeply ------------------------------------------------------------------------------------


def test_an_aligner_header_nested_too_deeply_is_one_line(sweep, tmp_path):
    train = planted_gap(20, 4)
    path = save_aligner(fit_on_set("mean", train), tmp_path / "a.aligner")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["header"] = np.array("[" * 100_000 + "]" * 100_000)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    data = save_set(train, tmp_path / "s.npz")
    sweep.refused(sweep.invoke(app, "align", "apply", path, data, "-o", tmp_path / "out.npz"), "a.aligner",
                  "nested too deeply")
    write_clip_shard(tmp_path / "clip", "0", train.image.astype(np.float32), train.text.astype(np.float32))
    sweep.refused(sweep.invoke(app, "align", "apply", path, tmp_path / "clip", "-o", tmp_path / "out"),
                  "nested too deeply")
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "out").exists()


def test_a_parameter_nested_too_deeply_is_one_line(sweep, planted, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    sweep.refused(sweep.invoke(app, "align", "fit", planted, "--method", "coral", "-p", f"reg={deep}", "-o",
                               tmp_path / "c.aligner"), "parameter 'reg'", "nested too deeply")
