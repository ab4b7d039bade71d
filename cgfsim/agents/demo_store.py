"""Minari storage of demonstrations: atomic writes, compaction, loading with one-line errors.

A cgfsim demonstration dataset is a plain Minari dataset (HDF5 format):

- per episode (``episode_<i>`` groups): ``observations`` (T + 1, the reset
  observation first), ``actions`` (T, n_own) int64 (executed), ``rewards``,
  ``terminations``, ``truncations``, and ``infos/action_mask`` (T + 1,
  n_own * n_actions) bool, the valid actions of each observation; with mixed
  behaviour (epsilon exploration, DAgger) also ``infos/expert_action`` (T + 1,
  n_own), the expert's label of each observation (-1 after the last).
  Attributes (Minari's own): ``seed``, the world key for episode index 0
  (``env.reset(seed=seed)`` starts that very episode), and ``options``:
  ``world_key`` and ``episode_index`` (a reset with the key, then
  ``episode_index`` more resets, starts it);
- ``cgfsim_episodes.npz`` beside the HDF5 file: the same identities with each
  episode's length, outcome (+1 win, 0 draw, -1 loss for the acting side) and
  return, as arrays, so splitting 10,000 episodes reads no per-episode metadata;
- ``metadata.json``: Minari's keys, an env spec that
  ``dataset.recover_environment()`` rebuilds without any cgfsim loader (the
  scenario by its registered id, or by its TOML text), and a ``cgfsim`` block:
  scenario text and SHA-256, engine version, demonstrator, opponent,
  observation mode, seed, the demonstrator's own record, and the episode splits.

Minari writes each episode with auto-chunked, uncompressed datasets (a grid
observation of a 24x24 map costs 41 KB a step that way), so when an episode
holds an array of :data:`COMPRESS_BYTES` or more, the file Minari's
``create_dataset_from_buffers`` wrote is repacked: those arrays gzip-compressed
with the shuffle filter (lossless, read transparently by h5py and so by
Minari), the rest copied as they are. HDF5 creates datasets slowly (a fraction
of a millisecond each, six per episode), so small-episode datasets keep
Minari's layout and its few KB of per-array overhead.

Writes go to a hidden temp folder beside the target (Minari ignores hidden
folders) and are renamed into place only when complete: an interrupted
recording leaves nothing a later command would read as a dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from cgfsim.agents.demo_collect import Episode
from cgfsim.agents.runs import atomic_write_bytes, atomic_write_text
from cgfsim.sim.errors import CgfsimError

FORMAT = "cgfsim-demos"
VERSION = 1
META_KEY = "cgfsim"
#: Datasets at least this large are stored chunked and gzip-compressed.
COMPRESS_BYTES = 16 * 1024
EPISODES_FILE = "cgfsim_episodes.npz"


class DatasetError(CgfsimError, ValueError):
    """A demonstration dataset is missing, corrupt, or does not fit its use."""


def datasets_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root``, else ``$MINARI_DATASETS_PATH``, else Minari's default ``~/.minari/datasets``.

    Always absolute: Minari joins relative paths onto themselves when it sizes a dataset.
    """
    if root is not None:
        return Path(root).absolute()
    env = os.environ.get("MINARI_DATASETS_PATH")
    return (Path(env) if env else Path.home() / ".minari" / "datasets").absolute()


@contextlib.contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """Point Minari's (environment-variable) dataset root at ``path`` for a moment."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def check_dataset_id(dataset_id: str) -> None:
    """Minari's id form ``namespace/name-v<version>`` (namespace of 2+ characters)."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):
        raise DatasetError(
            f"dataset id {dataset_id!r} is not of Minari's form namespace/name-v<version> "
            "(e.g. cgfsim/duel-assault-v0)"
        ) from None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- env spec


def env_spec(scenario: Any, side: str, opponent: str, obs: str) -> gym.envs.registration.EnvSpec:
    """The spec ``recover_environment()`` makes: a built-in id, or the scenario by its text."""
    from cgfsim.envs.registration import NAMESPACE, builtin_ids
    from cgfsim.sim.scenario import builtin_dir

    kwargs: dict[str, Any] = {"side": side, "opponent": opponent, "obs": obs}
    env_id = f"{NAMESPACE}/Scenario-v0"
    for gid, stem in builtin_ids().items():
        if (builtin_dir() / f"{stem}.toml").read_text("utf-8") == scenario.text:
            env_id, kwargs["scenario"] = gid, stem
            break
    else:
        kwargs["scenario"] = scenario.text
    base = gym.spec(env_id)
    return gym.envs.registration.EnvSpec(
        id=env_id,
        entry_point=base.entry_point,
        vector_entry_point=base.vector_entry_point,
        kwargs=kwargs,
    )


# --------------------------------------------------------------------------- writing


def _buffer(ep: Episode, with_labels: bool) -> Any:
    from minari.data_collector.episode_buffer import EpisodeBuffer

    infos: dict[str, np.ndarray] = {"action_mask": ep.masks, **ep.infos}
    if with_labels:
        pad = np.full((1, ep.labels.shape[1]), -1, np.int64)
        infos["expert_action"] = np.concatenate([ep.labels, pad])
    return EpisodeBuffer(
        seed=ep.key if ep.index == 0 else None,
        options={"world_key": ep.key, "episode_index": ep.index},
        observations=ep.obs,
        actions=ep.actions,
        rewards=ep.rewards,
        terminations=ep.terminated,
        truncations=ep.truncated,
        infos=infos,
    )


def _largest(ep: Episode) -> int:
    return max(ep.obs.nbytes, ep.masks.nbytes, *(a.nbytes for a in ep.infos.values()))


def _repack(src_file: Path) -> None:
    """Rewrite Minari's HDF5 file with its large arrays compressed (all else copied as is)."""
    import h5py

    dst_file = src_file.with_name(src_file.name + ".compact")

    def copy(src: Any, dst: Any) -> None:
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                g = dst.create_group(name, track_order=True)
                g.attrs.update(item.attrs)
                copy(item, g)
            elif item.size * item.dtype.itemsize >= COMPRESS_BYTES:
                dst.create_dataset(
                    name,
                    data=item[()],
                    chunks=True,
                    compression="gzip",
                    compression_opts=4,
                    shuffle=True,
                )
            else:
                src.copy(item, dst, name=name)

    with h5py.File(src_file, "r") as src, h5py.File(dst_file, "w", track_order=True) as dst:
        copy(src, dst)
    os.replace(dst_file, src_file)


def _episode_table(eps: list[Episode]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(
        buf,
        world_key=np.array([ep.key for ep in eps], np.int64),
        episode_index=np.array([ep.index for ep in eps], np.int64),
        length=np.array([len(ep) for ep in eps], np.int64),
        outcome=np.array([ep.outcome for ep in eps], np.int64),
        ret=np.array([ep.rewards.sum(dtype=np.float64) for ep in eps], np.float64),
    )
    return buf.getvalue()


def write_dataset(
    dataset_id: str,
    chunks: Iterable[list[Episode]],
    observation_space: gym.Space,
    action_space: gym.Space,
    spec: gym.envs.registration.EnvSpec | None,
    algorithm: str,
    finish: Callable[[list[Episode]], tuple[dict[str, Any], str]],
    root: str | os.PathLike[str] | None = None,
    with_labels: bool = False,
    files: dict[str, Path] | None = None,
) -> Path:
    """Write episode chunks as Minari dataset ``dataset_id`` under ``root``, atomically.

    ``create_dataset_from_buffers`` makes the dataset from the first chunk and
    ``update_dataset_from_buffer`` appends the rest, all inside a hidden temp root. Then
    the file is repacked, ``finish(episodes)`` (the episodes without their observations)
    gives the cgfsim metadata block and the description, ``files`` are copied into the
    dataset folder, and the folder is renamed into place. ``with_labels`` stores
    ``infos/expert_action``. Returns the dataset folder.
    """
    import minari

    check_dataset_id(dataset_id)
    base = datasets_root(root)
    final = base / dataset_id
    if final.exists():
        raise DatasetError(f"dataset {dataset_id} already exists at {final}; choose another id")
    base.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=".cgfsim-tmp-", dir=base))
    kept: list[Episode] = []
    large = False
    try:
        dataset = None
        with _minari_root(tmp_root), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Minari's reminders about optional metadata
            for chunk in chunks:
                if not chunk:
                    continue
                buffers = [_buffer(ep, with_labels) for ep in chunk]
                if dataset is None:
                    dataset = minari.create_dataset_from_buffers(
                        dataset_id,
                        buffers,
                        env=spec,
                        observation_space=observation_space,
                        action_space=action_space,
                        algorithm_name=algorithm,
                        author="cgfsim",
                        author_email="n/a",
                        code_permalink="https://pypi.org/project/cgfsim/",
                        description="cgfsim demonstrations (being written)",
                    )
                else:
                    dataset.update_dataset_from_buffer(buffers)
                large = large or max(map(_largest, chunk)) >= COMPRESS_BYTES
                kept.extend(_light(ep) for ep in chunk)
        if dataset is None:
            raise DatasetError(f"dataset {dataset_id}: no episodes to write")
        folder = tmp_root / dataset_id
        data = folder / "data"
        if large:
            _repack(data / "main_data.hdf5")
        atomic_write_bytes(data / EPISODES_FILE, _episode_table(kept))
        for name, src in (files or {}).items():
            shutil.copytree(src, folder / name)
        block, description = finish(kept)
        meta = read_metadata(data)
        meta[META_KEY] = block
        meta["description"] = description
        meta["dataset_size"] = round(sum(f.stat().st_size for f in data.iterdir()) / 1e6, 1)
        write_metadata(data, meta)
        _ensure_namespace(base, dataset_id)
        os.rename(folder, final)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return final


def _ensure_namespace(base: Path, dataset_id: str) -> None:
    """Minari's namespace marker files along the id's folders (as create_namespace does)."""
    parts = dataset_id.split("/")[:-1]
    for k in range(1, len(parts) + 1):
        f = base.joinpath(*parts[:k]) / "namespace_metadata.json"
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(f, "{}")


def _light(ep: Episode) -> Episode:
    """The episode without its observations and masks (kept for summaries)."""
    z = np.zeros((0,), np.float32)
    return Episode(
        ep.key,
        ep.index,
        z,
        z.astype(np.int64),
        z.astype(np.int64),
        ep.rewards,
        ep.terminated,
        ep.truncated,
        z.astype(bool),
        ep.outcome,
    )


# --------------------------------------------------------------------------- metadata


def read_metadata(data_path: Path) -> dict[str, Any]:
    f = data_path / "metadata.json"
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"dataset {data_path.parent}: metadata.json is missing") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"dataset {data_path.parent}: metadata.json is corrupt ({e})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"dataset {data_path.parent}: metadata.json is not an object")
    return meta


def write_metadata(data_path: Path, meta: dict[str, Any]) -> None:
    """Replace ``metadata.json`` atomically (Minari's own update rewrites it in place)."""
    atomic_write_text(data_path / "metadata.json", json.dumps(meta))


# --------------------------------------------------------------------------- opening


@dataclass
class DemoDataset:
    """A located, readable cgfsim demonstration dataset."""

    ref: str  # what the user named it by (id or path)
    path: Path  # the dataset folder (holds data/)
    minari: Any  # minari.MinariDataset
    meta: dict[str, Any]  # the cgfsim block of metadata.json

    @property
    def data_path(self) -> Path:
        return self.path / "data"

    @property
    def dataset_id(self) -> str:
        return str(self.minari.id)

    @property
    def total_episodes(self) -> int:
        return int(self.minari.total_episodes)

    @property
    def total_steps(self) -> int:
        return int(self.minari.total_steps)

    def episode_table(self) -> dict[str, np.ndarray]:
        """Per episode (arrays): world_key, episode_index, length, outcome, ret."""
        f = self.data_path / EPISODES_FILE
        try:
            with np.load(f, allow_pickle=False) as z:
                table = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise DatasetError(f"dataset {self.ref}: {EPISODES_FILE} is missing") from None
        except Exception as e:
            raise _corrupt(self.ref, e) from None
        if any(len(v) != self.total_episodes for v in table.values()):
            raise DatasetError(
                f"dataset {self.ref}: {EPISODES_FILE} does not list its "
                f"{self.total_episodes} episodes"
            )
        return table

    def episode_meta(self, indices: Iterable[int]) -> list[dict[str, Any]]:
        """Minari's per-episode metadata (seed, options, total_steps) of some episodes."""
        try:
            return list(self.minari.storage.get_episode_metadata(list(indices)))
        except Exception as e:
            raise _corrupt(self.ref, e) from None

    def episodes(self, indices: Iterable[int]) -> Iterator[Any]:
        """Minari ``EpisodeData`` of the given episode ids, read lazily."""
        try:
            yield from self.minari.iterate_episodes(list(indices))
        except Exception as e:
            raise _corrupt(self.ref, e) from None

    def update_meta(self, block: dict[str, Any], description: str | None = None) -> None:
        """Replace the cgfsim block (and the description) atomically."""
        meta = read_metadata(self.data_path)
        meta[META_KEY] = block
        if description is not None:
            meta["description"] = description
        write_metadata(self.data_path, meta)
        self.meta = block


def _corrupt(ref: str, e: BaseException) -> DatasetError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return DatasetError(f"dataset {ref}: cannot read its data (corrupt or truncated: {msg})")


def locate(ref: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """The dataset folder of a Minari id (under ``root``) or of a path to it or its data/."""
    p = Path(ref)
    for cand in (p, p.parent) if p.name == "data" else (p,):
        if (cand / "data" / "metadata.json").is_file() or (cand / "data").is_dir():
            return cand
    q = datasets_root(root) / str(ref)
    if (q / "data").is_dir():
        return q
    raise DatasetError(
        f"dataset {ref}: not found (neither a dataset folder nor an id under "
        f"{datasets_root(root)}; set MINARI_DATASETS_PATH or pass --root)"
    )


def open_dataset(
    ref: str | os.PathLike[str] | DemoDataset, root: str | os.PathLike[str] | None = None
) -> DemoDataset:
    """Open a cgfsim demonstration dataset; every problem is a one-line :class:`DatasetError`."""
    if isinstance(ref, DemoDataset):
        return ref
    import h5py
    from minari import MinariDataset

    path = locate(ref, root)
    data = path / "data"
    meta = read_metadata(data)
    block = meta.get(META_KEY)
    if not isinstance(block, dict) or block.get("format") != FORMAT:
        raise DatasetError(
            f"dataset {ref}: not a cgfsim demonstration dataset (no {META_KEY!r} "
            "block in metadata.json)"
        )
    if int(block.get("version", 0)) > VERSION:
        raise DatasetError(
            f"dataset {ref}: format version {block.get('version')} is newer than this cgfsim "
            f"({VERSION})"
        )
    try:
        with h5py.File(data / "main_data.hdf5", "r") as f:
            n_groups = len(f)
        ds = MinariDataset(data)
    except Exception as e:
        raise _corrupt(str(ref), e) from None
    if n_groups != ds.total_episodes:
        raise DatasetError(
            f"dataset {ref}: holds {n_groups} episodes, its metadata says {ds.total_episodes} "
            "(truncated or tampered with)"
        )
    return DemoDataset(str(ref), path, ds, block)
