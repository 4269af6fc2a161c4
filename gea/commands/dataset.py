"""``gea dataset verify PATH`` / ``info PATH`` / ``import-minari`` / ``export-minari`` / ``import-lerobot`` /
``export-lerobot``: episode dataset tools."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from gea.rollouts.dataset import DatasetMeta, export_lerobot, export_minari, import_lerobot, import_minari, verify


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gea dataset", description="Check, describe and convert episode datasets.")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("verify", help="check checksums, row counts and episode offsets")
    check.add_argument("path")
    check.add_argument("--no-hash", action="store_true", help="skip the sha256 check (row counts only)")
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
            return 1
        print(f"ok: {report.episodes} episodes, {report.steps} steps in {report.shards} shards")
        return 0
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
