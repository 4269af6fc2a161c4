"""The episode dataset: Parquet shards of expert steps, their metadata, a verifier and a training reader.

Write with ``DatasetWriter`` (or ``gea collect``), check with ``verify`` (``gea dataset verify PATH``),
stream training windows with ``WindowDataset``, convert with ``import_minari`` / ``export_minari`` and
``import_lerobot`` / ``export_lerobot`` (LeRobotDataset v3.0).
The row schema is documented in ``gea.rollouts.dataset.schema``; the folder layout in ``layout``.
"""

from gea.rollouts.dataset.episode import Episode, EpisodeBuilder, encode_action
from gea.rollouts.dataset.images import decode_image, encode_image
from gea.rollouts.dataset.layout import action_document, action_from_document, embodiment_document
from gea.rollouts.dataset.lerobot_io import export_lerobot, import_lerobot
from gea.rollouts.dataset.meta import DatasetError, DatasetMeta
from gea.rollouts.dataset.minari_io import export_minari, import_minari
from gea.rollouts.dataset.reader import WindowDataset
from gea.rollouts.dataset.scan import iter_episodes
from gea.rollouts.dataset.schema import COLUMNS, ROW_SCHEMA, features
from gea.rollouts.dataset.verify import VerifyReport, verify, verify_or_raise
from gea.rollouts.dataset.writer import DatasetWriter

__all__ = [
    "COLUMNS",
    "ROW_SCHEMA",
    "DatasetError",
    "DatasetMeta",
    "DatasetWriter",
    "Episode",
    "EpisodeBuilder",
    "VerifyReport",
    "WindowDataset",
    "action_document",
    "action_from_document",
    "decode_image",
    "embodiment_document",
    "encode_action",
    "encode_image",
    "export_lerobot",
    "export_minari",
    "features",
    "import_lerobot",
    "import_minari",
    "iter_episodes",
    "verify",
    "verify_or_raise",
]
