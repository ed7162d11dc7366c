"""Running shard tasks on Dask: a local thread pool, a local cluster of processes, or a lab's cluster.

Every task graph here is Dask's to schedule (``dask.delayed`` for Dask's own local threaded
scheduler, ``distributed`` futures for a cluster); this module only builds the graphs and
reports progress per finished shard to a callback (library code prints nothing).

Joining a lab's cluster is bounded in time: the address's form is checked before anything
connects (:func:`check_scheduler_address`), and what answers there must send a Dask
scheduler's handshake within :data:`CONNECT_TIMEOUT` (:func:`probe_scheduler`) before the
client starts, so a closed port, a silent one or one speaking another protocol is one error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import socket
import struct
import time
import uuid
from typing import Any, Callable, Iterator, Sequence

from gaptools.errors import GapToolsError, InputError

#: The extra that brings Dask, distributed and pyarrow.
EXTRA = "scale"
#: Partial results merged by one node of the reduction tree (each ~40 MB at D = 512 with the default
#: sample, gallery and bootstrap sizes, so a merge holds at most ~160 MB of them).
SPLIT_EVERY = 4

ProgressFn = Callable[[int, int], None]
#: Seconds each step of joining a ``--scheduler`` may take: the TCP connection, the scheduler's
#: handshake, then the Dask client's own start (it is given the same timeout).
CONNECT_TIMEOUT = 10.0
#: Schemes a scheduler address may have: those whose connection :func:`dask_client` bounds in time.
SCHEDULER_SCHEMES = ("tcp", "tls")
_ADDRESS_HINT = "a scheduler's address is tcp://HOST:PORT, e.g. tcp://head:8786; 8787 is usually its dashboard"
_MAX_HANDSHAKE = 1 << 16  # a scheduler's handshake message is ~100 bytes
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+")


def check_scheduler_address(address: str) -> tuple[str, str, int]:
    """Check the form of a Dask scheduler address before anything connects.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT``, ``HOST:PORT`` (tcp) or ``tls://HOST:PORT`` (with certificates in
        Dask's configuration); HOST may be an IPv6 address in brackets.

    Returns
    -------
    (scheme, host, port) : (str, str, int)

    Raises
    ------
    InputError
        An empty address, an unknown scheme, ``inproc://`` (a scheduler inside one Python
        process, which a command cannot join), a missing or out-of-range port, a malformed
        host, or ``tls://`` without certificates.
    """
    text = address.strip() if isinstance(address, str) else ""
    if not text:
        raise InputError("--scheduler: the address is empty", hint=_ADDRESS_HINT)
    scheme, sep, rest = text.partition("://")
    scheme, rest = (scheme.lower(), rest) if sep else ("tcp", text)
    if scheme == "inproc":
        raise InputError(f"--scheduler {address}: an inproc:// address names a scheduler inside one Python process, "
                         "which a command cannot join", hint=_ADDRESS_HINT)
    if scheme not in SCHEDULER_SCHEMES:
        raise InputError(f"--scheduler {address}: unknown address scheme '{scheme}' (gaptools joins "
                         f"{' and '.join(s + '://' for s in SCHEDULER_SCHEMES)} schedulers)", hint=_ADDRESS_HINT)
    host, colon, port = rest.rpartition(":")
    if not colon or not port:
        raise InputError(f"--scheduler {address}: no port number (expected {scheme}://HOST:PORT)", hint=_ADDRESS_HINT)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"--scheduler {address}: port {port!r} is not a number from 1 to 65535", hint=_ADDRESS_HINT)
    if not _HOST.fullmatch(host):
        raise InputError(f"--scheduler {address}: {host!r} is not a host name or address", hint=_ADDRESS_HINT)
    if scheme == "tls":
        _tls_context(address)
    return scheme, host.strip("[]"), int(port)


def _tls_context(address: str):
    """The client TLS context of Dask's configuration (``distributed.comm.tls.*``)."""
    require_scale()
    from distributed.security import Security

    context = Security().get_connection_args("client")["ssl_context"]
    if context is None:
        raise InputError(f"--scheduler {address}: tls:// needs certificates, and Dask's configuration names none",
                         hint="set distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
                              "distributed.comm.tls.client.key in Dask's configuration, such as "
                              "~/.config/dask/distributed.yaml")
    return context


def probe_scheduler(address: str, timeout: float | None = None) -> None:
    """Check, within ``timeout`` seconds, that a Dask scheduler answers at ``address``.

    A Dask scheduler sends its handshake first, as soon as a connection is accepted: a
    length-prefixed msgpack message. This reads it (at most 64 KiB, every read bounded by
    the remaining time) without sending anything, so a silent port, or one that speaks
    another protocol (an HTTP dashboard or proxy waits for a request, or answers with text
    whose first bytes read as a length of exbibytes), is refused in one line instead of
    hanging or allocating that length.

    Raises
    ------
    InputError
        The address is malformed (:func:`check_scheduler_address`), nothing accepts the
        connection, or what answers is not a Dask scheduler within the time.
    """
    scheme, host, port = check_scheduler_address(address)
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise InputError(f"cannot reach the Dask scheduler at {address}: no connection within {timeout:g} s",
                         hint=_ADDRESS_HINT) from None
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc})",
                         hint=_ADDRESS_HINT) from None
    try:
        if scheme == "tls":
            sock = _tls_context(address).wrap_socket(sock, server_hostname=host)
        prefix = _receive(sock, 8, deadline, address, timeout)
        (length,) = struct.unpack("Q", prefix)  # distributed's frame prefix: the message's byte count
        if length > _MAX_HANDSHAKE:
            raise InputError(f"{address} answered, but not as a Dask scheduler (its first bytes are {prefix!r})",
                             hint=_ADDRESS_HINT)
        message = _handshake(_receive(sock, length, deadline, address, timeout))
        if not (isinstance(message, dict) and "compression" in message and "python" in message):
            raise InputError(f"{address} answered, but not with a Dask scheduler's handshake", hint=_ADDRESS_HINT)
    except OSError as exc:  # ssl.SSLError included
        raise InputError(f"cannot talk to the Dask scheduler at {address} ({exc.strerror or exc})",
                         hint=_ADDRESS_HINT) from None
    finally:
        sock.close()


def _receive(sock: socket.socket, n: int, deadline: float, address: str, timeout: float) -> bytes:
    """Exactly ``n`` bytes from ``sock`` before ``deadline`` (time.monotonic)."""
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            piece = sock.recv(n - len(data))
        except TimeoutError:
            raise InputError(f"{address} did not answer as a Dask scheduler within {timeout:g} s (a silent port, or "
                             "another protocol: an HTTP dashboard or proxy waits for a request)",
                             hint=_ADDRESS_HINT) from None
        if not piece:
            raise InputError(f"{address} closed the connection without a Dask scheduler's handshake",
                             hint=_ADDRESS_HINT)
        data += piece
    return data


def _handshake(payload: bytes):
    """The message of a handshake's bytes (distributed's own framing), or None if they are not one."""
    from distributed.protocol.core import loads
    from distributed.protocol.utils import unpack_frames

    try:
        return loads(unpack_frames(payload), deserialize=False)
    except Exception:  # any malformed bytes: not a Dask message
        return None


def require_scale(what: str = "streaming a sharded folder") -> None:
    """Raise one clear error when the ``scale`` extra (dask, distributed, pyarrow) is missing."""
    missing = [name for name in ("dask", "distributed", "pyarrow") if importlib.util.find_spec(name) is None]
    if missing:
        raise GapToolsError(
            f"{what} needs {', '.join(missing)}, which gaptools' '{EXTRA}' extra installs",
            hint=f"pip install 'gaptools[{EXTRA}]'",
        )


@contextlib.contextmanager
def dask_client(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for the work, or None for Dask's local threaded scheduler.

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (one thread each, on the
        loopback interface), closed on exit.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://head:8786``); its workers must see the
        same files (a shared file system). Its form is checked first
        (:func:`check_scheduler_address`), then :func:`probe_scheduler` checks within
        :data:`CONNECT_TIMEOUT` that a scheduler answers, before the client starts (with the
        same timeout).

    Yields
    ------
    distributed.Client or None
        None when neither is given: tasks then run on Dask's threaded scheduler in this
        process. ``client.dashboard_link`` is the dashboard's address.
    """
    if workers is not None and scheduler is not None:
        raise InputError("--workers starts a local cluster and --scheduler joins an existing one: give one of them")
    if workers is None and scheduler is None:
        yield None
        return
    require_scale()
    from distributed import Client, LocalCluster

    if scheduler is not None:
        probe_scheduler(scheduler)
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                             hint="check the address, e.g. tcp://head:8786") from None
        with client:
            yield client
        return
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        yield client


def _threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _progress_callback(keys: dict, total: int, progress: ProgressFn | None, on_result=None):
    """A Dask local-scheduler callback that reports each finished task of ``keys`` (key -> index)."""
    from dask.callbacks import Callback

    done = [0]

    def posttask(key, result, dsk, state, worker_id):
        if key in keys:
            done[0] += 1
            if on_result is not None:
                on_result(keys[key], result)
            if progress is not None:
                progress(done[0], total)

    return Callback(posttask=posttask)


def _local_compute(outputs: list, keys: dict, total: int, progress, on_result=None) -> list:
    """``dask.compute`` on the threaded scheduler, BLAS on one thread per task when several run."""
    import dask
    from threadpoolctl import threadpool_limits

    threads = _threads()
    limits = threadpool_limits(limits=1) if threads > 1 else contextlib.nullcontext()
    with limits, _progress_callback(keys, total, progress, on_result):
        return list(dask.compute(*outputs, scheduler="threads", num_workers=threads))


def map_reduce(fn: Callable, items: Sequence, combine: Callable, *, client=None,
               progress: ProgressFn | None = None, split_every: int = SPLIT_EVERY):
    """``combine(*parts)`` over a tree of ``fn(item)`` results, scheduled by Dask.

    Parameters
    ----------
    fn : callable
        One task per item (a shard): ``fn(item)`` -> partial result.
    items : sequence
        Small, picklable descriptions of the work (not data).
    combine : callable
        ``combine(*partials)`` -> partial; associative.
    client : distributed.Client, optional
        Run on its cluster; None: Dask's threaded scheduler in this process.
    progress : callable, optional
        ``progress(done, total)`` after each finished item, on this thread.
    split_every : int
        Partial results merged per node of the tree (its fan-in).

    Returns
    -------
    The combination of every item's result.
    """
    require_scale()
    import dask

    token = uuid.uuid4().hex[:8]
    leaves = [dask.delayed(fn, pure=False)(item, dask_key_name=f"shard-{token}-{i}") for i, item in enumerate(items)]
    level, depth = leaves, 0
    while len(level) > 1:
        level = [dask.delayed(combine, pure=False)(*level[i:i + split_every], dask_key_name=f"merge-{token}-{depth}-{i}")
                 for i in range(0, len(level), split_every)]
        depth += 1
    root = level[0]
    keys = {leaf.key: i for i, leaf in enumerate(leaves)}
    if client is None:
        return _local_compute([root], keys, len(items), progress)[0]
    from distributed import as_completed

    futures = client.compute([root, *leaves])
    root_future, done = futures[0], as_completed(futures[1:])
    del futures, leaves, level
    try:
        for i, future in enumerate(done, 1):
            if future.status == "error":
                future.result()  # raises the task's error here
            if progress is not None:
                progress(i, len(items))
        return root_future.result()
    finally:
        client.cancel([root_future])


def map_each(fn: Callable, items: Sequence, *, shared: dict | None = None, client=None,
             progress: ProgressFn | None = None, on_result: Callable[[int, Any], None] | None = None) -> None:
    """``fn(item, **shared)`` for every item, scheduled by Dask; ``on_result(index, result)`` as each finishes.

    ``shared`` values (an aligner) are one node of the graph that every task reads, so a
    cluster receives them once, not once per task. ``on_result`` and ``progress`` run on
    this thread, in completion order; an exception they raise stops the run (tasks
    already running may still finish).
    """
    require_scale()
    import dask

    token = uuid.uuid4().hex[:8]
    shared = {k: dask.delayed(v, name=f"shared-{token}-{k}", traverse=False) for k, v in (shared or {}).items()}
    tasks = [dask.delayed(fn, pure=False)(item, **shared, dask_key_name=f"task-{token}-{i}")
             for i, item in enumerate(items)]
    if not tasks:
        return
    if client is None:
        _local_compute(tasks, {t.key: i for i, t in enumerate(tasks)}, len(items), progress, on_result)
        return
    from distributed import as_completed

    futures = client.compute(tasks)
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for done, future in enumerate(as_completed(futures), 1):
            result = future.result()
            if on_result is not None:
                on_result(index[future.key], result)
            if progress is not None:
                progress(done, len(items))
    finally:
        client.cancel(futures)
