"""``gea dataset verify|repair|info PATH``, ``import-minari``, ``export-minari``, ``import-lerobot``,
``export-lerobot``: episode dataset tools."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from gea.rollouts.dataset import DatasetMeta, export_lerobot, export_minari, import_lerobot, import_minari, verify
from gea.rollouts.dataset.integrity import repair_hint


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gea dataset", description="Check, describe and convert episode datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("verify", help="check checksums, row counts and episode offsets")
    check.add_argument("path")
    check.add_argument("--no-hash", action="store_true", help="skip the sha256 check (row counts only)")
    fix = sub.add_parser(
        "repair", help="move damaged shards to PATH/quarantine/ and rewrite the metadata for what is left"
    )
    fix.add_argument("path")
    info = sub.add_parser("info", help="print totals, embodiments and action statistics")
    info.add_argument("path")
    importing = sub.add_parser("import-minari", help="convert a local Minari dataset into this format")
    importing.add_argument("dataset_id")
    importing.add_argument("out")
    importing.add_argument("--embodiment", help="embodiment name (default minari:<dataset id>)")
    importing.add_argument("--instruction", default="", help="instruction text for every step")
    exporting = sub.add_parser("export-minari", help="write one embodiment as a local Minari dataset")
    exporting.add_argument("path")
    exporting.add_argument("dataset_id")
    exporting.add_argument("--embodiment", help="needed when the dataset holds several")
    to_lerobot = sub.add_parser(
        "export-lerobot", help="write one embodiment as a LeRobotDataset v3.0 folder (Parquet + images or mp4)"
    )
    to_lerobot.add_argument("path")
    to_lerobot.add_argument("out", help="new folder for the LeRobot dataset")
    to_lerobot.add_argument("--embodiment", help="needed when the dataset holds several")
    to_lerobot.add_argument("--fps", type=int, default=10, help="frames per second for timestamps (default 10)")
    to_lerobot.add_argument(
        "--video-codec",
        choices=["libsvtav1", "libx264rgb"],
        help="store images as mp4 video: libsvtav1 (LeRobot's default, lossy) or libx264rgb (lossless); "
        "default: images inside the Parquet files, byte for byte",
    )
    from_lerobot = sub.add_parser("import-lerobot", help="convert a local LeRobotDataset v3.x folder into this format")
    from_lerobot.add_argument("source", help="LeRobot dataset folder (with meta/info.json)")
    from_lerobot.add_argument("out")
    from_lerobot.add_argument("--embodiment", help="embodiment name (default: the exported one, or lerobot:<folder>)")
    from_lerobot.add_argument("--image-key", help="camera feature to keep (needed when there are several)")
    from_lerobot.add_argument("--state-key", default="observation.state", help="feature that becomes proprio")
    from_lerobot.add_argument("--task", help="task label of every episode (default: the folder name)")
    from_lerobot.add_argument("--image-format", default="png", choices=["png", "jpeg", "webp"])
    return parser


def _repair(path: str) -> int:
    from gea.rollouts.dataset.repair import repair

    report = repair(path)
    for file, why in report.quarantined.items():
        print(f"set aside {file}: {why}")
    for file in report.rebuilt:
        print(f"rebuilt {file} from the shards' footers")
    for embodiment, count in sorted(Counter(str(row["embodiment"]) for row in report.dropped).items()):
        print(f"removed {count} episodes of {embodiment} (listed in {path}/meta/dropped.json)")
    assert report.meta is not None
    meta = report.meta
    print(f"ok: {meta.num_episodes} episodes, {meta.num_steps} steps in {len(meta.shard_files())} shards")
    if report.dropped:
        print(f"collect them again with the same settings: gea collect ... out={path} resume=true")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea dataset``."""
    args = _parser().parse_args(list(argv))
    if args.action == "verify":
        report = verify(args.path, check_hashes=not args.no_hash)
        for warning in report.warnings:
            print(f"warning: {warning}")
        if not report.ok:
            for problem in report.problems:
                print(f"error: {problem}")
            print(repair_hint(Path(args.path), verified=True))
            return 1
        print(f"ok: {report.episodes} episodes, {report.steps} steps in {report.shards} shards")
        return 0
    if args.action == "repair":
        return _repair(args.path)
    if args.action == "info":
        meta = DatasetMeta.load(args.path)
        print(f"{meta.root}: {meta.num_episodes} episodes, {meta.num_steps} steps, {len(meta.shard_files())} shards")
        print(f"image format: {meta.image_format}")
        for name, document in meta.embodiments.items():
            print(f"  {name}: {document['action']['kind']} actions")
        stats_file = meta.root / "meta" / "stats.json"
        if stats_file.exists():
            print(json.dumps(json.loads(stats_file.read_text()), indent=1)[:4000])
        return 0
    if args.action == "import-minari":
        meta = import_minari(args.dataset_id, args.out, embodiment=args.embodiment, instruction=args.instruction)
        print(f"imported {meta.num_episodes} episodes into {meta.root}")
        return 0
    if args.action == "export-lerobot":
        out = export_lerobot(args.path, args.out, args.embodiment, fps=args.fps, video_codec=args.video_codec)
        print(f"exported {args.path} to LeRobot dataset {out}")
        return 0
    if args.action == "import-lerobot":
        meta = import_lerobot(
            args.source,
            args.out,
            embodiment=args.embodiment,
            image_key=args.image_key,
            state_key=args.state_key,
            task=args.task,
            image_format=args.image_format,
        )
        print(f"imported {meta.num_episodes} episodes ({meta.num_steps} steps) into {meta.root}")
        return 0
    exported = export_minari(args.path, args.dataset_id, embodiment=args.embodiment)
    print(f"exported {exported.total_episodes} episodes to Minari dataset {args.dataset_id}")
    return 0
